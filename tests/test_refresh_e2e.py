"""Two quarters end to end: run, attach, refresh, against the synthetic county's truth."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import openpyxl
import pytest
from click.testing import CliRunner

from familylink.cli import cli
from familylink.pipeline import run_chain, seal_folder, write_demo_register
from familylink.store import RunStore, runs
from familylink.synth import generate_quarters
from familylink.synth.evaluate import score_refresh
from tests.test_identification_e2e import TEST_KEY

Q1, Q2 = dt.date(2026, 6, 30), dt.date(2026, 9, 30)


def _rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _invoke(*args):
    result = CliRunner().invoke(cli, [*map(str, args), "--quiet"] if args[0] in ("run", "refresh") else
                                [*map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def quarters(tmp_path_factory, agreements):
    root = tmp_path_factory.mktemp("quarters")
    generate_quarters(20_000, 7, Q1, root / "county", quarters=2)
    for quarter, date in ((1, Q1), (2, Q2)):
        seal_folder(root / "county" / f"q{quarter}" / "raw", root / f"extracts{quarter}", TEST_KEY, agreements,
                    extract_date=date)
    store = root / "store.duckdb"
    _invoke("run", "--extracts", root / "extracts1", "--reference-date", Q1, "--out", root / "run1", "--store", store)
    register = write_demo_register(root / "run1", root / "register.csv", Q1 + dt.timedelta(days=14))
    attach_output = _invoke("attach", "--register", register, "--store", store, "--operator", "tester")
    output = _invoke("refresh", "--extracts", root / "extracts2", "--reference-date", Q2, "--out", root / "run2",
                     "--store", store, "--operator", "tester")
    return root, store, output, attach_output


def test_families_keep_their_ids_and_changes_match_truth(quarters):
    root, _, _, _ = quarters
    score = score_refresh(root / "run1", root / "run2", root / "county" / "q1" / "truth",
                          root / "county" / "q2" / "truth", root / "county" / "truth_changes.csv")
    assert score.families_in_both > 2000
    assert score.kept_share >= 0.95, score
    for change in ("entered", "left", "headlines_changed"):
        assert score.precision(change) >= 0.9, (change, score.changes)
        assert score.recall(change) >= 0.9, (change, score.changes)


def test_ids_are_never_reused(quarters):
    root, _, _, _ = quarters
    first = {r["person_id"] for r in _rows(root / "run1" / "persons.csv")}
    second = {r["person_id"] for r in _rows(root / "run2" / "persons.csv")}
    newest = max(first)
    assert all(p > newest for p in second - first)
    families1 = {r["family_id"] for r in _rows(root / "run1" / "candidates.csv")}
    families2 = {r["family_id"] for r in _rows(root / "run2" / "candidates.csv")}
    assert all(f > max(families1) for f in families2 - families1)


def test_an_attached_family_is_never_offered_as_new(quarters):
    root, _, output, attach_output = quarters
    assert "imported as AR0001" in attach_output and "0 rejected" in attach_output
    register = _rows(root / "register.csv")
    attached_records = {(r["source"], r["record_id"]) for r in register}
    persons = {(r["source"], r["record_id"]): r["person_id"] for r in _rows(root / "run2" / "persons.csv")}
    attached_people = {persons[k] for k in attached_records if k in persons}
    members = {}
    for row in _rows(root / "run2" / "families.csv"):
        if row["family_id"] and row["resident"] == "true":
            members.setdefault(row["family_id"], set()).add(row["person_id"])
    candidates = _rows(root / "run2" / "candidates.csv")
    statuses = {r["family_id"]: r["status"] for r in candidates}
    holding = {f for f, people in members.items() if people & attached_people}
    assert len(holding) >= 20
    assert all(statuses[f] == "attached" for f in holding)
    assert {r["status"] for r in candidates} <= {"new", "continuing", "no_longer_eligible", "attached",
                                                  "not_eligible"}
    assert "attached 2" in output.replace(",", "")


def test_outcomes_are_evaluated_for_the_problems_identified_at_attachment(quarters):
    root, _, _, _ = quarters
    outcomes = _rows(root / "run2" / "outcomes.csv")
    assert outcomes
    first = {r["family_id"]: set(filter(None, r["headlines"].split(";")))
             for r in _rows(root / "run1" / "candidates.csv")}
    by_family = {}
    for row in outcomes:
        by_family.setdefault((row["family_id"], row["attachment_ref"]), set()).add(row["problem"])
        assert row["met"] in ("true", "false") and row["claimable"] in ("true", "false")
    for (_family, ref), problems in by_family.items():
        assert problems == first["F" + ref.removeprefix("ATT-")]  # the demo register keeps run 1's ids


def test_refresh_reuses_the_model_and_the_store_lists_both_runs(quarters):
    root, store, _, _ = quarters
    first = json.loads((root / "run1" / "model.json").read_text(encoding="utf-8"))
    second = json.loads((root / "run2" / "model.json").read_text(encoding="utf-8"))
    assert second["splink_model"] == first["splink_model"]
    recorded = runs(RunStore(store, read_only=True))
    assert [(r.run_id, r.kind, r.previous_run_id) for r in recorded] == [("R0001", "run", None),
                                                                        ("R0002", "refresh", "R0001")]
    assert recorded[1].run_dir == str((root / "run2").resolve())
    manifest = json.loads((root / "run2" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == "R0002" and manifest["previous_run_id"] == "R0001"
    listing = _invoke("runs", "--store", store)
    assert "R0001" in listing and "R0002" in listing
    diff = _invoke("diff", "R0001", "R0002", "--store", store, "--out", root / "diff.csv")
    assert "entered" in diff
    assert _rows(root / "diff.csv") == [{k: v for k, v in r.items()} for r in _rows(root / "run2" / "changes.csv")]


def test_workbook_has_changes_and_outcomes_sheets(quarters):
    root, _, _, _ = quarters
    book = openpyxl.load_workbook(root / "run2" / "candidates.xlsx", read_only=True)
    assert book.sheetnames[-2:] == ["Changes", "Outcomes"]
    assert len(list(book["Changes"].values)) - 1 == len(_rows(root / "run2" / "changes.csv"))


def test_unknown_run_and_duplicate_register_are_clear_errors(quarters):
    root, store, _, _ = quarters
    result = CliRunner().invoke(cli, ["diff", "R0001", "R0042", "--store", str(store)])
    assert result.exit_code == 1 and "no run R0042" in result.output and "R0002" in result.output
    result = CliRunner().invoke(cli, ["attach", "--register", str(root / "register.csv"), "--store", str(store)])
    assert result.exit_code == 1 and "already imported as AR0001" in result.output


KILL_SCRIPT = r"""
import datetime as dt, sys
from pathlib import Path
from familylink.pipeline import run_chain
from familylink.store import RunStore
root = Path(sys.argv[1])
run_chain(root / "extracts2", root / "run2", dt.date(2026, 9, 30), store=RunStore(root / "store.duckdb"),
          kind="refresh")
