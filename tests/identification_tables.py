"""Hand-built input tables for the identification stage (a test helper, not a test module).

The identification stage reads four tables the linkage stage writes (``sealed_rows``,
``persons``, ``households``, ``linkage_records``). ``County`` builds them from a few lines
of Python, so a test says only what matters to it::

    county = County(ref=date(2026, 9, 30))
    mum = county.person(age_years=35, household="H1")
    kid = county.person(age_years=9, household="H1")
    kid.event("schools", "attendance_term", "2026-07-20", value=85)
    result = county.run()            # form_families + score_families, phase2-2015
    result.candidate("F1")["indicators"]

Conventions:

* ages are at the extract date (``County.extract_date``, the reference date unless given);
  a person is born on the 1st of the month ``12 * age_years + months`` months before the
  extract month, so ``age_at_event`` (whole years) follows from it unless given per event;
* every person has one record per source they appear in (``record_id`` ``R1``, ``R2`` ...);
  a person with no event gets a ``health`` record with one row and no indicator;
* household ids start with ``H`` (the stage names the family ``F`` + the rest);
* household refs are scoped by source, as the real tokens are (``social_care:case-1``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from familylink.core.dates import add_months
from familylink.core.tables import (
    CANDIDATES,
    EVIDENCE,
    FAMILIES,
    HEADLINE_FLAG_PREFIX,
    HOUSEHOLDS,
    LINKAGE_RECORDS,
    PERSONS,
    SEALED_ROWS,
)
from identification.families import PERSON_FACTS, form_families
from identification.framework import Framework, load_framework
from identification.scoring import score_families
from identification.settings import IdentificationSettings, Localities

DateLike = dt.date | str | None

LOCALITIES = Localities.model_validate({
    "schema": "familylink-localities", "version": "test", "area": "Test county",
    "localities": [{"name": "Charnwood", "postcode_districts": ["LE11", "LE12"]},
                   {"name": "Melton", "postcode_districts": ["LE13"]}],
})

SEALED_TYPES = {
    "source": "VARCHAR", "record_id": "VARCHAR", "row_number": "BIGINT", "sex": "VARCHAR",
    "age_months": "INTEGER", "age_years": "SMALLINT", "age_at_event": "SMALLINT", "postcode_district": "VARCHAR",
    "indicator": "VARCHAR", "event_date": "DATE", "end_date": "DATE", "value": "DOUBLE",
    "detail": "VARCHAR", "extract_date": "DATE", "tok_household": "VARCHAR",
}
PERSON_TYPES = {"source": "VARCHAR", "record_id": "VARCHAR", "unique_id": "VARCHAR", "person_id": "VARCHAR",
                "link_confidence": "DOUBLE"}
HOUSEHOLD_TYPES = {"household_id": "VARCHAR", "person_id": "VARCHAR", "basis": "VARCHAR"}
LINKAGE_TYPES = {"unique_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "sex": "VARCHAR",
                 "age_months": "INTEGER", "age_years": "SMALLINT", "postcode_district": "VARCHAR",
                 "tok_household": "VARCHAR",
                 "latest_event_date": "DATE"}


def day(value: DateLike) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _month_index(when: dt.date) -> int:
    return when.year * 12 + when.month - 1


def _years_between(born: dt.date, when: dt.date) -> int:
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


@dataclass
class Record:
    """One (source, record_id) of a person: its rows, district, household ref and link."""

    source: str
    record_id: str
    district: str
    link_confidence: float
    household_ref: str | None = None
    age_months: int | None = None  # overrides the person's
    age_years: int | None = None  # a source that sends whole years only (age_months then empty)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Person:
    county: County
    person_id: str
    household: str
    age_months: int | None
    sex: str
    district: str
    link_confidence: float
    records: dict[str, Record] = field(default_factory=dict)
    extra_records: list[Record] = field(default_factory=list)

    @property
    def born(self) -> dt.date | None:
        if self.age_months is None:
            return None
        year, month = divmod(_month_index(self.county.extract_date) - self.age_months, 12)
        return dt.date(year, month + 1, 1)

    def record(self, source: str, *, new: bool = False, district: str | None = None,
               link_confidence: float | None = None, household_ref: str | None = None,
               age_months: int | None = None, age_years: int | None = None) -> Record:
        """The person's record of ``source`` (``new=True``: another one, as a duplicate record)."""
        if source in self.records and not new:
            found = self.records[source]
        else:
            found = Record(source, self.county.next_record_id(), district or self.district,
                           self.link_confidence if link_confidence is None else link_confidence)
            if source in self.records:
                self.extra_records.append(found)
            else:
                self.records[source] = found
        if district is not None:
            found.district = district
        if link_confidence is not None:
            found.link_confidence = link_confidence
        if household_ref is not None:
            found.household_ref = household_ref
        if age_months is not None:
            found.age_months = age_months
        if age_years is not None:
            found.age_years = age_years
        return found

    def event(self, source: str, indicator: str, date: DateLike, *, end: DateLike = None,
              value: float | None = None, detail: str | None = None, age_at_event: int | None = None,
              record: Record | None = None) -> Person:
        """A sealed row of ``source`` (``end`` makes it a spell); returns the person to chain."""
        target = record or self.record(source)
        event_date = day(date)
        if age_at_event is None and self.born is not None and event_date is not None:
            age_at_event = _years_between(self.born, event_date)
        target.rows.append({"indicator": indicator, "event_date": event_date, "end_date": day(end),
                            "value": value, "detail": detail, "age_at_event": age_at_event})
        return self

    def spell(self, source: str, indicator: str, start: DateLike, end: DateLike = None, **kw: Any) -> Person:
        return self.event(source, indicator, start, end=end, **kw)

    def household_ref(self, source: str, ref: str) -> Person:
        """Give the person's ``source`` record a household ref (a case, claim, tenancy)."""
        self.record(source, household_ref=ref)
        return self

    def all_records(self) -> list[Record]:
        if not self.records:
            self.record("health")
        return [*self.records.values(), *self.extra_records]


