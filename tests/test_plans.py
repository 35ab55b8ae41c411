"""Plans: no statement that touches every record compares every row with every row.

Households (``matching.households``) and the whole identification stage (families, scoring,
workbook, report, attachments, outcomes) run on counties of different sizes and shapes, on
a connection opened as the product opens it (``familylink.database.connect``), through
``tests.plan_checker.PlanChecker``: every statement's plan must be free of nested-loop,
range and cross-product joins (a side of one row excepted). The counties differ in the
statistics DuckDB plans with: a tiny one, a default one, and one with many non-resident
parents, large communal addresses, big households, shared references and a source missing.
Person linkage is taken from the synthetic truth, so no Splink model is trained here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from familylink import database
from familylink.core.tables import ATTACHMENTS, PERSONS
from familylink.pipeline import StageTracker, seal_folder
from familylink.synth import generate_county
from familylink.synth.shape import CountyShape
from identification.attachments import link_attachments
from identification.framework import load_framework
from identification.identify import identify
from identification.outcomes import evaluate_outcomes, load_outcome_settings
from identification.settings import load_identification_settings, load_localities
from matching.households import form_households
from matching.load import load_sealed_folder
from tests.plan_checker import PlanChecker, pairwise_joins

REF = dt.date(2026, 9, 30)
CHECKED = ("identification.", "matching.households")
STRESS = CountyShape("stress", non_resident_parents=0.9, communal_weight=4.0, communal_households=(20, 60),
                     big_households=0.2, shared_refs=0.08, missing_sources=("health",))
COUNTIES = {"tiny": (200, 3, CountyShape("tiny", missing_sources=("probation",))), "default": (2500, 7, None), "stress": (2500, 11, STRESS)}


def _county(tmp_path_factory, key, agreements, name: str):
    people, seed, shape = COUNTIES[name]
    root = tmp_path_factory.mktemp(f"plans-{name}")
    generate_county(people, seed, REF, root / "county", shape=shape)
    seal_folder(root / "county" / "raw", root / "sealed", key, agreements, extract_date=REF)
    con = database.connect(root / "run.duckdb")
    load_sealed_folder(root / "sealed", con)
    truth = (root / "county" / "truth" / "records.csv").as_posix()
    con.execute(f"""CREATE TABLE {PERSONS} AS
        SELECT source, record_id, source || '|' || record_id AS unique_id, person_id, 1.0 AS link_confidence
        FROM read_csv('{truth}', all_varchar = true)""")
    return con, root


def _attach_some(con) -> None:
    """An attachment register naming the resident members of the first eligible families."""
    con.execute(f"""
        CREATE OR REPLACE TABLE {ATTACHMENTS} AS
        WITH chosen AS (SELECT family_id FROM candidates WHERE eligible ORDER BY family_id LIMIT 10)
        SELECT 'ATT-' || substr(f.family_id, 2) AS attachment_ref, p.source, p.record_id,
               DATE '2026-06-01' AS attached_on, 'Early Help' AS lead_team
        FROM chosen JOIN families f USING (family_id) JOIN persons p ON p.person_id = f.person_id
        WHERE f.resident""")


@pytest.mark.parametrize("name", list(COUNTIES))
def test_households_and_identification_plans_have_no_pairwise_joins(name, tmp_path_factory, key, agreements):
    con, root = _county(tmp_path_factory, key, agreements, name)
    checker = PlanChecker(con, CHECKED)
    try:
        form_households(checker)

        def after_scoring(c) -> None:
            _attach_some(con)
            link_attachments(c, ATTACHMENTS)
            evaluate_outcomes(c, load_outcome_settings(), REF)

        found = identify(checker, root, load_framework("phase2-2015"), load_identification_settings(),
                         load_localities(), REF, after_scoring=after_scoring)
    finally:
        con.close()
    assert found.families.families > 0
    checked = {s.module for s in checker.statements}
    assert {"matching.households", "identification.families", "identification.scoring",
            "identification.workbook", "identification.report", "identification.attachments",
            "identification.outcomes", "identification.identify"} <= checked
    assert len(checker.statements) > 40
    assert checker.bad() == [], "\n".join(str(s) for s in checker.bad())


def test_the_checker_sees_a_nested_loop_and_forgives_a_single_row_side():
    con = database.connect()
    con.execute("CREATE TABLE a AS SELECT range AS id, range % 100 AS h FROM range(5000)")
    con.execute("CREATE TABLE b AS SELECT range AS id, range % 7 AS h FROM range(3000)")

    def plan(sql: str) -> list[str]:
        import json

        return pairwise_joins([n for _, t in con.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchall()
                               for n in json.loads(t)])

    assert plan("SELECT count(*) FROM a JOIN b ON a.h <> b.h")  # the shape of the old families join
    assert plan("SELECT count(*) FROM a, b")
    assert plan("SELECT count(*) FROM a JOIN b ON a.h = b.h AND a.id <> b.id") == []
    assert plan("SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)") == []


def test_stage_tracker_knows_the_steps_linking_reports():
    from matching import link

    assert link._Stopwatch.steps == StageTracker.LINK_STEPS


# --- families on many statistics -------------------------------------------------------------
#
# Which join order DuckDB picks depends on its estimates, so the families statement is also
# planned on tables drawn in SQL over a grid of sizes, household sizes, records per person and
# shares of household references shared across households. The statement this replaced
# (non-resident parents joined on ``household_id <>``) was planned as a NESTED_LOOP_JOIN on 4 of
# these 16 grids, as on a 50,000-person county (226 s, 14 GB).

SOURCES_SQL = "['schools', 'dwp', 'housing', 'health', 'police', 'social_care', 'probation']"
GRID = [(persons, per_household, records, toks)
        for persons in (300, 1700, 3000, 8000)
        for per_household, records in ((1.4, 2.0), (2.5, 3.0))
        for toks in (0.3, 0.8)]


def _drawn_county(con, persons: int, per_household: float, records_per_person: float, toks_per_household: float):
    """``households``, ``persons`` and ``sealed_rows`` drawn with hashes (the same every time)."""
    households = max(1, int(persons / per_household))
    toks = max(1, int(households * toks_per_household))
    con.execute(f"""CREATE OR REPLACE TABLE households AS
        SELECT 'H' || lpad((hash(i, 'h') % {households})::VARCHAR, 7, '0') AS household_id,
               'P' || lpad(i::VARCHAR, 7, '0') AS person_id FROM range({persons}) t(i)""")
    con.execute(f"""CREATE OR REPLACE TABLE {PERSONS} AS
        SELECT {SOURCES_SQL}[(1 + hash(r, 's') % 7)::BIGINT] AS source, 'R' || r AS record_id,
               'P' || lpad((hash(r, 'p') % {persons})::VARCHAR, 7, '0') AS person_id, 1.0 AS link_confidence
        FROM range({int(persons * records_per_person)}) t(r)""")
    con.execute(f"""CREATE OR REPLACE TABLE sealed_rows AS
        SELECT p.source, p.record_id, (hash(p.person_id, 'a') % 900)::INTEGER AS age_months,
               ((hash(p.person_id, 'a') % 900) // 12)::SMALLINT AS age_years,
               DATE '2026-09-30' AS extract_date,
               DATE '2025-01-01' + (hash(p.record_id, k, 'd') % 600)::INTEGER AS event_date, NULL::DATE AS end_date,
               CASE WHEN hash(p.record_id, k, 'i') % 3 = 0 THEN 'attendance_term' END AS indicator,
               CASE WHEN p.source IN ('dwp', 'housing', 'social_care', 'probation')
                    THEN 'T' || hash(h.household_id, 't') % {toks} END AS tok_household
        FROM {PERSONS} p JOIN households h USING (person_id), range((1 + hash(p.record_id, 'n') % 3)::BIGINT) t(k)""")


@pytest.mark.parametrize("grid", GRID, ids=lambda g: "-".join(map(str, g)))
def test_families_plans_have_no_pairwise_joins_whatever_the_statistics(grid):
    from identification.families import form_families

    con = database.connect()
    try:
        _drawn_county(con, *grid)
        checker = PlanChecker(con, CHECKED)
        summary = form_families(checker, load_identification_settings().family, REF)
    finally:
        con.close()
    assert summary.persons > 0 and len(checker.statements) == 3
    assert checker.bad() == [], "\n".join(str(s) for s in checker.bad())
