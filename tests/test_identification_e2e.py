"""End to end on a 20k-person synthetic county: synth, seal, `familylink run`, scored against truth."""

from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile

import duckdb
import openpyxl
import pytest
from click.testing import CliRunner

from familylink.cli import cli
from familylink.core.fingerprint import file_sha256
from familylink.core.tables import CANDIDATE_COLUMNS, EVIDENCE_COLUMNS, FAMILY_COLUMNS
from familylink.pipeline import ChainConfig, linkage_quality, seal_folder
from familylink.store import RunStore, apply_family_ids
from familylink.synth import generate_county
from familylink.synth.evaluate import score_families
from identification.identify import identify
from protocols.keys import PartnershipKey
from tests.conftest import EXTRACT_DATE

#: a fixed test key, so the linkage (Bloom filters depend on the key) is the same every run
TEST_KEY = PartnershipKey(bytes(range(32)))


@pytest.fixture(scope="module")
def chain(tmp_path_factory, agreements):
    root = tmp_path_factory.mktemp("chain")
    generate_county(20_000, 7, EXTRACT_DATE, root / "county")
    seal_folder(root / "county" / "raw", root / "extracts", TEST_KEY, agreements, extract_date=EXTRACT_DATE)
    result = CliRunner().invoke(cli, ["run", "--extracts", str(root / "extracts"), "--reference-date",
                                      EXTRACT_DATE.isoformat(), "--out", str(root / "run"), "--quiet",
                                      "--store", str(root / "store.duckdb")])
    assert result.exit_code == 0, result.output
    return root, root / "run", result.output


def _rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_eligible_families_match_truth(chain):
    root, run, _ = chain
    score = score_families(run, root / "county" / "truth")
    assert score.truth_eligible > 300
    assert score.precision >= 0.95, score
    assert score.recall >= 0.95, score
    assert score.headline_agreement >= 0.95, score


def test_summary_table_is_printed(chain):
    _, run, output = chain
    assert "eligible families" in output and "phase2-2015" in output and str(run) in output


def test_outputs_follow_the_contract(chain):
    _, run, _ = chain
    persons = _rows(run / "persons.csv")
    families = _rows(run / "families.csv")
    candidates = _rows(run / "candidates.csv")
    evidence = _rows(run / "evidence.csv")
    assert tuple(families[0]) == FAMILY_COLUMNS
    assert tuple(candidates[0])[: len(CANDIDATE_COLUMNS)] == CANDIDATE_COLUMNS
    assert [c for c in candidates[0] if c.startswith("flag_")] == [
        "flag_education", "flag_crime", "flag_work", "flag_health", "flag_domestic_abuse", "flag_children_need_help"]
    assert tuple(evidence[0]) == EVIDENCE_COLUMNS
    # every person appears in families.csv; every family member is a linked person
    assert {r["person_id"] for r in families} == {r["person_id"] for r in persons}
    in_family = {r["family_id"] for r in families if r["family_id"]}
    assert {r["family_id"] for r in candidates} == in_family
    # every evidence row names a member of its family and a record of that person
    members = {(r["family_id"], r["person_id"]) for r in families}
    records = {(r["source"], r["record_id"]): r["person_id"] for r in persons}
    for row in evidence:
        assert (row["family_id"], row["person_id"]) in members
        assert records[(row["source"], row["record_id"])] == row["person_id"]
    # flags, counts and lists agree
    for row in candidates:
        flagged = [c.removeprefix("flag_") for c in row if c.startswith("flag_") and row[c] == "true"]
        assert row["headlines"] == ";".join(flagged)
        assert int(row["headline_count"]) == len(flagged)
        assert (row["eligible"] == "true") == (len(flagged) >= 2)
        assert row["status"] == ("new" if row["eligible"] == "true" else "not_eligible")  # a first run
        assert row["priority"] == ("complex" if len(flagged) >= 5 else
                                   "at risk of becoming complex" if len(flagged) >= 2 else "")
        assert row["locality"]


def test_every_eligible_family_has_evidence_for_each_headline(chain):
    _, run, _ = chain
    counted = {(r["family_id"], r["headline"]) for r in _rows(run / "evidence.csv") if r["counted"] == "true"}
    for row in _rows(run / "candidates.csv"):
        for headline in filter(None, row["headlines"].split(";")):
            assert (row["family_id"], headline) in counted


