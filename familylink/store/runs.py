"""Recording runs in the store, in one transaction, and reading them back.

``record_run`` copies a run's tables (persons, households, families, candidates, evidence)
into the store's ``run_*`` tables under a new run id, with the ``runs`` row, the id lineage
and counters its ``apply_*_ids`` calls prepared, and the family changes since the run its
ids were carried from: all between one BEGIN and one COMMIT. A process killed before the
COMMIT leaves the store exactly as it was (DuckDB discards uncommitted work).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from familylink import database
from familylink.core.errors import Problem
from familylink.core.fingerprint import fingerprint
from familylink.core.tables import (
    CANDIDATE_COLUMNS,
    CANDIDATES,
    EVIDENCE,
    EVIDENCE_COLUMNS,
    FAMILIES,
    FAMILY_COLUMNS,
    HEADLINE_FLAG_PREFIX,
    HOUSEHOLD_COLUMNS,
    HOUSEHOLDS,
    PERSON_COLUMNS,
    PERSONS,
)
from familylink.store.audit import append_audit
from familylink.store.changes import CHANGE_COLUMNS, changes_sql, known_run_ids, unknown_run
from familylink.store.db import RunStore, StoreError, check_run_id, sql_path, utc_now
from familylink.store.ids import ID_ASSIGNMENTS, ID_LINEAGE, assignments, run_columns

RUN_DATABASE = "run.duckdb"
MANIFEST_FILE = "manifest.json"
RUN_KINDS = ("run", "refresh")
#: Run table -> (store table, columns copied).
RUN_TABLES = {
    PERSONS: ("run_persons", PERSON_COLUMNS),
    HOUSEHOLDS: ("run_households", HOUSEHOLD_COLUMNS),
    FAMILIES: ("run_families", FAMILY_COLUMNS),
    CANDIDATES: ("run_candidates", CANDIDATE_COLUMNS),
    EVIDENCE: ("run_evidence", EVIDENCE_COLUMNS),
}
_RUN_FIELDS = ("run_id", "created_at", "reference_date", "framework_id", "framework_version",
               "framework_fingerprint", "model_fingerprint", "key_fingerprint", "inputs", "counts", "timings",
               "id_changes", "run_dir", "previous_run_id", "operator", "kind")


@dataclass(frozen=True)
class RunMeta:
    """What the store records about a run besides its tables. ``created_at`` defaults to now
    (UTC); ``inputs``, ``counts`` and ``timings`` are JSON-serialisable."""

    reference_date: dt.date
    framework_id: str = ""
    framework_version: str = ""
    framework_fingerprint: str = ""
    model_fingerprint: str = ""
    key_fingerprint: str = ""
    inputs: Any = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    operator: str = ""
    kind: str = "run"
    created_at: dt.datetime | None = None

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any] | str | Path, *, run_dir: str | Path | None = None,
                      operator: str = "", kind: str = "run", model_fingerprint: str | None = None) -> RunMeta:
        """Meta from a run manifest (the dict, the manifest.json file, or the run directory).

        ``model_fingerprint`` defaults to the fingerprint of ``run_dir/model.json`` when present.
        """
        if not isinstance(manifest, dict):
            path = Path(manifest)
            if path.is_dir():
                run_dir = run_dir or path
                path = path / MANIFEST_FILE
            manifest = json.loads(path.read_text(encoding="utf-8"))
        model = Path(run_dir) / "model.json" if run_dir else None
        if model_fingerprint is None:
            model_fingerprint = (fingerprint(json.loads(model.read_text(encoding="utf-8")))
                                 if model and model.is_file() else "")
        framework = manifest.get("framework", {})
        inputs = manifest.get("inputs", {})
        return cls(dt.date.fromisoformat(manifest["reference_date"]), str(framework.get("id", "")),
                   str(framework.get("version", "")), str(framework.get("fingerprint", "")), model_fingerprint,
                   str(inputs.get("key_fingerprint", "")), inputs, manifest.get("counts", {}),
                   manifest.get("timings_seconds", {}), str(run_dir) if run_dir else None, operator, kind)


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``. ``created_at`` is UTC; ``id_changes`` holds the id counts
    (carried, new, split, merged, disappeared) per kind ('person', 'family')."""

    run_id: str
    created_at: dt.datetime
    reference_date: dt.date
    framework_id: str
    framework_version: str
    framework_fingerprint: str
    model_fingerprint: str
    key_fingerprint: str
    inputs: Any
    counts: dict[str, Any]
    timings: dict[str, Any]
    id_changes: dict[str, Any]
    run_dir: str | None
    previous_run_id: str | None
    operator: str
    kind: str


def _record(row: tuple) -> RunRecord:
    """A ``runs`` row (in ``_RUN_FIELDS`` order) as a RunRecord, JSON parsed."""
    values = dict(zip(_RUN_FIELDS, row, strict=True))
    for name in ("inputs", "counts", "timings", "id_changes"):
        values[name] = json.loads(values[name]) if values[name] else {}
    return RunRecord(**values)


