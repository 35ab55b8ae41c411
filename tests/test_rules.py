"""Each rule kind of the Phase 2 framework at its boundaries, on hand-built families.

Every test builds a county with ``tests.identification_tables.County``, runs
form_families + score_families at ``REF`` and asserts on the candidate (headlines, rules
fired) and on the evidence rows. The last test cross-checks the SQL engine against
``familylink.synth.truth_rules``, an independent reading of the same rules.
"""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from familylink.core.dates import add_months
from familylink.synth.truth_rules import evaluate
from tests.identification_tables import County, write_framework

REF = dt.date(2026, 9, 30)


def at(months: int = 0, days: int = 0, ref: dt.date = REF) -> dt.date:
    """``ref`` moved by ``months`` calendar months, then by ``days`` days."""
    return add_months(ref, months) + dt.timedelta(days=days)


def county(ref: dt.date = REF):
    """A county with one family F1: a mother of 35 and a child of 9 (household H1)."""
    place = County(ref=ref)
    mum, kid = place.family()
    return place, mum, kid


# --- event windows -------------------------------------------------------------------------


@pytest.mark.parametrize(("months", "days", "counts"), [
    (-12, -1, False), (-12, 0, False), (-12, 1, True), (-6, 0, True), (0, 0, True), (0, 1, False)])
def test_event_window_looks_back_12_months_excluding_its_first_day(months, days, counts):
    place, mum, _ = county()
    mum.event("health", "mental_health", at(months, days))
    result = place.run()
    assert result.rules() == (["4.1"] if counts else [])
    assert result.headlines() == (["health"] if counts else [])
    assert result.flags()["health"] is counts
    evidence = result.evidence_of()
    assert [(e["rule_id"], e["person_id"], e["event_date"], e["counted"]) for e in evidence] == (
        [("4.1", mum.person_id, at(months, days), True)] if counts else [])


@pytest.mark.parametrize(("months", "days", "counts"), [
    (0, -1, False), (0, 0, False), (0, 1, True), (12, 0, True), (12, 1, False)])
def test_release_due_looks_12_months_ahead(months, days, counts):
    place, mum, _ = county()
    mum.event("probation", "custody_release_due", at(months, days))
    result = place.run()
    assert result.rules() == (["2.3"] if counts else [])
    assert len(result.evidence_of(rule_id="2.3")) == int(counts)


@pytest.mark.parametrize(("event", "counts"), [
    ("2026-02-28", False), ("2026-03-01", True), ("2026-08-31", True), ("2026-09-01", False)])
def test_window_start_clamps_to_a_shorter_month(event, counts):
    """ref 2026-08-31 minus 6 months is 2026-02-28 (no 31 February): the window starts after it."""
    place, mum, _ = county(dt.date(2026, 8, 31))
    mum.event("housing", "eviction_notice", event)
    assert place.run().rules() == (["3.3"] if counts else [])


@pytest.mark.parametrize(("event", "counts"), [("2027-02-28", False), ("2027-03-01", True)])
def test_window_from_a_leap_day_clamps_to_28_february(event, counts):
    place, mum, _ = county(dt.date(2028, 2, 29))
    mum.event("police", "domestic_abuse_victim", event)
    assert place.run().rules() == (["5.1"] if counts else [])


# --- spells --------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end", "active"), [
    (at(-30), at(0), False),          # ends on the reference date: no longer active
    (at(-30), at(0, 1), True),        # ends the day after
    (at(-30), None, True),            # open-ended
    (at(0), None, True),              # starts on the reference date
    (at(0, 1), None, False),          # starts after it
    (at(0, 1), at(3), False),
    (at(-30), at(-12), False),        # long over
])
def test_spell_active_at_reference(start, end, active):
    place, mum, kid = county()
    mum.spell("dwp", "out_of_work_benefit", start, end, detail="UC")
    kid.spell("schools", "alternative_provision", start, end)
    result = place.run()
    assert result.rules() == (["1.4", "3.1"] if active else [])
    assert result.headlines() == (["education", "work"] if active else [])
    assert result.candidate()["eligible"] is active
    assert {(e["rule_id"], e["event_date"]) for e in result.evidence_of()} == (
        {("1.4", start), ("3.1", start)} if active else set())


