"""What a run needs from the run store: the previous model, attachments, status and changes.

API only. ``pipeline.run_chain`` calls these when it is given a store:

* ``saved_model`` / ``save_model``: a run's linkage model kept in the store (quarterly refreshes
  reuse it even when the old run directory is gone);
* ``after_scoring``: links the attachment register to the current families (with the problems
  identified at attachment), evaluates attached families' outcomes, sets each candidate's
  ``status`` against the previous run and writes the ``changes`` table.

Status: ``attached`` (linked to the attachment register: never offered as new), else
``continuing`` (eligible now, and a resident member was in a family eligible in the previous
run), ``new`` (eligible now, not before), ``no_longer_eligible`` (not eligible now, but a
resident member was in a previously eligible family) or ``not_eligible``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from familylink.core.fingerprint import fingerprint, write_json
from familylink.core.tables import (
    ATTACHED_FAMILIES,
    ATTACHMENTS,
    CANDIDATES,
    CHANGES,
    FAMILIES,
)
from familylink.store import RunRecord, RunStore
from familylink.store.audit import append_audit
from familylink.store.changes import changes_sql
from familylink.store.db import utc_now
from identification.attachments import link_attachments
from identification.outcomes import OutcomeSettings, evaluate_outcomes

CURRENT = "CURRENT"


@dataclass(frozen=True)
class StoreFacts:
    """What ``after_scoring`` found, for the summary."""

    previous_run_id: str | None
    attached_families: int
    outcomes_claimable: int
    changes: dict[str, int]


def save_model(store: RunStore, model_path: Path) -> str:
    """Keep ``model.json`` in the store (once per distinct model); its fingerprint."""
    document = json.loads(model_path.read_text(encoding="utf-8"))
    key = fingerprint(document)
    with store.connect() as con:
        con.execute("INSERT INTO models VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [key, utc_now(), json.dumps(document, sort_keys=True)])
    return key


def saved_model(store: RunStore, run: RunRecord, into: Path) -> Path | None:
    """Write the model ``run`` used to ``into``; None when the store does not hold it."""
    with store.connect(read_only=True) as con:
        row = con.execute("SELECT document FROM models WHERE fingerprint = ?", [run.model_fingerprint]).fetchone()
    if row is None:
        return None
    write_json(into, json.loads(row[0]))
    return into


def _attachments(con: duckdb.DuckDBPyConnection, s: str, reference_date: dt.date,
                 outcomes: OutcomeSettings) -> tuple[int, int]:
    """Attached families and their outcomes; (families attached, families claimable)."""
    registered = con.execute(f"SELECT count(*) FROM {s}.attachments").fetchone()[0]
    if not registered:
        return 0, 0
    # the latest register's row wins for a (ref, source, record_id) named in several imports
    con.execute(f"""
        CREATE OR REPLACE TABLE {ATTACHMENTS} AS
        SELECT a.attachment_ref, a.source, a.record_id, a.attached_on, a.lead_team
        FROM {s}.attachments a JOIN {s}.attachment_registers r USING (register_id)
        QUALIFY row_number() OVER (PARTITION BY a.attachment_ref, a.source, a.record_id
                                   ORDER BY r.imported_at DESC, r.register_id DESC) = 1
        ORDER BY ALL""")
    # problems identified at attachment: the headlines, in the latest run on or before the
    # attachment date, of the families holding the attachment's records
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE attachment_problems AS
        WITH at_run AS (
            SELECT DISTINCT a.attachment_ref, a.attached_on,
                   (SELECT run_id FROM {s}.runs r WHERE r.reference_date <= a.attached_on
                    ORDER BY r.reference_date DESC, length(r.run_id) DESC, r.run_id DESC LIMIT 1) AS run_id
            FROM {ATTACHMENTS} a
        ),
        then_families AS (
            SELECT DISTINCT ar.attachment_ref, f.run_id, f.family_id
            FROM at_run ar JOIN {ATTACHMENTS} a USING (attachment_ref)
            JOIN {s}.run_persons p ON p.run_id = ar.run_id AND p.source = a.source AND p.record_id = a.record_id
            JOIN {s}.run_families f ON f.run_id = ar.run_id AND f.person_id = p.person_id
            WHERE f.family_id IS NOT NULL
        ),
        problems AS (
            SELECT tf.attachment_ref, list_sort(list_distinct(flatten(list(c.headline_flags)))) AS problems
            FROM then_families tf JOIN {s}.run_candidates c USING (run_id, family_id)
            GROUP BY tf.attachment_ref
        )
        SELECT DISTINCT f.family_id, a.attachment_ref, pr.problems
        FROM {ATTACHMENTS} a
        JOIN persons p ON p.source = a.source AND p.record_id = a.record_id
        JOIN {FAMILIES} f ON f.person_id = p.person_id AND f.family_id IS NOT NULL
        JOIN problems pr USING (attachment_ref)""")
    link_attachments(con, ATTACHMENTS, problems_by_family="attachment_problems")
    summary = evaluate_outcomes(con, outcomes, reference_date)
    attached = con.execute(f"SELECT count(DISTINCT family_id) FROM {ATTACHED_FAMILIES}").fetchone()[0]
    return attached, summary.claimable