@dataclass
class County:
    """A county's linked data: persons, their households, records and rows."""

    ref: dt.date
    extract_date: dt.date | None = None
    people: list[Person] = field(default_factory=list)
    _records: int = 0

    def __post_init__(self) -> None:
        self.ref = day(self.ref)
        self.extract_date = day(self.extract_date) or self.ref

    def next_record_id(self) -> str:
        self._records += 1
        return f"R{self._records}"

    def months(self, n: int, *, days: int = 0) -> dt.date:
        """``ref`` moved by ``n`` calendar months (clamped) and then ``days`` days."""
        return add_months(self.ref, n) + dt.timedelta(days=days)

    def person(self, age_years: int | None = None, *, months: int = 0, age_months: int | None = None,
               household: str | None = None, sex: str = "U", district: str = "LE11",
               link_confidence: float = 1.0) -> Person:
        """A person aged ``age_years`` (+ ``months``) at the extract date, or ``age_months``;
        unknown age when neither is given. Without ``household`` the person lives alone."""
        number = len(self.people) + 1
        if age_months is None and age_years is not None:
            age_months = 12 * age_years + months
        person = Person(self, f"P{number}", household or f"H{900 + number}", age_months, sex, district,
                        link_confidence)
        self.people.append(person)
        return person

    def family(self, household: str = "H1", *, adult: int = 35, child: int = 9) -> tuple[Person, Person]:
        """An adult and a child living together: the smallest family."""
        return self.person(adult, household=household), self.person(child, household=household)

    # --- tables ------------------------------------------------------------------------

    def tables(self) -> dict[str, list[tuple]]:
        sealed, persons, households, linkage = [], [], [], []
        for person in self.people:
            households.append((person.household, person.person_id, "address"))
            for record in person.all_records():
                age = record.age_months if record.age_months is not None else person.age_months
                years = record.age_years if record.age_years is not None else (None if age is None else age // 12)
                if record.age_years is not None:  # a source that sends whole years only
                    age = None
                rows = record.rows or [{"indicator": None, "event_date": None, "end_date": None, "value": None,
                                        "detail": None, "age_at_event": None}]
                token = f"{record.source}:{record.household_ref}" if record.household_ref else None
                for number, row in enumerate(rows, start=2):
                    sealed.append((record.source, record.record_id, number, person.sex, age, years,
                                   row["age_at_event"], record.district, row["indicator"], row["event_date"],
                                   row["end_date"], row["value"], row["detail"], self.extract_date, token))
                unique_id = f"{record.source}|{record.record_id}"
                persons.append((record.source, record.record_id, unique_id, person.person_id,
                                record.link_confidence))
                latest = max(row["event_date"] or self.extract_date for row in rows)
                linkage.append((unique_id, record.source, record.record_id, person.sex, age, years, record.district,
                                token, latest))
        return {SEALED_ROWS: sealed, PERSONS: persons, HOUSEHOLDS: households, LINKAGE_RECORDS: linkage}

    def build(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        con = con or duckdb.connect()
        types = {SEALED_ROWS: SEALED_TYPES, PERSONS: PERSON_TYPES, HOUSEHOLDS: HOUSEHOLD_TYPES,
                 LINKAGE_RECORDS: LINKAGE_TYPES}
        for table, rows in self.tables().items():
            columns = types[table]
            con.execute(f"CREATE OR REPLACE TABLE {table} ("
                        + ", ".join(f"{name} {kind}" for name, kind in columns.items()) + ")")
            if rows:
                con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})", rows)
        return con

    def run(self, framework: Framework | str | Path = "phase2-2015", *,
            settings: IdentificationSettings | None = None, localities: Localities | None = None,
            reference_date: DateLike = None) -> Result:
        return run(self.build(), framework, settings=settings, localities=localities,
                   reference_date=day(reference_date) or self.ref)


