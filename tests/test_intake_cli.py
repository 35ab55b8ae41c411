"""Hub intake through the CLI: accepted and refused transfers are recorded in the audit log."""

from __future__ import annotations

import shutil

import duckdb
from click.testing import CliRunner

from familylink.cli import cli
from familylink.store import RunStore
from familylink.store.audit import audit_entries, verify_audit
from tests.conftest import health_row, write_csv


def _ok(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_intake_accepts_refuses_and_records_everything(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    _ok("keygen", "--kind", "partnership", "--out", keys / "partnership.key")
    _ok("keygen", "--kind", "signing", "--out", keys / "health-signing.key")
    _ok("keygen", "--kind", "hub", "--out", keys / "hub.key")
    providers = tmp_path / "providers"
    providers.mkdir()
    shutil.copy(keys / "health-signing.key.pub", providers / "health.pub")
    raw = write_csv(tmp_path / "health.csv", [health_row(), health_row(record_id="H2", given_name="Quentinara")])
    inbox, store = tmp_path / "inbox", tmp_path / "store.duckdb"
    inbox.mkdir()

    def seal(date):
        _ok("pseudonymise", "--source", "health", "--key", keys / "partnership.key", "--in", raw, "--out",
            inbox / f"health-{date}.sealed", "--extract-date", date, "--sign-key", keys / "health-signing.key",
            "--encrypt-to", keys / "hub.key.pub", "--quiet")

    def intake(*extra):
        return CliRunner().invoke(cli, ["intake", "--in", str(inbox), "--out", str(tmp_path / "extracts"),
                                        "--hub-key", str(keys / "hub.key"), "--providers", str(providers),
                                        "--store", str(store), "--operator", "hub-officer", *extra])

    seal("2026-09-30")
    first = intake()
    assert first.exit_code == 0, first.output
    assert (tmp_path / "extracts" / "health-2026-09-30.sealed").is_file()
    # the same transfer again is a replay; a flipped byte is tampering
    transfer = next(inbox.glob("*.transfer"))
    again = intake()
    assert again.exit_code == 1 and "Error: 1 of 1 transfers refused" in again.output
    assert "replay" in again.output
    data = bytearray(transfer.read_bytes())
    data[len(data) // 2] ^= 0x01
    transfer.write_bytes(bytes(data))
    tampered = intake()
    assert tampered.exit_code == 1 and "tampered" in tampered.output
    for text in (first.output, again.output, tampered.output):
        assert "Quentinara" not in text

    entries = audit_entries(RunStore(store, read_only=True), action="intake")
    assert [(e.subject, e.outcome) for e in entries] == [("health", "accepted"), ("health", "refused"),
                                                         ("health", "refused")]
    assert entries[0].operator == "hub-officer"
    assert [e.details["reason"] for e in entries[1:]] == ["replay", "tampered"]
    assert verify_audit(RunStore(store, read_only=True)) == []
    assert "audit log intact: 3 entries" in _ok("audit", "verify", "--store", store)

    # an edited entry is detected
    con = duckdb.connect(str(store))
    con.execute("UPDATE audit_log SET outcome = 'accepted' WHERE seq = 2")
    con.close()
    result = CliRunner().invoke(cli, ["audit", "verify", "--store", str(store)])
    assert result.exit_code == 1 and "seq 2" in result.output
