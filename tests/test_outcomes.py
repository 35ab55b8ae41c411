"""Payment-by-results outcome measures at their boundaries, over hand-built tables."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from familylink.core.dates import add_months
from familylink.core.errors import ConfigError
from familylink.core.tables import OUTCOME_COLUMNS
from identification.outcomes import (
    LOCAL_MEASURE,
    OutcomeSettings,
    evaluate_outcomes,
    load_outcome_settings,
    write_outcomes_csv,
)

REF = dt.date(2026, 9, 30)
TERMS = ("2025-12-19", "2026-03-27", "2026-07-22")  # the latest three terms before REF
EARLY_ATTACHMENT = dt.date(2025, 9, 1)


def weeks_before(weeks: int, days: int = 0) -> dt.date:
    return REF - dt.timedelta(weeks=weeks, days=days)


class World:
    """``families``, ``family_events`` (as a table) and ``attached_families``, a few rows each."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("""CREATE TABLE families (family_id VARCHAR, person_id VARCHAR, household_id VARCHAR,
                            role VARCHAR, age INTEGER, resident BOOLEAN)""")
        self.con.execute("""CREATE TABLE family_events (family_id VARCHAR, person_id VARCHAR, resident BOOLEAN,
                            role VARCHAR, age INTEGER, source VARCHAR, record_id VARCHAR, row_number BIGINT,
                            indicator VARCHAR, event_date DATE, end_date DATE, value DOUBLE, detail VARCHAR,
                            age_at_event SMALLINT)""")
        self.con.execute("""CREATE TABLE attached_families (family_id VARCHAR, attachment_ref VARCHAR,
                            attached_on DATE, lead_team VARCHAR, records_matched INTEGER, problems VARCHAR[])""")
        self.members: dict[str, tuple[str, str, int]] = {}
        self.rows = 0

    def person(self, family: str, person: str, age: int, role: str | None = None) -> str:
        role = role or ("child" if age < 18 else "adult")
        self.members[person] = (family, role, age)
        self.con.execute("INSERT INTO families VALUES (?, ?, ?, ?, ?, true)", [family, person, "H" + family, role, age])
        return person

    def event(self, person: str, source: str, indicator: str, date, *, value=None, end=None, detail=None,
              age_at_event=None, record_id=None) -> None:
        family, role, age = self.members[person]
        self.rows += 1
        self.con.execute("INSERT INTO family_events VALUES (?, ?, true, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            family, person, role, age, source, record_id or f"{source[0].upper()}-{person}", self.rows, indicator,
            date, end, value, detail, age if age_at_event is None else age_at_event])

    def terms(self, person: str, values, dates=TERMS) -> None:
        for day, value in zip(dates, values, strict=True):
            self.event(person, "schools", "attendance_term", day, value=value)

    def attach(self, family: str, problems: list[str], attached_on=EARLY_ATTACHMENT, ref: str = "A1") -> None:
        self.con.execute("INSERT INTO attached_families VALUES (?, ?, ?, 'Team', 1, ?)",
                         [family, ref, attached_on, problems])

    def run(self, settings: OutcomeSettings | None = None, ref: dt.date = REF):
        self.summary = evaluate_outcomes(self.con, settings or OutcomeSettings(), ref)
        rows = self.con.execute(f"SELECT {', '.join(OUTCOME_COLUMNS)} FROM outcomes").fetchall()
        return {(r[0], r[3]): dict(zip(OUTCOME_COLUMNS, r, strict=True)) for r in rows}


def education_family(values, family="F1", **attach) -> World:
    world = World()
    world.person(family, "mum", 35)
    world.person(family, "kid", 10)
    world.terms("kid", values)
    world.attach(family, ["education"], **attach)
    return world


# --- education ----------------------------------------------------------------------------


def test_attendance_exactly_90_is_met_and_89_9_is_not():
    met = education_family([90, 90, 90]).run()[("F1", "education")]
    assert met["met"] and met["claimable"]
    assert met["evidence"].startswith("met: 1 of 1 school-age children")
    below = education_family([89.9, 89.9, 89.9]).run()[("F1", "education")]
    assert not below["met"] and not below["claimable"]
    assert "attendance not met: schools:S-kid" in below["evidence"]
    assert "89" not in below["evidence"]  # never the child's attendance


def test_only_the_latest_three_terms_count():
    world = education_family([100, 90, 90])
    world.event("kid", "schools", "attendance_term", "2025-07-18", value=0)  # a fourth, older term
    assert world.run()[("F1", "education")]["met"]


def test_attendance_terms_must_fall_in_the_last_12_months():
    world = World()
    world.person("F1", "kid", 10)
    world.terms("kid", [95, 95, 95], dates=("2025-07-18", "2026-03-27", "2026-07-22"))
    world.attach("F1", ["education"])
    row = world.run()[("F1", "education")]
    assert not row["met"] and "no attendance data" in row["evidence"]


def improving(before: float, now: float) -> World:
    world = World()
    world.person("F1", "kid", 12)
    world.terms("kid", [before] * 3, dates=("2024-12-20", "2025-03-28", "2025-07-18"))
    world.terms("kid", [now] * 3)
    world.attach("F1", ["education"], attached_on=EARLY_ATTACHMENT)
    return world


def test_improvement_of_40_points_from_below_40_is_met_39_is_not():
    assert improving(30, 70).run()[("F1", "education")]["met"]
    assert "1 by improvement" in improving(30, 70).run()[("F1", "education")]["evidence"]
    assert not improving(30, 69).run()[("F1", "education")]["met"]


def test_improvement_only_counts_from_below_40():
    assert not improving(40, 85).run()[("F1", "education")]["met"]


def excluded(count: int, days: float) -> World:
    world = education_family([95, 95, 95])
    for i in range(count):
        world.event("kid", "schools", "fixed_term_exclusion", dt.date(2026, 1, 12) + dt.timedelta(days=7 * i),
                    value=days / count)
    return world


@pytest.mark.parametrize(("count", "days", "met"), [(2, 4, True), (3, 3, False), (2, 9.5, True), (2, 10, False)])
def test_exclusion_boundaries(count, days, met):
    row = excluded(count, days).run()[("F1", "education")]
    assert row["met"] is met
    assert ("exclusions at or over the limits: schools:S-kid" in row["evidence"]) is not met


def test_exclusions_before_the_three_terms_do_not_count():
    world = education_family([95, 95, 95])
    world.event("kid", "schools", "attendance_term", "2025-07-18", value=95)  # the term before: window starts after
    for day in ("2025-07-01", "2025-07-08", "2025-07-15"):
        world.event("kid", "schools", "fixed_term_exclusion", day, value=1)
    assert world.run()[("F1", "education")]["met"]
    world.event("kid", "schools", "fixed_term_exclusion", "2025-09-10", value=1)  # in the autumn term
    world.event("kid", "schools", "fixed_term_exclusion", "2025-10-10", value=1)
    world.event("kid", "schools", "fixed_term_exclusion", "2025-11-10", value=1)
    assert not world.run()[("F1", "education")]["met"]


def test_school_age_child_without_attendance_is_checked_for_exclusions_over_12_months():
    world = education_family([95, 95, 95])
    world.person("F1", "sibling", 7)
    for day in ("2025-10-05", "2026-02-01", "2026-05-01"):
        world.event("sibling", "schools", "fixed_term_exclusion", day, value=1)
    row = world.run()[("F1", "education")]
    assert not row["met"] and "1 of 2 school-age children" in row["evidence"]


def test_family_without_attendance_data_is_not_met():
    world = World()
    world.person("F1", "mum", 35)
    world.person("F1", "kid", 9)
    world.person("F1", "toddler", 3)
    world.terms("toddler", [100, 100, 100])  # not school age
    world.attach("F1", ["education"])
    row = world.run()[("F1", "education")]
    assert not row["met"] and row["evidence"].startswith("not met: no attendance data")


def test_every_child_needs_data_setting():
    world = education_family([95, 95, 95])
    world.person("F1", "sibling", 7)
    assert world.run()[("F1", "education")]["met"]
    strict = OutcomeSettings.model_validate({"education": {"every_child_needs_data": True}})
    assert not world.run(strict)[("F1", "education")]["met"]


# --- crime --------------------------------------------------------------------------------


def crime_family(months_before: int | None, *, age: int = 17, indicator="proven_offence", source="police",
                 attached_on=EARLY_ATTACHMENT) -> World:
    world = World()
    world.person("F1", "mum", 40)
    world.person("F1", "teen", age)
    if months_before is not None:
        world.event("teen", source, indicator, add_months(REF, -months_before), age_at_event=age)
    world.attach("F1", ["crime"], attached_on=attached_on)
    return world


def test_offence_by_a_minor_5_months_before_is_not_met_7_months_is():
    recent = crime_family(5).run()[("F1", "crime")]
    assert not recent["met"] and "1 proven offence(s)" in recent["evidence"] and "police:P-teen" in recent["evidence"]
    assert crime_family(7).run()[("F1", "crime")]["met"]
    assert crime_family(6).run()[("F1", "crime")]["met"]  # the window is ref - 6 months < date <= ref


def test_offence_by_an_adult_does_not_count_but_an_asb_intervention_does():
    assert crime_family(2, age=18).run()[("F1", "crime")]["met"]
    assert not crime_family(2, age=30, indicator="asb_intervention").run()[("F1", "crime")]["met"]
    assert not crime_family(2, age=30, source="housing", indicator="asb_housing_intervention").run()[
        ("F1", "crime")]["met"]


def test_attachment_must_be_6_months_old():
    young = crime_family(None, attached_on=add_months(REF, -5)).run()[("F1", "crime")]
    assert not young["met"] and "under 6 months" in young["evidence"]
    assert crime_family(None, attached_on=add_months(REF, -6)).run()[("F1", "crime")]["met"]


# --- work ---------------------------------------------------------------------------------


def work_family(detail: str, ended: dt.date | None, *, start=dt.date(2024, 6, 1)) -> World:
    world = World()
    world.person("F1", "dad", 38)
    world.person("F1", "kid", 6)
    world.event("dad", "dwp", "out_of_work_benefit", start, end=ended, detail=detail)
    world.attach("F1", ["work"])
    return world


def test_jsa_ended_26_weeks_ago_is_met_25_is_not():
    met = work_family("JSA", weeks_before(26)).run()[("F1", "work")]
    assert met["met"] and "26 weeks needed" in met["evidence"] and "confirm" in met["evidence"]
    assert not work_family("JSA", weeks_before(26, days=-1)).run()[("F1", "work")]["met"]
    assert not work_family("JSA", weeks_before(25)).run()[("F1", "work")]["met"]


@pytest.mark.parametrize("detail", ["ESA", "IS"])
def test_esa_and_is_need_13_weeks(detail):
    assert work_family(detail, weeks_before(13)).run()[("F1", "work")]["met"]
    assert not work_family(detail, weeks_before(12)).run()[("F1", "work")]["met"]


def test_uc_and_unknown_types_need_26_weeks():
    for detail in ("UC", None):
        assert not work_family(detail, weeks_before(20)).run()[("F1", "work")]["met"]
        assert work_family(detail, weeks_before(26)).run()[("F1", "work")]["met"]


def test_a_new_claim_after_the_end_breaks_it():
    world = work_family("JSA", weeks_before(40))
    world.event("dad", "dwp", "out_of_work_benefit", weeks_before(30), detail="JSA")
    row = world.run()[("F1", "work")]
    assert not row["met"] and "still claiming" in row["evidence"]
    ended = work_family("ESA", weeks_before(40))
    ended.event("dad", "dwp", "out_of_work_benefit", weeks_before(30), end=weeks_before(10), detail="JSA")
    assert not ended.run()[("F1", "work")]["met"]  # off 10 weeks since the last claim


def test_still_claiming_or_not_claiming_at_attachment_is_not_met():
    assert not work_family("JSA", None).run()[("F1", "work")]["met"]
    late = work_family("JSA", weeks_before(30), start=dt.date(2026, 1, 1))  # claim began after attachment
    row = late.run()[("F1", "work")]
    assert not row["met"] and "no adult on an out-of-work benefit at attachment" in row["evidence"]


# --- the claim --------------------------------------------------------------------------


def test_claimable_only_when_every_problem_is_met():
    world = education_family([95, 95, 95])
    world.event("mum", "dwp", "out_of_work_benefit", "2024-01-01", end=weeks_before(30), detail="JSA")
    world.con.execute("UPDATE attached_families SET problems = ['education', 'work', 'crime']")
    rows = world.run()
    assert all(rows[("F1", p)]["met"] for p in ("education", "work", "crime"))
    assert all(rows[("F1", p)]["claimable"] for p in ("education", "work", "crime"))
    assert world.summary.claimable == 1 and world.summary.met == {"crime": (1, 1), "education": (1, 1),
                                                                 "work": (1, 1)}
    world.event("mum", "police", "asb_intervention", "2026-08-01")
    rows = world.run()
    assert not rows[("F1", "crime")]["met"]
    assert not any(rows[("F1", p)]["claimable"] for p in ("education", "work", "crime"))
    assert world.summary.claimable == 0


def test_health_has_no_national_measure():
    world = education_family([95, 95, 95])
    world.con.execute("UPDATE attached_families SET problems = ['education', 'health']")
    rows = world.run()
    health = rows[("F1", "health")]
    assert health["measure"] == LOCAL_MEASURE and health["met"] is False
    assert "local evidence required" in health["evidence"]
    assert rows[("F1", "education")]["met"] and not rows[("F1", "education")]["claimable"]


def test_attached_after_the_reference_date_is_not_met():
    row = education_family([95, 95, 95], attached_on=dt.date(2026, 10, 5)).run()[("F1", "education")]
    assert not row["met"] and "attached after the reference date" in row["evidence"]


def test_one_row_per_family_attachment_and_problem_and_csv_is_deterministic(tmp_path):
    world = education_family([95, 95, 95])
    world.attach("F1", ["education", "education", "crime"], ref="A2")
    world.person("F2", "other", 8)
    world.attach("F2", [], ref="A3")
    world.run()
    assert world.con.execute("SELECT attachment_ref, problem FROM outcomes ORDER BY 1, 2").fetchall() == [
        ("A1", "education"), ("A2", "crime"), ("A2", "education")]
    assert world.summary.families == 1 and world.summary.attachments == 2
    first = write_outcomes_csv(world.con, tmp_path / "a.csv").read_bytes()
    world.run()
    assert write_outcomes_csv(world.con, tmp_path / "b.csv").read_bytes() == first
    assert first.decode().splitlines()[0] == ",".join(OUTCOME_COLUMNS)


# --- settings -----------------------------------------------------------------------------


def test_shipped_settings_are_the_defaults():
    shipped = load_outcome_settings("config/outcomes.yaml")
    assert shipped == OutcomeSettings() and shipped.fingerprint == OutcomeSettings().fingerprint


def test_settings_problems_are_located(tmp_path):
    path = tmp_path / "outcomes.yaml"
    path.write_text("schema: familylink-outcomes\ncrime:\n  offences: [police.shoplifting]\n"
                    "work:\n  weeks_off_benefit: {JSA: 26, PIP: 13}\neducation:\n  termz: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_outcome_settings(path)
    wheres = [p.where for p in error.value.problems]
    assert any(w.endswith("crime.offences") for w in wheres)
    assert any(w.endswith("work.weeks_off_benefit") for w in wheres)
    assert any(w.endswith("education.termz") for w in wheres)
