"""Families from hand-built persons and households (identification.families), and what
scoring adds to them: non-resident parents' headlines, review flags and locality."""

from __future__ import annotations

import datetime as dt

import pytest

from familylink.core.dates import add_months
from identification.settings import FamilyDefinition, IdentificationSettings, Review
from tests.identification_tables import County, write_framework

REF = dt.date(2026, 9, 30)


def at(months: int = 0, days: int = 0) -> dt.date:
    return add_months(REF, months) + dt.timedelta(days=days)


def settings(**family) -> IdentificationSettings:
    return IdentificationSettings(family=FamilyDefinition(**family))


# --- who makes a family -----------------------------------------------------------------------


def test_household_with_a_child_is_a_family():
    county = County(ref=REF)
    mum, kid = county.family("H7", adult=35, child=9)
    result = county.run()
    assert result.family_ids == ["F7"]
    assert [(m["person_id"], m["household_id"], m["role"], m["age"], m["resident"]) for m in result.members("F7")] == [
        (mum.person_id, "H7", "adult", 35, True), (kid.person_id, "H7", "child", 9, True)]
    assert result.facts(kid)["dependent_child"] is True and result.facts(mum)["dependent_child"] is False
    summary = result.family_summary
    assert (summary.persons, summary.families, summary.members, summary.non_resident_members,
            summary.dependent_children, summary.expectant_only_families) == (2, 1, 2, 0, 1, 0)
    assert (result.candidate("F7")["members"], result.candidate("F7")["children"]) == (2, 1)


@pytest.mark.parametrize(("age_months", "age"), [(113, 9), (116, 9), (117, 10), (119, 10)])
def test_age_at_a_later_reference_date_adds_the_months_since_the_extract(age_months, age):
    county = County(ref=REF, extract_date=dt.date(2026, 6, 30))  # three months before
    county.person(40, household="H1")
    kid = county.person(age_months=age_months, household="H1")
    facts = county.run().facts(kid)
    assert (facts["age_months"], facts["age"]) == (age_months + 3, age)


@pytest.mark.parametrize(("years", "extract_months_before", "age"),
                         [(17, 0, 17), (18, 0, 18), (9, 3, 9), (9, 6, 9), (9, 7, 10), (9, 12, 10)])
def test_an_age_in_whole_years_gives_the_age_most_people_of_that_age_have_at_the_reference_date(
        years, extract_months_before, age):
    """A source whose agreement sends whole years only (issue 13): exact when the reference
    date is the extract date; otherwise the age most people aged ``years`` at the extract
    date have reached (a birthday five months into the year of possible birthdays; half and
    half goes to the younger age)."""
    county = County(ref=REF, extract_date=add_months(REF, -extract_months_before))
    county.person(40, household="H1")
    kid = county.person(years, household="H1")
    kid.record("health", age_years=years)
    assert county.run().facts(kid)["age"] == age


def test_an_age_in_months_wins_over_one_in_years():
    county = County(ref=REF)
    county.person(40, household="H1")
    kid = county.person(age_months=12 * 17 + 11, household="H1")  # 18 next month
    kid.record("schools")
    kid.record("health", age_years=17)
    kid.record("police", age_years=17)  # two records in years against one in months
    result = county.run(reference_date=add_months(REF, 1))
    assert result.facts(kid)["age"] == 18


def test_age_is_the_one_most_records_give_ties_the_earliest_birth():
    county = County(ref=REF)
    county.person(40, household="H1")
    kid = county.person(9, household="H1")
    kid.record("schools")
    kid.record("health")
    kid.record("police", age_months=12 * 11)  # one record of three disagrees
    twin = county.person(9, household="H1")
    twin.record("schools")
    twin.record("police", age_months=12 * 11)  # one against one: the earlier birth month
    result = county.run()
    assert result.facts(kid)["age"] == 9
    assert result.facts(twin)["age"] == 11


def test_adults_only_household_is_no_family_but_every_person_is_listed():
    county = County(ref=REF)
    one, two = county.person(40, household="H1"), county.person(19, household="H1")
    mum, kid = county.family("H2")
    loner = county.person(70)
    result = county.run()
    assert result.family_ids == ["F2"]
    assert [c["family_id"] for c in result.candidates] == ["F2"]
    unattached = result.members(None)
    assert {m["person_id"] for m in unattached} == {one.person_id, two.person_id, loner.person_id}
    assert all(m["resident"] is None and m["role"] == "adult" for m in unattached)
    assert {f["person_id"] for f in result.families} == {p.person_id for p in county.people}
    assert len(result.families) == 5


