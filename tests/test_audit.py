"""The audit trail: appending, the hash chain, tamper detection and the audit commands."""

from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from familylink.cli.audit import audit
from familylink.core.errors import StoreError
from familylink.store.audit import (
    AUDIT_MIGRATION,
    GENESIS_HASH,
    append_audit,
    audit_entries,
    audit_head,
    verify_audit,
)
from familylink.store.db import MIGRATIONS, STORE_ALIAS, RunStore


def make_store(path) -> RunStore:
    migrations = MIGRATIONS if any(m.name == AUDIT_MIGRATION.name for m in MIGRATIONS) \
        else (*MIGRATIONS, AUDIT_MIGRATION)
    return RunStore(path, migrations=migrations)


@pytest.fixture
def store(tmp_path):
    store = make_store(tmp_path / "store.duckdb")
    append_audit(store, "intake", "police", "accepted", {"manifest_sha256": "ab" * 32, "rows": 120}, "alice")
    append_audit(store, "intake", "health", "refused", {"reason": "signature does not verify"}, "alice")
    append_audit(store, "run", "R0001", "done", {"families": 42, "eligible": 7}, "bob")
    append_audit(store, "attach", "A0001", "done", {"file_name": "register.csv", "rows": 25}, "bob")
    append_audit(store, "export", "R0001", "done", {"file_name": "candidates.csv"}, "carol")
    return store


def sql(store: RunStore, statement: str) -> None:
    with store.connect() as con:
        con.execute(statement)


def wheres(problems) -> list[str]:
    return [p.where for p in problems]


def test_appended_entries_form_an_intact_chain(store):
    entries = audit_entries(store)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in zip(entries, entries[1:], strict=False))
    assert all(e.computed_hash() == e.entry_hash and len(e.entry_hash) == 64 for e in entries)
    assert entries[0].details == {"manifest_sha256": "ab" * 32, "rows": 120}
    assert (entries[1].action, entries[1].subject, entries[1].outcome, entries[1].operator) == \
        ("intake", "health", "refused", "alice")
    assert audit_head(store) == (5, entries[-1].entry_hash)
    assert verify_audit(store) == []
    assert [e.seq for e in audit_entries(store, action="intake")] == [1, 2]
    assert [e.seq for e in audit_entries(store, last=2)] == [4, 5]


@pytest.mark.parametrize("column, value", [
    ("operator", "'mallory'"), ("outcome", "'accepted'"), ("details", """'{"reason":"none"}'"""),
    ("at", "TIMESTAMP '2020-01-01 00:00:00'"), ("subject", "'dwp'")])
def test_an_edited_field_is_named_by_its_seq(store, column, value):
    sql(store, f"UPDATE audit_log SET \"{column}\" = {value} WHERE seq = 2")
    problems = verify_audit(store)
    assert wheres(problems) == ["seq 2"] and "edited" in problems[0].what


def test_an_edit_with_a_recomputed_hash_breaks_the_link_to_the_next_entry(store):
    entry = audit_entries(store)[2]
    from familylink.store.audit import entry_hash
    forged = entry_hash(entry.seq, entry.at, "mallory", entry.action, entry.subject, entry.outcome,
                        entry.details, entry.prev_hash)
    sql(store, f"UPDATE audit_log SET operator = 'mallory', entry_hash = '{forged}' WHERE seq = 3")
    problems = verify_audit(store)
    assert wheres(problems) == ["seq 4"] and "chain is broken" in problems[0].what


def test_a_removed_middle_entry_is_detected(store):
    sql(store, "DELETE FROM audit_log WHERE seq = 3")
    problems = verify_audit(store)
    assert set(wheres(problems)) == {"seq 4"}
    assert any("3 are missing" in p.what for p in problems)
    assert any("chain is broken" in p.what for p in problems)


def test_a_removed_last_entry_is_detected_through_the_head(store):
    sql(store, "DELETE FROM audit_log WHERE seq = 5")
    problems = verify_audit(store)
    assert wheres(problems) == ["seq 5"] and "ends at seq 4" in problems[0].what
    # appending afterwards continues from the head, so the gap stays visible
    append_audit(store, "run", "R0002", "done", {}, "bob")
    assert [e.seq for e in audit_entries(store)][-2:] == [4, 6]
    assert "seq 6" in wheres(verify_audit(store))


def test_a_removed_head_or_a_removed_log_is_detected(store):
    sql(store, "DELETE FROM audit_head")
    assert wheres(verify_audit(store)) == ["head"]
    sql(store, "INSERT INTO audit_head VALUES (1, 5, 'x')")
    sql(store, "DELETE FROM audit_log")
    assert wheres(verify_audit(store)) == ["seq 5"]


