"""Household formation: each basis and the contradiction rule on tiny hand-built tables, and
accuracy, communal addresses and determinism on a sealed synthetic county."""

from __future__ import annotations

import csv
import datetime as dt
from itertools import combinations

import duckdb
import pytest

from familylink.core.tables import (
    COMMUNAL_ADDRESS_COLUMNS,
    HOUSEHOLD_COLUMNS,
    LINKAGE_RECORDS,
    PERSONS,
    RECORD_ADDRESSES,
)
from familylink.pipeline import seal_folder
from familylink.synth import generate_county
from matching.households import HouseholdSettings, form_households, write_households_csv
from matching.load import load_sealed_folder

OLD, NEW, EXTRACT = dt.date(2025, 1, 1), dt.date(2026, 1, 1), dt.date(2026, 9, 30)
BITS = 64


def bloom(*positions: int) -> str:
    return "".join("1" if i in positions else "0" for i in range(BITS))


def person(pid, source="health", *, ref=None, family=None, age=40 * 12, addresses=(), record=None):
    """A record of person ``pid``; ``addresses``: (uprn, postcode, address, last_seen[, bloom])."""
    return {"pid": pid, "source": source, "record_id": record or f"{pid}-{source}", "ref": ref,
            "family": family or f"fam-{pid}", "age": age, "addresses": addresses}


