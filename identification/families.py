"""Families from linked persons and households, at a reference date.

``form_families(con, settings, reference_date)`` reads ``persons``, ``households`` and
``sealed_rows`` (familylink.core.tables) and writes

* ``person_facts`` (person_id, household_id, birth_month, age_months, age, dependent_child,
  expectant, min_link_confidence): one row per person;
* ``families`` (FAMILY_COLUMNS): every person once with ``family_id`` NULL when in no family,
  plus a row per family a person belongs to.

A family is a household with at least one dependent child (aged up to ``child_max_age``;
up to ``presumed_in_education_max_age``, since in England 16-17 year olds must be in
education or training, and are otherwise NEET, dependent either way; or up to
``young_person_max_age`` with a recent record of an education source or a recent or active
``unemployed_indicators`` row; a recent education record is any row of an education source
dated in the last ``recent_months`` or a spell of one still open at the reference date) or an expectant parent, plus the adults with parenting
responsibility who live elsewhere: an adult outside the household who shares a household
ref of a ``non_resident_link_sources`` source (a social-care case, a probation record, a DWP
claim) with a resident member. ``family_id`` is ``F`` and the household number.

Age comes from the sealed ages at the extract date: each record gives a birth month (the
extract month less ``age_months``); a person's is the one most of their records give (ties:
the earliest), and age at the reference date follows from it. A source whose agreement sends
whole years only (``age_years``, the default: the agreement declares ``age_precision: months``
with its reason otherwise) gives the birth month five months into the year of possible
birth months, so the age at the reference date is exact when the reference date is the
extract date (as quarterly runs have it) and otherwise the age most people of that age at the
extract date have reached (up to six months either side; a tie goes to the younger age); a
record with months wins over one with years.
All set-based SQL with bound parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from familylink.core.contract import DEFAULT_VOCABULARY
from familylink.core.dates import add_months
from familylink.core.tables import FAMILIES, HOUSEHOLDS, PERSONS, SEALED_ROWS
from identification.settings import FamilyDefinition

PERSON_FACTS = "person_facts"


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _codes(codes: list[str]) -> list[list[str]]:
    """``source.indicator`` codes as [source, indicator] pairs for a bound list parameter."""
    return [code.split(".", 1) for code in codes]


@dataclass(frozen=True)
class FamilySummary:
    persons: int
    families: int
    members: int
    non_resident_members: int
    dependent_children: int
    expectant_only_families: int


def form_families(con: duckdb.DuckDBPyConnection, family: FamilyDefinition,
                  reference_date: dt.date) -> FamilySummary:
    """Write ``person_facts`` and ``families`` for ``reference_date``."""
    ref = reference_date
    recent = add_months(ref, -family.recent_months)
    spells = [[source, spec.code] for source, specs in DEFAULT_VOCABULARY.items() for spec in specs
              if spec.kind == "spell"]
    con.execute(f"""
        CREATE OR REPLACE TABLE {PERSON_FACTS} AS
        WITH record_births AS (
            SELECT DISTINCT p.person_id, s.source, s.record_id, s.age_months IS NOT NULL AS in_months,
                   (year(s.extract_date) * 12 + month(s.extract_date) - 1
                    - coalesce(s.age_months, 12 * s.age_years + 5)) AS birth_month
            FROM {SEALED_ROWS} s JOIN {PERSONS} p USING (source, record_id)
            WHERE s.age_months IS NOT NULL OR s.age_years IS NOT NULL
        ),
        births AS (
            SELECT person_id, arg_min(birth_month, (NOT in_months, -records, birth_month)) AS birth_month
            FROM (SELECT person_id, birth_month, in_months, count(*) AS records FROM record_births GROUP BY ALL)
            GROUP BY person_id
        ),
        people AS (
            SELECT p.person_id, min(p.link_confidence) AS min_link_confidence
            FROM {PERSONS} p GROUP BY p.person_id
        ),
        flags AS (
            SELECT p.person_id,
                bool_or(list_contains(?, s.source) AND (
                        (coalesce(s.event_date, s.extract_date) > ? AND coalesce(s.event_date, s.extract_date) <= ?)
                        OR (list_contains(?, [s.source, s.indicator]) AND s.event_date <= ?
                            AND (s.end_date IS NULL OR s.end_date > ?)))) AS in_education,
                bool_or(list_contains(?, [s.source, s.indicator]) AND s.event_date <= ?
                        AND (s.event_date > ? OR s.end_date > ?
                             OR (s.end_date IS NULL AND list_contains(?, [s.source, s.indicator]))))
                    AS unemployed,
                bool_or(list_contains(?, [s.source, s.indicator]) AND s.event_date <= ? AND s.event_date > ?)
                    AS expectant
            FROM {SEALED_ROWS} s JOIN {PERSONS} p USING (source, record_id)
            GROUP BY p.person_id
        )
        SELECT people.person_id, h.household_id, b.birth_month,
               (? - b.birth_month)::INTEGER AS age_months,
               ((? - b.birth_month) // 12)::INTEGER AS age,
               coalesce(age <= ? OR age <= ? OR (age <= ? AND (f.in_education OR f.unemployed)), false) AS dependent_child,
               coalesce(f.expectant, false) AS expectant,
               people.min_link_confidence
        FROM people
        JOIN {HOUSEHOLDS} h USING (person_id)
        LEFT JOIN births b USING (person_id)
        LEFT JOIN flags f USING (person_id)
        ORDER BY people.person_id
    """, [family.education_sources, recent, ref, spells, ref, recent,
          _codes(family.unemployed_indicators), ref, recent, ref, spells,
          _codes(family.expectant_indicators), ref, add_months(ref, -family.expectant_months),
          _month_index(ref), _month_index(ref), family.child_max_age, family.presumed_in_education_max_age,
          family.young_person_max_age])

    con.execute(f"""
        CREATE OR REPLACE TABLE {FAMILIES} AS
        WITH family_households AS (
            SELECT household_id, 'F' || substr(household_id, 2) AS family_id
            FROM {PERSON_FACTS} GROUP BY household_id
            HAVING bool_or(dependent_child OR expectant)
        ),
        residents AS (
            SELECT fh.family_id, pf.person_id, pf.household_id, true AS resident
            FROM {PERSON_FACTS} pf JOIN family_households fh USING (household_id)
        ),
        refs AS MATERIALIZED (
            SELECT DISTINCT p.person_id, s.tok_household
            FROM {SEALED_ROWS} s JOIN {PERSONS} p USING (source, record_id)
            WHERE s.tok_household IS NOT NULL AND list_contains(?, s.source)
        ),
        holders AS MATERIALIZED (  -- each holder of a usable ref (2 to max_ref_persons holders)
            SELECT r.tok_household, r.person_id, pf.household_id, pf.age
            FROM refs r JOIN {PERSON_FACTS} pf USING (person_id)
            WHERE r.tok_household IN (SELECT tok_household FROM refs GROUP BY tok_household
                                      HAVING count(*) BETWEEN 2 AND ?)
        ),
        ref_pairs AS MATERIALIZED (  -- one hash join on the ref; the rest filters its pairs
            SELECT mine.person_id AS member, other.person_id, other.household_id
            FROM holders mine JOIN holders other ON other.tok_household = mine.tok_household
            WHERE other.household_id <> mine.household_id AND coalesce(other.age >= ?, true)
        ),
        non_residents AS (
            SELECT DISTINCT r.family_id, p.person_id, p.household_id, false AS resident
            FROM ref_pairs p JOIN residents r ON r.person_id = p.member
        ),
        members AS (
            SELECT * FROM residents
            UNION ALL
            SELECT * FROM non_residents
            UNION ALL
            SELECT NULL, person_id, household_id, NULL FROM {PERSON_FACTS}
            WHERE person_id NOT IN (SELECT person_id FROM residents UNION SELECT person_id FROM non_residents)
        )
        SELECT m.family_id, m.person_id, m.household_id,
               CASE WHEN (pf.dependent_child OR pf.age < ?) AND coalesce(m.resident, true) THEN 'child'
                    ELSE 'adult' END AS role,
               pf.age, m.resident
        FROM members m JOIN {PERSON_FACTS} pf USING (person_id)
        ORDER BY m.family_id NULLS LAST, m.resident DESC, m.person_id
    """, [family.non_resident_link_sources, family.max_ref_persons, family.adult_age, family.adult_age])
    row = con.execute(f"""
        SELECT count(DISTINCT f.person_id), count(DISTINCT f.family_id), count(f.family_id),
               count(*) FILTER (WHERE NOT f.resident),
               count(*) FILTER (WHERE f.resident AND pf.dependent_child),
               count(DISTINCT f.family_id) - count(DISTINCT f.family_id) FILTER (WHERE f.resident AND pf.dependent_child)
        FROM {FAMILIES} f JOIN {PERSON_FACTS} pf USING (person_id)
    """).fetchone()
    return FamilySummary(*row)
