"""The run store: migrations, recording runs atomically, stable ids, changes between runs.

Fast: every run is a handful of hand-built rows in a DuckDB file (no linkage, no Splink).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from familylink.store import (
    MIGRATIONS,
    RunMeta,
    RunStore,
    StoreError,
    apply_family_ids,
    apply_person_ids,
    carry_over_ids,
    family_changes,
    get_run,
    record_run,
    recorded_changes,
    runs,
)

ROOT = Path(__file__).resolve().parent.parent
HEADLINES = ("education", "crime", "work")
REFERENCE = dt.date(2026, 9, 30)


# --- hand-built runs ------------------------------------------------------------------------

def build_run(run_dir: Path, people: dict[str, list[str]],
              families: dict[str, tuple[list[str], list[str], bool]]) -> Path:
    """A run directory whose run.duckdb holds the five tables a run writes.

    ``people``: local person id -> member records ``source|record_id``.
    ``families``: local family id -> (local person ids, headlines, eligible).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(run_dir / "run.duckdb"))
    flags = ", ".join(f"flag_{h} BOOLEAN" for h in HEADLINES)
    con.execute("""
        CREATE TABLE persons (source VARCHAR, record_id VARCHAR, unique_id VARCHAR, person_id VARCHAR,
                              link_confidence DOUBLE);
        CREATE TABLE households (household_id VARCHAR, person_id VARCHAR, basis VARCHAR);
        CREATE TABLE families (family_id VARCHAR, person_id VARCHAR, household_id VARCHAR, role VARCHAR,
                               age INTEGER, resident BOOLEAN);
        CREATE TABLE evidence (family_id VARCHAR, person_id VARCHAR, headline VARCHAR, rule_id VARCHAR,
                               source VARCHAR, record_id VARCHAR, event_date DATE, indicator VARCHAR,
                               value DOUBLE, resident BOOLEAN, counted BOOLEAN);""")
    con.execute(f"""
        CREATE TABLE candidates (family_id VARCHAR, eligible BOOLEAN, headline_count INTEGER, headlines VARCHAR,
            indicators VARCHAR, priority VARCHAR, locality VARCHAR, postcode_district VARCHAR, members INTEGER,
            children INTEGER, non_resident_members INTEGER, min_link_confidence DOUBLE, review BOOLEAN,
            review_reasons VARCHAR, status VARCHAR, {flags})""")
    in_family = {p: f for f, (members, _, _) in families.items() for p in members}
    rows: dict[str, list[tuple]] = {"persons": [], "households": [], "families": [], "candidates": [],
                                    "evidence": []}
    for person, records in people.items():
        for unique_id in records:
            rows["persons"].append((*unique_id.split("|"), unique_id, person, 1.0))
        family = in_family.get(person)
        household = "H" + (family or person)[1:]
        rows["households"].append((household, person, "address"))
        rows["families"].append((family, person, household, "adult", 40, True if family else None))
    for family, (members, headlines, eligible) in families.items():
        rows["candidates"].append((family, eligible, len(headlines), ";".join(headlines), "", "", "Leicester City",
                                   "LE2", len(members), 0, 0, 1.0, False, "", "new",
                                   *[h in headlines for h in HEADLINES]))
        rows["evidence"].extend((family, members[0], headline, "1.1", "police", "X1", dt.date(2026, 5, 1),
                                 "offence", None, True, True) for headline in headlines)
    for name, values in rows.items():
        if values:
            columns = [c[0] for c in con.execute(f"DESCRIBE {name}").fetchall()]
            arrow = pa.Table.from_pylist([dict(zip(columns, v, strict=True)) for v in values])
            con.register("rows_view", arrow)
            con.execute(f"INSERT INTO {name} SELECT * FROM rows_view")
            con.unregister("rows_view")
    con.close()
    return run_dir


def stabilise(store: RunStore, run_dir: Path) -> None:
    """Apply stable person and family ids to a hand-built run, as the pipeline will."""
    con = duckdb.connect(str(run_dir / "run.duckdb"))
    try:
        apply_person_ids(con, store)
        apply_family_ids(con, store)
    finally:
        con.close()


