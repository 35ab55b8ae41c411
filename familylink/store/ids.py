"""Stable person and family ids, carried over from the previous run by maximum overlap.

A *group* (a run-local person or family) has *members*: a person's records
(``source || '|' || record_id``), a family's resident members' (already stable) person ids.
A new group keeps an old id when they are each other's best overlap (most shared members;
ties go to the smaller id, shorter ids first). Every other new group gets a new id that never
reuses an old one: the prefix and a zero-padded number from the store's ``id_counters``,
handed out in order of the groups' local ids (so the first run numbers every group in that
order). Which old ids became which new ones is kept as lineage: ``carried``, ``split`` (the
old id overlaps several new groups), ``merged`` (the new group overlaps several old ids),
``new`` (no overlap) and ``disappeared`` (an old id overlapping no new group).

``apply_person_ids`` and ``apply_family_ids`` rewrite a run's tables in place and keep the
mapping, the lineage and the counter they started from in the run's database
(``store_id_*`` tables); ``record_run`` moves them into the store in the run's transaction,
so a run that is never recorded consumes no ids.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import duckdb

from familylink.core.errors import Problem
from familylink.core.tables import (
    ATTACHED_FAMILIES,
    CANDIDATES,
    EVIDENCE,
    FAMILIES,
    HOUSEHOLDS,
    OUTCOMES,
    PERSONS,
)
from familylink.store.db import RunStore, StoreError, check_run_id

#: Tables of the run's database that ``apply_*_ids`` write (names private to the store).
ID_MAP = "store_id_map"  # kind, local_id, stable_id
ID_LINEAGE = "store_id_lineage"  # kind, old_id, new_id, relation, shared
ID_ASSIGNMENTS = "store_id_assignments"  # kind, previous_run_id, last_number_before, ... counts

PREFIXES = {"person": "P", "family": "F"}
DIGITS = 8
LATEST = "latest"
#: Run tables whose ``person_id`` / ``family_id`` are rewritten when present.
PERSON_ID_TABLES = (PERSONS, HOUSEHOLDS, FAMILIES, EVIDENCE)
FAMILY_ID_TABLES = (FAMILIES, CANDIDATES, EVIDENCE, ATTACHED_FAMILIES, OUTCOMES)


@dataclass(frozen=True)
class IdCounts:
    """``carried``: new groups keeping an old id; ``new``: new ids issued (carried + new =
    groups); ``split``: old ids overlapping several new groups; ``merged``: new groups
    overlapping several old ids; ``disappeared``: old ids overlapping no new group."""

    carried: int
    new: int
    split: int
    merged: int
    disappeared: int

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class IdAssignment:
    """The result of carrying ids over: temp tables in the connection, counts, counters.

    ``map_table`` has (local_id, stable_id), one row per new group; ``lineage_table`` has
    (old_id, new_id, relation, shared).
    """

    kind: str
    map_table: str
    lineage_table: str
    counts: IdCounts
    last_number_before: int
    last_number_after: int
    previous_run_id: str | None = None


def carry_over_ids(con: duckdb.DuckDBPyConnection, kind: str, new_members_sql: str, old_members_sql: str,
                   prefix: str, *, last_number: int = 0, digits: int = DIGITS) -> IdAssignment:
    """Assign stable ids to the groups of ``new_members_sql`` from those of ``old_members_sql``.

    Both queries return ``(group_id, member_key)`` rows; a new group whose member keys are
    all NULL still gets an id. New ids are ``prefix`` + ``last_number + k`` zero-padded to
    ``digits``. Creates temp tables ``_carry_map_<kind>`` and ``_carry_lineage_<kind>`` in
    ``con`` (replacing earlier ones) and returns their names with the counts. Set-based and
    deterministic: the same members give the same ids whatever the row order.
    """
    if not kind.isidentifier():
        raise ValueError(f"kind must be an identifier, not {kind!r}")
    t = {name: f"_carry_{name}_{kind}" for name in ("new", "old", "overlap", "kept", "map", "lineage")}
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {t['new']} AS
        SELECT DISTINCT group_id::VARCHAR AS gid, member_key::VARCHAR AS mkey
        FROM ({new_members_sql}) WHERE group_id IS NOT NULL""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {t['old']} AS
        SELECT DISTINCT group_id::VARCHAR AS gid, member_key::VARCHAR AS mkey
        FROM ({old_members_sql}) WHERE group_id IS NOT NULL""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {t['overlap']} AS
        SELECT n.gid AS new_gid, o.gid AS old_gid, count(*)::INTEGER AS shared
        FROM {t['new']} n JOIN {t['old']} o ON n.mkey = o.mkey
        GROUP BY ALL""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {t['kept']} AS
        WITH best_old AS (
            SELECT new_gid, old_gid FROM {t['overlap']}
            QUALIFY row_number() OVER (PARTITION BY new_gid
                                       ORDER BY shared DESC, length(old_gid), old_gid) = 1),
        best_new AS (
            SELECT new_gid, old_gid FROM {t['overlap']}
            QUALIFY row_number() OVER (PARTITION BY old_gid
                                       ORDER BY shared DESC, length(new_gid), new_gid) = 1)
        SELECT new_gid, old_gid FROM best_old JOIN best_new USING (new_gid, old_gid)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {t['map']} AS
        WITH groups AS (SELECT DISTINCT gid FROM {t['new']}),
        fresh AS (
            SELECT gid, row_number() OVER (ORDER BY length(gid), gid) AS k
            FROM groups WHERE gid NOT IN (SELECT new_gid FROM {t['kept']}))
        SELECT g.gid AS local_id,
               coalesce(kept.old_gid, ? || printf('%0{int(digits)}d', ?::BIGINT + fresh.k)) AS stable_id
        FROM groups g LEFT JOIN {t['kept']} kept ON kept.new_gid = g.gid LEFT JOIN fresh USING (gid)
        ORDER BY length(local_id), local_id""", [prefix, last_number])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {t['lineage']} AS
        WITH pairs AS (
            SELECT o.old_gid, m.stable_id AS new_id, o.shared,
                   count(*) OVER (PARTITION BY o.old_gid) AS n_new,
                   count(*) OVER (PARTITION BY o.new_gid) AS n_old
            FROM {t['overlap']} o JOIN {t['map']} m ON m.local_id = o.new_gid)
        SELECT * FROM (
            SELECT old_gid AS old_id, new_id,
                   CASE WHEN n_new > 1 THEN 'split' WHEN n_old > 1 THEN 'merged' ELSE 'carried' END AS relation,
                   shared
            FROM pairs
            UNION ALL
            SELECT NULL, stable_id, 'new', 0 FROM {t['map']}
            WHERE local_id NOT IN (SELECT new_gid FROM {t['overlap']})
            UNION ALL
            SELECT DISTINCT gid, NULL, 'disappeared', 0 FROM {t['old']}
            WHERE gid NOT IN (SELECT old_gid FROM {t['overlap']}))
        ORDER BY length(coalesce(new_id, old_id)), coalesce(new_id, old_id), length(old_id) NULLS FIRST, old_id""")
    carried, issued = con.execute(
        f"SELECT count(*), (SELECT count(*) FROM {t['map']}) - count(*) FROM {t['kept']}").fetchone()
    split, merged, disappeared = con.execute(f"""
        SELECT (SELECT count(*) FROM (SELECT old_gid FROM {t['overlap']} GROUP BY 1 HAVING count(*) > 1)),
               (SELECT count(*) FROM (SELECT new_gid FROM {t['overlap']} GROUP BY 1 HAVING count(*) > 1)),
               (SELECT count(DISTINCT gid) FROM {t['old']} WHERE gid NOT IN (SELECT old_gid FROM {t['overlap']}))
    """).fetchone()
    for name in ("new", "old", "overlap", "kept"):
        con.execute(f"DROP TABLE {t[name]}")
    return IdAssignment(kind, t["map"], t["lineage"], IdCounts(carried, issued, split, merged, disappeared),
                        last_number, last_number + issued)


def run_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The columns of every table in ``con``'s default database (main schema), in order."""
    rows = con.execute("""SELECT table_name, column_name FROM duckdb_columns()
                          WHERE database_name = current_database() AND schema_name = 'main'
                          ORDER BY table_name, column_index""").fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def assignments(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """The id assignments recorded in a run's database, by kind (empty when none)."""
    if ID_ASSIGNMENTS not in run_columns(con):
        return {}
    rows = con.execute(f"""SELECT kind, previous_run_id, last_number_before, last_number_after
                           FROM {ID_ASSIGNMENTS}""").fetchall()
    return {kind: {"previous_run_id": prev, "last_number_before": before, "last_number_after": after}
            for kind, prev, before, after in rows}


def _require(columns: dict[str, list[str]], table: str, needed: tuple[str, ...], step: str) -> None:
    """A StoreError unless ``table`` has the ``needed`` columns (``step`` makes them)."""
    missing = [c for c in needed if c not in columns.get(table, [])]
    if missing:
        raise StoreError(f"cannot apply stable ids: the run has no {table} table with {', '.join(missing)}",
                         [Problem(table, f"missing {', '.join(missing)}", f"call this after {step}")])


def _previous_run(con: duckdb.DuckDBPyConnection, alias: str, previous_run_id: str | None) -> str | None:
    """The run to carry ids from: the latest for ``LATEST``, none for None, else checked to exist."""
    if previous_run_id == LATEST:
        row = con.execute(f"SELECT run_id FROM {alias}.runs ORDER BY length(run_id) DESC, run_id DESC "
                          "LIMIT 1").fetchone()
        return row[0] if row else None
    if previous_run_id is None:
        return None
    check_run_id(previous_run_id)
    if not con.execute(f"SELECT count(*) FROM {alias}.runs WHERE run_id = ?", [previous_run_id]).fetchone()[0]:
        known = [r[0] for r in con.execute(f"SELECT run_id FROM {alias}.runs ORDER BY run_id").fetchall()]
        raise StoreError(f"no run {previous_run_id} in the store", [
            Problem("previous run", f"{previous_run_id} unknown; known runs: {', '.join(known) or 'none'}")])
    return previous_run_id


def _apply(run_con: duckdb.DuckDBPyConnection, store: RunStore, kind: str, previous_run_id: str | None,
           new_members_sql: str, old_members_sql: str, tables: tuple[str, ...], column: str) -> IdAssignment:
    """Carry ids over from ``previous_run_id`` and rewrite ``column`` of ``tables`` in place."""
    if kind in assignments(run_con):
        raise StoreError(f"{kind} ids of this run are already stable",
                         [Problem(ID_ASSIGNMENTS, f"{kind} ids applied before", "apply them once per run")])
    with store.attached(run_con, read_only=True) as alias:
        previous = _previous_run(run_con, alias, previous_run_id)
        row = run_con.execute(f"SELECT last_number FROM {alias}.id_counters WHERE kind = ?", [kind]).fetchone()
        old_sql = (old_members_sql.format(store=alias, run_id=check_run_id(previous)) if previous
                   else "SELECT NULL::VARCHAR AS group_id, NULL::VARCHAR AS member_key WHERE false")
        found = carry_over_ids(run_con, kind, new_members_sql, old_sql, PREFIXES[kind],
                               last_number=row[0] if row else 0)
    found = replace(found, previous_run_id=previous)
    columns = run_columns(run_con)
    run_con.execute("BEGIN TRANSACTION")
    try:
        run_con.execute(f"CREATE TABLE IF NOT EXISTS {ID_MAP} (kind VARCHAR, local_id VARCHAR, stable_id VARCHAR)")
        run_con.execute(f"""CREATE TABLE IF NOT EXISTS {ID_LINEAGE}
                            (kind VARCHAR, old_id VARCHAR, new_id VARCHAR, relation VARCHAR, shared INTEGER)""")
        run_con.execute(f"""CREATE TABLE IF NOT EXISTS {ID_ASSIGNMENTS} (kind VARCHAR, previous_run_id VARCHAR,
                            last_number_before BIGINT, last_number_after BIGINT, counts JSON)""")
        run_con.execute(f"INSERT INTO {ID_MAP} SELECT ?, local_id, stable_id FROM {found.map_table}", [kind])
        run_con.execute(f"INSERT INTO {ID_LINEAGE} SELECT ?, * FROM {found.lineage_table}", [kind])
        run_con.execute(f"INSERT INTO {ID_ASSIGNMENTS} VALUES (?, ?, ?, ?, ?)",
                        [kind, previous, found.last_number_before, found.last_number_after,
                         json.dumps(found.counts.as_dict(), sort_keys=True)])
        for table in tables:
            if column in columns.get(table, []):
                run_con.execute(f"""UPDATE {table} SET {column} = m.stable_id FROM {found.map_table} m
                                    WHERE {table}.{column} = m.local_id""")
        run_con.execute("COMMIT")
    except BaseException:
        run_con.execute("ROLLBACK")
        raise
    return found


def apply_person_ids(run_con: duckdb.DuckDBPyConnection, store: RunStore,
                     previous_run_id: str | None = LATEST) -> IdAssignment:
    """Make the run's person ids stable: call after linkage, before families are formed.

    Members are the person's records (``source|record_id``), compared with the persons of
    ``previous_run_id`` (default: the latest run in the store; None: number afresh).
    Rewrites ``person_id`` in persons, households (and families, evidence if present).
    The store is only read (attached read-only for the duration).
    """
    _require(run_columns(run_con), PERSONS, ("source", "record_id", "person_id"), "linkage")
    new = f"SELECT person_id AS group_id, source || '|' || record_id AS member_key FROM {PERSONS}"
    old = ("SELECT person_id AS group_id, source || '|' || record_id AS member_key "
           "FROM {store}.run_persons WHERE run_id = '{run_id}'")
    return _apply(run_con, store, "person", previous_run_id, new, old, PERSON_ID_TABLES, "person_id")


def apply_family_ids(run_con: duckdb.DuckDBPyConnection, store: RunStore,
                     previous_run_id: str | None = LATEST) -> IdAssignment:
    """Make the run's family ids stable: call after families are formed (and after
    ``apply_person_ids``), before scoring.

    Members are the families' resident members' stable person ids (a non-resident parent
    also counts in their own household's family, so would fake overlaps). Compares with
    ``previous_run_id`` (default: the run the person ids were carried from). Rewrites
    ``family_id`` in families (and candidates, evidence, attached_families, outcomes if
    present).
    """
    _require(run_columns(run_con), FAMILIES, ("family_id", "person_id", "resident"), "forming families")
    done = assignments(run_con)
    if "person" not in done:
        raise StoreError("family ids need stable person ids first",
                         [Problem(FAMILIES, "person ids are run-local", "call apply_person_ids after linkage")])
    if previous_run_id == LATEST:
        previous_run_id = done["person"]["previous_run_id"]
    new = (f"SELECT family_id AS group_id, CASE WHEN coalesce(resident, true) THEN person_id END AS member_key "
           f"FROM {FAMILIES}")
    old = ("SELECT family_id AS group_id, person_id AS member_key FROM {store}.run_families "
           "WHERE run_id = '{run_id}' AND coalesce(resident, true)")
    return _apply(run_con, store, "family", previous_run_id, new, old, FAMILY_ID_TABLES, "family_id")
