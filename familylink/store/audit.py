"""The audit trail: an append-only, hash-chained log of who did what, in the run store.

Every entry records the time (UTC, to the second), the operator, an action (``ACTIONS``:
intake, run, refresh, export, attach, protocol_change, ...), its subject (a source, a run
id, a file name, a register id), the outcome (``OUTCOMES``: accepted, refused, done,
failed) and a small JSON document of details (manifest hash, counts, the reason for a
refusal). Entry ``n`` stores ``prev_hash``, the hash of entry ``n - 1`` (64 zeros for the
first), and ``entry_hash`` = SHA-256 of the canonical JSON of
``{seq, at, operator, action, subject, outcome, details, prev_hash}``. A one-row table,
``audit_head``, holds the sequence number and hash of the last entry and is updated in the
same transaction as every append, so removing the *last* entries is detected too.

``verify_audit`` recomputes the chain and reports, naming each seq: an edited entry (its
hash no longer matches its content), a removed entry (a gap in seq, a broken chain, or a
head pointing past the last entry), an inserted or reordered entry (broken chain and hash).

What the chain does not do: anyone who can write the store file can rewrite the whole log
and the head consistently (there is no secret in the hash). Tamper-evidence against that
needs the head hash kept elsewhere: ``familylink audit verify`` prints it; record it in
minutes or a ticket, and pass it back as ``anchor`` (``--anchor``) to check that the log
still contains that exact entry. DuckDB has no triggers, so "append-only" is this module's
contract (nothing here updates or deletes an entry), not a database constraint.

Details must never hold personal values (names, dates of birth, addresses, postcodes,
identifiers): only ids, hashes, counts, file names and reasons. ``append_audit`` refuses
keys named like the contract's personal columns (at any depth); it cannot inspect values,
so callers must not put personal values under other keys either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from familylink.core.contract import PERSONAL_COLUMNS
from familylink.core.errors import Problem, StoreError
from familylink.core.fingerprint import canonical_json
from familylink.store.db import MIGRATIONS, Migration, RunStore, utc_now

AUDIT_TABLE = "audit_log"
AUDIT_HEAD_TABLE = "audit_head"
GENESIS_HASH = "0" * 64
#: The store migration the audit trail needs (append it to ``familylink.store.db.MIGRATIONS``).
AUDIT_MIGRATION = next(m for m in MIGRATIONS if m.name == "0007_audit")
ACTIONS = ("intake", "seal", "run", "refresh", "export", "attach", "protocol_change", "keygen",
           "provider_registration", "publish")
OUTCOMES = ("accepted", "refused", "done", "failed")
#: Key words that name personal data besides the contract's personal columns.
_PERSONAL_ALIASES = ("dob", "birth", "forename", "surname", "first_name", "last_name", "full_name",
                     "national_insurance", "nhs", "post_code")
_FIELDS = ("seq", "at", "operator", "action", "subject", "outcome", "details", "prev_hash", "entry_hash")
_COLUMNS = ", ".join(f'"{name}"' for name in _FIELDS)  # "at" is a keyword in DuckDB


@dataclass(frozen=True)
class AuditEntry:
    """One audit log entry. ``at`` is UTC (naive); ``details`` is the parsed JSON."""

    seq: int
    at: dt.datetime
    operator: str
    action: str
    subject: str
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str

    def computed_hash(self) -> str:
        """The hash this entry's content and ``prev_hash`` should have."""
        return entry_hash(self.seq, self.at, self.operator, self.action, self.subject, self.outcome,
                          self.details, self.prev_hash)


def entry_hash(seq: int, at: dt.datetime, operator: str, action: str, subject: str, outcome: str,
               details: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields and the previous hash."""
    document = {"seq": seq, "at": at.isoformat(sep=" "), "operator": operator, "action": action,
                "subject": subject, "outcome": outcome, "details": details, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(document)).hexdigest()


def audit_migrations() -> tuple[Migration, ...]:
    """``MIGRATIONS`` with the audit migration, unless it already has it (open stores with this)."""
    if any("CREATE TABLE audit_log" in m.sql for m in MIGRATIONS):
        return MIGRATIONS
    return (*MIGRATIONS, AUDIT_MIGRATION)


def open_audit_store(path: str | Path, *, read_only: bool = False) -> RunStore:
    """A RunStore whose migrations include the audit log's."""
    return RunStore(path, read_only=read_only, migrations=audit_migrations())


def _personal_keys(details: Any, where: str = "details") -> list[str]:
    """Keys at any depth of ``details`` named like personal data ("details.children[0].dob"): a
    personal column or alias as a whole word of the key ("given_name", "mother_dob"), not inside
    another word ("communal_addresses" is a count)."""
    found: list[str] = []
    if isinstance(details, dict):
        for key, value in details.items():
            spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(key))  # DateOfBirth -> Date_Of_Birth
            name = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
            if any(f"_{word}_" in f"_{name}_" for word in (*PERSONAL_COLUMNS, *_PERSONAL_ALIASES)):
                found.append(f"{where}.{key}")
            found += _personal_keys(value, f"{where}.{key}")
    elif isinstance(details, list | tuple):
        for i, value in enumerate(details):
            found += _personal_keys(value, f"{where}[{i}]")
    return found