@pytest.mark.parametrize(("indicator", "rule"), [
    ("early_help_assessment", "6.1"), ("child_in_need", "6.2"), ("child_protection_plan", "6.4")])
@pytest.mark.parametrize(("start", "end", "counts"), [
    (at(-3), at(-1), True),           # started in the window, already ended
    (at(-12, 1), at(-11), True),      # started on the window's first day
    (at(-12), at(-11), False),        # started the day before the window, ended inside it
    (at(-13), at(-1), False),         # started before the window, ended inside it
    (at(-13), None, True),            # started before the window, still active
    (at(-13), at(0, 1), True),        # ... ends after the reference date
    (at(0, 1), None, False),          # starts after the reference date
])
def test_spell_active_or_started_in_window(indicator, rule, start, end, counts):
    place, _, kid = county()
    kid.spell("social_care", indicator, start, end)
    result = place.run()
    assert result.rules() == ([rule] if counts else [])
    assert result.headlines() == (["children_need_help"] if counts else [])


# --- aggregates: latest three terms (1.1, 1.1b) ---------------------------------------------

TERMS = [at(-14, 20), at(-10), at(-5, 20), at(-2, -10)]  # four past terms, oldest first


def attendance(values, dates=TERMS, *, duplicate: bool = False):
    place, _, kid = county()
    for date, value in zip(dates, values, strict=True):
        kid.event("schools", "attendance_term", date, value=value)
    if duplicate:  # a second school record of the same pupil for the same terms
        copy = kid.record("schools", new=True)
        for date, value in zip(dates, values, strict=True):
            kid.event("schools", "attendance_term", date, value=value, record=copy)
    return place.run(), kid


@pytest.mark.parametrize(("values", "met"), [
    ([50, 92, 92, 92], False),        # all four: 81.5; the latest three: 92
    ([100, 85, 88, 89], True),        # all four: 90.5; the latest three: 87.3
])
def test_attendance_takes_the_latest_three_terms(values, met):
    result, kid = attendance(values)
    assert result.rules() == (["1.1"] if met else [])
    assert result.headlines() == (["education"] if met else [])
    if met:  # the evidence is the three terms the mean was taken over
        evidence = result.evidence_of(rule_id="1.1")
        assert sorted(e["event_date"] for e in evidence) == TERMS[1:]
        assert all(e["person_id"] == kid.person_id and e["counted"] for e in evidence)


@pytest.mark.parametrize(("values", "met"), [([85, 90, 95], False), ([85, 90, 94], True), ([90, 90, 90], False)])
def test_attendance_of_exactly_90_is_regular(values, met):
    result, _ = attendance(values, TERMS[1:])
    assert result.rules() == (["1.1"] if met else [])


@pytest.mark.parametrize(("values", "met"), [([89.9], True), ([90], False), ([95, 84], True), ([95, 86], False)])
def test_attendance_with_fewer_than_three_terms_uses_what_exists(values, met):
    result, _ = attendance(values, TERMS[-len(values):])
    assert result.rules() == (["1.1"] if met else [])


def test_attendance_ignores_a_term_after_the_reference_date():
    result, _ = attendance([95, 95, 95, 10], [*TERMS[1:], at(0, 20)])
    assert result.rules() == []
    result, _ = attendance([85, 85, 85, 100], [*TERMS[1:], at(0, 20)])
    assert result.rules() == ["1.1"]
    assert at(0, 20) not in {e["event_date"] for e in result.evidence}