@pytest.mark.parametrize("age", [16, 17])
def test_16_and_17_year_olds_are_dependent_presumed_in_education(age):
    county = County(ref=REF)
    county.person(45, household="H1")
    young = county.person(age, household="H1")  # no schools record at all
    result = county.run()
    assert result.family_ids == ["F1"]
    assert result.member(young)["role"] == "child"


@pytest.mark.parametrize(("age", "source", "indicator", "date", "end", "dependent"), [
    (18, None, None, None, None, False),                                   # no record that says so
    (18, "schools", "attendance_term", at(-2), None, True),                 # recent schools record
    (18, "schools", "attendance_term", at(-12), None, False),               # 12 months ago: not recent
    (18, "schools", "attendance_term", at(-12, 1), None, True),
    (18, "schools", "attendance_term", at(0, 1), None, False),              # after the reference date
    (18, "schools", "neet", at(-1), None, True),
    (18, "dwp", "out_of_work_benefit", at(-30), None, False),               # a claimant in their own right
    (18, "dwp", "out_of_work_benefit", at(-30), at(-14), False),            # over long ago
    (18, "dwp", "out_of_work_benefit", at(-3), at(-1), False),              # is an adult
    (18, "dwp", "out_of_work_benefit", at(0, 1), None, False),
    (18, "health", "mental_health", at(-1), None, False),                   # not an education source
    (19, "schools", "attendance_term", at(-2), None, False),
    (19, "dwp", "out_of_work_benefit", at(-3), None, False),
])
def test_18_year_old_is_dependent_only_in_education_or_unemployed(age, source, indicator, date, end, dependent):
    county = County(ref=REF)
    parent = county.person(48, household="H1")
    young = county.person(age, household="H1")
    if source:
        young.event(source, indicator, date, end=end, value=90 if indicator == "attendance_term" else None)
    result = county.run()
    assert result.facts(young)["dependent_child"] is dependent
    assert result.family_ids == (["F1"] if dependent else [])
    if dependent:
        assert (result.member(young)["role"], result.member(parent)["role"]) == ("child", "adult")


def test_an_old_neet_record_does_not_make_an_18_year_old_dependent():
    county = County(ref=REF)
    county.person(48, household="H1")
    young = county.person(18, household="H1")
    young.event("schools", "neet", at(-30))  # two and a half years ago: neither recent nor a spell
    result = county.run()
    assert result.facts(young)["dependent_child"] is False
    assert result.family_ids == []


def test_an_active_education_spell_is_a_recent_education_record():
    county = County(ref=REF)
    county.person(48, household="H1")
    young = county.person(18, household="H1")
    young.spell("schools", "alternative_provision", at(-30))  # started long ago, still going
    assert county.run().facts(young)["dependent_child"] is True


def test_a_schools_row_without_a_date_is_recent_by_its_extract_date():
    county = County(ref=REF)
    county.person(48, household="H1")
    young = county.person(18, household="H1")
    young.record("schools")  # a registration row: no indicator, no date
    assert county.run().facts(young)["dependent_child"] is True


@pytest.mark.parametrize(("date", "family"), [
    (at(-1), True), (at(-9, 1), True), (at(-9), False), (at(-11), False), (at(0, 1), False)])
def test_expectant_parent_without_a_child_is_a_family(date, family):
    county = County(ref=REF)
    mum = county.person(25, household="H3")
    partner = county.person(27, household="H3")
    mum.event("health", "perinatal_mental_health", date)
    result = county.run()
    assert result.facts(mum)["expectant"] is family
    assert result.family_ids == (["F3"] if family else [])
    if family:
        assert {m["person_id"]: m["role"] for m in result.members("F3")} == {
            mum.person_id: "adult", partner.person_id: "adult"}
        assert result.family_summary.expectant_only_families == 1
        assert result.candidate("F3")["children"] == 0


# --- parents who live elsewhere -----------------------------------------------------------------


def separated(ref: str = "case-1", source: str = "social_care"):
    """Mother and child in H1, father in H2; the child's and the father's records share a ref."""
    county = County(ref=REF)
    mum, kid = county.family("H1")
    dad = county.person(40, household="H2")
    kid.household_ref(source, ref)
    dad.household_ref(source, ref)
    return county, mum, kid, dad