# --- running the stage --------------------------------------------------------------------


def rows(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(query, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass
class Result:
    con: duckdb.DuckDBPyConnection
    families: list[dict[str, Any]]
    person_facts: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    family_summary: Any
    score_summary: Any

    def candidate(self, family_id: str = "F1") -> dict[str, Any]:
        found = [c for c in self.candidates if c["family_id"] == family_id]
        assert len(found) == 1, f"{family_id} is not a candidate: {[c['family_id'] for c in self.candidates]}"
        return found[0]

    def headlines(self, family_id: str = "F1") -> list[str]:
        text = self.candidate(family_id)["headlines"]
        return text.split(";") if text else []

    def rules(self, family_id: str = "F1") -> list[str]:
        text = self.candidate(family_id)["indicators"]
        return text.split(";") if text else []

    def flags(self, family_id: str = "F1") -> dict[str, bool]:
        """The candidate's headline flag columns, by headline id (in column order)."""
        return {name[len(HEADLINE_FLAG_PREFIX):]: value for name, value in self.candidate(family_id).items()
                if name.startswith(HEADLINE_FLAG_PREFIX)}

    def evidence_of(self, family_id: str = "F1", **match: Any) -> list[dict[str, Any]]:
        return [e for e in self.evidence if e["family_id"] == family_id
                and all(e[k] == v for k, v in match.items())]

    def members(self, family_id: str | None = "F1") -> list[dict[str, Any]]:
        return [f for f in self.families if f["family_id"] == family_id]

    def member(self, person: Person | str, family_id: str | None = "F1") -> dict[str, Any]:
        person_id = person if isinstance(person, str) else person.person_id
        found = [f for f in self.families if f["family_id"] == family_id and f["person_id"] == person_id]
        assert len(found) == 1, f"{person_id} in {family_id}: {found}"
        return found[0]

    def facts(self, person: Person | str) -> dict[str, Any]:
        person_id = person if isinstance(person, str) else person.person_id
        return next(f for f in self.person_facts if f["person_id"] == person_id)

    @property
    def family_ids(self) -> list[str]:
        return sorted({f["family_id"] for f in self.families if f["family_id"] is not None})


def run(con: duckdb.DuckDBPyConnection, framework: Framework | str | Path = "phase2-2015", *,
        reference_date: dt.date, settings: IdentificationSettings | None = None,
        localities: Localities | None = None) -> Result:
    """form_families + score_families on the tables in ``con``; every output as dicts."""
    settings = settings or IdentificationSettings()
    if not isinstance(framework, Framework):
        framework = load_framework(framework)
    family_summary = form_families(con, settings.family, reference_date)
    score_summary = score_families(con, framework, settings, localities or LOCALITIES, reference_date)
    return Result(con, rows(con, f"SELECT * FROM {FAMILIES}"),
                  rows(con, f"SELECT * FROM {PERSON_FACTS} ORDER BY person_id"),
                  rows(con, f"SELECT * FROM {CANDIDATES} ORDER BY family_id"),
                  rows(con, f"SELECT * FROM {EVIDENCE}"), family_summary, score_summary)


def write_framework(directory: Path, rules: list[dict], *, headlines: list[str] | None = None,
                    minimum_headlines: int = 1, **extra: Any) -> Framework:
    """A small framework document written to ``directory`` and loaded (validated) from there.
    Headlines default to those the rules name, in order of first use."""
    if headlines is None:
        headlines = list(dict.fromkeys(rule["headline"] for rule in rules))
    document = {
        "schema": "familylink-framework", "id": "test", "version": "1", "title": "test framework",
        "sources": "the tests", "minimum_headlines": minimum_headlines,
        "headlines": [{"id": h, "title": f"headline {h}"} for h in headlines],
        "rules": [{"title": f"rule {rule['id']}", **rule} for rule in rules],
        **extra,
    }
    path = Path(directory) / "test.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_framework(path)
