"""The run's estimate of its own accuracy (matching.accuracy) on constructed pair tables whose
right answers are known."""

from __future__ import annotations

import duckdb
import pytest

from familylink.core.tables import LINKAGE_RECORDS, PERSONS
from matching.accuracy import estimate_accuracy
from matching.blocking_capture import needs_one_date

DATED, DATELESS = "l.tok_dob = r.tok_dob", "l.tok_family = r.tok_family"


def _tables(persons: dict[str, str], pairs: list[tuple[str, str, float]], records: dict[str, dict] | None = None):
    """A connection holding persons (unique_id -> person_id), scored pairs and linkage records."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {PERSONS} (source VARCHAR, unique_id VARCHAR, person_id VARCHAR)")
    con.executemany(f"INSERT INTO {PERSONS} VALUES (?, ?, ?)",
                    [(uid.split("|")[0], uid, pid) for uid, pid in sorted(persons.items())])
    con.execute("CREATE TABLE kept (left_id VARCHAR, right_id VARCHAR, match_probability DOUBLE)")
    if pairs:
        con.executemany("INSERT INTO kept VALUES (?, ?, ?)", pairs)
    con.execute(f"CREATE TABLE {LINKAGE_RECORDS} (unique_id VARCHAR, tok_dob VARCHAR, tok_family VARCHAR)")
    rows = [(uid, (records or {}).get(uid, {}).get("dob", "d"), (records or {}).get(uid, {}).get("family", "f"))
            for uid in sorted(persons)]
    con.executemany(f"INSERT INTO {LINKAGE_RECORDS} VALUES (?, ?, ?)", rows)
    return con


def test_certain_probabilities_give_the_true_figures():
    # person A: three records, compared a1-a2 and a2-a3 only (a1-a3 linked through a2); person B:
    # two records; a pair across them scored, not linked, and certainly not a match
    persons = {"h|a1": "A", "h|a2": "A", "h|a3": "A", "h|b1": "B", "h|b2": "B"}
    pairs = [("h|a1", "h|a2", 1.0), ("h|a2", "h|a3", 1.0), ("h|b1", "h|b2", 1.0), ("h|a1", "h|b1", 0.0)]
    result = estimate_accuracy(_tables(persons, pairs), "kept", {})
    assert result["links"] == 4
    assert result["links_never_compared"] == 1
    assert result["expected_true_links"] == 4.0  # the link through a2 counts at 1 x 1
    assert (result["precision"], result["recall"], result["f1"]) == (1.0, 1.0, 1.0)
    assert result["expected_missed_links"] == 0.0


def test_a_link_through_two_third_records_counts_either_path():
    # x and y never compared, one person through z1 (0.8 and 0.8) and through z2 (0.5 and 0.5):
    # true if either path is, taken as separate evidence: 1 - (1 - 0.64) x (1 - 0.25) = 0.73
    persons = {"h|x": "P", "h|y": "P", "h|z1": "P", "h|z2": "P"}
    pairs = [("h|x", "h|z1", 0.8), ("h|y", "h|z1", 0.8), ("h|x", "h|z2", 0.5), ("h|y", "h|z2", 0.5)]
    result = estimate_accuracy(_tables(persons, pairs), "kept", {})
    assert result["links"] == 6 and result["links_never_compared"] == 2
    # the scored links, x-y at 0.73 (the best path alone would count 0.64) and z1-z2 through x
    # and through y: 1 - (1 - 0.4) x (1 - 0.4) = 0.64
    assert result["precision"] == pytest.approx((0.8 + 0.8 + 0.5 + 0.5 + 0.73 + 0.64) / 6, abs=0.002)


def test_calibrated_probabilities_give_the_expected_counts():
    # four links at 0.75 (three of four true in expectation) and one unlinked pair at 0.5
    # between two persons of one record each
    persons = {f"h|x{i}": f"P{i}" for i in range(4)} | {f"h|y{i}": f"P{i}" for i in range(4)}
    persons |= {"h|s1": "S1", "h|s2": "S2"}
    pairs = [(f"h|x{i}", f"h|y{i}", 0.75) for i in range(4)] + [("h|s1", "h|s2", 0.5)]
    result = estimate_accuracy(_tables(persons, pairs), "kept", {})
    assert result["expected_true_links"] == pytest.approx(3.0, abs=0.05)
    assert result["precision"] == pytest.approx(0.75, abs=0.01)
    # four persons of the six hold two records, none three: two persons of one record are more
    # likely one person whose link was missed. d = P(2+ | 1+) = 4.5 / 7, e = P(3+ | 2+) = 0.5 / 5
    # (smoothed); factor (1 - e) / (1 - d)^2 = 7.06, so the pair counts 0.876
    assert result["expected_matches"] == pytest.approx(3.876, abs=0.06)


def _two_sources(people: int) -> tuple[dict[str, str], list[tuple[str, str, float]]]:
    """``people`` persons, each one record in source a and one in b, linked with certainty."""
    persons = {f"a|{i}": f"P{i}" for i in range(people)} | {f"b|{i}": f"P{i}" for i in range(people)}
    return persons, [(f"a|{i}", f"b|{i}", 1.0) for i in range(people)]


def test_a_pair_whose_persons_already_hold_each_others_source_is_discounted():
    persons, pairs = _two_sources(200)
    # a|0 and b|1 are each already linked to a record of the other's source: a match between
    # them would give a person two records in one source, which no other person has
    clash = estimate_accuracy(_tables(persons, [*pairs, ("a|0", "b|1", 0.5)]), "kept", {})
    # a singleton in each source, holding nothing of the other's
    free_persons = persons | {"a|lone": "L1", "b|lone": "L2"}
    free = estimate_accuracy(_tables(free_persons, [*pairs, ("a|lone", "b|lone", 0.5)]), "kept", {})
    assert clash["expected_true_links"] == free["expected_true_links"] == 200.0
    assert clash["expected_matches"] - 200 < 0.05  # near-certainly not a match
    assert free["expected_matches"] - 200 > 0.5  # not holding the other's source: more likely one person
    assert clash["recall"] > 0.999 > free["recall"]


def test_a_pair_within_a_source_that_holds_each_person_once_is_discounted():
    persons, pairs = _two_sources(200)
    persons |= {"a|x": "X", "a|y": "Y"}
    result = estimate_accuracy(_tables(persons, [*pairs, ("a|x", "a|y", 0.5)]), "kept", {})
    # no two records of source a are one person among 200 linked: a's link rate is 0.5 (smoothing)
    # over 202 x 201 / 2 pairs against 200.5 links over 402 x 401 / 2 pairs overall
    ratio = (0.5 / (202 * 201 / 2)) / (200.5 / (402 * 401 / 2))
    assert ratio < 0.01
    assert result["by_source_pair"]["a|a"]["expected_matches"] < 0.01
    assert result["by_source_pair"]["a|b"]["recall"] == 1.0


def test_left_out_pairs_are_scaled_like_the_lowest_kept_band():
    persons, pairs = _two_sources(200)
    low = [("a|0", "b|1", 0.02), ("a|1", "b|2", 0.02)]  # each person already holds the other source
    result = estimate_accuracy(_tables(persons, pairs + low), "kept", {"a|b": 10.0})
    plain = estimate_accuracy(_tables(persons, pairs), "kept", {"a|b": 10.0})
    assert plain["expected_matches"] == pytest.approx(210.0, abs=0.1)  # nothing to scale by
    assert result["expected_matches"] < 200.5


def test_blocking_recall_from_the_overlap_of_dated_and_dateless_rules():
    # 100 certain matches: 60 agree on date and family name, 20 on the date only, 20 on the
    # family name only: Lincoln-Petersen, 80 x 80 / 60 = 106.7 matches, 6.7 reached by neither
    persons, pairs, records = {}, [], {}
    for i in range(100):
        x, y = f"h|{i}x", f"h|{i}y"
        persons |= {x: f"P{i}", y: f"P{i}"}
        pairs.append((x, y, 1.0))
        records[x] = {"dob": f"d{i}", "family": f"f{i}"}
        records[y] = {"dob": f"d{i}" if i < 80 else f"e{i}", "family": f"f{i}" if i < 60 or i >= 80 else f"g{i}"}
    result = estimate_accuracy(_tables(persons, pairs, records), "kept", {}, blocking_rules=[DATED, DATELESS])
    assert result["blocking_recall"] == pytest.approx(0.9375, abs=1e-4)
    assert result["expected_matches"] == pytest.approx(106.7, abs=0.1)
    assert result["expected_matches_blocking_missed"] == pytest.approx(6.7, abs=0.1)
    assert result["recall"] == pytest.approx(0.9375, abs=1e-4)
    # without the rules (or with one kind only) blocking is taken to reach every match
    assert estimate_accuracy(_tables(persons, pairs, records), "kept", {})["recall"] == 1.0
    assert estimate_accuracy(_tables(persons, pairs, records), "kept", {}, blocking_rules=[DATED])["recall"] == 1.0


def test_a_link_blocking_never_paired_is_weighed_by_the_blocking_recall():
    persons, pairs, records = {}, [], {}
    for i in range(100):  # as above: blocking recall 0.9375 before the three records below
        x, y = f"h|{i}x", f"h|{i}y"
        persons |= {x: f"P{i}", y: f"P{i}"}
        pairs.append((x, y, 1.0))
        records[x] = {"dob": f"d{i}", "family": f"f{i}"}
        records[y] = {"dob": f"d{i}" if i < 80 else f"e{i}", "family": f"f{i}" if i < 60 or i >= 80 else f"g{i}"}
    # one person of three records: a-b and b-c compared at 0.9 (both kinds of rule reach them),
    # a-c never compared (linked through b)
    persons |= {"h|a": "T", "h|b": "T", "h|c": "T"}
    pairs += [("h|a", "h|b", 0.9), ("h|b", "h|c", 0.9)]
    records |= {"h|a": {"dob": "t", "family": "t"}, "h|b": {"dob": "t", "family": "t"},
                "h|c": {"dob": "t", "family": "t"}}
    con = _tables(persons, pairs, records)
    result = estimate_accuracy(con, "kept", {}, blocking_rules=[DATED, DATELESS])
    n_a = n_b = 80 + 1.8
    n_ab = 60 + 1.8
    blocking = (n_a + n_b - n_ab) / (n_a * n_b / n_ab)
    assert result["blocking_recall"] == pytest.approx(blocking, abs=1e-4)
    path = 0.81 * (1 - blocking) / (0.81 * (1 - blocking) + 0.19)  # odds of the path x P(missed | match)
    assert result["expected_true_links"] == pytest.approx(100 + 1.8 + path, abs=0.05)
    assert result["links_never_compared"] == 1
    # without rules the link counts at its path
    assert estimate_accuracy(con, "kept", {})["expected_true_links"] == pytest.approx(100 + 1.8 + 0.81, abs=0.05)


def test_matches_without_a_date_are_reached_at_the_dateless_rules_rate():
    persons, pairs, records = {}, [], {}
    for i in range(100):  # dated: 60 both, 20 date only, 20 family only (reach 0.75 for the dateless rules)
        x, y = f"h|{i}x", f"h|{i}y"
        persons |= {x: f"P{i}", y: f"P{i}"}
        pairs.append((x, y, 1.0))
        records[x] = {"dob": f"d{i}", "family": f"f{i}"}
        records[y] = {"dob": f"d{i}" if i < 80 else f"e{i}", "family": f"f{i}" if i < 60 or i >= 80 else f"g{i}"}
    for i in range(30):  # a date missing on one side: only the dateless rules reach them
        x, y = f"h|{i}u", f"h|{i}v"
        persons |= {x: f"U{i}", y: f"U{i}"}
        pairs.append((x, y, 1.0))
        records[x], records[y] = {"dob": None, "family": f"u{i}"}, {"dob": f"d{i}", "family": f"u{i}"}
    result = estimate_accuracy(_tables(persons, pairs, records), "kept", {}, blocking_rules=[DATED, DATELESS])
    assert result["expected_matches"] == pytest.approx(106.67 + 30 / 0.75, abs=0.1)


def test_per_source_pair_figures_add_up_and_runs_repeat():
    persons, pairs = _two_sources(50)
    persons |= {f"a|{i}d": f"P{i}" for i in range(10)}
    pairs += [(f"a|{i}", f"a|{i}d", 0.9) for i in range(10)]
    con = _tables(persons, pairs)
    first = estimate_accuracy(con, "kept", {"a|b": 1.0})
    assert first == estimate_accuracy(con, "kept", {"a|b": 1.0})
    by_pair = first["by_source_pair"]
    assert set(by_pair) == {"a|a", "a|b"}
    assert by_pair["a|a"]["links"] == 10 and by_pair["a|b"]["links"] == 60  # 50 direct, 10 through a|i
    assert sum(v["links"] for v in by_pair.values()) == first["links"]
    assert sum(v["expected_matches"] for v in by_pair.values()) == pytest.approx(first["expected_matches"], abs=0.2)
    # a pair within a: odds moved by a's link rate (10.5 links over 60 x 59 / 2 pairs) over the
    # overall one (70.5 over 110 x 109 / 2); the a|id - b|i links were never compared: each
    # counts at its path, 1.0 x the moved 0.9 (the a|b pairs are certain)
    ratio = (10.5 / 1770) / (70.5 / 5995)
    within = 0.9 * ratio / (0.9 * ratio + 0.1)
    assert by_pair["a|a"]["expected_true_links"] == pytest.approx(10 * within, abs=0.05)
    assert by_pair["a|b"]["expected_true_links"] == pytest.approx(50 + 10 * within, abs=0.05)
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_acc_%'").fetchone()[0] == 0


def test_rules_needing_one_date():
    assert needs_one_date("l.tok_dob = r.tok_dob AND l.tok_family_nysiis = r.tok_family_nysiis")
    assert needs_one_date("l.tok_dob_swapped = r.tok_dob AND l.tok_family_nysiis = r.tok_family_nysiis")
    assert not needs_one_date("l.tok_given_canon = r.tok_given_canon AND l.tok_family = r.tok_family "
                              "AND (l.tok_dob IS NULL OR r.tok_dob IS NULL)")
    assert not needs_one_date("l.tok_family = r.tok_family AND l.age_years = r.age_years")


def test_a_rule_the_estimate_cannot_read_leaves_blocking_unestimated():
    persons, pairs = _two_sources(30)
    result = estimate_accuracy(_tables(persons, pairs), "kept", {},
                               blocking_rules=[DATED, "l.not_a_column = r.not_a_column"])
    assert result["blocking_recall"] == 1.0 and result["recall"] == 1.0
