"""What changed between two recorded runs, family by family.

Families are matched through their resident members' person ids, which are stable across
runs, so any two runs compare (not only consecutive ones). A family of run A *corresponds*
to a family of run B when they share a resident member. Then:

* ``entered`` - a B family that is eligible while none of its A counterparts was (or it has
  none);
* ``left`` - an A family that was eligible while none of its B counterparts is (or it has
  none: then ``family_id`` is the A id, which is never reused);
* ``headlines_changed`` - a B family eligible in both runs whose headlines differ from the
  union of its A counterparts' headlines;
* ``merged`` - a B family whose members came from several A families (one row, listing them);
* ``split`` - an A family whose members went to several B families (one row per B family).

A family can have an eligibility row and a merged/split row. ``family_id`` is the run B id
(except for ``left`` families absent from B); ``previous_family_ids`` are the run A ids;
headlines are sorted headline ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from familylink.core.errors import Problem
from familylink.store.db import RunStore, StoreError, check_run_id

CHANGE_KINDS = ("entered", "left", "headlines_changed", "merged", "split")
CHANGE_COLUMNS = ("family_id", "previous_family_ids", "change", "headlines_before", "headlines_after", "detail")


@dataclass(frozen=True)
class FamilyChange:
    """One row of the changes between two runs (see the module docstring)."""

    family_id: str
    previous_family_ids: tuple[str, ...]
    change: str
    headlines_before: tuple[str, ...]
    headlines_after: tuple[str, ...]
    detail: str


def changes_sql(store: str = "") -> str:
    """One query giving ``CHANGE_COLUMNS`` between runs ``$run_a`` and ``$run_b``.

    ``store`` is the catalog prefix of the store's tables (e.g. ``"store."`` when attached,
    ``""`` on the store's own connection). Rows are ordered by family id, then change.
    """
    s = store
    return f"""
    WITH fa AS (SELECT DISTINCT family_id, person_id FROM {s}run_families
                WHERE run_id = $run_a AND family_id IS NOT NULL AND coalesce(resident, true)),
    fb AS (SELECT DISTINCT family_id, person_id FROM {s}run_families
           WHERE run_id = $run_b AND family_id IS NOT NULL AND coalesce(resident, true)),
    ca AS (SELECT family_id, coalesce(eligible, false) AS eligible,
                  list_sort(coalesce(headline_flags, []::VARCHAR[])) AS headlines
           FROM {s}run_candidates WHERE run_id = $run_a),
    cb AS (SELECT family_id, coalesce(eligible, false) AS eligible,
                  list_sort(coalesce(headline_flags, []::VARCHAR[])) AS headlines
           FROM {s}run_candidates WHERE run_id = $run_b),
    fam_a AS (SELECT family_id FROM fa UNION SELECT family_id FROM ca),
    fam_b AS (SELECT family_id FROM fb UNION SELECT family_id FROM cb),
    pairs AS (SELECT a.family_id AS a_id, b.family_id AS b_id, count(*) AS shared
              FROM fa a JOIN fb b USING (person_id) GROUP BY ALL),
    best_b AS (SELECT a_id, b_id FROM pairs
               QUALIFY row_number() OVER (PARTITION BY a_id ORDER BY shared DESC, length(b_id), b_id) = 1),
    b_side AS (
        SELECT f.family_id AS b_id,
               list_sort(coalesce(list(p.a_id) FILTER (WHERE p.a_id IS NOT NULL), []::VARCHAR[])) AS prev_ids,
               count(p.a_id) AS n_prev,
               coalesce(bool_or(ca.eligible), false) AS eligible_before,
               list_sort(list_distinct(flatten(list(coalesce(ca.headlines, []::VARCHAR[]))))) AS before,
               coalesce(any_value(cb.eligible), false) AS eligible_after,
               coalesce(any_value(cb.headlines), []::VARCHAR[]) AS after
        FROM fam_b f LEFT JOIN pairs p ON p.b_id = f.family_id
        LEFT JOIN ca ON ca.family_id = p.a_id LEFT JOIN cb ON cb.family_id = f.family_id
        GROUP BY f.family_id),
    a_side AS (
        SELECT f.family_id AS a_id,
               coalesce(any_value(ca.eligible), false) AS eligible_before,
               coalesce(any_value(ca.headlines), []::VARCHAR[]) AS before,
               count(p.b_id) AS n_next,
               coalesce(bool_or(cb.eligible), false) AS eligible_after,
               list_sort(list_distinct(flatten(list(coalesce(cb.headlines, []::VARCHAR[]))))) AS after
        FROM fam_a f LEFT JOIN ca ON ca.family_id = f.family_id
        LEFT JOIN pairs p ON p.a_id = f.family_id LEFT JOIN cb ON cb.family_id = p.b_id
        GROUP BY f.family_id),
    changes AS (
        SELECT b_id AS family_id, prev_ids AS previous_family_ids, 'entered' AS change, before, after,
               CASE WHEN n_prev = 0 THEN 'new family' ELSE 'now eligible' END AS detail
        FROM b_side WHERE eligible_after AND NOT eligible_before
        UNION ALL
        SELECT b_id, prev_ids, 'headlines_changed', before, after,
               concat_ws('; ',
                   CASE WHEN len(list_filter(after, h -> NOT list_contains(before, h))) > 0 THEN 'gained '
                        || array_to_string(list_filter(after, h -> NOT list_contains(before, h)), ', ') END,
                   CASE WHEN len(list_filter(before, h -> NOT list_contains(after, h))) > 0 THEN 'lost '
                        || array_to_string(list_filter(before, h -> NOT list_contains(after, h)), ', ') END)
        FROM b_side WHERE eligible_after AND eligible_before AND before <> after
        UNION ALL
        SELECT b_id, prev_ids, 'merged', before, after, 'members from ' || n_prev || ' families'
        FROM b_side WHERE n_prev > 1
        UNION ALL
        SELECT coalesce(best.b_id, a.a_id), [a.a_id], 'left', a.before, a.after,
               CASE WHEN a.n_next = 0 THEN 'absent in ' || $run_b ELSE 'no longer eligible' END
        FROM a_side a LEFT JOIN best_b best USING (a_id)
        WHERE a.eligible_before AND NOT a.eligible_after
        UNION ALL
        SELECT p.b_id, [a.a_id], 'split', a.before, coalesce(cb.headlines, []::VARCHAR[]),
               'one of ' || a.n_next || ' families'
        FROM a_side a JOIN pairs p USING (a_id) LEFT JOIN cb ON cb.family_id = p.b_id
        WHERE a.n_next > 1)
    SELECT family_id, previous_family_ids, change, before AS headlines_before, after AS headlines_after, detail
    FROM changes
    ORDER BY length(family_id), family_id, change, previous_family_ids
    """


def known_run_ids(con: duckdb.DuckDBPyConnection, store: str = "") -> list[str]:
    """Every run id recorded, oldest first."""
    return [r[0] for r in con.execute(f"SELECT run_id FROM {store}runs ORDER BY length(run_id), run_id").fetchall()]


def unknown_run(run_id: str, known: list[str]) -> StoreError:
    """The error for a run id the store does not hold, listing the ones it does."""
    return StoreError(f"no run {run_id} in the run store", [
        Problem("run id", f"{run_id} unknown; known runs: {', '.join(known) or 'none yet'}",
                "use an id that `familylink runs` lists")])


def family_changes(store: RunStore, run_a: str, run_b: str) -> list[FamilyChange]:
    """The family changes from ``run_a`` to ``run_b`` (any two recorded runs, either order)."""
    with store.connect(read_only=True) as con:
        known = known_run_ids(con)
        for run_id in (check_run_id(run_a), check_run_id(run_b)):
            if run_id not in known:
                raise unknown_run(run_id, known)
        rows = con.execute(changes_sql(), {"run_a": run_a, "run_b": run_b}).fetchall()
    return [FamilyChange(fid, tuple(prev or ()), change, tuple(before or ()), tuple(after or ()), detail or "")
            for fid, prev, change, before, after, detail in rows]


def recorded_changes(store: RunStore, run_id: str) -> list[FamilyChange]:
    """The changes stored when ``run_id`` was recorded (against the run its ids came from);
    empty for a first run."""
    with store.connect(read_only=True) as con:
        known = known_run_ids(con)
        if check_run_id(run_id) not in known:
            raise unknown_run(run_id, known)
        rows = con.execute(f"""SELECT {', '.join(CHANGE_COLUMNS)} FROM run_changes WHERE run_id = ?
                               ORDER BY length(family_id), family_id, change, previous_family_ids""",
                           [run_id]).fetchall()
    return [FamilyChange(fid, tuple(prev or ()), change, tuple(before or ()), tuple(after or ()), detail or "")
            for fid, prev, change, before, after, detail in rows]