def build(con: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """The three input tables, with the columns household formation reads."""
    con.execute(f"""CREATE OR REPLACE TABLE {PERSONS} (source VARCHAR, record_id VARCHAR,
                    unique_id VARCHAR, person_id VARCHAR, link_confidence DOUBLE)""")
    con.execute(f"""CREATE OR REPLACE TABLE {LINKAGE_RECORDS} (unique_id VARCHAR, source VARCHAR,
                    record_id VARCHAR, age_months INTEGER, age_years SMALLINT, tok_family VARCHAR,
                    tok_family_parts VARCHAR[], tok_household VARCHAR)""")
    con.execute(f"""CREATE OR REPLACE TABLE {RECORD_ADDRESSES} (unique_id VARCHAR, source VARCHAR,
                    record_id VARCHAR, tok_uprn VARCHAR, tok_postcode VARCHAR, tok_address VARCHAR,
                    tok_building VARCHAR, bf_address BIT, bf_address_bits INTEGER,
                    tok_household VARCHAR, last_seen DATE, is_latest BOOLEAN)""")
    for r in records:
        uid = f"{r['source']}|{r['record_id']}"
        ref = f"{r['source']}:{r['ref']}" if r["ref"] else None
        con.execute(f"INSERT INTO {PERSONS} VALUES (?, ?, ?, ?, 1.0)",
                    [r["source"], r["record_id"], uid, r["pid"]])
        con.execute(f"INSERT INTO {LINKAGE_RECORDS} VALUES (?, ?, ?, ?, ?, ?, [?], ?)",
                    [uid, r["source"], r["record_id"], r["age"], None if r["age"] is None else r["age"] // 12,
                     r["family"], r["family"], ref])
        for uprn, postcode, address, seen, *bf in r["addresses"]:
            bits = bf[0] if bf else (bloom(*(ord(c) % BITS for c in address)) if address else None)
            con.execute(f"""INSERT INTO {RECORD_ADDRESSES} VALUES (?, ?, ?, ?, ?, ?, NULL, ?::BIT,
                            bit_count(?::BIT)::INTEGER, ?, ?, false)""",
                        [uid, r["source"], r["record_id"], uprn, postcode, address, bits, bits, ref, seen])


def households(con, records, settings=None) -> dict[str, tuple[str, str]]:
    """person_id -> (household_id, basis)."""
    build(con, records)
    form_households(con, settings)
    return {p: (h, b) for h, p, b in con.execute("SELECT * FROM households").fetchall()}


def together(result, *pids) -> bool:
    return len({result[p][0] for p in pids}) == 1


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


# --- each basis -----------------------------------------------------------------------


def test_shared_household_ref_links_people_at_different_addresses_of_a_claim(con):
    result = households(con, [
        person("P1", "dwp", ref="C1", addresses=[(None, "pc1", "a1", NEW)]),
        person("P2", "dwp", ref="C1", addresses=[(None, "pc2", "a2", NEW)]),  # a stale address
        person("P3", "dwp", ref="C2", addresses=[(None, "pc3", "a3", NEW)]),
    ])
    assert together(result, "P1", "P2") and not together(result, "P1", "P3")
    assert result["P1"][1] == result["P2"][1] == "household_ref"
    assert result["P3"][1] == "alone"


def test_same_uprn_links_even_when_postcodes_are_written_differently(con):
    result = households(con, [
        person("P1", "housing", addresses=[("u1", "pc1", "a1", NEW)]),
        person("P2", "social_care", addresses=[("u1", "pc1-typo", "a1", NEW)]),
    ])
    assert together(result, "P1", "P2") and result["P1"][1] == result["P2"][1] == "uprn"


def test_same_postcode_and_address_links_neighbours_do_not(con):
    result = households(con, [
        person("P1", addresses=[(None, "pc1", "14 mill", NEW)]),
        person("P2", "schools", addresses=[(None, "pc1", "14 mill", OLD)]),
        person("P3", "police", addresses=[(None, "pc1", "16 mill", NEW)]),
        person("P4", "police", addresses=[(None, "pc9", "14 mill", NEW)]),  # another town
    ])
    assert together(result, "P1", "P2") and result["P2"][1] == "address"
    assert not together(result, "P1", "P3") and not together(result, "P1", "P4")


def test_address_dice_threshold_links_near_identical_addresses_only_when_enabled(con):
    near_a, near_b, far = bloom(*range(0, 20)), bloom(*range(0, 18), 40, 41), bloom(*range(30, 50))
    records = [
        person("P1", addresses=[(None, "pc1", "a", NEW, near_a)]),
        person("P2", "schools", addresses=[(None, "pc1", "a-typo", NEW, near_b)]),  # Dice 0.9
        person("P3", "police", addresses=[(None, "pc1", "b", NEW, far)]),
    ]
    assert not together(households(con, records), "P1", "P2")
    result = households(con, records, HouseholdSettings(address_dice=0.9))
    assert together(result, "P1", "P2") and result["P2"][1] == "address"
    assert not together(result, "P1", "P3")
    assert not together(households(con, records, HouseholdSettings(address_dice=0.95)), "P1", "P2")


def test_address_without_postcode_joins_the_only_postcode_unit_holding_it(con):
    result = households(con, [
        person("P1", addresses=[(None, "pc1", "1 unique rd", NEW)]),
        person("P2", "schools", addresses=[(None, None, "1 unique rd", NEW)]),
        person("P3", addresses=[(None, "pc2", "2 common rd", NEW)]),
        person("P4", "police", addresses=[(None, "pc3", "2 common rd", NEW)]),
        person("P5", "schools", addresses=[(None, None, "2 common rd", NEW)]),
    ])
    assert together(result, "P1", "P2")
    assert not together(result, "P5", "P3") and not together(result, "P5", "P4")


def test_strongest_basis_wins_and_people_are_chained_into_one_household(con):
    result = households(con, [
        person("P1", "housing", ref="T1", addresses=[("u1", "pc1", "a1", NEW)]),
        person("P2", "housing", ref="T1", addresses=[("u1", "pc1", "a1", NEW)]),
        person("P3", "health", addresses=[(None, "pc1", "a1", NEW)]),
    ])
    assert together(result, "P1", "P2", "P3")
    assert [result[p][1] for p in ("P1", "P2", "P3")] == ["household_ref", "household_ref", "address"]


# --- current address ----------------------------------------------------------------


def test_the_most_recent_address_across_records_is_used(con):
    result = households(con, [
        person("P1", "schools", addresses=[(None, "pc-old", "old", OLD)]),
        person("P1", "health", addresses=[(None, "pc-new", "new", NEW)]),
        person("P2", "police", addresses=[(None, "pc-old", "old", NEW)]),  # lives at the old home
        person("P3", "police", addresses=[(None, "pc-new", "new", NEW)]),
    ])
    assert together(result, "P1", "P3") and not together(result, "P1", "P2")


def test_an_address_a_source_saw_the_person_leave_loses_to_a_stale_source(con):
    result = households(con, [
        # police still reports the old home at the extract date; health saw the move
        person("P1", "police", addresses=[(None, "pc-old", "old", EXTRACT)]),
        person("P1", "health", addresses=[(None, "pc-old", "old", OLD), (None, "pc-new", "new", NEW)]),
        person("P2", "schools", addresses=[(None, "pc-new", "new", NEW)]),
        person("P3", "schools", addresses=[(None, "pc-old", "old", NEW)]),
    ])
    assert together(result, "P1", "P2") and not together(result, "P1", "P3")


def test_a_blank_field_of_the_newest_version_is_filled_from_an_agreeing_one(con):
    result = households(con, [
        person("P1", "schools", record="r1", addresses=[(None, "pc1", "a1", OLD)]),
        person("P1", "schools", record="r2", addresses=[(None, "pc1", None, NEW)]),
        person("P2", "health", addresses=[(None, "pc1", "a1", NEW)]),
    ])
    assert together(result, "P1", "P2")


def test_ties_break_the_same_way_whatever_the_insertion_order(con):
    records = [
        person("P1", "schools", addresses=[(None, "pc1", "a1", NEW)]),
        person("P1", "police", addresses=[(None, "pc2", "a2", NEW)]),
        person("P2", "health", addresses=[(None, "pc1", "a1", NEW)]),
        person("P3", "health", addresses=[(None, "pc2", "a2", NEW)]),
    ]
    first = households(con, records)
    assert first == households(con, records[::-1])
    assert together(first, "P1", "P2") != together(first, "P1", "P3")


# --- contradiction rule ---------------------------------------------------------------


def test_a_case_ref_across_two_postcode_units_is_contradicted(con):
    build(con, [
        person("P1", "social_care", ref="CASE1", addresses=[(None, "pc1", "a1", NEW)]),
        person("P2", "social_care", ref="CASE1", addresses=[(None, "pc2", "a2", NEW)]),  # lives elsewhere
        person("P3", "social_care", ref="CASE1", age=5 * 12, addresses=[(None, "pc1", "a1", NEW)]),
    ])
    summary = form_households(con)
    result = {p: (h, b) for h, p, b in con.execute("SELECT * FROM households").fetchall()}
    assert together(result, "P1", "P3") and not together(result, "P1", "P2")
    assert result["P2"][1] == "alone" and result["P3"][1] == "household_ref"
    assert summary.contradicted_ref_links == 2 and summary.links_by_basis["household_ref"] == 1


def test_a_case_ref_is_not_contradicted_by_a_move_or_an_unknown_address(con):
    result = households(con, [
        person("P1", "social_care", ref="CASE1", addresses=[(None, "pc-new", "new", NEW)]),
        person("P1", "health", addresses=[(None, "pc-old", "old", OLD)]),
        person("P2", "social_care", ref="CASE1", addresses=[(None, "pc-old", "old", NEW)]),  # stale
        person("P3", "social_care", ref="CASE1"),  # no address at all
    ])
    assert together(result, "P1", "P2", "P3")


def test_binding_sources_are_a_setting(con):
    records = [person("P1", "dwp", ref="C1", addresses=[(None, "pc1", "a1", NEW)]),
               person("P2", "dwp", ref="C1", addresses=[(None, "pc2", "a2", NEW)])]
    assert together(households(con, records), "P1", "P2")
    assert not together(households(con, records, HouseholdSettings(binding_ref_sources=())), "P1", "P2")


# --- communal addresses ---------------------------------------------------------------


def hostel(n_singles: int, *families: list[str]) -> list[dict]:
    here = [("hostel-uprn", "pc-h", "1 hostel rd", NEW)]
    records = [person(f"S{i}", "police", addresses=here) for i in range(n_singles)]
    for number, members in enumerate(families):
        records += [person(pid, "housing", ref=f"HOM{number}", family=f"family{number}",
                           age=(30 if i == 0 else 5) * 12, addresses=here)
                    for i, pid in enumerate(members)]
    return records


def test_unrelated_adults_at_a_hostel_are_not_fused_but_a_family_there_is(con):
    result = households(con, hostel(4, ["F1", "F2", "F3"]))
    assert len({result[f"S{i}"][0] for i in range(4)}) == 4
    assert all(result[f"S{i}"][1] == "alone" for i in range(4))
    assert together(result, "F1", "F2", "F3") and result["F1"][1] == "household_ref"
    rows = con.execute("SELECT * FROM communal_addresses ORDER BY kind").fetchall()
    assert [c[0] for c in con.description] == list(COMMUNAL_ADDRESS_COLUMNS)
    assert rows == [("pc-h|1 hostel rd", "address", 7, 1), ("hostel-uprn", "uprn", 7, 1)]


def test_two_housing_cases_at_one_address_make_it_communal(con):
    result = households(con, hostel(0, ["A1", "A2"], ["B1", "B2"]))
    assert together(result, "A1", "A2") and together(result, "B1", "B2")
    assert not together(result, "A1", "B1")


def test_a_large_family_with_one_surname_is_not_communal(con):
    home = [(None, "pc1", "3 home st", NEW)]
    records = [person(f"K{i}", "schools", family="smith", age=(45 if i < 2 else 8) * 12,
                      addresses=home) for i in range(6)]
    records.append(person("G", "health", family="jones", age=75 * 12, addresses=home))  # grandparent
    result = households(con, records)
    assert together(result, *[f"K{i}" for i in range(6)], "G")
    assert con.execute("SELECT count(*) FROM communal_addresses").fetchone()[0] == 0


def test_communal_thresholds_are_settings(con):
    loose = HouseholdSettings(communal_min_persons=10, exclusive_ref_sources=())
    result = households(con, hostel(4, ["F1", "F2"]), loose)
    assert together(result, "S0", "S1", "S2", "S3", "F1", "F2")


# --- shape ------------------------------------------------------------------------------


def test_every_person_once_with_deterministic_ids(con, tmp_path):
    records = [person("P3", "police"), person("P1", "dwp", ref="C"), person("P2", "dwp", ref="C"),
               person("P1", "health")]
    build(con, records)
    summary = form_households(con)
    rows = con.execute("SELECT * FROM households ORDER BY person_id").fetchall()
    assert [c[0] for c in con.description] == list(HOUSEHOLD_COLUMNS)
    assert rows == [("H0000001", "P1", "household_ref"), ("H0000001", "P2", "household_ref"),
                    ("H0000002", "P3", "alone")]
    assert (summary.households, summary.persons, summary.multi_person_households) == (2, 3, 1)
    assert summary.links_by_basis["household_ref"] == 1
    assert summary.persons_by_basis == {"household_ref": 2, "uprn": 0, "address": 0, "alone": 1}
    path = write_households_csv(con, tmp_path / "households.csv")
    assert path.read_text().splitlines() == [
        "household_id,person_id,basis", "H0000001,P1,household_ref", "H0000001,P2,household_ref",
        "H0000002,P3,alone"]
    assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name LIKE '_hh_%'").fetchall()


def test_no_persons_gives_empty_tables(con):
    summary = households(con, [])
    assert summary == {}
    assert con.execute("SELECT count(*) FROM communal_addresses").fetchone()[0] == 0


def test_settings_are_validated_and_frozen():
    with pytest.raises(ValueError):
        HouseholdSettings(address_dice=1.5)
    with pytest.raises(ValueError):
        HouseholdSettings(communal_min_persons=1)
    with pytest.raises(ValueError):
        HouseholdSettings(unknown=1)
    with pytest.raises(ValueError):
        HouseholdSettings().communal_min_persons = 5


# --- a sealed synthetic county ------------------------------------------------------------

PEOPLE, SEED, REF = 5000, 7, dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def county(tmp_path_factory, key, agreements):
    out = tmp_path_factory.mktemp("households")
    generate_county(PEOPLE, SEED, REF, out / "county")
    seal_folder(out / "county" / "raw", out / "sealed", key, agreements, extract_date=EXTRACT)
    database = out / "county.duckdb"
    with duckdb.connect(str(database)) as con:
        load_sealed_folder(out / "sealed", con)
        truth = str(out / "county" / "truth")
        con.execute(f"""CREATE TABLE {PERSONS} AS
            SELECT source, record_id, source || '|' || record_id AS unique_id, person_id,
                   1.0 AS link_confidence
            FROM read_csv('{truth}/records.csv', all_varchar = true)""")
        con.execute(f"""CREATE TABLE truth AS
            SELECT person_id, household_id, communal = 'true' AS communal, household_kind
            FROM read_csv('{truth}/persons.csv', all_varchar = true)
            WHERE person_id IN (SELECT person_id FROM {PERSONS})""")
        form_households(con)
        write_households_csv(con, out / "households.csv")
    return out, database


def _pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
    members: dict[str, list[str]] = {}
    for pid, group in groups.items():
        members.setdefault(group, []).append(pid)
    return {pair for people in members.values() for pair in combinations(sorted(people), 2)}


@pytest.mark.slow
def test_households_match_the_truth(county):
    with duckdb.connect(str(county[1]), read_only=True) as con:
        predicted = dict(con.execute("SELECT person_id, household_id FROM households").fetchall())
        truth = dict(con.execute("SELECT person_id, household_id FROM truth").fetchall())
    assert predicted.keys() == truth.keys()
    found, true = _pairs(predicted), _pairs(truth)
    precision, recall = len(found & true) / len(found), len(found & true) / len(true)
    f1 = 2 * precision * recall / (precision + recall)
    assert precision >= 0.98 and recall >= 0.93 and f1 >= 0.95, (precision, recall, f1)


def _communal_outcome(con) -> tuple[int, int, int, int]:
    """(hostel singles, those alone, largest household of one, households fusing residents of
    two or more true households at communal addresses)."""
    singles, alone, largest = con.execute("""
        SELECT count(*), count(*) FILTER (size = 1), max(size) FROM (
            SELECT t.household_kind, count(*) OVER (PARTITION BY h.household_id) AS size
            FROM truth t JOIN households h USING (person_id))
        WHERE household_kind = 'communal_single'""").fetchone()
    fused = con.execute("""
        SELECT count(*) FROM (
            SELECT h.household_id FROM truth t JOIN households h USING (person_id)
            WHERE t.communal GROUP BY h.household_id HAVING count(DISTINCT t.household_id) > 1)
    """).fetchone()[0]
    return singles, alone, largest, fused


@pytest.mark.slow
def test_communal_residents_are_detected_and_not_fused(county, tmp_path):
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(county[1].read_bytes())
    with duckdb.connect(str(copy)) as con:
        communal = con.execute("SELECT count(*), min(persons) FROM communal_addresses").fetchone()
        residents = con.execute("SELECT count(*) FROM truth WHERE communal").fetchone()[0]
        singles, alone, largest, fused = _communal_outcome(con)
        form_households(con, HouseholdSettings(communal_min_persons=10_000, exclusive_ref_sources=()))
        _, alone_blind, largest_blind, fused_blind = _communal_outcome(con)
    assert communal[0] > 0 and communal[1] >= 1
    # most hostel residents stay single; what is left is two residents or a resident and a
    # family at one address with nothing to tell them from a couple or a step-family
    assert singles > 10 and alone >= 0.7 * singles and largest <= 5
    assert fused <= max(5, residents // 10)
    assert alone > alone_blind and fused < fused_blind and largest < largest_blind


@pytest.mark.slow
def test_households_are_deterministic(county, tmp_path):
    out, database = county
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(database.read_bytes())
    with duckdb.connect(str(copy)) as con:
        rows = con.execute("SELECT count(*), count(DISTINCT person_id) FROM households").fetchone()
        persons = con.execute(f"SELECT count(DISTINCT person_id) FROM {PERSONS}").fetchone()[0]
        assert rows == (persons, persons)
        con.execute("SET threads = 1")
        form_households(con)
        write_households_csv(con, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == (out / "households.csv").read_bytes()
    with open(out / "households.csv", newline="") as handle:
        assert next(csv.reader(handle)) == list(HOUSEHOLD_COLUMNS)