def test_attendance_counts_a_term_recorded_by_two_schools_once():
    # distinct terms 60, 95, 95: mean 83.3; counting the copies the latest three would be 95, 95, 95
    result, kid = attendance([60, 95, 95], TERMS[1:], duplicate=True)
    assert result.rules() == ["1.1"]
    assert sorted(e["event_date"] for e in result.evidence_of(rule_id="1.1")) == TERMS[1:]


def test_attendance_is_per_person_not_pooled_over_the_family():
    place, _, kid = county()
    sister = place.person(12, household="H1")
    for date in TERMS[1:]:
        kid.event("schools", "attendance_term", date, value=80)
        sister.event("schools", "attendance_term", date, value=99)
    result = place.run()
    assert result.rules() == ["1.1"]
    assert {e["person_id"] for e in result.evidence_of()} == {kid.person_id}


@pytest.mark.parametrize(("values", "met"), [([15, 15, 15], True), ([10, 20, 14.9], False), ([0, 15, 15, 15], True)])
def test_unauthorised_absence_mean_of_latest_three_at_least_15(values, met):
    place, _, kid = county()
    for date, value in zip(TERMS[-len(values):], values, strict=True):
        kid.event("schools", "unauthorised_absence_term", date, value=value)
    assert place.run().rules() == (["1.1b"] if met else [])


# --- aggregates over a window: fixed-term exclusions (1.2) ------------------------------------


def exclusions(rows, *, duplicate_first: bool = False):
    """``rows`` of (date, days, age at the event) for a child of 13."""
    place = County(ref=REF)
    place.person(40, household="H1")
    kid = place.person(13, household="H1")
    for date, days, age in rows:
        kid.event("schools", "fixed_term_exclusion", date, value=days, age_at_event=age)
    if duplicate_first:
        date, days, age = rows[0]
        kid.event("schools", "fixed_term_exclusion", date, value=days, age_at_event=age,
                  record=kid.record("schools", new=True))
    return place.run()


@pytest.mark.parametrize(("rows", "met"), [
    ([(at(-1), 1, 12), (at(-2), 1, 12), (at(-3), 1, 12)], True),          # three exclusions
    ([(at(-1), 1, 12), (at(-2), 1, 12)], False),
    ([(at(-1), 1, 12), (at(-2), 1, 12), (at(-12), 1, 12)], False),        # one on the window's edge
    ([(at(-1), 1, 12), (at(-2), 1, 12), (at(-12, 1), 1, 12)], True),
    ([(at(-1), 5, 12), (at(-2), 5, 12)], True),                            # 10 days
    ([(at(-1), 5, 12), (at(-2), 4.5, 12)], False),                         # 9.5 days
    ([(at(-1), 10, 12), (at(0, 1), 0, 12)], True),
    ([(at(-13), 10, 12)], False),                                           # outside the window
    ([(at(-1), 5, 10)], True),                                              # 5 days at a primary age
    ([(at(-1), 5, 4)], True),
    ([(at(-1), 5, 11)], False),                                             # 11 is secondary
    ([(at(-1), 5, 3)], False),
    ([(at(-1), 3, 10), (at(-2), 2, 11)], False),                           # only 3 primary-age days
    ([(at(-1), 3, 10), (at(-2), 2, 10)], True),
    ([(at(-1), 5, 10), (at(-2), 4, 11)], True),
])
def test_fixed_term_exclusions(rows, met):
    result = exclusions(rows)
    assert result.rules() == (["1.2"] if met else [])
    if met:  # the evidence is every exclusion in the window of the child who met it
        in_window = sorted(d for d, _, _ in rows if at(-12) < d <= REF)
        assert sorted(e["event_date"] for e in result.evidence_of(rule_id="1.2")) == in_window


def test_fixed_term_exclusion_recorded_twice_counts_once():
    result = exclusions([(at(-1), 1, 12), (at(-2), 1, 12)], duplicate_first=True)
    assert result.rules() == []
    result = exclusions([(at(-1), 5, 12), (at(-2), 4, 12)], duplicate_first=True)
    assert result.rules() == []