def _select_runs(store: str = "") -> str:
    """The SELECT of every ``runs`` field; ``store`` is the catalog prefix."""
    return f"SELECT {', '.join(_RUN_FIELDS)} FROM {store}runs"


def runs(store: RunStore) -> list[RunRecord]:
    """Every recorded run, oldest first."""
    with store.connect(read_only=True) as con:
        rows = con.execute(_select_runs() + " ORDER BY length(run_id), run_id").fetchall()
    return [_record(row) for row in rows]


def get_run(store: RunStore, run_id: str) -> RunRecord:
    """The run ``run_id``; a StoreError listing the known run ids when there is none."""
    check_run_id(run_id)
    with store.connect(read_only=True) as con:
        row = con.execute(_select_runs() + " WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise unknown_run(run_id, known_run_ids(con))
    return _record(row)


def _check_run_tables(con: duckdb.DuckDBPyConnection, where: str) -> list[str]:
    """Problems with the run's tables as a StoreError; else the headline flag columns."""
    columns = run_columns(con)
    problems = []
    for table, (_, needed) in RUN_TABLES.items():
        if table not in columns:
            problems.append(Problem(f"{where}: {table}", "table missing", "record the run after scoring"))
            continue
        missing = [c for c in needed if c not in columns[table]]
        if missing:
            problems.append(Problem(f"{where}: {table}", f"columns missing: {', '.join(missing)}"))
    done = assignments(con)
    for kind, step in (("person", "apply_person_ids after linkage"), ("family", "apply_family_ids after families")):
        if kind not in done:
            problems.append(Problem(where, f"{kind} ids are run-local, not stable", f"call {step}"))
    if problems:
        raise StoreError(f"{where}: the run cannot be recorded", problems)
    return [c for c in columns[CANDIDATES] if c.startswith(HEADLINE_FLAG_PREFIX) and c not in CANDIDATE_COLUMNS]


def _quote(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _flags_sql(flags: list[str]) -> str:
    """SQL turning the ``flag_<headline>`` columns into the list of headline ids flagged true."""
    if not flags:
        return "[]::VARCHAR[]"
    items = ", ".join(f"CASE WHEN {_quote(f)} THEN {_literal(f[len(HEADLINE_FLAG_PREFIX):])} END" for f in flags)
    return f"list_filter([{items}]::VARCHAR[], h -> h IS NOT NULL)"


def _open_run(run: duckdb.DuckDBPyConnection | str | Path) -> tuple[duckdb.DuckDBPyConnection, bool, str]:
    """A connection whose default database is the run's, whether we own it, and a label."""
    if isinstance(run, duckdb.DuckDBPyConnection):
        return run, False, "run connection"
    path = Path(run)
    if path.is_dir():
        path = path / RUN_DATABASE
    if not path.is_file():
        raise StoreError(f"{path}: no run database there",
                         [Problem(str(path), "file not found", f"pass a run directory holding {RUN_DATABASE}")])
    con = database.connect()
    try:
        con.execute(f"ATTACH {sql_path(path.resolve())} AS run (READ_ONLY)")
        con.execute("USE run")
    except duckdb.Error as error:
        con.close()
        raise StoreError(f"{path}: cannot open the run database",
                         [Problem(str(path), str(error).splitlines()[0], "close other programs using it")]) from error
    return con, True, str(path)


def record_run(store: RunStore, run: duckdb.DuckDBPyConnection | str | Path, meta: RunMeta, *,
               before_commit: Callable[[], None] | None = None) -> RunRecord:
    """Record the run (an open run connection, a run directory or its ``run.duckdb``) in one
    transaction and return its record.

    The run's ids must have been made stable (``apply_person_ids``, ``apply_family_ids``),
    and no other run may have been recorded since (it would have consumed the same new ids).
    ``before_commit`` is a test hook, called inside the transaction just before COMMIT.
    """
    if meta.kind not in RUN_KINDS:
        raise StoreError(f"run kind {meta.kind!r} unknown", [Problem("kind", f"not one of {', '.join(RUN_KINDS)}")])
    if store.read_only:
        raise StoreError(f"{store.path}: opened read-only", [Problem(str(store.path), "cannot record a run",
                                                                     "open the store read-write")])
    con, owned, where = _open_run(run)
    try:
        flags = _check_run_tables(con, where)
        done = assignments(con)
        with store.attached(con, read_only=False) as s:
            con.execute("BEGIN TRANSACTION")
            try:
                run_id = _write(con, s, done, flags, meta, where)
                _audit(con, s, run_id, meta)
                if before_commit is not None:
                    before_commit()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            row = con.execute(_select_runs(f"{s}.") + " WHERE run_id = ?", [run_id]).fetchone()
    finally:
        if owned:
            con.close()
    return _record(row)


def _agreements(inputs: Any) -> dict[str, str]:
    """source -> agreement fingerprint of a run's sealed extracts (from its manifest inputs)."""
    extracts = inputs.get("extracts", []) if isinstance(inputs, dict) else []
    return {e["source"]: e["agreement_fingerprint"] for e in extracts if e.get("agreement_fingerprint")}


def _audit(con: duckdb.DuckDBPyConnection, s: str, run_id: str, meta: RunMeta) -> None:
    """The run's audit entries, in its transaction: the run, and any sharing agreement that
    changed since the previous run (a protocol change)."""
    operator = meta.operator or "unknown"
    row = con.execute(f"""SELECT run_id, inputs FROM {s}.runs WHERE run_id <> ?
                          ORDER BY length(run_id) DESC, run_id DESC LIMIT 1""", [run_id]).fetchone()
    if row is not None:
        before, now = _agreements(json.loads(row[1]) if row[1] else {}), _agreements(meta.inputs)
        for source in sorted(set(before) | set(now)):
            if before.get(source) != now.get(source):
                append_audit(con, "protocol_change", source, "done",
                             {"agreement_fingerprint_before": before.get(source),
                              "agreement_fingerprint_after": now.get(source), "seen_in_run": run_id,
                              "previous_run": row[0]}, operator, alias=s)
    append_audit(con, meta.kind, run_id, "done",
                 {"reference_date": meta.reference_date.isoformat(), "framework": meta.framework_id,
                  "framework_version": meta.framework_version, "framework_fingerprint": meta.framework_fingerprint,
                  "model_fingerprint": meta.model_fingerprint, "key_fingerprint": meta.key_fingerprint,
                  "counts": meta.counts, "run_dir": meta.run_dir,
                  "inputs_sha256": [e.get("content_sha256") for e in (meta.inputs or {}).get("extracts", [])]},
                 operator, alias=s)


def _write(con: duckdb.DuckDBPyConnection, s: str, done: dict[str, dict], flags: list[str], meta: RunMeta,
           where: str) -> str:
    """Every write of ``record_run``, inside its transaction; the new run id."""
    counters = dict(con.execute(f"SELECT kind, last_number FROM {s}.id_counters").fetchall())
    stale = [kind for kind in ("person", "family") if counters.get(kind, 0) != done[kind]["last_number_before"]]
    if stale:
        raise StoreError(f"{where}: another run was recorded after this run's ids were assigned", [
            Problem(where, f"{kind} ids {done[kind]['last_number_before'] + 1}.. are taken",
                    "run again: one run at a time per store") for kind in stale])
    previous = done["person"]["previous_run_id"]
    known = known_run_ids(con, f"{s}.")
    if previous is not None and previous not in known:
        raise unknown_run(previous, known)
    number = counters.get("run", 0) + 1
    run_id = f"R{number:04d}"
    id_changes = {kind: json.loads(c) for kind, c in
                  con.execute(f"SELECT kind, counts FROM {ID_ASSIGNMENTS} ORDER BY kind").fetchall()}
    con.execute(f"INSERT INTO {s}.runs ({', '.join(_RUN_FIELDS)}) VALUES ({', '.join('?' * len(_RUN_FIELDS))})", [
        run_id, meta.created_at or utc_now(), meta.reference_date, meta.framework_id, meta.framework_version,
        meta.framework_fingerprint, meta.model_fingerprint, meta.key_fingerprint,
        json.dumps(meta.inputs, sort_keys=True, default=str), json.dumps(meta.counts, sort_keys=True, default=str),
        json.dumps(meta.timings, sort_keys=True, default=str), json.dumps(id_changes, sort_keys=True),
        meta.run_dir and str(meta.run_dir), previous, meta.operator, meta.kind])
    for table, (target, columns) in RUN_TABLES.items():
        names = ", ".join(columns)
        extra = f", {_flags_sql(flags)}" if table == CANDIDATES else ""
        into = f"run_id, {names}, headline_flags" if table == CANDIDATES else f"run_id, {names}"
        con.execute(f"INSERT INTO {s}.{target} ({into}) SELECT ?, {names}{extra} FROM {table}", [run_id])
    con.execute(f"""INSERT INTO {s}.id_lineage (run_id, kind, old_id, new_id, relation, shared)
                    SELECT ?, kind, old_id, new_id, relation, shared FROM {ID_LINEAGE}""", [run_id])
    after = {kind: done[kind]["last_number_after"] for kind in ("person", "family")} | {"run": number}
    for kind, last in after.items():
        con.execute(f"""INSERT INTO {s}.id_counters VALUES (?, ?)
                        ON CONFLICT (kind) DO UPDATE SET last_number = excluded.last_number""", [kind, last])
    if previous is not None:
        con.execute(f"""INSERT INTO {s}.run_changes (run_id, compared_with, {', '.join(CHANGE_COLUMNS)})
                        SELECT $run_b, $run_a, * FROM ({changes_sql(f'{s}.')})""",
                    {"run_a": previous, "run_b": run_id})
    return run_id