def _checked(action: str, subject: str, outcome: str, details: dict[str, Any], operator: str) -> dict[str, Any]:
    """``details`` as it will be stored (JSON round-tripped); a StoreError for anything wrong."""
    problems = []
    if action not in ACTIONS:
        problems.append(Problem("action", f"{action!r} is not one of {', '.join(ACTIONS)}"))
    if outcome not in OUTCOMES:
        problems.append(Problem("outcome", f"{outcome!r} is not one of {', '.join(OUTCOMES)}"))
    for name, value in (("subject", subject), ("operator", operator)):
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(name, "empty", f"every audit entry names its {name}"))
    if not isinstance(details, dict):
        problems.append(Problem("details", f"a {type(details).__name__}, not a dict"))
    else:
        problems += [Problem(key, "named like a personal column: audit details never hold personal values",
                             "record an id, a hash or a count instead") for key in _personal_keys(details)]
    normalised: dict[str, Any] = {}
    if not problems:
        try:
            normalised = json.loads(json.dumps(details, sort_keys=True, default=str, allow_nan=False))
        except ValueError as error:
            problems.append(Problem("details", f"not valid JSON ({error})", "use finite numbers"))
    if problems:
        raise StoreError("the audit entry cannot be recorded", problems)
    return normalised


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con`` is inside an explicit transaction (autocommit gives each query a new id)."""
    first = con.execute("SELECT txid_current()").fetchone()[0]
    return con.execute("SELECT txid_current()").fetchone()[0] == first


def _prefix(alias: str | None) -> str:
    if alias is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alias):
        raise StoreError(f"{alias!r} is not a database alias")
    return f"{alias}." if alias else ""


def _append(con: duckdb.DuckDBPyConnection, p: str, action: str, subject: str, outcome: str,
            details: dict[str, Any], operator: str) -> AuditEntry:
    """The writes of one append, inside the caller's transaction. The chain continues from the
    head (not the last row), so a removed last entry stays visible to ``verify_audit``."""
    head = con.execute(f"SELECT seq, entry_hash FROM {p}{AUDIT_HEAD_TABLE} WHERE id = 1").fetchone()
    if head is None:
        head = con.execute(f"SELECT seq, entry_hash FROM {p}{AUDIT_TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    at = utc_now()
    digest = entry_hash(seq, at, operator, action, subject, outcome, details, prev)
    con.execute(f"INSERT INTO {p}{AUDIT_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, at, operator, action, subject, outcome, canonical_json(details).decode("utf-8"), prev, digest])
    con.execute(f"""INSERT INTO {p}{AUDIT_HEAD_TABLE} VALUES (1, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, entry_hash = excluded.entry_hash""",
                [seq, digest])
    return AuditEntry(seq, at, operator, action, subject, outcome, details, prev, digest)


def _check_log(con: duckdb.DuckDBPyConnection, alias: str | None, where: str) -> None:
    """A StoreError unless the store (the default database, or ``alias``) has the audit tables."""
    database = alias or con.execute("SELECT current_database()").fetchone()[0]
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name IN (?, ?)",
                        [database, AUDIT_TABLE, AUDIT_HEAD_TABLE]).fetchone()[0]
    if found != 2:
        raise StoreError(f"{where}: the run store has no audit log", [
            Problem(where, f"tables {AUDIT_TABLE} and {AUDIT_HEAD_TABLE} missing",
                    "open the store read-write once with a familylink that has the 0007_audit migration")])


def append_audit(target: RunStore | duckdb.DuckDBPyConnection, action: str, subject: str, outcome: str,
                 details: dict[str, Any], operator: str, *, alias: str | None = None) -> AuditEntry:
    """Append one entry and return it.

    ``target`` is either a RunStore (the append is its own transaction) or an open DuckDB
    connection: the store's own connection (``alias=None``) or one where the store is
    attached read-write under ``alias`` (e.g. ``STORE_ALIAS`` inside ``record_run``). On a
    connection inside a transaction the entry commits or rolls back with the caller's work;
    outside one, the append is wrapped in its own transaction.

    Refuses (StoreError) an unknown action or outcome, an empty subject or operator, and
    details with keys named like personal columns or values that are not JSON.
    """
    details = _checked(action, subject, outcome, details, operator)
    if isinstance(target, RunStore):
        if target.read_only:
            raise StoreError(f"{target.path}: opened read-only", [
                Problem(str(target.path), "cannot append to the audit log", "open the store read-write")])
        with target.connect() as con:
            return append_audit(con, action, subject, outcome, details, operator)
    p = _prefix(alias)
    _check_log(target, alias, alias or "store")
    own = not _in_transaction(target)
    if own:
        target.execute("BEGIN TRANSACTION")
    try:
        entry = _append(target, p, action, subject, outcome, details, operator)
        if own:
            target.execute("COMMIT")
    except BaseException:
        if own:
            target.execute("ROLLBACK")
        raise
    return entry


@contextmanager
def _reading(store: RunStore) -> Iterator[duckdb.DuckDBPyConnection]:
    with store.connect(read_only=True) as con:
        _check_log(con, None, str(store.path))
        yield con


def _entry(row: tuple) -> AuditEntry:
    values = dict(zip(_FIELDS, row, strict=True))
    values["details"] = json.loads(values["details"]) if values["details"] else {}
    return AuditEntry(**values)


def audit_entries(store: RunStore, *, action: str | None = None, last: int | None = None) -> list[AuditEntry]:
    """The entries, oldest first; only ``action``'s, and only the ``last`` N, if asked."""
    where, params = ("WHERE action = ?", [action]) if action else ("", [])
    with _reading(store) as con:
        rows = con.execute(f"SELECT {_COLUMNS} FROM {AUDIT_TABLE} {where} ORDER BY seq", params).fetchall()
    entries = [_entry(row) for row in rows]
    return entries[-last:] if last else entries


def audit_head(store: RunStore) -> tuple[int, str] | None:
    """(seq, entry_hash) of the head pointer; None for an empty log."""
    with _reading(store) as con:
        row = con.execute(f"SELECT seq, entry_hash FROM {AUDIT_HEAD_TABLE} WHERE id = 1").fetchone()
    return (row[0], row[1]) if row else None


def verify_audit(store: RunStore, *, anchor: str | None = None) -> list[Problem]:
    """Every problem with the chain, each naming the seq it was found at; [] when intact.

    ``anchor`` is a head hash (or a prefix of at least 8 hex digits) recorded outside the
    store earlier: the log must still hold an entry with that hash.
    """
    entries = audit_entries(store)
    head = audit_head(store)
    problems: list[Problem] = []
    expected_seq, prev = 1, GENESIS_HASH
    for e in entries:
        where = f"seq {e.seq}"
        if e.seq > expected_seq:
            gap = str(expected_seq) if e.seq == expected_seq + 1 else f"{expected_seq}-{e.seq - 1}"
            problems.append(Problem(where, f"entries {gap} are missing before it (removed)"))
        elif e.seq < expected_seq:  # only possible if seq were not unique
            problems.append(Problem(where, "out of order"))
        if e.prev_hash != prev:
            before = "the genesis hash" if e.seq == 1 else f"the hash of the entry before it (seq {expected_seq - 1})"
            problems.append(Problem(where, f"its prev_hash does not match {before}: the chain is broken "
                                    "(an entry was removed, inserted, replaced or reordered)"))
        if e.computed_hash() != e.entry_hash:
            problems.append(Problem(where, "its content does not match its hash: the entry was edited"))
        expected_seq, prev = e.seq + 1, e.entry_hash
    last = (entries[-1].seq, entries[-1].entry_hash) if entries else None
    if head is None and last is not None:
        problems.append(Problem("head", f"the head pointer is missing but the log holds {len(entries)} entries",
                                "the audit_head row was removed"))
    elif head is not None and head != last:
        at = f"seq {last[0]}" if last else "no entry"
        problems.append(Problem(f"seq {head[0]}", f"the head records seq {head[0]} ({head[1][:12]}) but the log "
                                f"ends at {at}: entries were removed from the end, or added without the head"))
    if anchor is not None:
        anchor = anchor.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{8,64}", anchor):
            problems.append(Problem("anchor", f"{anchor!r} is not a hash prefix", "give at least 8 hex digits"))
        elif not any(e.entry_hash.startswith(anchor) for e in entries):
            problems.append(Problem("anchor", f"no entry has hash {anchor[:12]}...: the log was rewritten "
                                    "since that head was recorded"))
    return problems
