"""Scoring every family against a framework at a reference date: evidence and candidates.

``score_families(con, framework, settings, localities, reference_date)`` reads ``families``,
``person_facts`` (``identification.families``), ``persons`` and ``sealed_rows`` and writes

* ``family_events``: a view of every event row of every family member (resident or not);
* ``evidence`` (EVIDENCE_COLUMNS): the rows each rule found, one statement for the whole
  framework (``identification.rules_sql``). A non-resident adult accounts for at most
  ``framework.non_resident_headlines`` headlines: their rows under the headlines they
  settle (the first in framework order that residents do not already meet) are
  ``counted``, the rest are kept with ``counted`` false;
* ``candidates`` (CANDIDATE_COLUMNS plus one ``headline_<id>`` flag per headline): one row
  per family with headline flags, rules fired, headline count, eligibility, priority,
  locality, member counts, the weakest member link, and whether (and why) to review it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from familylink.core.tables import (
    CANDIDATES,
    EVIDENCE,
    FAMILIES,
    HEADLINE_FLAG_PREFIX,
    LINKAGE_RECORDS,
    PERSONS,
    SEALED_ROWS,
)
from identification.families import PERSON_FACTS
from identification.framework import Framework
from identification.rules_sql import FAMILY_EVENTS, compile_framework
from identification.settings import OTHER_LOCALITY, IdentificationSettings, Localities

RULE_HITS = "rule_hits"


@dataclass(frozen=True)
class ScoreSummary:
    families: int
    eligible: int
    for_review: int
    evidence_rows: int
    by_headline_count: dict[int, int]


def _family_events(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE OR REPLACE VIEW {FAMILY_EVENTS} AS
        SELECT f.family_id, f.person_id, f.resident, f.role, f.age,
               s.source, s.record_id, s.row_number, s.indicator, s.event_date, s.end_date, s.value,
               s.detail, s.age_at_event
        FROM {SEALED_ROWS} s
        JOIN {PERSONS} p USING (source, record_id)
        JOIN {FAMILIES} f ON f.person_id = p.person_id AND f.family_id IS NOT NULL
        WHERE s.indicator IS NOT NULL
    """)


def _evidence(con: duckdb.DuckDBPyConnection, framework: Framework, ref: dt.date) -> None:
    sql, params = compile_framework(framework, ref)
    con.execute(f"CREATE OR REPLACE TABLE {RULE_HITS} AS {sql}", params)
    headlines = framework.headline_ids
    rules = [rule.id for rule in framework.rules]
    con.execute(f"""
        CREATE OR REPLACE TABLE {EVIDENCE} AS
        WITH resident_met AS (
            SELECT DISTINCT family_id, headline FROM {RULE_HITS} WHERE resident
        ),
        offered AS (  -- headlines a non-resident adult could add, in framework order
            SELECT DISTINCT h.family_id, h.person_id, h.headline, list_position(?, h.headline) AS position
            FROM {RULE_HITS} h ANTI JOIN resident_met USING (family_id, headline)
            WHERE NOT h.resident
        ),
        settled AS (
            SELECT family_id, person_id, headline FROM offered
            QUALIFY row_number() OVER (PARTITION BY family_id, person_id ORDER BY position) <= ?
        )
        SELECT h.family_id, h.person_id, h.headline, h.rule_id, h.source, h.record_id, h.event_date,
               h.indicator, h.value, h.resident,
               h.resident OR s.headline IS NOT NULL AS counted
        FROM {RULE_HITS} h LEFT JOIN settled s USING (family_id, person_id, headline)
        ORDER BY h.family_id, list_position(?, h.headline), list_position(?, h.rule_id), h.person_id,
                 h.source, h.record_id, h.event_date NULLS FIRST, h.indicator, h.value NULLS FIRST
    """, [headlines, framework.non_resident_headlines, headlines, rules])


