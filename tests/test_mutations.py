"""No traceback, anywhere, on any input: mutation tests for every command that reads a file.

Valid inputs are mutated (bytes flipped, deleted, inserted, the file truncated, zip members
swapped, the text re-encoded, columns reordered or duplicated) and each command must either
succeed with reconciled counts or fail with one ``Error:`` line that is not the last-resort
"unexpected" message, with no traceback and nothing left half-written. Example counts are
bounded so the whole module runs in well under a minute.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from familylink.cli.audit import audit
from familylink.cli.governance import protocol
from familylink.cli.intake import intake
from familylink.cli.provider import pseudonymise, validate
from familylink.cli.store import attach, runs_command
from familylink.core.errors import FamilylinkError
from familylink.store import RunStore
from familylink.store.audit import append_audit
from protocols.agreements import default_agreements_dir
from protocols.keys import (
    generate_hub_key,
    generate_key,
    generate_signing_key,
    write_key_file,
    write_key_pair,
)
from protocols.seal import pseudonymise as seal_api
from protocols.sealed import open_sealed
from protocols.transfer import seal_for_transfer
from tests.conftest import EXTRACT_DATE, HEALTH_HEADER, health_row, write_csv

FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(max_examples=8, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_counter = itertools.count()


# --- mutations ----------------------------------------------------------------------------


@st.composite
def byte_mutations(draw):
    """(kind, relative offset in [0, 1), a byte, a length) applied by ``mutate``."""
    return (draw(st.sampled_from(["flip", "delete", "insert", "truncate"])), draw(st.floats(0, 1, exclude_max=True)),
            draw(st.integers(1, 255)), draw(st.integers(1, 16)))


def mutate(data: bytes, mutation) -> bytes:
    kind, where, byte, length = mutation
    at = int(where * len(data))
    if kind == "flip":
        changed = bytearray(data)
        changed[at] ^= byte
        return bytes(changed)
    if kind == "delete":
        return data[:at] + data[at + length:]
    if kind == "insert":
        return data[:at] + bytes([byte]) * length + data[at:]
    return data[:at]


def one_error(result, *, allowed_exit=(0, 1)) -> bool:
    """Assert the command ended cleanly; True when it succeeded."""
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code in allowed_exit, (result.exit_code, output, result.exception)
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 0:
        return True
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert "unexpected" not in errors[0], output
    return False


def invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args])


def fresh(base: Path) -> Path:
    folder = base / f"case{next(_counter)}"
    folder.mkdir()
    return folder


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --- shared inputs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("mutations")
    keys = base / "keys"
    keys.mkdir(mode=0o700)
    key = generate_key()
    write_key_file(keys / "partnership.key", key)
    signing, hub = generate_signing_key(), generate_hub_key()
    write_key_pair(keys / "signing.key", signing)
    write_key_pair(keys / "hub.key", hub)
    providers = base / "providers"
    providers.mkdir()
    shutil.copy(keys / "signing.key.pub", providers / "health.pub")
    names = ["Zoë", "Anna", "Bilal", "Chloé", "Dev", "Ewa", "Femi", "Gita", "Hugo", "Iris", "Jon", "Kai"]
    rows = [health_row(record_id=f"H{i}", given_name=names[i], event_date=f"2026-0{1 + i % 8}-1{i % 10}")
            for i in range(12)]
    raw = write_csv(base / "health.csv", rows)
    from protocols.agreements import load_agreements

    agreements = load_agreements(default_agreements_dir())
    sealed = base / "health-2026-09-30.sealed"
    seal_api(raw, sealed, "health", key, agreements, extract_date=EXTRACT_DATE)
    transfer = seal_for_transfer(sealed, base / "health-2026-09-30.sealed.transfer", signing_key=signing,
                                 hub_public_key=hub.public, source="health", extract_date=EXTRACT_DATE).path
    store = base / "store.duckdb"
    for i in range(3):
        append_audit(RunStore(store), "intake", "health", "accepted", {"file": f"f{i}.transfer"}, "tester")
    register = base / "register.csv"
    register.write_text("attachment_ref,source,record_id,attached_on,lead_team\n"
                        "ATT-1,health,H1,2026-01-05,Early Help\nATT-1,health,H2,2026-01-05,Early Help\n",
                        encoding="utf-8")
    return {"base": base, "keys": keys, "providers": providers, "raw": raw, "sealed": sealed,
            "transfer": transfer, "store": store, "register": register, "agreements": default_agreements_dir()}


def seal_args(world, raw: Path, out: Path, *extra):
    return ["--source", "health", "--key", world["keys"] / "partnership.key", "--in", raw, "--out", out,
            "--extract-date", "2026-09-30", "--quiet", *extra]


def check_sealing(world, raw: Path, folder: Path, *extra) -> None:
    """pseudonymise either seals with reconciled counts or refuses leaving nothing behind."""
    before = files_in(folder)
    out = folder / "out" / "health.sealed"
    result = invoke(pseudonymise, *seal_args(world, raw, out, *extra))
    if one_error(result):
        counts = open_sealed(out).manifest["counts"]
        assert counts["rows_in"] == counts["accepted"] + counts["quarantined"]
    else:
        assert files_in(folder) == before, result.output


# --- raw extracts ---------------------------------------------------------------------------


@FAST
@given(mutation=byte_mutations())
def test_pseudonymise_survives_any_byte_mutation_of_a_raw_csv(world, mutation):
    folder = fresh(world["base"])
    raw = folder / "health.csv"
    raw.write_bytes(mutate(world["raw"].read_bytes(), mutation))
    check_sealing(world, raw, folder)


@FEW
@given(encoding=st.sampled_from(["latin-1", "utf-16", "cp1252", "utf-8-sig", "utf-32"]),
       accent=st.booleans())
def test_validate_survives_other_encodings(world, encoding, accent):
    folder = fresh(world["base"])
    text = world["raw"].read_text(encoding="utf-8")
    if not accent:
        text = text.replace("Zoë", "Zoe").replace("Chloé", "Chloe")
    raw = folder / "health.csv"
    raw.write_bytes(text.encode(encoding, errors="replace"))
    result = invoke(validate, "--source", "health", "--in", raw, "--quiet", "--extract-date", "2026-09-30")
    one_error(result)
    if encoding in ("utf-16", "utf-32", "latin-1", "cp1252") and (accent or encoding.startswith("utf-")):
        assert result.exit_code == 1


@FAST
@given(order=st.permutations(range(len(HEALTH_HEADER))), duplicate=st.one_of(st.none(), st.integers(0, 13)))
def test_reordered_and_duplicated_columns(world, order, duplicate):
    folder = fresh(world["base"])
    with open(world["raw"], encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    columns = list(order) + ([duplicate] if duplicate is not None else [])
    raw = folder / "health.csv"
    with open(raw, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([[row[i] for i in columns] for row in table])
    result = invoke(pseudonymise, *seal_args(world, raw, folder / "out" / "health.sealed"))
    succeeded = one_error(result)
    assert succeeded == (duplicate is None), result.output  # reordering is fine, a duplicate is refused
    if not succeeded:
        assert "column appears twice" in result.output


@FEW
@given(mutation=byte_mutations())
def test_validate_survives_a_damaged_workbook(world, mutation):
    from openpyxl import Workbook

    folder = fresh(world["base"])
    book = Workbook()
    with open(world["raw"], encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    raw = folder / "health.xlsx"
    raw.write_bytes(mutate(buffer.getvalue(), mutation))
    before = files_in(folder)
    result = invoke(validate, "--source", "health", "--in", raw, "--quiet", "--extract-date", "2026-09-30")
    if not one_error(result):
        assert files_in(folder) == before


# --- agreements, keys, registers -------------------------------------------------------------


@FAST
@given(name=st.sampled_from(["health.yaml", "partnership.yaml"]), mutation=byte_mutations())
def test_validate_survives_a_damaged_agreement(world, name, mutation):
    folder = fresh(world["base"])
    agreements = folder / "agreements"
    shutil.copytree(world["agreements"], agreements)
    (agreements / name).write_bytes(mutate((agreements / name).read_bytes(), mutation))
    raw = folder / "health.csv"
    shutil.copy(world["raw"], raw)
    result = invoke(validate, "--source", "health", "--in", raw, "--agreements", agreements, "--quiet",
                    "--extract-date", "2026-09-30")
    one_error(result)


@FAST
@given(name=st.sampled_from(["partnership.key", "signing.key", "hub.key.pub"]), mutation=byte_mutations())
def test_pseudonymise_survives_a_damaged_key_file(world, name, mutation):
    folder = fresh(world["base"])
    keys = folder / "keys"
    shutil.copytree(world["keys"], keys)
    (keys / name).write_bytes(mutate((keys / name).read_bytes(), mutation))
    raw = folder / "health.csv"
    shutil.copy(world["raw"], raw)
    before = files_in(folder)
    result = invoke(pseudonymise, "--source", "health", "--key", keys / "partnership.key", "--in", raw,
                    "--out", folder / "out" / "health.sealed", "--extract-date", "2026-09-30", "--quiet",
                    "--sign-key", keys / "signing.key", "--encrypt-to", keys / "hub.key.pub")
    if not one_error(result):
        assert files_in(folder) == before, result.output


@FAST
@given(mutation=byte_mutations())
def test_attach_survives_a_damaged_register(world, mutation):
    folder = fresh(world["base"])
    register = folder / "register.csv"
    register.write_bytes(mutate(world["register"].read_bytes(), mutation))
    store = folder / "store.duckdb"
    result = invoke(attach, "--register", register, "--store", store)
    one_error(result)


@FEW
@given(mutation=byte_mutations())
def test_protocol_check_survives_a_damaged_agreement(world, mutation):
    folder = fresh(world["base"])
    agreements = folder / "agreements"
    shutil.copytree(world["agreements"], agreements)
    (agreements / "police.yaml").write_bytes(mutate((agreements / "police.yaml").read_bytes(), mutation))
    result = invoke(protocol, "check", "--agreements", agreements)
    one_error(result)


# --- sealed containers, transfers, the store -------------------------------------------------


def swap_members(data: bytes) -> bytes:
    """The container with its members' contents exchanged (names kept)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest, table = archive.read("manifest.json"), archive.read("data.parquet")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", table)
        archive.writestr("data.parquet", manifest)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(offset=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_flipped_bit_in_a_sealed_container_is_refused(world, offset, bit):
    data = bytearray(world["sealed"].read_bytes())
    data[int(offset * len(data))] ^= 1 << bit
    target = world["base"] / f"flipped{next(_counter)}.sealed"
    target.write_bytes(bytes(data))
    with pytest.raises(FamilylinkError) as caught:
        open_sealed(target)
    assert caught.value.summary.startswith(target.name)


def test_every_byte_of_a_sealed_container_is_checked(world):
    """Exhaustively: every byte outside the data member flipped once (the data has its hash)."""
    original = world["sealed"].read_bytes()
    target = world["base"] / "every-byte.sealed"
    with zipfile.ZipFile(world["sealed"]) as archive:
        info = archive.getinfo("data.parquet")
    data_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    positions = [i for i in range(len(original)) if not data_start <= i < data_start + info.file_size]
    positions += list(range(data_start, data_start + info.file_size, 97))
    for position in positions:
        data = bytearray(original)
        data[position] ^= 0x01
        target.write_bytes(bytes(data))
        with pytest.raises(FamilylinkError):
            open_sealed(target)


@FEW
@given(kind=st.sampled_from(["swap", "truncate", "empty", "manifest-json", "extra-member"]))
def test_structurally_wrong_containers_are_refused(world, kind):
    data = world["sealed"].read_bytes()
    if kind == "swap":
        data = swap_members(data)
    elif kind == "truncate":
        data = data[: len(data) // 3]
    elif kind == "empty":
        data = b""
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as archive:
            for name in source.namelist():
                content = source.read(name)
                if kind == "manifest-json" and name == "manifest.json":
                    manifest = json.loads(content)
                    manifest["counts"]["accepted"] = "many"
                    content = json.dumps(manifest).encode()
                archive.writestr(name, content)
            if kind == "extra-member":
                archive.writestr("notes.txt", b"hello")
        data = buffer.getvalue()
    target = world["base"] / f"wrong{next(_counter)}.sealed"
    target.write_bytes(data)
    with pytest.raises(FamilylinkError):
        open_sealed(target)


@pytest.mark.parametrize("command", ["link", "run", "refresh"])
@pytest.mark.parametrize("where", [0.0, 0.01, 0.3, 0.5, 0.97, 0.999])
def test_link_run_and_refresh_refuse_a_flipped_sealed_container_in_one_line(world, tmp_path, command, where):
    from familylink.cli import hub

    extracts = tmp_path / "extracts"
    extracts.mkdir()
    data = bytearray(world["sealed"].read_bytes())
    data[int(where * len(data))] ^= 0x10
    (extracts / world["sealed"].name).write_bytes(bytes(data))
    store = tmp_path / "store.duckdb"
    RunStore(store)
    args = ["--extracts", extracts, "--out", tmp_path / "run", "--quiet"]
    if command != "link":
        args += ["--store", store, "--reference-date", "2026-09-30"]
    result = invoke(getattr(hub, command), *args)
    assert not one_error(result)
    assert f"Error: {world['sealed'].name}: " in result.output
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))


