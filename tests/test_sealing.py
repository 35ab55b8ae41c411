"""Sealing a synthetic county: privacy scans, dictionary attacks, determinism, verification."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pyarrow.csv as pacsv
import pytest

from familylink.core.contract import PERSONAL_COLUMNS, SEALED_COLUMNS, SOURCES
from familylink.core.errors import SealedExtractError
from familylink.pipeline import seal_folder
from familylink.synth import generate_county
from protocols.keys import generate_key
from protocols.normalise import normalise_name, parse_postcode
from protocols.sealed import open_sealed, open_sealed_folder
from tests.conftest import EXTRACT_DATE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    out = tmp_path_factory.mktemp("county")
    generate_county(2500, 11, EXTRACT_DATE, out)
    return out


@pytest.fixture(scope="module")
def sealed(county, agreements, tmp_path_factory):
    key = generate_key()
    out = tmp_path_factory.mktemp("sealed")
    reports = seal_folder(county / "raw", out, key, agreements, extract_date=EXTRACT_DATE)
    return key, out, reports


def personal_values(raw_dir) -> set[str]:
    """Every personal value in the raw files, as written and in its normalised forms."""
    values: set[str] = set()
    for source in SOURCES:
        with open(raw_dir / f"{source}.csv", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                for column in PERSONAL_COLUMNS:
                    raw = (row.get(column) or "").strip()
                    if not raw:
                        continue
                    values.add(raw)
                    values.update(p for p in raw.replace(",", " ").split() if len(p) >= 4)
                    if column in ("given_name", "family_name", "middle_names", "address"):
                        values.add(normalise_name(raw))
                    if column == "postcode":
                        try:
                            values.add(parse_postcode(raw).unit)
                        except (ValueError, AttributeError):
                            pass
                    if column == "date_of_birth":
                        values.add(raw.replace("-", ""))
    # short fragments (house numbers, "FLAT") carry no identity and would match by chance
    return {v for v in values if len(v) >= 5 and not v.isalpha() or len(v) >= 4 and v.isalpha()}


def sealed_text(path) -> str:
    """The sealed file's bytes, its manifest and its decompressed data, as searchable text."""
    extract = open_sealed(path)
    buffer = io.BytesIO()
    table = extract.read_table()
    plain = table.drop_columns(["bf_given", "bf_family", "bf_address", "tok_family_parts", "tok_name_parts"])
    pacsv.write_csv(plain, buffer)
    lists = [str(v) for c in ("tok_family_parts", "tok_name_parts") for v in table[c].to_pylist()]
    return "\n".join([path.read_bytes().decode("latin-1"), json.dumps(extract.manifest),
                      buffer.getvalue().decode("utf-8"), *lists])


def test_every_source_seals_and_counts_reconcile(sealed):
    _, out, reports = sealed
    assert sorted(r.source for r in reports) == sorted(SOURCES)
    for report in reports:
        assert report.reconciled and report.quarantined == 0, report.located_messages()
        manifest = open_sealed(report.sealed_path).manifest
        assert manifest["counts"]["rows_in"] == manifest["counts"]["accepted"] == report.rows_in
        assert manifest["columns"] == list(SEALED_COLUMNS)


def test_no_personal_value_appears_anywhere_in_a_sealed_file(county, sealed):
    _, out, _ = sealed
    values = personal_values(county / "raw")
    assert len(values) > 1000
    for path in sorted(out.iterdir()):
        text = sealed_text(path)
        upper = text.upper()
        leaked = sorted(v for v in values if v in text or v.upper() in upper)
        assert not leaked, f"{path.name} contains {len(leaked)} personal values"


def test_unkeyed_hashes_and_wrong_key_tokens_match_nothing(county, sealed, agreements, tmp_path):
    key, out, _ = sealed
    tokens: set[str] = set()
    for path in out.iterdir():
        table = open_sealed(path).read_table()
        for column in table.column_names:
            if column.startswith("tok_"):
                for value in table[column].to_pylist():
                    if isinstance(value, list):
                        tokens.update(value)
                    elif value:
                        tokens.add(value)
    assert len(tokens) > 1000
    guesses: set[str] = set()
    for value in personal_values(county / "raw"):
        for form in {value, value.upper(), normalise_name(value)}:
            data = form.encode("utf-8")
            for digest in (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()):
                guesses.update({digest, digest[:32]})
    assert not tokens & guesses
    wrong = tmp_path / "wrong"
    seal_folder(county / "raw", wrong, generate_key(), agreements, extract_date=EXTRACT_DATE)
    wrong_tokens: set[str] = set()
    for path in wrong.iterdir():
        table = open_sealed(path).read_table(["tok_given", "tok_family", "tok_dob", "tok_postcode", "tok_nhs"])
        for column in table.column_names:
            wrong_tokens.update(v for v in table[column].to_pylist() if v)
    assert len(wrong_tokens) > 500 and not tokens & wrong_tokens


def test_same_inputs_and_key_give_identical_bytes(county, sealed, agreements, tmp_path):
    key, out, _ = sealed
    again = tmp_path / "again"
    seal_folder(county / "raw", again, key, agreements, extract_date=EXTRACT_DATE)
    for path in sorted(out.iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes()


def test_folder_refuses_mixed_keys_and_tampering(county, sealed, agreements, tmp_path):
    key, out, _ = sealed
    extracts = open_sealed_folder(out)
    assert len({e.key_fingerprint for e in extracts}) == 1
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in out.iterdir():
        (mixed / path.name).write_bytes(path.read_bytes())
    seal_folder(county / "raw", tmp_path / "other", generate_key(), agreements, extract_date=EXTRACT_DATE)
    police = next((tmp_path / "other").glob("police-*"))
    (mixed / police.name).write_bytes(police.read_bytes())
    with pytest.raises(SealedExtractError, match="not made with one key"):
        open_sealed_folder(mixed)
    tampered = tmp_path / "tampered.sealed"
    with zipfile.ZipFile(next(out.glob("schools-*"))) as source, zipfile.ZipFile(tampered, "w") as target:
        target.writestr("manifest.json", source.read("manifest.json"))
        data = bytearray(source.read("data.parquet"))
        data[len(data) // 2] ^= 0x01
        target.writestr("data.parquet", bytes(data))
    with pytest.raises(SealedExtractError, match="content hash"):
        open_sealed(tampered)
    (tmp_path / "junk.sealed").write_bytes(b"PK not really")
    with pytest.raises(SealedExtractError, match="not a sealed extract"):
        open_sealed(tmp_path / "junk.sealed")