def _locality(con: duckdb.DuckDBPyConnection, localities: Localities) -> None:
    """``family_places`` (family_id, postcode_district, locality): the district most of the
    resident members' records give (ties: the most recently seen, then the name)."""
    con.execute("CREATE OR REPLACE TEMP TABLE locality_map (postcode_district VARCHAR, locality VARCHAR)")
    con.executemany("INSERT INTO locality_map VALUES (?, ?)", localities.district_rows())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE family_places AS
        WITH votes AS (
            SELECT f.family_id, upper(r.postcode_district) AS postcode_district,
                   count(*) AS records, max(r.latest_event_date) AS seen
            FROM {FAMILIES} f
            JOIN {PERSONS} p ON p.person_id = f.person_id
            JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.unique_id
            WHERE f.resident AND r.postcode_district IS NOT NULL
            GROUP BY ALL
        )
        SELECT family_id, postcode_district, coalesce(m.locality, ?) AS locality
        FROM votes LEFT JOIN locality_map m USING (postcode_district)
        QUALIFY row_number() OVER (PARTITION BY family_id
                                   ORDER BY records DESC, seen DESC NULLS LAST, postcode_district) = 1
    """, [OTHER_LOCALITY])


def _candidates(con: duckdb.DuckDBPyConnection, framework: Framework, settings: IdentificationSettings) -> None:
    headlines = framework.headline_ids
    rules = [rule.id for rule in framework.rules]
    flags = ", ".join(f"coalesce(list_contains(m.headline_list, ?), false) AS {HEADLINE_FLAG_PREFIX}{h}"
                      for h in headlines)
    bands = framework.priority
    priority = "CASE " + " ".join(
        "WHEN headline_count >= ? " + ("AND headline_count <= ? " if b.to_count is not None else "") + "THEN ?"
        for b in bands) + " ELSE '' END" if bands else "''"
    priority_params = [p for b in bands for p in
                       ([b.from_count, b.to_count, b.label] if b.to_count is not None else [b.from_count, b.label])]
    review = settings.review
    con.execute(f"""
        CREATE OR REPLACE TABLE {CANDIDATES} AS
        WITH met AS (
            SELECT family_id,
                   list_distinct(list(headline) FILTER (WHERE counted)) AS unsorted,
                   list_distinct(list(rule_id) FILTER (WHERE counted)) AS rule_list
            FROM {EVIDENCE} GROUP BY family_id
        ),
        ordered AS (
            SELECT family_id,
                   list_filter(?::VARCHAR[], h -> list_contains(coalesce(unsorted, []), h)) AS headline_list,
                   list_filter(?::VARCHAR[], r -> list_contains(coalesce(rule_list, []), r)) AS rule_list
            FROM met
        ),
        members AS (
            SELECT f.family_id, count(*) AS members,
                   count(*) FILTER (WHERE f.resident AND f.role = 'child') AS children,
                   count(*) FILTER (WHERE NOT f.resident) AS non_resident_members,
                   min(pf.min_link_confidence) AS min_link_confidence,
                   bool_or(pf.age IS NULL) AS unknown_age
            FROM {FAMILIES} f JOIN {PERSON_FACTS} pf USING (person_id)
            WHERE f.family_id IS NOT NULL
            GROUP BY f.family_id
        ),
        scored AS (
            SELECT mb.family_id, coalesce(len(m.headline_list), 0)::INTEGER AS headline_count,
                   array_to_string(coalesce(m.headline_list, []), ';') AS headlines,
                   array_to_string(coalesce(m.rule_list, []), ';') AS indicators,
                   mb.members::INTEGER AS members, mb.children::INTEGER AS children,
                   mb.non_resident_members::INTEGER AS non_resident_members,
                   round(mb.min_link_confidence, 6) AS min_link_confidence, mb.unknown_age,
                   m.headline_list
            FROM members mb LEFT JOIN ordered m USING (family_id)
        )
        SELECT family_id, headline_count >= ? AS eligible, headline_count, headlines, indicators,
               {priority} AS priority,
               coalesce(pl.locality, ?) AS locality, pl.postcode_district,
               members, children, non_resident_members, min_link_confidence,
               len(reasons) > 0 AS review, array_to_string(reasons, ';') AS review_reasons,
               CASE WHEN headline_count >= ? THEN 'new' ELSE 'not_eligible' END AS status,
               {flags}
        FROM (
            SELECT *, list_filter([
                       CASE WHEN min_link_confidence < ? THEN 'weak link' END,
                       CASE WHEN members > ? THEN 'many members' END,
                       CASE WHEN ? AND unknown_age THEN 'member of unknown age' END], x -> x IS NOT NULL) AS reasons
            FROM scored
        ) m
        LEFT JOIN family_places pl USING (family_id)
        ORDER BY family_id
    """, [headlines, rules, framework.minimum_headlines, *priority_params, OTHER_LOCALITY,
          framework.minimum_headlines, *headlines,
          review.min_link_confidence, review.max_members, review.unknown_age])


def score_families(con: duckdb.DuckDBPyConnection, framework: Framework, settings: IdentificationSettings,
                   localities: Localities, reference_date: dt.date) -> ScoreSummary:
    _family_events(con)
    _evidence(con, framework, reference_date)
    _locality(con, localities)
    _candidates(con, framework, settings)
    families, eligible, review = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE eligible), count(*) FILTER (WHERE review) FROM {CANDIDATES}"
    ).fetchone()
    evidence_rows = con.execute(f"SELECT count(*) FROM {EVIDENCE}").fetchone()[0]
    by_count = dict(con.execute(
        f"SELECT headline_count, count(*) FROM {CANDIDATES} GROUP BY 1 ORDER BY 1").fetchall())
    return ScoreSummary(families, eligible, review, evidence_rows, by_count)