@pytest.mark.parametrize("source", ["social_care", "probation", "dwp"])
def test_non_resident_parent_joins_the_family(source):
    county, mum, kid, dad = separated(source=source)
    result = county.run()
    assert result.family_ids == ["F1"]
    row = result.member(dad)
    assert (row["resident"], row["role"], row["age"]) == (False, "adult", 40)
    assert result.candidate()["non_resident_members"] == 1 and result.candidate()["members"] == 3
    assert result.family_summary.non_resident_members == 1
    assert result.members(None) == []  # the father is listed once, as a member of F1


def test_non_resident_parent_keeps_their_own_household():
    county, _, _, dad = separated()
    assert county.run().member(dad)["household_id"] == "H2"


def test_ref_of_another_source_links_nobody():
    county, _, _, dad = separated(source="housing")
    result = county.run()
    assert [m["person_id"] for m in result.members(None)] == [dad.person_id]
    assert result.candidate()["non_resident_members"] == 0


def test_a_child_elsewhere_sharing_the_ref_is_not_a_non_resident_parent():
    county, _, kid, _ = separated()
    cousin = county.person(12, household="H5")
    cousin.household_ref("social_care", "case-1")
    result = county.run()
    assert cousin.person_id not in {m["person_id"] for m in result.members("F1")}
    assert cousin.person_id in {m["person_id"] for m in result.members("F5")}


def test_a_ref_within_the_household_adds_nothing():
    county = County(ref=REF)
    mum, kid = county.family("H1")
    mum.household_ref("dwp", "claim-9")
    kid.household_ref("dwp", "claim-9")
    result = county.run()
    assert len(result.members("F1")) == 2
    assert all(m["resident"] for m in result.members("F1"))
    assert result.candidate()["non_resident_members"] == 0


@pytest.mark.parametrize(("sharing", "linked"), [(3, True), (4, False)])
def test_a_ref_shared_by_too_many_persons_links_nobody(sharing, linked):
    county, _, _, dad = separated()
    others = [county.person(30 + n, household=f"H{10 + n}") for n in range(sharing - 2)]
    for other in others:
        other.household_ref("social_care", "case-1")
    result = county.run(settings=settings(max_ref_persons=3))
    non_residents = {m["person_id"] for m in result.members("F1") if m["resident"] is False}
    assert non_residents == ({dad.person_id, *(o.person_id for o in others)} if linked else set())


def test_a_non_resident_accounts_for_one_headline_the_first_residents_do_not_meet():
    county, mum, kid, dad = separated()
    dad.event("health", "mental_health", at(-1))
    dad.event("police", "asb_intervention", at(-2))
    result = county.run()
    assert result.headlines() == ["crime"]  # crime comes before health in the framework
    assert result.candidate()["eligible"] is False
    evidence = {e["rule_id"]: (e["person_id"], e["resident"], e["counted"]) for e in result.evidence_of()}
    assert evidence == {"2.2": (dad.person_id, False, True), "4.1": (dad.person_id, False, False)}


def test_a_non_resident_whose_first_headline_residents_meet_adds_another():
    county, mum, kid, dad = separated()
    dad.event("health", "mental_health", at(-1))
    dad.event("police", "asb_intervention", at(-2))
    kid.event("police", "asb_intervention", at(-3))  # residents already meet crime
    result = county.run()
    assert result.headlines() == ["crime", "health"]
    assert result.candidate()["eligible"] is True
    assert sorted((e["person_id"], e["counted"]) for e in result.evidence_of(rule_id="2.2")) == sorted([
        (dad.person_id, False), (kid.person_id, True)])
    assert [(e["person_id"], e["counted"]) for e in result.evidence_of(rule_id="4.1")] == [(dad.person_id, True)]


def test_a_non_resident_alone_cannot_make_a_family_eligible():
    county, _, _, dad = separated()
    dad.spell("dwp", "out_of_work_benefit", at(-6))
    dad.spell("probation", "licence", at(-6))
    dad.event("health", "substance_misuse", at(-1))
    result = county.run()
    assert result.headlines() == ["crime"]
    assert sum(e["counted"] for e in result.evidence_of()) == 1


def test_non_resident_headlines_is_a_framework_setting(tmp_path):
    rules = [{"id": f"r{n}", "headline": h, "kind": "event", "indicators": [code], "window": {"months": 12}}
             for n, (h, code) in enumerate([("a", "health.mental_health"), ("b", "police.asb_intervention"),
                                             ("c", "housing.eviction_notice")])]
    framework = write_framework(tmp_path, rules, non_resident_headlines=2, minimum_headlines=2)
    county, _, _, dad = separated()
    dad.event("police", "asb_intervention", at(-2))
    dad.event("housing", "eviction_notice", at(-2))
    dad.event("health", "mental_health", at(-2))
    result = county.run(framework)
    assert result.headlines() == ["a", "b"]
    assert result.candidate()["eligible"] is True
    assert [e["counted"] for e in result.evidence_of()] == [True, True, False]


