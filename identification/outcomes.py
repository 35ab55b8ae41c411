"""Payment-by-results outcome measures of attached families (FRAMEWORKS.md, Phase 1 / Phase 2).

``evaluate_outcomes(con, settings, reference_date)`` reads ``attached_families``
(``identification.attachments``), ``families`` and the ``family_events`` view
(``identification.scoring``) and writes ``outcomes`` (OUTCOME_COLUMNS): one row per
(family, attachment, problem identified at attachment). Every measure is one SQL statement
over all families, with the reference date and thresholds as bound parameters.

* ``education``: every school-age child (age at the reference date in the configured range)
  with attendance data attends at least 90% across their latest 3 terms on or before the
  reference date, all within the 12 months before it (a proxy for "three consecutive
  terms": the contract gives each term's last day only), or, when their mean over the 3
  terms before attachment was under 40%, has risen by at least 40 points; and every
  school-age child has fewer than 3 fixed-term exclusions and under 10 days excluded since
  the start of the earliest of those terms (the day after the term before them ended, at
  most 6 months before the earliest ended; the 12 months to the reference date when no
  earlier term is known). A family with no school-age child with 3 terms of data is
  not met: "no attendance data". Children without data are named by count in the evidence
  and, unless ``every_child_needs_data``, do not stop the outcome.
* ``crime``: no proven offence by a member under 18 at the event and no ASB intervention by
  any member in the 6 months up to the reference date, the attachment being at least 6
  months old (so the whole window follows attachment).
* ``work``: an adult on an out-of-work benefit at attachment who is off it at the reference
  date, whose last claim ended at least 26 weeks before (JSA, UC and an unknown type) or 13
  weeks (ESA, IS), with no claim since. The contract has no employment indicator: the
  absence of a new out-of-work claim stands for "continuous employment", a proxy the council
  must confirm (e.g. with payroll or HMRC evidence) before claiming.
* any other problem: no national measure; "local evidence required", never met here.

A family is ``claimable`` for an attachment when every problem identified at attachment is met.
Evidence gives counts, dates, rules and record ids, never a personal value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import duckdb
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from familylink.core.contract import BENEFIT_DETAILS, DEFAULT_VOCABULARY
from familylink.core.dates import add_months
from familylink.core.fingerprint import fingerprint
from familylink.core.paths import config_dir
from familylink.core.tables import ATTACHED_FAMILIES, FAMILIES, OUTCOME_COLUMNS, OUTCOMES
from identification.documents import load_yaml_document
from identification.rules_sql import FAMILY_EVENTS

LOCAL_MEASURE = "local evidence required"
_PENDING = "outcome_pending"
_MEASURED = "outcome_measured"
#: a school term is shorter than this: the day after the term before the earliest measured term
#: ended is taken as that term's start only when it is within this many months of its end
_LONGEST_TERM_MONTHS = 6


# --- settings ---------------------------------------------------------------------------


def _check_code(code: str) -> str:
    source, _, indicator = code.partition(".")
    codes = {spec.code for spec in DEFAULT_VOCABULARY.get(source, ())}
    if indicator not in codes:
        raise ValueError(f"{code!r} is not a source.indicator code of the data contract")
    return code


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EducationMeasure(_Document):
    problem: str = "education"
    attendance: str = "schools.attendance_term"
    exclusion: str = "schools.fixed_term_exclusion"
    school_age_from: int = Field(5, ge=0, le=19)
    school_age_to: int = Field(15, ge=0, le=19)
    terms: int = Field(3, ge=1, le=6)
    terms_within_months: int = Field(12, ge=1, le=36)
    attendance_at_least: float = Field(90, ge=0, le=100)
    low_attendance_below: float = Field(40, ge=0, le=100)
    improvement_at_least: float = Field(40, ge=0, le=100)
    exclusions_fewer_than: int = Field(3, ge=1)
    exclusion_days_under: float = Field(10, gt=0)
    exclusion_window_months_if_unknown: int = Field(12, ge=1, le=36)
    every_child_needs_data: bool = False

    @field_validator("attendance", "exclusion")
    @classmethod
    def _code(cls, code: str) -> str:
        return _check_code(code)

    @model_validator(mode="after")
    def _ages_in_order(self) -> EducationMeasure:
        if self.school_age_from > self.school_age_to:
            raise ValueError("school_age_from is after school_age_to")
        return self


class CrimeMeasure(_Document):
    problem: str = "crime"
    window_months: int = Field(6, ge=1, le=24)
    minor_under_age: int = Field(18, ge=10, le=21)
    offences: list[str] = ["police.proven_offence"]
    asb_interventions: list[str] = ["police.asb_intervention", "housing.asb_housing_intervention"]
    attached_at_least_months: int = Field(6, ge=0, le=24)

    @field_validator("offences", "asb_interventions")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        return [_check_code(c) for c in codes]


class WorkMeasure(_Document):
    problem: str = "work"
    benefit: str = "dwp.out_of_work_benefit"
    weeks_off_benefit: dict[str, int] = {"JSA": 26, "ESA": 13, "IS": 13, "UC": 26}
    weeks_if_type_unknown: int = Field(26, ge=1, le=104)

    @field_validator("benefit")
    @classmethod
    def _code(cls, code: str) -> str:
        return _check_code(code)

    @field_validator("weeks_off_benefit")
    @classmethod
    def _types(cls, weeks: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(weeks) - set(BENEFIT_DETAILS))
        if unknown:
            raise ValueError(f"unknown benefit type(s) {', '.join(unknown)}: use {', '.join(BENEFIT_DETAILS)}")
        if any(not 1 <= w <= 104 for w in weeks.values()):
            raise ValueError("weeks must be between 1 and 104")
        return weeks


class OutcomeSettings(_Document):
    schema_: str = Field("familylink-outcomes", alias="schema", pattern="^familylink-outcomes$")
    version: str = "2026.1"
    education: EducationMeasure = EducationMeasure()
    crime: CrimeMeasure = CrimeMeasure()
    work: WorkMeasure = WorkMeasure()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @cached_property
    def fingerprint(self) -> str:
        """Short SHA-256 of the settings (for the run manifest)."""
        return fingerprint(self.model_dump(mode="json", by_alias=True))


def load_outcome_settings(path: str | Path | None = None) -> OutcomeSettings:
    """``config/outcomes.yaml`` (defaults when the file is absent and no path is given)."""
    if path is None:
        path = config_dir() / "outcomes.yaml"
        if not path.is_file():
            return OutcomeSettings()
    return load_yaml_document(OutcomeSettings, path, "outcome settings")


# --- measures -----------------------------------------------------------------------------


def _split(code: str) -> list[str]:
    return code.split(".", 1)


def _education(con: duckdb.DuckDBPyConnection, m: EducationMeasure, ref: dt.date) -> None:
    since = add_months(ref, -m.terms_within_months)
    excl_since = add_months(ref, -m.exclusion_window_months_if_unknown)
    measure = (f"attendance >= {m.attendance_at_least:g}% over {m.terms} terms (or +{m.improvement_at_least:g} "
               f"points from < {m.low_attendance_below:g}%); < {m.exclusions_fewer_than} exclusions, "
               f"< {m.exclusion_days_under:g} days")
    con.execute(f"""
        INSERT INTO {_MEASURED}
        WITH att AS (SELECT DISTINCT family_id, attachment_ref, attached_on FROM {_PENDING} WHERE problem = ?),
        kids AS (
            SELECT DISTINCT a.family_id, a.attachment_ref, a.attached_on, f.person_id
            FROM att a JOIN {FAMILIES} f USING (family_id) WHERE f.age BETWEEN ? AND ?
        ),
        terms AS (  -- one observation per child and term
            SELECT family_id, person_id, event_date, value FROM {FAMILY_EVENTS}
            WHERE source = ? AND indicator = ? AND value IS NOT NULL AND event_date <= ?
            QUALIFY row_number() OVER (PARTITION BY family_id, person_id, event_date
                                       ORDER BY source, record_id, row_number) = 1
        ),
        now AS (  -- the latest terms on or before the reference date
            SELECT family_id, person_id,
                   count(*) FILTER (WHERE k <= ? AND event_date > ?) AS terms_now,
                   avg(value) FILTER (WHERE k <= ? AND event_date > ?) AS mean_now,
                   min(event_date) FILTER (WHERE k <= ? AND event_date > ?) AS first_term,
                   max(event_date) FILTER (WHERE k = ? + 1) AS term_before
            FROM (SELECT *, row_number() OVER (PARTITION BY family_id, person_id ORDER BY event_date DESC) AS k
                  FROM terms)
            GROUP BY ALL
        ),
        before AS (  -- the latest terms on or before attachment
            SELECT family_id, attachment_ref, person_id,
                   count(*) FILTER (WHERE k <= ? AND event_date > attached_on - to_months(?)) AS terms_then,
                   avg(value) FILTER (WHERE k <= ? AND event_date > attached_on - to_months(?)) AS mean_then
            FROM (SELECT kd.family_id, kd.attachment_ref, kd.person_id, kd.attached_on, t.event_date, t.value,
                         row_number() OVER (PARTITION BY kd.family_id, kd.attachment_ref, kd.person_id
                                            ORDER BY t.event_date DESC) AS k
                  FROM kids kd JOIN terms t USING (family_id, person_id) WHERE t.event_date <= kd.attached_on)
            GROUP BY ALL
        ),
        attendance AS (
            SELECT kd.family_id, kd.attachment_ref, kd.person_id, coalesce(n.terms_now, 0) AS terms_now,
                   n.mean_now, CASE WHEN n.terms_now = ? THEN greatest(n.term_before, n.first_term - to_months(?))
                               END AS term_before, coalesce(b.terms_then, 0) AS terms_then, b.mean_then
            FROM kids kd
            LEFT JOIN now n USING (family_id, person_id)
            LEFT JOIN before b USING (family_id, attachment_ref, person_id)
        ),
        exclusions AS (
            SELECT a.family_id, a.attachment_ref, a.person_id, count(e.event_date) AS exclusions,
                   coalesce(sum(e.value), 0) AS days
            FROM attendance a
            LEFT JOIN (SELECT DISTINCT family_id, person_id, event_date, value FROM {FAMILY_EVENTS}
                       WHERE source = ? AND indicator = ? AND event_date <= ?) e
              ON e.family_id = a.family_id AND e.person_id = a.person_id
             AND e.event_date > coalesce(a.term_before, ?)
            GROUP BY ALL
        ),
        children AS (
            SELECT a.family_id, a.attachment_ref, a.person_id,
                   a.terms_now = ? AS assessed,
                   round(a.mean_now, 6) >= ? AS regular,
                   a.terms_then = ? AND round(a.mean_then, 6) < ?
                       AND round(a.mean_now - a.mean_then, 6) >= ? AS improved,
                   x.exclusions < ? AND round(x.days, 6) < ? AS exclusions_ok,
                   (SELECT string_agg(DISTINCT fe.source || ':' || fe.record_id, ', ' ORDER BY
                                      fe.source || ':' || fe.record_id)
                    FROM {FAMILY_EVENTS} fe WHERE fe.family_id = a.family_id AND fe.person_id = a.person_id
                      AND fe.source = ?) AS records
            FROM attendance a JOIN exclusions x USING (family_id, attachment_ref, person_id)
        ),
        per_family AS (
            SELECT att.family_id, att.attachment_ref,
                   count(c.person_id) AS kids,
                   count(*) FILTER (WHERE c.assessed) AS assessed,
                   count(*) FILTER (WHERE c.assessed AND c.regular) AS regular,
                   count(*) FILTER (WHERE c.assessed AND NOT c.regular AND c.improved) AS improved,
                   string_agg(coalesce(c.records, 'a child with no record id'), ', ' ORDER BY c.records)
                       FILTER (WHERE c.assessed AND NOT c.regular AND NOT c.improved) AS low,
                   string_agg(coalesce(c.records, 'a child with no record id'), ', ' ORDER BY c.records)
                       FILTER (WHERE NOT c.exclusions_ok) AS excluded
            FROM att LEFT JOIN children c USING (family_id, attachment_ref)
            GROUP BY ALL
        )
        SELECT family_id, attachment_ref, ?, ? AS measure,
               assessed > 0 AND low IS NULL AND excluded IS NULL AND (NOT ? OR assessed = kids) AS met,
               CASE WHEN assessed = 0 THEN 'no attendance data: ' || kids || ' school-age children, none with '
                                          || ? || ' terms of attendance in the ' || ? || ' months to ' || ?
                    ELSE concat_ws('; ',
                        assessed || ' of ' || kids || ' school-age children with ' || ? || ' terms of attendance'
                            || CASE WHEN assessed < kids THEN ' (the others not measured)' ELSE '' END,
                        CASE WHEN low IS NULL
                             THEN 'attendance met (' || regular || ' at the threshold, ' || improved || ' by improvement)'
                             ELSE 'attendance not met: ' || low END,
                        CASE WHEN excluded IS NULL THEN 'exclusions under the limits'
                             ELSE 'exclusions at or over the limits: ' || excluded END,
                        CASE WHEN ? AND assessed < kids THEN 'every school-age child needs attendance data' END)
               END AS evidence
        FROM per_family
    """, [m.problem, m.school_age_from, m.school_age_to, *_split(m.attendance), ref,
          m.terms, since, m.terms, since, m.terms, since, m.terms,
          m.terms, m.terms_within_months, m.terms, m.terms_within_months, m.terms, _LONGEST_TERM_MONTHS,
          *_split(m.exclusion), ref, excl_since,
          m.terms, m.attendance_at_least, m.terms, m.low_attendance_below, m.improvement_at_least,
          m.exclusions_fewer_than, m.exclusion_days_under, _split(m.attendance)[0],
          m.problem, measure, m.every_child_needs_data, m.terms, m.terms_within_months, ref.isoformat(),
          m.terms, m.every_child_needs_data])


def _crime(con: duckdb.DuckDBPyConnection, m: CrimeMeasure, ref: dt.date) -> None:
    start = add_months(ref, -m.window_months)
    attached_by = add_months(ref, -m.attached_at_least_months)
    measure = (f"no proven offence by a minor and no ASB intervention in {m.window_months} months; "
               f"attached >= {m.attached_at_least_months} months")
    con.execute(f"""
        INSERT INTO {_MEASURED}
        WITH att AS (SELECT DISTINCT family_id, attachment_ref, attached_on FROM {_PENDING} WHERE problem = ?),
        hits AS (
            SELECT family_id, count(*) FILTER (WHERE offence) AS offences, count(*) FILTER (WHERE NOT offence) AS asb,
                   string_agg(DISTINCT source || ':' || record_id, ', ' ORDER BY source || ':' || record_id)
                       AS records
            FROM (SELECT DISTINCT family_id, person_id, source, record_id, indicator, event_date,
                         list_contains(?, source || '.' || indicator) AS offence
                  FROM {FAMILY_EVENTS}
                  WHERE event_date > ? AND event_date <= ?
                    AND ((list_contains(?, source || '.' || indicator) AND coalesce(age_at_event, age) < ?)
                         OR list_contains(?, source || '.' || indicator)))
            GROUP BY family_id
        )
        SELECT a.family_id, a.attachment_ref, ?, ?,
               a.attached_on <= ? AND coalesce(h.offences, 0) + coalesce(h.asb, 0) = 0 AS met,
               concat_ws('; ',
                   CASE WHEN a.attached_on > ? THEN 'attached ' || a.attached_on || ', under ' || ?
                                                    || ' months before the reference date' END,
                   coalesce(h.offences, 0) || ' proven offence(s) by a member under ' || ? || ' and '
                       || coalesce(h.asb, 0) || ' ASB intervention(s) from ' || ? || ' to ' || ?,
                   'records ' || h.records)
        FROM att a LEFT JOIN hits h USING (family_id)
    """, [m.problem, list(m.offences), start, ref, list(m.offences), m.minor_under_age,
          list(m.asb_interventions), m.problem, measure, attached_by, attached_by,
          m.attached_at_least_months, m.minor_under_age, (start + dt.timedelta(days=1)).isoformat(),
          ref.isoformat()])


def _work(con: duckdb.DuckDBPyConnection, m: WorkMeasure, ref: dt.date) -> None:
    types = sorted(m.weeks_off_benefit)
    weeks = [m.weeks_off_benefit[t] for t in types]
    measure = ("adult off out-of-work benefit with no new claim: "
               + ", ".join(f"{t} {w} weeks" for t, w in m.weeks_off_benefit.items())
               + " (proxy for continuous employment: confirm)")
    con.execute(f"""
        INSERT INTO {_MEASURED}
        WITH att AS (SELECT DISTINCT family_id, attachment_ref, attached_on FROM {_PENDING} WHERE problem = ?),
        spells AS (
            SELECT DISTINCT family_id, person_id, source, record_id, event_date, end_date,
                   coalesce(list_extract(?::INTEGER[], list_position(?::VARCHAR[], upper(trim(detail)))), ?)
                       AS weeks
            FROM {FAMILY_EVENTS}
            WHERE source = ? AND indicator = ? AND role = 'adult' AND event_date <= ?
        ),
        people AS (
            SELECT a.family_id, a.attachment_ref, s.person_id,
                   bool_or(s.event_date <= a.attached_on AND (s.end_date IS NULL OR s.end_date > a.attached_on))
                       AS on_at_attachment,
                   bool_or(s.end_date IS NULL OR s.end_date > ?) AS on_now,
                   max(s.end_date) AS last_end,
                   string_agg(DISTINCT s.source || ':' || s.record_id, ', ' ORDER BY s.source || ':' || s.record_id)
                       AS records
            FROM att a JOIN spells s USING (family_id)
            GROUP BY ALL
        ),
        status AS (
            SELECT p.family_id, p.attachment_ref, p.records, n.weeks, p.last_end, p.on_now,
                   NOT p.on_now AND date_diff('day', p.last_end, ?::DATE) >= 7 * n.weeks AS met,
                   date_diff('day', p.last_end, ?::DATE) // 7 AS weeks_off
            FROM people p
            JOIN (SELECT family_id, person_id, end_date, max(weeks) AS weeks FROM spells GROUP BY ALL) n
              ON n.family_id = p.family_id AND n.person_id = p.person_id
             AND n.end_date IS NOT DISTINCT FROM p.last_end
            WHERE p.on_at_attachment
        ),
        per_family AS (
            SELECT family_id, attachment_ref, bool_or(met) AS met,
                   string_agg(records || CASE WHEN on_now
                                              THEN ': still claiming at the reference date'
                                              ELSE ': last claim ended ' || last_end || ', ' || weeks_off
                                                   || ' full weeks with no new claim, ' || weeks
                                                   || ' weeks needed' END,
                              '; ' ORDER BY met DESC, records) AS detail
            FROM status GROUP BY ALL
        )
        SELECT a.family_id, a.attachment_ref, ?, ?, coalesce(f.met, false) AS met,
               CASE WHEN f.family_id IS NULL
                    THEN 'no adult on an out-of-work benefit at attachment (' || a.attached_on || ')'
                    WHEN f.met THEN f.detail || ' (no new claim stands for continuous employment: confirm)'
                    ELSE f.detail END
        FROM att a LEFT JOIN per_family f USING (family_id, attachment_ref)
    """, [m.problem, weeks, types, m.weeks_if_type_unknown, *_split(m.benefit), ref, ref, ref, ref,
          m.problem, measure])


# --- evaluation -------------------------------------------------------------------------


@dataclass
class OutcomeSummary:
    reference_date: dt.date
    families: int
    attachments: int
    claimable: int
    #: problem -> (met, evaluated)
    met: dict[str, tuple[int, int]] = field(default_factory=dict)


def evaluate_outcomes(con: duckdb.DuckDBPyConnection, settings: OutcomeSettings, reference_date: dt.date, *,
                      attached: str = ATTACHED_FAMILIES) -> OutcomeSummary:
    """Write ``outcomes``: every problem identified at attachment of every attached family, measured at
    ``reference_date``; ``claimable`` when all of a family's problems (for that attachment) are met."""
    ref = reference_date
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_PENDING} AS
        SELECT family_id, attachment_ref, attached_on, problem, position FROM (
            SELECT family_id, attachment_ref, attached_on, unnest(problems) AS problem,
                   unnest(range(1, len(problems) + 1)) AS position
            FROM {attached})
        QUALIFY row_number() OVER (PARTITION BY family_id, attachment_ref, problem ORDER BY position) = 1
    """)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_MEASURED} (family_id VARCHAR, attachment_ref VARCHAR,
                    problem VARCHAR, measure VARCHAR, met BOOLEAN, evidence VARCHAR)""")
    _education(con, settings.education, ref)
    _crime(con, settings.crime, ref)
    _work(con, settings.work, ref)
    con.execute(f"""
        CREATE OR REPLACE TABLE {OUTCOMES} AS
        SELECT family_id, attachment_ref, attached_on, problem, measure, met, evidence,
               bool_and(met) OVER (PARTITION BY family_id, attachment_ref) AS claimable
        FROM (
            SELECT p.family_id, p.attachment_ref, p.attached_on, p.problem, p.position,
                   coalesce(m.measure, ?) AS measure,
                   p.attached_on <= ? AND coalesce(m.met, false) AS met,
                   CASE WHEN p.attached_on > ? THEN 'attached after the reference date ' || ?
                        WHEN m.problem IS NULL
                        THEN 'no national payment-by-results measure for this problem: local evidence required'
                        WHEN p.attached_on <= ? AND m.met THEN 'met: ' || m.evidence
                        ELSE 'not met: ' || m.evidence END AS evidence
            FROM {_PENDING} p
            LEFT JOIN {_MEASURED} m USING (family_id, attachment_ref, problem)
        )
        ORDER BY family_id, attachment_ref, position
    """, [LOCAL_MEASURE, ref, ref, ref.isoformat(), ref])
    families, attachments, claimable = con.execute(f"""
        SELECT count(DISTINCT family_id), count(DISTINCT (family_id, attachment_ref)),
               count(DISTINCT (family_id, attachment_ref)) FILTER (WHERE claimable)
        FROM {OUTCOMES}""").fetchone()
    met = {problem: (int(yes), int(total)) for problem, yes, total in con.execute(
        f"SELECT problem, count(*) FILTER (WHERE met), count(*) FROM {OUTCOMES} GROUP BY 1 ORDER BY 1").fetchall()}
    return OutcomeSummary(ref, families, attachments, claimable, met)


def write_outcomes_csv(con: duckdb.DuckDBPyConnection, path: str | Path) -> Path:
    """outcomes.csv (OUTCOME_COLUMNS), ordered by family, attachment and problem: same tables, same bytes."""
    path = Path(path)
    quoted = path.as_posix().replace("'", "''")
    con.execute(f"COPY (SELECT {', '.join(OUTCOME_COLUMNS)} FROM {OUTCOMES} "
                f"ORDER BY family_id, attachment_ref, problem) TO '{quoted}' (HEADER, DELIMITER ',')")
    return path