"""


def test_killing_a_refresh_leaves_the_store_and_earlier_runs_intact(tmp_path, agreements):
    generate_quarters(3_000, 5, Q1, tmp_path / "county", quarters=2)
    for quarter, date in ((1, Q1), (2, Q2)):
        seal_folder(tmp_path / "county" / f"q{quarter}" / "raw", tmp_path / f"extracts{quarter}", TEST_KEY,
                    agreements, extract_date=date)
    store = RunStore(tmp_path / "store.duckdb")
    run_chain(tmp_path / "extracts1", tmp_path / "run1", Q1, store=store)
    del store
    before = (tmp_path / "run1" / "candidates.csv").read_bytes()
    process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], env=os.environ.copy())
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".run2.partial-*/model.json")) and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the refresh ended before it could be killed")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "run2").exists()
    recorded = runs(RunStore(tmp_path / "store.duckdb", read_only=True))
    assert [r.run_id for r in recorded] == ["R0001"]
    assert (tmp_path / "run1" / "candidates.csv").read_bytes() == before
    # the next refresh cleans the killed run's hidden directory and records R0002
    summary = run_chain(tmp_path / "extracts2", tmp_path / "run2", Q2, store=RunStore(tmp_path / "store.duckdb"),
                        kind="refresh")
    assert summary.run_id == "R0002"
    assert not list(tmp_path.glob(".run2.partial-*"))


def test_no_hub_side_artefact_of_two_quarters_holds_a_personal_value(quarters):
    """The run store, the refresh's run directory and its database: no raw identifier."""
    import re
    import zipfile

    import duckdb

    from tests.test_sealing import leaks, personal_values

    root, store, _, _ = quarters
    values: set[str] = set()
    for quarter in (1, 2):
        values |= personal_values(root / "county" / f"q{quarter}" / "raw")[1]
    for path in sorted((root / "run2").iterdir()):
        if path.suffix in (".duckdb", ".log") or path.name in ("match_weights.html", "m_u_parameters.html"):
            continue  # databases are scanned below; Splink's charts by the linkage test
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                text = re.sub(r"<[^>]+>", " ", "\n".join(book.read(n).decode("utf-8") for n in book.namelist()
                                                          if n.endswith(".xml")))
        else:
            text = path.read_text(encoding="utf-8")
        assert not leaks(values, text), path.name
    for database in (store, root / "run2" / "run.duckdb"):
        con = duckdb.connect(str(database), read_only=True)
        cells: set[str] = set()
        for table, column in con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
                "AND (data_type = 'VARCHAR' OR data_type = 'JSON' OR data_type LIKE 'VARCHAR[]')").fetchall():
            cells.update(str(v) for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall()
                         if v is not None)
        con.close()
        assert not leaks(values, "\n".join(cells)), database.name