def intake_args(world, folder: Path, inbox: Path, store: Path, hub_key: Path | None = None):
    return ["--in", inbox, "--out", folder / "extracts", "--hub-key", hub_key or world["keys"] / "hub.key",
            "--providers", world["providers"], "--store", store, "--operator", "tester"]


@FAST
@given(mutation=byte_mutations())
def test_intake_refuses_a_damaged_transfer_in_one_line(world, mutation):
    folder = fresh(world["base"])
    inbox = folder / "inbox"
    inbox.mkdir()
    transfer = inbox / world["transfer"].name
    transfer.write_bytes(mutate(world["transfer"].read_bytes(), mutation))
    result = invoke(intake, *intake_args(world, folder, inbox, folder / "store.duckdb"))
    assert not one_error(result)
    assert "transfers refused" in result.output
    assert not (folder / "extracts").exists() or not any((folder / "extracts").iterdir())


@FEW
@given(mutation=byte_mutations())
def test_intake_survives_a_damaged_hub_key_or_registered_key(world, mutation):
    folder = fresh(world["base"])
    inbox = folder / "inbox"
    inbox.mkdir()
    shutil.copy(world["transfer"], inbox)
    hub_key = folder / "hub.key"
    hub_key.write_bytes(mutate((world["keys"] / "hub.key").read_bytes(), mutation))
    hub_key.chmod(0o600)
    one_error(invoke(intake, *intake_args(world, folder, inbox, folder / "store.duckdb", hub_key)))
    providers = folder / "providers"
    providers.mkdir()
    (providers / "health.pub").write_bytes(mutate((world["providers"] / "health.pub").read_bytes(), mutation))
    args = intake_args(world, folder, inbox, folder / "store2.duckdb")
    args[args.index(world["providers"])] = providers
    one_error(invoke(intake, *args))