# --- value thresholds and age conditions -------------------------------------------------------


@pytest.mark.parametrize(("indicator", "value", "date", "met"), [
    ("rent_arrears", 499.99, at(-1), False),
    ("rent_arrears", 500, at(-1), True),
    ("rent_arrears", 2500, at(-1), True),
    ("rent_arrears", 600, at(-6), False),          # the 6-month window's first day is out
    ("rent_arrears", 600, at(-6, 1), True),
    ("rent_arrears", 600, at(-9), False),
    ("eviction_notice", None, at(-1), True),
    ("eviction_notice", None, at(-6), False),
])
def test_financial_exclusion(indicator, value, date, met):
    place, mum, _ = county()
    mum.event("housing", indicator, date, value=value)
    result = place.run()
    assert result.rules() == (["3.3"] if met else [])
    assert [e["value"] for e in result.evidence_of()] == ([value] if met else [])


@pytest.mark.parametrize(("age", "met"), [(10, True), (17, True), (18, False), (30, False)])
def test_proven_offence_counts_under_18_at_the_event(age, met):
    place, mum, _ = county()
    brother = place.person(19, household="H1")  # an adult now, maybe 17 at the offence
    brother.event("police", "proven_offence", at(-2), age_at_event=age)
    mum.event("police", "arrest", at(-2))
    result = place.run()
    assert result.rules() == (["2.1"] if met else [])


@pytest.mark.parametrize(("age", "met"), [(15, False), (16, True), (24, True), (25, False)])
def test_neet_counts_aged_16_to_24_at_the_event(age, met):
    place, _, _ = county()
    place.person(22, household="H1").event("schools", "neet", at(-2), age_at_event=age)
    assert place.run().rules() == (["3.2"] if met else [])


# --- whose rows count --------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "indicator", "rule"), [
    ("dwp", "out_of_work_benefit", "3.1"), ("probation", "licence", "2.4"), ("probation", "community_order", "2.5")])
def test_adult_only_spells_ignore_children(source, indicator, rule):
    place, mum, kid = county()
    teen = place.person(17, household="H1")  # a dependent child, though old enough to claim
    kid.spell(source, indicator, at(-6))
    teen.spell(source, indicator, at(-6))
    result = place.run()
    assert result.member(teen)["role"] == "child"
    assert result.rules() == []
    mum.spell(source, indicator, at(-6))
    result = place.run()
    assert result.rules() == [rule]
    assert {e["person_id"] for e in result.evidence_of()} == {mum.person_id}


def test_release_due_of_a_child_does_not_count():
    place, _, kid = county()
    kid.event("probation", "custody_release_due", at(2))
    assert place.run().rules() == []


@pytest.mark.parametrize(("source", "indicator"), [("police", "asb_intervention"),
                                                   ("housing", "asb_housing_intervention")])
def test_asb_from_either_source(source, indicator):
    place, _, kid = county()
    kid.event(source, indicator, at(-3))
    result = place.run()
    assert result.rules() == ["2.2"]
    assert [(e["source"], e["indicator"]) for e in result.evidence_of()] == [(source, indicator)]


def test_asb_from_both_sources_is_one_rule_one_headline_two_rows():
    place, mum, kid = county()
    kid.event("police", "asb_intervention", at(-3))
    mum.event("housing", "asb_housing_intervention", at(-4))
    result = place.run()
    assert result.rules() == ["2.2"] and result.headlines() == ["crime"]
    assert result.candidate()["headline_count"] == 1
    assert sorted(e["source"] for e in result.evidence_of(rule_id="2.2")) == ["housing", "police"]


# --- filters of a small framework ------------------------------------------------------------