def meta(**changes) -> RunMeta:
    values = dict(reference_date=REFERENCE, framework_id="phase2-2015", framework_version="1",
                  framework_fingerprint="ff", model_fingerprint="mm", key_fingerprint="kk",
                  inputs={"extracts": [{"file": "police-2026-09-30.sealed"}]}, counts={"persons": 3},
                  timings={"link": 1.5}, run_dir="/runs/q3", operator="officer", kind="run")
    values.update(changes)
    return RunMeta(**values)


def record(store: RunStore, run_dir: Path, **changes):
    stabilise(store, run_dir)
    return record_run(store, run_dir, meta(**changes))


PEOPLE_1 = {"P0000001": ["police|A1", "schools|S1"], "P0000002": ["police|A2"], "P0000003": ["dwp|D3"]}
FAMILIES_1 = {"F0000001": (["P0000001", "P0000002"], ["education", "crime"], True),
              "F0000003": (["P0000003"], ["work"], False)}


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "familylink.duckdb")


def table(store: RunStore, sql: str, params: list | None = None) -> list[tuple]:
    with store.connect(read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


# --- migrations -----------------------------------------------------------------------------

def test_migrations_are_recorded_and_idempotent(tmp_path):
    path = tmp_path / "s.duckdb"
    first = RunStore(path)
    assert first.applied == tuple(m.name for m in MIGRATIONS)
    recorded = table(first, "SELECT seq, name, applied_at FROM store_migrations ORDER BY seq")
    assert [r[1] for r in recorded] == [m.name for m in MIGRATIONS]
    again = RunStore(path)
    assert table(again, "SELECT seq, name, applied_at FROM store_migrations ORDER BY seq") == recorded
    tables = {r[0] for r in table(again, "SELECT table_name FROM duckdb_tables()")}
    assert {"runs", "run_persons", "run_households", "run_families", "run_candidates", "run_evidence",
            "id_lineage", "id_counters", "attachment_registers", "attachments", "run_changes"} <= tables


def test_pending_migrations_are_applied_to_an_older_store(tmp_path):
    path = tmp_path / "s.duckdb"
    RunStore(path, migrations=MIGRATIONS[:2])
    with pytest.raises(StoreError, match="needs upgrading"):
        RunStore(path, read_only=True)
    assert RunStore(path).applied == tuple(m.name for m in MIGRATIONS)
    assert RunStore(path, read_only=True).applied == tuple(m.name for m in MIGRATIONS)


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    RunStore(path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO store_migrations VALUES (99, '0099_from_the_future', now())")
    con.close()
    with pytest.raises(StoreError, match="newer or different") as error:
        RunStore(path)
    assert "0099_from_the_future" in str(error.value)


def test_a_store_with_diverging_migrations_and_a_foreign_database_are_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    RunStore(path, migrations=MIGRATIONS[:1])
    with pytest.raises(StoreError, match="newer or different"):
        RunStore(path, migrations=MIGRATIONS[1:])
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (a INTEGER)").close()
    with pytest.raises(StoreError, match="not a familylink run store"):
        RunStore(other)
    with pytest.raises(StoreError, match="no run store"):
        RunStore(tmp_path / "missing.duckdb", read_only=True)


# --- recording runs -------------------------------------------------------------------------

def test_record_run_round_trips(tmp_path, store):
    run_dir = build_run(tmp_path / "q1", PEOPLE_1, FAMILIES_1)
    first = record(store, run_dir)
    assert first.run_id == "R0001" and first.previous_run_id is None and first.kind == "run"
    assert first.reference_date == REFERENCE and first.framework_id == "phase2-2015"
    assert first.inputs == {"extracts": [{"file": "police-2026-09-30.sealed"}]} and first.timings == {"link": 1.5}
    assert first.id_changes["person"]["new"] == 3 and first.id_changes["family"]["new"] == 2
    assert get_run(store, "R0001") == first and runs(store) == [first]
    con = duckdb.connect(str(run_dir / "run.duckdb"), read_only=True)
    for name in ("persons", "households", "families", "evidence"):
        mine = sorted(con.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
        stored = table(store, f"SELECT * EXCLUDE (run_id) FROM run_{name} WHERE run_id = 'R0001'")
        assert sorted(stored, key=repr) == mine, name
    con.close()
    assert table(store, "SELECT family_id, eligible, headline_flags FROM run_candidates ORDER BY family_id") == [
        ("F00000001", True, ["education", "crime"]), ("F00000002", False, ["work"])]
    assert table(store, "SELECT DISTINCT person_id FROM run_persons ORDER BY 1") == [
        ("P00000001",), ("P00000002",), ("P00000003",)]

    second_dir = build_run(tmp_path / "q2", PEOPLE_1, FAMILIES_1)
    con = duckdb.connect(str(second_dir / "run.duckdb"))
    apply_person_ids(con, store)
    apply_family_ids(con, store)
    second = record_run(store, con, meta(kind="refresh"))  # from an open run connection
    con.close()
    assert (second.run_id, second.previous_run_id, second.kind) == ("R0002", "R0001", "refresh")
    assert second.id_changes["person"] == {"carried": 3, "new": 0, "split": 0, "merged": 0, "disappeared": 0}
    assert [r.run_id for r in runs(store)] == ["R0001", "R0002"]
    with pytest.raises(StoreError, match="known runs: R0001, R0002"):
        get_run(store, "R0009")


def test_record_run_refuses_unstable_ids_missing_tables_and_stale_ids(tmp_path, store):
    run_dir = build_run(tmp_path / "q1", PEOPLE_1, FAMILIES_1)
    with pytest.raises(StoreError, match="cannot be recorded") as error:
        record_run(store, run_dir, meta())
    assert "apply_person_ids" in str(error.value)
    with pytest.raises(StoreError, match="no run database"):
        record_run(store, tmp_path / "nowhere", meta())
    with pytest.raises(StoreError, match="kind"):
        record_run(store, run_dir, meta(kind="quarterly"))
    a = build_run(tmp_path / "a", PEOPLE_1, FAMILIES_1)
    b = build_run(tmp_path / "b", PEOPLE_1, FAMILIES_1)
    stabilise(store, a)
    stabilise(store, b)  # both take new ids from the same counters
    record_run(store, a, meta())
    with pytest.raises(StoreError, match="another run was recorded"):
        record_run(store, b, meta())
    assert [r.run_id for r in runs(store)] == ["R0001"]
    con = duckdb.connect(str(a / "run.duckdb"))
    with pytest.raises(StoreError, match="already stable"):
        apply_person_ids(con, store)
    con.close()


KILLED_RECORDER = """
import datetime as dt, pathlib, sys, time
from familylink.store import RunMeta, RunStore, record_run

def pause():
    pathlib.Path(sys.argv[3]).write_text("inside the transaction")
    time.sleep(300)

record_run(RunStore(sys.argv[1]), sys.argv[2], RunMeta(reference_date=dt.date(2026, 12, 31)), before_commit=pause)
"""


def test_a_run_killed_while_recording_leaves_the_store_as_it_was(tmp_path, store):
    record(store, build_run(tmp_path / "q1", PEOPLE_1, FAMILIES_1))
    people = {**PEOPLE_1, "P0000004": ["health|H4"]}
    many = {f"P1{i:06d}": [f"schools|K{i}"] for i in range(5000)}  # enough rows to spill to disk
    second = build_run(tmp_path / "q2", {**people, **many}, FAMILIES_1)
    stabilise(store, second)
    before = {name: table(store, f"SELECT * FROM {name} ORDER BY ALL")
              for name in ("runs", "run_persons", "run_families", "run_candidates", "id_lineage", "id_counters")}
    flag = tmp_path / "in-transaction"
    child = subprocess.Popen([sys.executable, "-c", KILLED_RECORDER, str(store.path), str(second), str(flag)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), "the recorder never reached its transaction"
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    assert [r.run_id for r in runs(RunStore(store.path, read_only=True))] == ["R0001"]
    reopened = RunStore(store.path)
    assert [r.run_id for r in runs(reopened)] == ["R0001"]
    for name, rows in before.items():
        assert table(reopened, f"SELECT * FROM {name} ORDER BY ALL") == rows, name
    again = record_run(reopened, second, meta())  # the store still works and the run still fits
    assert again.run_id == "R0002" and again.id_changes["person"]["new"] == 5001


# --- stable ids -----------------------------------------------------------------------------

def members(con: duckdb.DuckDBPyConnection, name: str, groups: dict[str, list[str]]) -> str:
    rows = [(g, m) for g, keys in groups.items() for m in keys] or [(None, None)]
    con.execute(f"CREATE OR REPLACE TABLE {name} (group_id VARCHAR, member_key VARCHAR)")
    con.executemany(f"INSERT INTO {name} VALUES (?, ?)", rows)
    return f"SELECT * FROM {name}"


def carry(new: dict[str, list[str]], old: dict[str, list[str]], last_number: int = 0):
    con = duckdb.connect()
    found = carry_over_ids(con, "person", members(con, "new_m", new), members(con, "old_m", old), "P",
                           last_number=last_number)
    mapping = dict(con.execute(f"SELECT * FROM {found.map_table}").fetchall())
    lineage = con.execute(f"SELECT * FROM {found.lineage_table}").fetchall()
    return mapping, lineage, found


def test_first_run_numbers_groups_in_order_of_their_local_id():
    mapping, lineage, found = carry({"L10": ["c"], "L2": ["b"], "L1": ["a"]}, {})
    assert mapping == {"L1": "P00000001", "L2": "P00000002", "L10": "P00000003"}
    assert sorted(r[2] for r in lineage) == ["new"] * 3
    assert (found.counts.new, found.last_number_before, found.last_number_after) == (3, 0, 3)
    assert carry({"L1": ["a"]}, {}, last_number=99_999_999)[0] == {"L1": "P100000000"}  # grows, never truncates


def test_ids_carry_over_when_a_member_is_added_or_removed():
    old = {"P00000001": ["a", "b", "c"], "P00000002": ["d"]}
    mapping, lineage, found = carry({"L1": ["a", "b", "c", "e"], "L2": ["d"]}, old, last_number=2)
    assert mapping == {"L1": "P00000001", "L2": "P00000002"}
    assert mapping == carry({"L1": ["a", "c"], "L2": ["d"]}, old, last_number=2)[0]
    assert sorted(lineage) == [("P00000001", "P00000001", "carried", 3), ("P00000002", "P00000002", "carried", 1)]
    assert found.counts.as_dict() == {"carried": 2, "new": 0, "split": 0, "merged": 0, "disappeared": 0}


def test_a_split_keeps_the_id_on_the_larger_part_and_records_both():
    mapping, lineage, found = carry({"L1": ["d"], "L2": ["a", "b", "c"]}, {"P00000001": ["a", "b", "c", "d"]},
                                    last_number=1)
    assert mapping == {"L2": "P00000001", "L1": "P00000002"}
    assert sorted(lineage) == [("P00000001", "P00000001", "split", 3), ("P00000001", "P00000002", "split", 1)]
    assert (found.counts.split, found.counts.carried, found.counts.new) == (1, 1, 1)


def test_a_merge_keeps_the_best_overlapping_id_and_ties_go_to_the_smaller_id():
    old = {"P00000001": ["a"], "P00000002": ["b", "c"], "P00000003": ["d"]}
    mapping, lineage, found = carry({"L1": ["a", "b", "c", "d"]}, old, last_number=3)
    assert mapping == {"L1": "P00000002"}
    assert sorted(lineage) == [("P00000001", "P00000002", "merged", 1), ("P00000002", "P00000002", "merged", 2),
                               ("P00000003", "P00000002", "merged", 1)]
    assert (found.counts.merged, found.counts.carried) == (1, 1)
    assert carry({"L1": ["a", "d"]}, old, last_number=3)[0] == {"L1": "P00000001"}  # tie
    assert carry({"L1": ["b"], "L2": ["c"]}, old, last_number=3)[0] == {"L1": "P00000002", "L2": "P00000004"}


def test_ids_are_deterministic_whatever_the_row_order():
    rng = random.Random(5)
    old = {f"P{i:08d}": [f"r{i}", f"s{i}"] for i in range(1, 40)}
    new = {f"L{i:03d}": [f"r{i}", f"s{i + 1}", f"t{i}"] for i in range(0, 45)}
    expected = carry(new, old, last_number=39)[:2]
    for _ in range(3):
        shuffled_old = dict(rng.sample(sorted(old.items()), len(old)))
        shuffled_new = {k: rng.sample(v, len(v)) for k, v in rng.sample(sorted(new.items()), len(new))}
        mapping, lineage, _ = carry(shuffled_new, shuffled_old, last_number=39)
        assert (mapping, lineage) == expected


def test_new_ids_never_reuse_an_old_one_even_after_it_disappeared(tmp_path, store):
    first = record(store, build_run(tmp_path / "q1", {"P0000001": ["police|A"], "P0000002": ["police|B"]}, {}))
    assert first.id_changes["person"]["new"] == 2
    second = record(store, build_run(tmp_path / "q2", {"P0000001": ["police|A"], "P0000002": ["police|C"]}, {}))
    assert table(store, "SELECT person_id, record_id FROM run_persons WHERE run_id = ? ORDER BY 1",
                 [second.run_id]) == [("P00000001", "A"), ("P00000003", "C")]
    assert table(store, "SELECT old_id, new_id, relation FROM id_lineage WHERE run_id = 'R0002' ORDER BY ALL") == [
        ("P00000001", "P00000001", "carried"), ("P00000002", None, "disappeared"), (None, "P00000003", "new")]
    third = record(store, build_run(tmp_path / "q3", {"P0000001": ["police|B"]}, {}))
    assert table(store, "SELECT person_id FROM run_persons WHERE run_id = ?", [third.run_id]) == [("P00000004",)]
    assert table(store, "SELECT last_number FROM id_counters WHERE kind = 'person'") == [(4,)]


def test_apply_ids_rewrites_the_run_tables_and_families_follow_their_members(tmp_path, store):
    record(store, build_run(tmp_path / "q1", PEOPLE_1, FAMILIES_1))
    # Next quarter: local ids shuffled, a newborn joins the first family, a new family appears.
    people = {"P0000001": ["dwp|D3"], "P0000002": ["police|A2"], "P0000003": ["police|A1", "schools|S1"],
              "P0000004": ["health|N1"], "P0000005": ["housing|Z1"]}
    families = {"F0000001": (["P0000005"], [], False), "F0000002": (["P0000003", "P0000002", "P0000004"], [], False),
                "F0000003": (["P0000001"], [], False)}
    run_dir = build_run(tmp_path / "q2", people, families)
    con = duckdb.connect(str(run_dir / "run.duckdb"))
    persons = apply_person_ids(con, store)
    assert persons.previous_run_id == "R0001"
    assert con.execute("SELECT person_id FROM persons WHERE record_id = 'A1'").fetchone() == ("P00000001",)
    assert con.execute("SELECT DISTINCT person_id FROM households ORDER BY 1").fetchall() == [
        (f"P0000000{i}",) for i in range(1, 6)]
    families_found = apply_family_ids(con, store)
    assert families_found.counts.as_dict() == {"carried": 2, "new": 1, "split": 0, "merged": 0, "disappeared": 0}
    rows = con.execute("SELECT family_id, list_sort(list(person_id)) FROM families WHERE family_id IS NOT NULL "
                       "GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("F00000001", ["P00000001", "P00000002", "P00000004"]), ("F00000002", ["P00000003"]),
                    ("F00000003", ["P00000005"])]
    assert con.execute("SELECT DISTINCT family_id FROM candidates ORDER BY 1").fetchall() == [
        ("F00000001",), ("F00000002",), ("F00000003",)]
    con.close()


# --- changes between runs -------------------------------------------------------------------

def test_family_changes_between_two_runs(tmp_path, store):
    people_a = {f"P{i:07d}": [f"police|R{i}"] for i in range(1, 15)}
    families_a = {
        "F0000001": (["P0000001", "P0000002"], ["education", "crime"], True),  # headlines change
        "F0000002": (["P0000003", "P0000004"], ["work"], False),  # enters
        "F0000003": (["P0000005", "P0000006"], ["crime", "work"], True),  # leaves, still present
        "F0000004": (["P0000007", "P0000008", "P0000009", "P0000010"], ["education", "work"], True),  # splits
        "F0000005": (["P0000011"], [], False),  # merges with F0000006
        "F0000006": (["P0000012", "P0000013"], ["crime", "education"], True),
        "F0000007": (["P0000014"], ["crime", "education"], True),  # leaves, absent
    }
    people_b = {**{k: v for k, v in people_a.items() if k != "P0000014"},
                "P0000020": ["dwp|N20"], "P0000021": ["dwp|N21"]}
    families_b = {
        "F0000001": (["P0000001", "P0000002"], ["education", "crime", "work"], True),
        "F0000002": (["P0000003", "P0000004"], ["work", "crime"], True),
        "F0000003": (["P0000005", "P0000006"], ["crime"], False),
        "F0000004": (["P0000007", "P0000008"], ["education", "work"], True),
        "F0000005": (["P0000009", "P0000010"], [], False),
        "F0000006": (["P0000011", "P0000012", "P0000013"], ["crime", "education"], True),
        "F0000008": (["P0000020", "P0000021"], ["crime", "work"], True),  # a new family
    }
    record(store, build_run(tmp_path / "a", people_a, families_a))
    second = record(store, build_run(tmp_path / "b", people_b, families_b))
    got = family_changes(store, "R0001", "R0002")
    rows = {(c.change, c.family_id, c.previous_family_ids, c.headlines_before, c.headlines_after) for c in got}
    assert rows == {
        ("headlines_changed", "F00000001", ("F00000001",), ("crime", "education"), ("crime", "education", "work")),
        ("entered", "F00000002", ("F00000002",), ("work",), ("crime", "work")),
        ("left", "F00000003", ("F00000003",), ("crime", "work"), ("crime",)),
        ("split", "F00000004", ("F00000004",), ("education", "work"), ("education", "work")),
        ("split", "F00000008", ("F00000004",), ("education", "work"), ()),
        ("merged", "F00000006", ("F00000005", "F00000006"), ("crime", "education"), ("crime", "education")),
        ("left", "F00000007", ("F00000007",), ("crime", "education"), ()),
        ("entered", "F00000009", (), (), ("crime", "work")),
    }
    details = {(c.change, c.family_id): c.detail for c in got}
    assert details[("headlines_changed", "F00000001")] == "gained work"
    assert details[("left", "F00000007")] == "absent in R0002"
    assert details[("entered", "F00000009")] == "new family"
    assert recorded_changes(store, second.run_id) == got
    assert recorded_changes(store, "R0001") == []
    backwards = {(c.change, c.family_id) for c in family_changes(store, "R0002", "R0001")}
    assert ("merged", "F00000004") in backwards and ("split", "F00000005") in backwards
    with pytest.raises(StoreError, match="known runs: R0001, R0002"):
        family_changes(store, "R0001", "R0007")
    with pytest.raises(StoreError, match="not a run id"):
        family_changes(store, "R0001", "latest")


def test_a_store_in_use_by_another_process_is_refused_with_a_clear_error(tmp_path, store):
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(store.path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="in use"):
            runs(store)
        with pytest.raises(StoreError, match="in use"):
            RunStore(store.path)
    finally:
        holder.kill()
        holder.wait()