def test_workbook_has_the_documented_sheets(chain):
    _, run, _ = chain
    book = openpyxl.load_workbook(run / "candidates.xlsx", read_only=False)
    assert book.sheetnames == ["Summary", *ChainConfig.load().localities.names]
    sheet = book["Charnwood"]
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref
    header = [c.value for c in sheet[1]]
    assert header[0] == "family_id" and "Health problems" in header
    total = sum(book[name].max_row - 1 for name in book.sheetnames[1:])
    assert total == len(_rows(run / "candidates.csv"))


def test_manifest_records_inputs_framework_and_outputs(chain):
    root, run, _ = chain
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["reference_date"] == EXTRACT_DATE.isoformat()
    assert manifest["framework"]["id"] == "phase2-2015" and manifest["framework"]["version"]
    assert manifest["inputs"]["key_fingerprint"] == TEST_KEY.fingerprint
    for extract in manifest["inputs"]["extracts"]:
        assert extract["content_sha256"]
        assert (root / "extracts" / extract["file"]).is_file()
    for name, digest in manifest["outputs_sha256"].items():
        assert file_sha256(run / name) == digest, name
    assert manifest["counts"]["eligible_families"] == sum(
        r["eligible"] == "true" for r in _rows(run / "candidates.csv"))
    assert set(manifest["software"]) >= {"python", "splink", "duckdb", "familylink"}
    assert not list(run.parent.glob(".run.partial-*"))


def test_report_is_self_contained(chain):
    _, run, _ = chain
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "phase2-2015" in html
    assert not re.search(r"(src|href)=\"https?://", html)


def test_identification_is_deterministic(chain, tmp_path):
    _, run, _ = chain
    shutil.copy(run / "run.duckdb", tmp_path / "run.duckdb")
    con = duckdb.connect(str(tmp_path / "run.duckdb"))
    config = ChainConfig.load()
    try:
        # the run's ids came from an empty store: a first run numbers families in order;
        # forget this copy's family id assignment so it is made again
        for table in ("store_id_assignments", "store_id_map", "store_id_lineage"):
            con.execute(f"DELETE FROM {table} WHERE kind = 'family'")
        linkage = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["linkage"]
        quality = linkage_quality(linkage["estimated_accuracy"], linkage["calibration"])
        assert quality, "the run states its own estimate of its person links"
        identify(con, tmp_path, config.framework, config.identification, config.localities, EXTRACT_DATE,
                 meta={"key fingerprint": TEST_KEY.fingerprint, **quality},
                 after_families=lambda c: apply_family_ids(c, RunStore(tmp_path / "store.duckdb")))
    finally:
        con.close()
    for name in ("families.csv", "candidates.csv", "evidence.csv", "candidates.xlsx", "report.html"):
        assert (tmp_path / name).read_bytes() == (run / name).read_bytes(), name


def test_no_run_output_holds_a_personal_value(chain):
    from tests.test_sealing import leaks, personal_values

    root, run, _ = chain
    dobs, values = personal_values(root / "county" / "raw")
    dashed_dobs = {d for d in dobs if "-" in d}
    for name in ("families.csv", "candidates.csv", "evidence.csv", "manifest.json", "report.html",
                 "candidates.xlsx"):
        path = run / name
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                text = "\n".join(book.read(n).decode("utf-8") for n in book.namelist() if n.endswith(".xml"))
            text = re.sub(r"<[^>]+>", " ", text)  # cell text only, not the XML vocabulary
        else:
            text = path.read_text(encoding="utf-8")
        assert not leaks(values, text), name
        if name in ("families.csv", "candidates.csv"):  # evidence holds event dates, which can equal a baby's DOB
            assert not leaks(dashed_dobs, text), name


def test_run_refuses_an_existing_run_directory(chain):
    root, run, _ = chain
    result = CliRunner().invoke(cli, ["run", "--extracts", str(root / "extracts"), "--out", str(run), "--quiet",
                                      "--store", str(root / "store.duckdb")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "already exists" in result.output