def test_details_age_at_reference_and_member_child(tmp_path):
    framework = write_framework(tmp_path, [
        {"id": "jsa", "headline": "work", "kind": "spell", "indicators": ["dwp.out_of_work_benefit"],
         "details": ["JSA"]},
        {"id": "young", "headline": "health", "kind": "event", "indicators": ["health.mental_health"],
         "window": {"months": 12}, "member": "child", "age_at_reference": {"to": 10}},
        {"id": "big", "headline": "money", "kind": "event", "window": {"months": 12},
         "indicators": [{"code": "housing.rent_arrears", "value": {"above": 1000}}]},
    ])
    place, mum, kid = county()
    teen = place.person(14, household="H1")
    mum.spell("dwp", "out_of_work_benefit", at(-3), detail="UC")
    mum.event("health", "mental_health", at(-1))
    teen.event("health", "mental_health", at(-1))
    mum.event("housing", "rent_arrears", at(-1), value=1000)
    assert place.run(framework).rules() == []
    mum.spell("dwp", "out_of_work_benefit", at(-2), detail="JSA")
    kid.event("health", "mental_health", at(-1))
    kid.event("housing", "rent_arrears", at(-1), value=1000.01)
    result = place.run(framework)
    assert result.rules() == ["jsa", "young", "big"]
    assert result.headlines() == ["work", "health", "money"]
    assert {e["person_id"] for e in result.evidence_of(rule_id="young")} == {kid.person_id}


# --- eligibility and priority ------------------------------------------------------------------

NEEDS = [  # one need per headline, in reverse framework order
    ("children_need_help", "social_care", "s47_enquiry"),
    ("domestic_abuse", "police", "domestic_callout"),
    ("health", "health", "substance_misuse"),
    ("work", "housing", "eviction_notice"),
    ("crime", "police", "asb_intervention"),
    ("education", "schools", "permanent_exclusion"),
]
ORDER = ["education", "crime", "work", "health", "domestic_abuse", "children_need_help"]


@pytest.mark.parametrize(("count", "priority"), [
    (0, ""), (1, ""), (2, "at risk of becoming complex"), (3, "at risk of becoming complex"),
    (4, "at risk of becoming complex"), (5, "complex"), (6, "complex")])
def test_eligibility_priority_and_headline_order(count, priority):
    place, _, kid = county()
    for _, source, indicator in NEEDS[:count]:  # added in reverse framework order
        kid.event(source, indicator, at(-1))
    result = place.run()
    expected = [h for h in ORDER if h in {need[0] for need in NEEDS[:count]}]
    candidate = result.candidate()
    assert result.headlines() == expected
    assert candidate["headline_count"] == count
    assert candidate["eligible"] is (count >= 2)
    assert candidate["priority"] == priority
    assert result.flags() == {h: h in expected for h in ORDER}
    assert result.score_summary.by_headline_count == {count: 1}


def test_a_second_rule_of_a_met_headline_adds_no_headline():
    place, mum, kid = county()
    kid.event("health", "speech_language_delay", at(-1))
    kid.event("social_care", "s47_enquiry", at(-1))
    mum.event("health", "substance_misuse", at(-2))
    mum.event("health", "mental_health", at(-2))
    result = place.run()
    assert result.headlines() == ["health", "children_need_help"]
    assert result.rules() == ["4.1", "4.2", "6.3", "6.6"]
    assert result.candidate()["headline_count"] == 2 and result.candidate()["eligible"] is True


def test_minimum_headlines_exactly():
    place, mum, kid = county()
    place.family("H2")
    kid.event("schools", "permanent_exclusion", at(-1))
    mum.event("health", "mental_health", at(-1))
    result = place.run()
    assert (result.candidate("F1")["eligible"], result.candidate("F1")["priority"]) == (
        True, "at risk of becoming complex")
    assert (result.candidate("F2")["eligible"], result.candidate("F2")["headline_count"]) == (False, 0)
    assert result.score_summary.eligible == 1 and result.score_summary.families == 2


