"""Sealing a synthetic county: privacy scans, dictionary attacks, determinism, verification."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import zipfile

import pyarrow.csv as pacsv
import pytest

from familylink.core.contract import (
    PERSONAL_COLUMNS,
    SEALED_COLUMNS,
    SEALED_TOKEN_LIST_COLUMNS,
    SOURCES,
)
from familylink.core.errors import SealedExtractError
from familylink.pipeline import seal_folder
from familylink.synth import generate_county
from protocols.keys import generate_key
from protocols.normalise import normalise_address, normalise_name, parse_postcode
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


def personal_values(raw_dir) -> tuple[set[str], set[str]]:
    """Every personal value in the raw files, as written and in normalised forms.

    Returns (dates of birth, everything else). Names are also split into their parts;
    addresses are kept whole and as their street line (a town on its own identifies nobody).
    """
    dobs: set[str] = set()
    values: set[str] = set()
    for source in SOURCES:
        with open(raw_dir / f"{source}.csv", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                for column in PERSONAL_COLUMNS:
                    raw = (row.get(column) or "").strip()
                    if not raw:
                        continue
                    if column == "date_of_birth":
                        dobs.update({raw, raw.replace("-", "")})
                        continue
                    if column == "postcode" and re.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]?", raw.upper()):
                        continue  # only an outward code: the district is shared in clear by contract
                    values.add(raw)
                    if column in ("given_name", "family_name", "middle_names"):
                        values.add(normalise_name(raw))
                        values.update(p for p in normalise_name(raw).split() if len(p) >= 4)
                    elif column == "address":
                        address = normalise_address(raw)
                        values.update({address.key, address.building})
                    elif column == "postcode":
                        with contextlib.suppress(ValueError, AttributeError):
                            values.add(parse_postcode(raw).unit)
    return dobs, {v for v in values if len(v) >= 4}


def sealed_text(path, with_event_dates: bool = True) -> str:
    """The manifest, the Parquet schema and metadata, and every decompressed value, as text."""
    extract = open_sealed(path)
    buffer = io.BytesIO()
    table = extract.read_table()
    drop = ["bf_given", "bf_family", "bf_address", *SEALED_TOKEN_LIST_COLUMNS]
    if not with_event_dates:
        drop += ["event_date", "end_date"]
    pacsv.write_csv(table.drop_columns(drop), buffer)
    lists = [str(v) for c in SEALED_TOKEN_LIST_COLUMNS for v in table[c].to_pylist()]
    blooms = [v.hex() for c in ("bf_given", "bf_family", "bf_address") for v in table[c].to_pylist() if v]
    return "\n".join([json.dumps(extract.manifest), str(table.schema), str(table.schema.metadata),
                      buffer.getvalue().decode("utf-8"), *lists, *blooms])


def leaks(values: set[str], text: str) -> list[str]:
    """Values found in ``text``: a one-word value as a whole word, a longer one as a substring."""
    upper = text.upper()
    words = set(re.findall(r"[A-Z0-9]+", upper))
    found = []
    for value in values:
        v = value.upper()
        if (v in words) if re.fullmatch(r"[A-Z0-9]+", v) else (v in upper):
            found.append(value)
    return sorted(found)


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
    dobs, values = personal_values(county / "raw")
    assert len(values) > 1000 and len(dobs) > 500
    for path in sorted(out.iterdir()):
        leaked = leaks(values, sealed_text(path))
        assert not leaked, f"{path.name} contains {len(leaked)} personal values"
        # event dates are shared in clear by contract and can coincide with someone's birthday
        leaked = leaks(dobs, sealed_text(path, with_event_dates=False))
        assert not leaked, f"{path.name} contains {len(leaked)} dates of birth"
        # every byte of the container, for values long enough that chance matches are negligible
        container = path.read_bytes().decode("latin-1").upper()
        leaked = sorted(v for v in values | dobs if len(v) >= 8 and v.upper() in container)
        assert not leaked, f"{path.name} holds {len(leaked)} personal values in its bytes"


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
    dobs, values = personal_values(county / "raw")
    for value in values | dobs:
        for form in {value, value.upper(), normalise_name(value)}:
            data = form.encode("utf-8")
            for digest in (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()):
                guesses.update({digest, digest[:32]})
    assert not tokens & guesses
    wrong = tmp_path / "wrong"
    seal_folder(county / "raw", wrong, generate_key(), agreements, extract_date=EXTRACT_DATE)
    wrong_tokens: set[str] = set()
    for path in wrong.iterdir():
        table = open_sealed(path).read_table(["tok_given_first", "tok_family", "tok_dob", "tok_postcode", "tok_nhs"])
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


def test_the_leak_scan_finds_what_it_looks_for():
    text = "source,record_id\npolice,NOM/1\nSMITH-JONES lives at 14 MILL LANE, perinatal_mental_health"
    assert leaks({"Jones", "14 MILL LANE", "Erin", "Mill Lane Flat"}, text) == ["14 MILL LANE", "Jones"]


def test_worker_processes_give_the_same_bytes_and_reports(county, agreements, tmp_path):
    from protocols.seal import pseudonymise

    key = generate_key()
    raw = county / "raw" / "schools.csv"
    one = pseudonymise(raw, tmp_path / "one.sealed", "schools", key, agreements, extract_date=EXTRACT_DATE,
                       chunk_rows=500, workers=1)
    two = pseudonymise(raw, tmp_path / "two.sealed", "schools", key, agreements, extract_date=EXTRACT_DATE,
                       chunk_rows=500, workers=2)
    assert (tmp_path / "one.sealed").read_bytes() == (tmp_path / "two.sealed").read_bytes()
    assert (one.rows_in, one.accepted, one.records, one.fields_blanked) == \
        (two.rows_in, two.accepted, two.records, two.fields_blanked)
    assert one.rows_in > 4 * 500


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_extract_of_an_earlier_schema_is_refused_with_seal_it_again(sealed, tmp_path, version):
    """Schema version 2 put bf_given and bf_family under one key (a version 1 extract's name
    filters cannot be compared with later ones); version 3 dropped the tokens of a part of the
    date of birth (a version 2 extract lacks what the linkage reads and carries tokens the
    clear age decodes); version 4 dropped ``tok_given`` (all given names), which no stage read.
    The hub refuses each by name."""
    _, out, _ = sealed
    old = tmp_path / "old" / "schools-old.sealed"
    old.parent.mkdir()
    with zipfile.ZipFile(next(out.glob("schools-*"))) as source, zipfile.ZipFile(old, "w") as target:
        manifest = json.loads(source.read("manifest.json"))
        assert manifest["schema_version"] == 4
        manifest["schema_version"] = version
        target.writestr("manifest.json", json.dumps(manifest))
        target.writestr("data.parquet", source.read("data.parquet"))
    with pytest.raises(SealedExtractError, match=f"schema version '?{version}'?, this hub reads version 4") as refused:
        open_sealed_folder(old.parent)
    assert "seal it again" in refused.value.render()


def test_name_filters_need_equal_settings_and_the_error_names_the_key(tmp_path):
    import shutil

    import yaml

    from familylink.core.errors import ConfigError
    from protocols.agreements import default_agreements_dir, load_agreements

    shutil.copytree(default_agreements_dir(), tmp_path / "a")
    path = tmp_path / "a" / "partnership.yaml"
    document = yaml.safe_load(path.read_text())
    document["encoding"]["bloom"]["family_name"] = {"bits": 1024, "hashes": 15}
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as refused:
        load_agreements(tmp_path / "a")
    text = refused.value.render()
    assert "encoding.bloom.family_name" in text and "encoding.bloom.given_name" in text