def test_reordered_and_inserted_entries_are_detected(store):
    sql(store, "UPDATE audit_log SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END WHERE seq IN (2, 3)")
    assert {"seq 2", "seq 3"} <= set(wheres(verify_audit(store)))
    other = make_store(store.path.parent / "other.duckdb")
    for n in range(3):
        append_audit(other, "run", f"R000{n + 1}", "done", {}, "bob")
    sql(other, "UPDATE audit_log SET seq = seq + 1 WHERE seq >= 2")
    sql(other, f"INSERT INTO audit_log VALUES (2, TIMESTAMP '2026-01-01 00:00:00', 'mallory', 'run', 'R0009', "
               f"'done', '{{}}', '{GENESIS_HASH}', '{'1' * 64}')")
    assert {"seq 2", "seq 3", "seq 4"} <= set(wheres(verify_audit(other)))


def test_an_anchor_recorded_outside_the_store_must_still_be_in_the_log(store):
    head = audit_head(store)[1]
    append_audit(store, "refresh", "R0002", "done", {}, "bob")
    assert verify_audit(store, anchor=head[:12]) == []
    assert wheres(verify_audit(store, anchor="deadbeef")) == ["anchor"]
    assert wheres(verify_audit(store, anchor="not hex")) == ["anchor"]


def test_append_refuses_personal_keys_unknown_actions_and_bad_values(store):
    for details in ({"given_name": "x"}, {"children": [{"DateOfBirth": "x"}]}, {"postcode_unit": "x"},
                    {"nhs_number": "x"}, {"dob": "x"}):
        with pytest.raises(StoreError, match="cannot be recorded") as error:
            append_audit(store, "intake", "police", "accepted", details, "alice")
        assert "personal" in error.value.render()
    with pytest.raises(StoreError, match="cannot be recorded"):
        append_audit(store, "deleted_everything", "x", "done", {}, "alice")
    with pytest.raises(StoreError, match="cannot be recorded"):
        append_audit(store, "run", "R0001", "maybe", {}, "alice")
    with pytest.raises(StoreError, match="cannot be recorded"):
        append_audit(store, "run", "R0001", "done", {"value": float("nan")}, "alice")
    with pytest.raises(StoreError, match="cannot be recorded"):
        append_audit(store, "run", "", "done", {}, "")
    assert len(audit_entries(store)) == 5 and verify_audit(store) == []


def test_append_inside_a_caller_transaction_on_an_attached_store(store):
    con = duckdb.connect()
    try:
        with store.attached(con, read_only=False) as alias:
            assert alias == STORE_ALIAS
            con.execute("BEGIN TRANSACTION")
            append_audit(con, "refresh", "R0002", "done", {"families": 40}, "bob", alias=alias)
            con.execute("ROLLBACK")  # the caller's failure takes the entry with it
            con.execute("BEGIN TRANSACTION")
            entry = append_audit(con, "refresh", "R0002", "done", {"families": 40}, "bob", alias=alias)
            con.execute("COMMIT")
            # outside a transaction the append is its own
            append_audit(con, "export", "R0002", "done", {}, "bob", alias=alias)
    finally:
        con.close()
    entries = audit_entries(store)
    assert entry.seq == 6 and [e.seq for e in entries] == [1, 2, 3, 4, 5, 6, 7]
    assert verify_audit(store) == []


def test_a_store_without_the_audit_migration_says_so(tmp_path):
    old = RunStore(tmp_path / "old.duckdb", migrations=[m for m in MIGRATIONS if m.name != AUDIT_MIGRATION.name])
    with pytest.raises(StoreError, match="no audit log"):
        append_audit(old, "run", "R0001", "done", {}, "bob")
    with pytest.raises(StoreError, match="opened read-only"):
        append_audit(RunStore(old.path, read_only=True, migrations=old.migrations), "run", "R1", "done", {}, "b")


def test_audit_show_and_verify_commands(store):
    runner = CliRunner()
    result = runner.invoke(audit, ["show", "--store", str(store.path)])
    assert result.exit_code == 0, result.output
    assert "R0001" in result.output and "refused" in result.output and "carol" in result.output
    result = runner.invoke(audit, ["show", "--store", str(store.path), "--action", "intake", "--last", "1"])
    assert result.exit_code == 0 and "health" in result.output and "police" not in result.output
    result = runner.invoke(audit, ["verify", "--store", str(store.path)])
    assert result.exit_code == 0, result.output
    assert f"audit log intact: 5 entries, head {audit_head(store)[1][:16]}" in result.output
    sql(store, "UPDATE audit_log SET details = '{\"rows\":1}' WHERE seq = 1")
    sql(store, "DELETE FROM audit_log WHERE seq = 4")
    result = runner.invoke(audit, ["verify", "--store", str(store.path)])
    assert result.exit_code == 1
    assert "Error:" in result.output and "tampered" in result.output
    assert "seq 1: its content does not match its hash" in result.output
    assert "seq 5: entries 4 are missing" in result.output
    result = runner.invoke(audit, ["verify", "--store", str(store.path.parent / "none.duckdb")])
    assert result.exit_code == 1 and "no run store there" in result.output