def store_content(store: Path) -> list:
    """Every row of every table, or None when the store cannot be read."""
    try:
        opened = RunStore(store, read_only=True)
        with opened.connect() as con:
            tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
            return [(t, sorted(map(str, con.execute(f'SELECT * FROM "{t}"').fetchall()))) for t in tables]
    except FamilylinkError:
        return None


@settings(max_examples=40, deadline=None, derandomize=True)
@given(offset=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_a_flipped_bit_in_the_store_is_refused_in_one_line_or_harmless(world, offset, bit):
    """runs, audit verify, intake, run and refresh on a store with one bit flipped: one Error:
    line, or (a bit in a block the store does not use) the same content as the original."""
    from familylink.cli import hub

    folder = fresh(world["base"])
    store = folder / "store.duckdb"
    data = bytearray(world["store"].read_bytes())
    data[int(offset * len(data))] ^= 1 << bit
    store.write_bytes(bytes(data))
    readable = store_content(store)
    event("harmless" if readable is not None else "refused")
    if readable is not None:
        assert readable == store_content(world["store"])
        return
    for command, args in ((runs_command, ["--store", store]), (audit, ["verify", "--store", store])):
        result = invoke(command, *args)
        assert not one_error(result) and f"Error: {store}" in result.output, result.output
    inbox = folder / "inbox"
    inbox.mkdir()
    shutil.copy(world["transfer"], inbox)
    result = invoke(intake, *intake_args(world, folder, inbox, store))
    assert not one_error(result) and "run store is damaged" in result.output
    assert not (folder / "extracts").exists() or not any((folder / "extracts").iterdir())
    extracts = folder / "sealed"
    extracts.mkdir()
    shutil.copy(world["sealed"], extracts)
    for command in ("run", "refresh"):
        result = invoke(getattr(hub, command), "--extracts", extracts, "--out", folder / command, "--store", store,
                        "--reference-date", "2026-09-30", "--quiet")
        assert not one_error(result) and "run store is damaged" in result.output, result.output
        assert not (folder / command).exists()


@FAST
@given(name=st.sampled_from(["linkage/default.yaml", "frameworks/phase2-2015.yaml", "identification.yaml",
                             "localities.yaml"]), mutation=byte_mutations())
def test_run_survives_damaged_settings_and_frameworks(world, name, mutation):
    """The settings are read before anything else; with an empty extracts folder the run then
    stops at once, so every example is one clear sentence."""
    from familylink.cli import hub
    from familylink.core.paths import config_dir

    folder = fresh(world["base"])
    document = folder / Path(name).name
    document.write_bytes(mutate((config_dir() / name).read_bytes(), mutation))
    option = {"linkage/default.yaml": "--linkage", "frameworks/phase2-2015.yaml": "--framework",
              "identification.yaml": "--settings", "localities.yaml": "--localities"}[name]
    (folder / "extracts").mkdir()
    result = invoke(hub.run, "--extracts", folder / "extracts", "--out", folder / "run", "--store",
                    folder / "store.duckdb", "--reference-date", "2026-09-30", "--quiet", option, document)
    assert not one_error(result)
    assert not (folder / "run").exists()
    if name.startswith("linkage"):
        assert not one_error(invoke(hub.link, "--extracts", folder / "extracts", "--out", folder / "link",
                                    "--linkage", document, "--quiet"))
        assert not (folder / "link").exists()


@FAST
@given(mutation=byte_mutations())
def test_intake_survives_a_damaged_providers_yaml(world, mutation):
    folder = fresh(world["base"])
    public = json.loads((world["providers"] / "health.pub").read_text(encoding="utf-8"))
    registry = folder / "providers.yaml"
    text = (f"providers:\n  health:\n    public_key: {public['public_key']}\n"
            f"    fingerprint: {public['fingerprint']}\n").encode()
    registry.write_bytes(mutate(text, mutation))
    inbox = folder / "inbox"
    inbox.mkdir()
    shutil.copy(world["transfer"], inbox)
    args = intake_args(world, folder, inbox, folder / "store.duckdb")
    args[args.index(world["providers"])] = registry
    if one_error(invoke(intake, *args)):
        assert (folder / "extracts" / world["sealed"].name).is_file()


def test_a_deeply_nested_envelope_header_is_tampering(world, tmp_path):
    from protocols.transfer import MAGIC, decode_envelope

    header = b"[" * 5000 + b"]" * 5000
    data = MAGIC + len(header).to_bytes(4, "big") + header + bytes(200)
    with pytest.raises(ValueError, match="header is not readable"):
        decode_envelope(data)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "x.sealed.transfer").write_bytes(data)
    result = invoke(intake, *intake_args(world, tmp_path, inbox, tmp_path / "store.duckdb"))
    assert not one_error(result) and "tampered" in result.output


@pytest.mark.parametrize("cut", ["empty", "header", "half", "delete", "text"])
def test_a_truncated_or_foreign_store_is_refused_in_one_line(world, tmp_path, cut):
    data = world["store"].read_bytes()
    damaged = {"empty": b"", "header": data[:100], "half": data[: len(data) // 2],
               "delete": data[:5000] + data[5010:], "text": b"not a database\n" * 100}[cut]
    store = tmp_path / "store.duckdb"
    store.write_bytes(damaged)
    for command, args in ((runs_command, ["--store", store]), (audit, ["show", "--store", store])):
        result = invoke(command, *args)
        assert not one_error(result) and f"Error: {store}" in result.output, result.output
    assert store.read_bytes() == damaged