def test_rules_listed_in_framework_order():
    place, mum, kid = county()
    kid.event("social_care", "s47_enquiry", at(-1))
    mum.event("health", "health_concern", at(-1))
    mum.event("health", "mental_health", at(-1))
    kid.event("schools", "permanent_exclusion", at(-1))
    result = place.run()
    assert result.rules() == ["1.3", "4.1", "4.4", "6.3"]
    assert [e["rule_id"] for e in result.evidence_of()] == ["1.3", "4.1", "4.4", "6.3"]


# --- cross-check against the independent reading (familylink.synth.truth_rules) -------------

INDICATORS = [
    ("schools", "attendance_term"), ("schools", "unauthorised_absence_term"), ("schools", "fixed_term_exclusion"),
    ("schools", "permanent_exclusion"), ("schools", "alternative_provision"), ("schools", "not_on_roll"),
    ("schools", "neet"), ("police", "proven_offence"), ("police", "asb_intervention"),
    ("housing", "asb_housing_intervention"), ("probation", "custody_release_due"), ("probation", "licence"),
    ("probation", "community_order"), ("dwp", "out_of_work_benefit"), ("housing", "rent_arrears"),
    ("housing", "eviction_notice"), ("health", "mental_health"), ("health", "substance_misuse"),
    ("health", "health_concern"), ("police", "domestic_abuse_victim"), ("police", "domestic_callout"),
    ("social_care", "early_help_assessment"), ("social_care", "child_in_need"),
    ("social_care", "child_protection_plan"), ("social_care", "s47_enquiry"), ("police", "missing_episode"),
]
VALUES = {"attendance_term": (70, 99), "unauthorised_absence_term": (0, 30), "fixed_term_exclusion": (1, 6),
          "rent_arrears": (300, 700)}


@pytest.mark.parametrize("seed", range(1, 7))
def test_engine_agrees_with_the_independent_reading(seed):
    """Random families, dates clustered at the window edges; both readings give the same rules."""
    rng = random.Random(seed)
    ref = rng.choice([REF, dt.date(2026, 8, 31), dt.date(2028, 2, 29)])
    edges = [-12, -6, 0, 12]
    place = County(ref=ref)
    people, events = [], []
    for number in range(1, 41):
        members = [place.person(rng.randint(19, 60), household=f"H{number}")]  # 18 may be dependent
        members += [place.person(rng.randint(0, 15), household=f"H{number}") for _ in range(rng.randint(1, 3))]
        for person in members:
            people.append({"person_id": person.person_id, "family_id": f"F{number}",
                           "role": "adult" if person.age_months >= 18 * 12 else "child",
                           "date_of_birth": person.born.isoformat()})
            used = set()
            for _ in range(rng.randint(0, 5)):
                source, indicator = rng.choice(INDICATORS)
                date = at(rng.choice(edges), rng.choice([-1, 0, 1, rng.randint(-60, 60)]), ref)
                if (indicator, date) in used:
                    continue
                used.add((indicator, date))
                end = rng.choice([None, at(rng.choice(edges), rng.choice([-1, 0, 1]), ref)])
                end = end if end is not None and end >= date else None
                low, high = VALUES.get(indicator, (None, None))
                value = rng.randint(low, high) if low is not None else None
                person.event(source, indicator, date, end=end, value=value)
                events.append({"person_id": person.person_id, "source": source, "indicator": indicator,
                               "event_date": date.isoformat(), "end_date": end.isoformat() if end else "",
                               "value": "" if value is None else str(value)})
    result = place.run()
    truth = evaluate(pd.DataFrame(people), pd.DataFrame(events), ref).set_index("family_id")
    mine = {c["family_id"]: (c["indicators"], c["headlines"], c["eligible"]) for c in result.candidates}
    theirs = {fid: (row.rules, row.headlines, bool(row.eligible)) for fid, row in truth.iterrows()}
    assert mine == theirs
