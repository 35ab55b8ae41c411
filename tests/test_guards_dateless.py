"""Guards on names and dates (matching/guards.py): a record without a date of birth cannot be
two people born years apart; two dates, or two given names born the same day, each confirmed by
another record, are two people."""

from __future__ import annotations

import duckdb

from familylink.core.tables import LINKAGE_RECORDS
from matching.guards import EDGES_TABLE, guarded_edges
from matching.settings import load_linkage_settings

_COLUMNS = ("unique_id VARCHAR, tok_nhs VARCHAR, tok_ni VARCHAR, tok_upn VARCHAR, tok_dob VARCHAR, "
            "age_years INTEGER, tok_dob_swapped VARCHAR, tok_given_first VARCHAR, tok_family VARCHAR, "
            "tok_given_canon VARCHAR, tok_given_forms VARCHAR[], tok_name_parts VARCHAR[]")


def _database(records: list[tuple], pairs: list[tuple[str, str, float]]):
    """``records``: (unique_id, date-of-birth token, age); ``pairs``: scored pairs (left, right, p)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {LINKAGE_RECORDS} ({_COLUMNS})")
    # (unique_id, date token, age[, given token, family token]); by default a name of its own
    rows = [(r[0], r[1], r[2], *(r[3:] if len(r) > 3 else (f"g-{r[0]}", f"f-{r[0]}"))) for r in records]
    con.executemany(f"INSERT INTO {LINKAGE_RECORDS} VALUES (?, NULL, NULL, NULL, ?, ?, NULL, ?, ?, NULL, NULL, NULL)",
                    rows)
    con.execute("CREATE TABLE pairs (left_id VARCHAR, right_id VARCHAR, match_weight DOUBLE, match_probability DOUBLE)")
    con.executemany("INSERT INTO pairs VALUES (?, ?, 0, ?)", pairs)
    return con


def _edges(con) -> set[tuple[str, str]]:
    return set(con.execute(f"SELECT left_id, right_id FROM {EDGES_TABLE}").fetchall())


def test_a_dateless_record_keeps_its_stronger_link_to_people_born_years_apart():
    # h has no date of birth; x is 46, y is 9: the pair x-y was never scored
    con = _database([("h", None, None), ("x", "d1", 46), ("y", "d2", 9), ("z", "d1", 46)],
                    [("h", "x", 0.95), ("h", "y", 0.80), ("x", "z", 0.99)])
    summary = guarded_edges(con, "pairs", load_linkage_settings(), 0.5)
    assert _edges(con) == {("h", "x"), ("x", "z")}
    assert summary.dropped_dateless_links == 1 and summary.edges_kept == 2


def test_a_father_and_son_of_one_name_scored_below_the_threshold_are_still_two_people():
    # a police record without a date of birth (the father) links the father's DWP record (64)
    # and the son's school record (11); father and son were scored (one name, one address,
    # dates far apart) but below the threshold: not one person, so the weaker link goes
    con = _database([("police", None, None), ("dwp", "d1", 64), ("school", "d2", 11)],
                    [("police", "dwp", 0.99), ("police", "school", 0.98), ("dwp", "school", 0.04)])
    summary = guarded_edges(con, "pairs", load_linkage_settings(), 0.5)
    assert _edges(con) == {("police", "dwp")}
    assert summary.dropped_dateless_links == 1


def test_equally_strong_links_are_both_dropped():
    con = _database([("h", None, None), ("x", "d1", 46), ("y", "d2", 9)],
                    [("h", "x", 0.8), ("y", "h", 0.8)])
    guarded_edges(con, "pairs", load_linkage_settings(), 0.5)
    assert _edges(con) == set()


def test_no_drop_when_the_two_are_linked_themselves_or_are_of_an_age():
    # x and y born years apart but linked as one person (a typo in the year of one record)
    linked = _database([("h", None, None), ("x", "d1", 46), ("y", "d2", 36)],
                       [("h", "x", 0.9), ("h", "y", 0.7), ("x", "y", 0.6)])
    guarded_edges(linked, "pairs", load_linkage_settings(), 0.5)
    assert _edges(linked) == {("h", "x"), ("h", "y"), ("x", "y")}
    # ages two years apart: extracts a year apart and a birthday between them
    near = _database([("h", None, None), ("x", "d1", 46), ("y", "d2", 44)],
                     [("h", "x", 0.9), ("h", "y", 0.7)])
    guarded_edges(near, "pairs", load_linkage_settings(), 0.5)
    assert _edges(near) == {("h", "x"), ("h", "y")}
    # the middle record has a date of birth: not this guard's business
    dated = _database([("h", "d3", 20), ("x", "d1", 46), ("y", "d2", 9)],
                      [("h", "x", 0.9), ("h", "y", 0.7)])
    assert guarded_edges(dated, "pairs", load_linkage_settings(), 0.5).dropped_dateless_links == 0


def test_two_dates_each_confirmed_by_another_record_are_two_people():
    # siblings given one name, born a year apart: each date is on two records of that name
    con = _database([("a1", "d1", 9, "g", "f"), ("a2", "d1", 9, "g", "f"), ("b1", "d2", 8, "g", "f"),
                     ("b2", "d2", 8, "g", "f"), ("c", "d3", 8, "g", "f")],
                    [("a1", "a2", 0.99), ("b1", "b2", 0.99), ("a1", "b1", 0.9), ("b1", "c", 0.8)])
    summary = guarded_edges(con, "pairs", load_linkage_settings(), 0.5)
    # a1-b1 goes (both dates confirmed); b1-c stays (c's date is on one record only: a typo)
    assert _edges(con) == {("a1", "a2"), ("b1", "b2"), ("b1", "c")}
    assert summary.dropped_confirmed_dates == 1


def _name_database(records: list[tuple], pairs: list[tuple[str, str, float]]):
    """``records``: (unique_id, date token, given token, canonical token, forms, family token)."""
    con = _database([(r[0], r[1], 9, r[2], r[5]) for r in records], pairs)
    for uid, _, given, canon, forms, family in records:
        con.execute(f"UPDATE {LINKAGE_RECORDS} SET tok_given_canon = ?, tok_given_forms = ?, tok_name_parts = ? "
                    "WHERE unique_id = ?", [canon, forms, sorted({given, family}), uid])
    return con


def test_two_given_names_born_the_same_day_each_confirmed_are_twins():
    # DANIEL and NATHANIEL, twins: each name on two records with the family name and date
    twins = [("d1", "dob", "DANIEL", "DANIEL", ["DANIEL", "DAN"], "F"),
             ("d2", "dob", "DANIEL", "DANIEL", ["DANIEL", "DAN"], "F"),
             ("n1", "dob", "NATHANIEL", "NATHAN", ["NATHANIEL", "NATHAN"], "F"),
             ("n2", "dob", "NATHANIEL", "NATHAN", ["NATHANIEL", "NATHAN"], "F"),
             # a typo of DANIEL on one record only: the same boy, linked
             ("t", "dob", "DANEIL", "DANEIL", ["DANEIL"], "F"),
             # JACK on two records and JOHN on two: one boy, JACK a form of JOHN
             ("j1", "dob2", "JACK", "JOHN", ["JACK", "JOHN"], "G"), ("j2", "dob2", "JACK", "JOHN", ["JACK", "JOHN"], "G"),
             ("o1", "dob2", "JOHN", "JOHN", ["JOHN", "JACK"], "G"), ("o2", "dob2", "JOHN", "JOHN", ["JOHN", "JACK"], "G")]
    con = _name_database(twins, [("d1", "d2", 0.99), ("n1", "n2", 0.99), ("d1", "n1", 0.95), ("d2", "t", 0.9),
                                 ("j1", "j2", 0.99), ("o1", "o2", 0.99), ("j1", "o1", 0.97)])
    summary = guarded_edges(con, "pairs", load_linkage_settings(), 0.5)
    assert _edges(con) == {("d1", "d2"), ("n1", "n2"), ("d2", "t"), ("j1", "j2"), ("o1", "o2"), ("j1", "o1")}
    assert summary.dropped_confirmed_names == 1
