"""Key rotation between two quarters: ids carry over, no old token is comparable with a new one,
and the hub refuses a run that mixes keys."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from familylink.cli import cli
from familylink.core.contract import SEALED_TOKEN_COLUMNS, SEALED_TOKEN_LIST_COLUMNS
from familylink.pipeline import seal_folder
from familylink.synth import generate_quarters
from protocols.keys import load_key
from protocols.sealed import open_sealed_folder

pytestmark = pytest.mark.slow

Q1, Q2 = dt.date(2026, 6, 30), dt.date(2026, 9, 30)


def _invoke(*args, ok: bool = True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _by_record(folder) -> dict[tuple[str, str], dict]:
    """(source, record_id) -> its first sealed row."""
    records = {}
    for extract in open_sealed_folder(folder):
        for row in extract.read_table().to_pylist():
            records.setdefault((row["source"], row["record_id"]), row)
    return records


def _tokens(row: dict) -> set[str]:
    values = set()
    for column in SEALED_TOKEN_COLUMNS:
        if row[column]:
            values.add(row[column])
    for column in SEALED_TOKEN_LIST_COLUMNS:
        values.update(row[column] or [])
    return values


@pytest.fixture(scope="module")
def rotated(tmp_path_factory, agreements):
    root = tmp_path_factory.mktemp("rotation")
    generate_quarters(2500, 13, Q1, root / "county", quarters=2)
    keys = root / "keys"
    keys.mkdir()
    _invoke("keygen", "--out", keys / "q1.key")
    output = _invoke("keygen", "--rotate", keys / "q1.key", "--out", keys / "q2.key").output
    old, new = load_key(keys / "q1.key"), load_key(keys / "q2.key")
    seal_folder(root / "county" / "q1" / "raw", root / "extracts1", old, agreements, extract_date=Q1)
    seal_folder(root / "county" / "q2" / "raw", root / "extracts2", new, agreements, extract_date=Q2)
    seal_folder(root / "county" / "q2" / "raw", root / "extracts2-old-key", old, agreements, extract_date=Q2)
    store = root / "store.duckdb"
    _invoke("run", "--extracts", root / "extracts1", "--reference-date", Q1, "--out", root / "run1",
            "--store", store, "--quiet")
    _invoke("refresh", "--extracts", root / "extracts2", "--reference-date", Q2, "--out", root / "run2",
            "--store", store, "--operator", "tester", "--quiet")
    return root, old, new, output


def test_rotate_writes_a_new_key_that_names_the_old_one_and_never_prints_a_secret(rotated):
    root, old, new, output = rotated
    assert old.fingerprint != new.fingerprint
    document = json.loads((root / "keys" / "q2.key").read_text(encoding="utf-8"))
    assert document["replaces"] == old.fingerprint and document["fingerprint"] == new.fingerprint
    assert old.fingerprint in output and new.fingerprint in output
    for secret in (old.secret, new.secret):
        assert secret.hex() not in output and document.get("secret", "")[:12] not in output
    assert (root / "keys" / "q1.key").is_file()  # the old key is left for the operator to archive


def test_rotate_refuses_to_write_beside_data_or_over_a_key(rotated):
    root = rotated[0]
    beside = _invoke("keygen", "--rotate", root / "keys" / "q1.key", "--out", root / "extracts1" / "new.key", ok=False)
    assert beside.exit_code != 0 and "Error:" in beside.output and "beside data" in beside.output
    assert not (root / "extracts1" / "new.key").exists()
    again = _invoke("keygen", "--rotate", root / "keys" / "q1.key", "--out", root / "keys" / "q2.key", ok=False)
    assert again.exit_code != 0 and "already exists" in again.output


def test_person_and_family_ids_carry_over_the_rotation(rotated):
    root = rotated[0]
    first = {(r["source"], r["record_id"]): r["person_id"] for r in _rows(root / "run1" / "persons.csv")}
    second = {(r["source"], r["record_id"]): r["person_id"] for r in _rows(root / "run2" / "persons.csv")}
    both = first.keys() & second.keys()
    assert len(both) > 1000
    kept = sum(first[k] == second[k] for k in both) / len(both)
    assert kept >= 0.97, kept
    statuses = [r["status"] for r in _rows(root / "run2" / "candidates.csv")]
    assert statuses.count("continuing") >= 0.8 * sum(s in ("continuing", "new") for s in statuses)


def test_no_old_token_is_comparable_with_a_new_one(rotated):
    root = rotated[0]
    old, new = _by_record(root / "extracts2-old-key"), _by_record(root / "extracts2")
    assert old.keys() == new.keys() and len(old) > 1000
    every_old = set().union(*(_tokens(r) for r in old.values()))
    every_new = set().union(*(_tokens(r) for r in new.values()))
    assert len(every_old) > 5000 and every_old.isdisjoint(every_new)
    for key in old:  # the same record: same clear attributes, not one token or filter in common
        assert old[key]["age_months"] == new[key]["age_months"]
        assert _tokens(old[key]).isdisjoint(_tokens(new[key]))
    # Bloom filters of the same name under the two keys are no more alike than unrelated filters
    pairs = [(old[k]["bf_family"], new[k]["bf_family"]) for k in sorted(old) if old[k]["bf_family"]]

    def dice(a: bytes, b: bytes) -> float:
        x, y = np.unpackbits(np.frombuffer(a, np.uint8)), np.unpackbits(np.frombuffer(b, np.uint8))
        return 2 * float((x & y).sum()) / float(x.sum() + y.sum())

    same = np.mean([dice(a, b) for a, b in pairs[:500]])
    unrelated = np.mean([dice(a, pairs[(i + 7) % len(pairs)][1]) for i, (a, _) in enumerate(pairs[:500])])
    assert abs(same - unrelated) < 0.03, (same, unrelated)


def test_the_hub_refuses_a_run_that_mixes_the_old_and_new_keys(rotated):
    root = rotated[0]
    mixed = root / "mixed"
    shutil.copytree(root / "extracts2", mixed)
    schools = next(p for p in (root / "extracts2-old-key").iterdir() if p.name.startswith("schools"))
    for path in mixed.iterdir():
        if path.name.startswith("schools"):
            path.unlink()
    shutil.copy(schools, mixed / schools.name)
    result = _invoke("run", "--extracts", mixed, "--reference-date", Q2, "--out", root / "run-mixed", "--quiet",
                     ok=False)
    assert result.exit_code != 0 and "Error:" in result.output and "sealed with key" in result.output