def _status(con: duckdb.DuckDBPyConnection, s: str, previous: str | None, attached: bool) -> None:
    was = "false"
    if previous is not None:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE previously_eligible AS
            SELECT DISTINCT f.person_id FROM {s}.run_families f
            JOIN {s}.run_candidates c ON c.run_id = f.run_id AND c.family_id = f.family_id
            WHERE f.run_id = ? AND c.eligible AND coalesce(f.resident, true)""", [previous])
        was = f"""family_id IN (SELECT family_id FROM {FAMILIES} WHERE resident
                                AND person_id IN (SELECT person_id FROM previously_eligible))"""
    is_attached = f"family_id IN (SELECT family_id FROM {ATTACHED_FAMILIES})" if attached else "false"
    con.execute(f"""
        UPDATE {CANDIDATES} SET status = CASE
            WHEN {is_attached} THEN 'attached'
            WHEN eligible AND {was} THEN 'continuing'
            WHEN eligible THEN 'new'
            WHEN {was} THEN 'no_longer_eligible'
            ELSE 'not_eligible' END""")


def _changes(con: duckdb.DuckDBPyConnection, s: str, previous: str) -> dict[str, int]:
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE run_families AS
        SELECT run_id, family_id, person_id, resident FROM {s}.run_families WHERE run_id = $previous
        UNION ALL SELECT '{CURRENT}', family_id, person_id, resident FROM {FAMILIES}""", {"previous": previous})
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE run_candidates AS
        SELECT run_id, family_id, eligible, headline_flags FROM {s}.run_candidates WHERE run_id = $previous
        UNION ALL SELECT '{CURRENT}', family_id, eligible,
                  list_filter(string_split(headlines, ';'), h -> h <> '') FROM {CANDIDATES}""",
                {"previous": previous})
    con.execute(f"""
        CREATE OR REPLACE TABLE {CHANGES} AS
        SELECT family_id, array_to_string(previous_family_ids, ';') AS previous_family_ids, change,
               array_to_string(headlines_before, ';') AS headlines_before,
               array_to_string(headlines_after, ';') AS headlines_after, detail
        FROM ({changes_sql('temp.')}) ORDER BY ALL""", {"run_a": previous, "run_b": CURRENT})
    return dict(con.execute(f"SELECT change, count(*) FROM {CHANGES} GROUP BY 1 ORDER BY 1").fetchall())


def after_scoring(con: duckdb.DuckDBPyConnection, store: RunStore, previous: RunRecord | None,
                  reference_date: dt.date, outcomes: OutcomeSettings) -> StoreFacts:
    """Attachments and outcomes, then status and changes against ``previous``."""
    with store.attached(con) as s:
        attached, claimable = _attachments(con, s, reference_date, outcomes)
        previous_id = previous.run_id if previous else None
        _status(con, s, previous_id, attached > 0)
        changes = _changes(con, s, previous_id) if previous_id else {}
    return StoreFacts(previous_id, attached, claimable, changes)


def import_register(store: RunStore, register, operator: str) -> tuple[str, int]:
    """Record an attachment register's accepted rows; (register id, rows). The same file
    imported twice is refused."""
    from familylink.core.errors import Problem, StoreError

    with store.connect() as con:
        earlier = con.execute("SELECT register_id FROM attachment_registers WHERE file_sha256 = ?",
                              [register.sha256]).fetchone()
        if earlier:
            raise StoreError(f"{register.path.name}: this register was already imported as {earlier[0]}", [
                Problem(str(register.path), "same content as an earlier import", "import only a changed register")])
        number = con.execute("SELECT count(*) FROM attachment_registers").fetchone()[0] + 1
        register_id = f"AR{number:04d}"
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("INSERT INTO attachment_registers VALUES (?, ?, ?, ?, ?, ?)",
                        [register_id, utc_now(), register.path.name, register.sha256, len(register.rows), operator])
            con.executemany("INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?)",
                            [(register_id, r.attachment_ref, r.source, r.record_id, r.attached_on, r.lead_team)
                             for r in register.rows])
            append_audit(con, "attach", register_id, "done",
                         {"file": register.path.name, "file_sha256": register.sha256, "rows_in": register.rows_in,
                          "rows_imported": len(register.rows), "rows_rejected": len(register.rejected),
                          "attachments": register.entries}, operator)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return register_id, len(register.rows)