def test_non_resident_headlines_zero_counts_no_non_resident_evidence(tmp_path):
    framework = write_framework(tmp_path, [
        {"id": "r1", "headline": "a", "kind": "event", "indicators": ["health.mental_health"], "window": {"months": 12}}],
        non_resident_headlines=0)
    county, _, _, dad = separated()
    dad.event("health", "mental_health", at(-2))
    result = county.run(framework)
    assert result.headlines() == [] and result.candidate()["headline_count"] == 0
    assert [(e["person_id"], e["counted"]) for e in result.evidence_of()] == [(dad.person_id, False)]


# --- review flags -----------------------------------------------------------------------------


@pytest.mark.parametrize(("confidence", "review"), [(1.0, False), (0.999, False), (0.9989, True), (0.5, True)])
def test_weakly_linked_member_marks_the_family_for_review(confidence, review):
    county = County(ref=REF)
    county.person(35, household="H1")
    kid = county.person(9, household="H1")
    kid.record("schools", link_confidence=confidence)
    result = county.run()
    candidate = result.candidate()
    assert candidate["min_link_confidence"] == pytest.approx(confidence)
    assert (candidate["review"], candidate["review_reasons"]) == (review, "weak link" if review else "")
    assert result.score_summary.for_review == int(review)


def test_review_threshold_is_a_setting():
    county = County(ref=REF)
    county.family("H1")
    county.people[0].record("police", link_confidence=0.95)
    custom = IdentificationSettings(review=Review(min_link_confidence=0.9))
    assert county.run(settings=custom).candidate()["review"] is False
    assert county.run().candidate()["review_reasons"] == "weak link"


def test_member_of_unknown_age_marks_the_family_for_review():
    county = County(ref=REF)
    county.family("H1")
    stranger = county.person(household="H1", link_confidence=0.9)
    result = county.run()
    assert result.member(stranger)["age"] is None and result.member(stranger)["role"] == "adult"
    candidate = result.candidate()
    assert (candidate["review"], candidate["review_reasons"]) == (True, "weak link;member of unknown age")
    no_flag = IdentificationSettings(review=Review(unknown_age=False, min_link_confidence=0.5))
    assert county.run(settings=no_flag).candidate()["review"] is False


def test_many_members_marks_the_family_for_review():
    county = County(ref=REF)
    county.family("H1")
    for _ in range(11):
        county.person(5, household="H1")
    assert county.run().candidate()["review_reasons"] == "many members"  # 13 > 12


# --- locality ---------------------------------------------------------------------------------


def test_family_is_placed_by_the_district_most_resident_records_give():
    county = County(ref=REF)
    mum = county.person(35, household="H1", district="LE13")
    kid = county.person(9, household="H1", district="LE11")
    mum.record("health")
    mum.household_ref("social_care", "case-1")  # two records in LE13
    kid.record("schools")  # one in LE11
    dad = county.person(40, household="H2", district="LE11")  # non-resident: his three records do not vote
    for source in ("social_care", "probation", "police"):
        dad.household_ref(source, "case-1")
    result = county.run()
    assert result.member(dad)["resident"] is False
    assert (result.candidate()["postcode_district"], result.candidate()["locality"]) == ("LE13", "Melton")


def test_district_tie_goes_to_the_most_recently_seen():
    county = County(ref=REF)
    mum = county.person(35, household="H1", district="LE11")
    kid = county.person(9, household="H1", district="LE13")
    mum.event("health", "mental_health", at(-8))
    kid.event("schools", "permanent_exclusion", at(-2))
    assert county.run().candidate()["locality"] == "Melton"


@pytest.mark.parametrize(("district", "locality"), [("LE12", "Charnwood"), ("le12", "Charnwood"),
                                                    ("ZZ9", "other")])
def test_locality_from_the_localities_file(district, locality):
    county = County(ref=REF)
    county.person(35, household="H1", district=district)
    county.person(9, household="H1", district=district)
    candidate = county.run().candidate()
    assert (candidate["postcode_district"], candidate["locality"]) == (district.upper(), locality)
