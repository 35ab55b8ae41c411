"""The health and social care extracts: mental health, substance misuse, perinatal support,
speech delay, health concerns; early help, child in need, protection, care, exploitation and
early education take-up."""

from __future__ import annotations

import numpy as np

from familylink.synth.events import (
    EventTable,
    ProviderView,
    World,
    chance,
    dates_between,
    draw,
    reference_numbers,
    spell_ends,
)
from familylink.synth.text import joined


def _contacts(
    rng: np.random.Generator, world: World, people: np.ndarray, counts: np.ndarray, min_age: float
):
    who = np.repeat(people, counts)
    earliest = np.maximum(world.aged(min_age)[who] + 2, world.ref - 700)
    when, ok = dates_between(rng, earliest, np.full(who.size, world.ref))
    return who[ok], when[ok]


def health(rng: np.random.Generator, world: World) -> ProviderView:
    table = EventTable()
    ref = world.ref
    age, risk, sex = world.age, world.risk, world.sex

    older = np.flatnonzero(age >= 5)
    adult = age[older] >= 18
    p_mh = np.where(adult, chance(risk[older], 0.09, 0.016), chance(risk[older], 0.05, 0.008))
    mh = older[draw(rng, p_mh)]
    who, when = _contacts(
        rng, world, mh, rng.choice([1, 2, 3, 4], size=mh.size, p=[0.4, 0.3, 0.2, 0.1]), 5
    )
    table.add(who, "mental_health", when)

    grown = np.flatnonzero(age >= 16)
    p_sm = chance(risk[grown], 0.04, 0.005) * np.where(sex[grown] == "M", 1.5, 0.7)
    sm = grown[draw(rng, p_sm)]
    who, when = _contacts(
        rng, world, sm, rng.choice([1, 2, 3], size=sm.size, p=[0.5, 0.3, 0.2]), 16
    )
    table.add(who, "substance_misuse", when)

    # perinatal support: mothers of children born in the last two years
    babies = np.flatnonzero(world.dob > ref - 700)
    mothers = _mother_of(world, babies)
    ok = mothers >= 0
    babies, mothers = babies[ok], mothers[ok]
    supported = draw(rng, chance(risk[mothers], 0.2, 0.06))
    babies, mothers = babies[supported], mothers[supported]
    low = np.maximum(world.dob[babies] - 150, ref - 700)
    high = np.minimum(world.dob[babies] + 365, ref)
    when, ok = dates_between(rng, low, high)
    table.add(mothers[ok], "perinatal_mental_health", when[ok])

    # speech and language delay found at the 2-2.5 year review
    review = world.dob + rng.integers(731, 900, size=world.people)
    reviewed = np.flatnonzero((review <= ref) & (review > ref - 700))
    delayed = reviewed[draw(rng, chance(risk[reviewed], 0.15, 0.05))]
    table.add(delayed, "speech_language_delay", review[delayed])

    toddlers_up = np.flatnonzero(age >= 2)
    concern = toddlers_up[draw(rng, chance(risk[toddlers_up], 0.025, 0.004))]
    who, when = _contacts(rng, world, concern, np.ones(concern.size, dtype=np.int64), 2)
    table.add(who, "health_concern", when)

    known = np.flatnonzero(draw(rng, np.full(world.people, 0.005)))
    return ProviderView.build("health", table.frame(), known)


def _mother_of(world: World, children: np.ndarray) -> np.ndarray:
    """The woman who is head or partner of each child's household, or -1."""
    women = np.flatnonzero(np.isin(world.role, ("head", "partner")) & (world.sex == "F"))
    mother = np.full(world.population.households.shape[0], -1, dtype=np.int64)
    mother[world.household[women[::-1]]] = women[::-1]
    return mother[world.household[children]]


def social_care(rng: np.random.Generator, world: World) -> ProviderView:
    """Cases are families: the children carry the assessments and plans, parents are on the
    case with identity-only rows; everyone on a case shares its case reference."""
    table = EventTable()
    ref = world.ref
    households = world.population.households
    hh_risk = households["risk"].to_numpy()
    family = np.flatnonzero(households["family_id"].to_numpy(dtype=object) != "")
    cases = family[draw(rng, chance(hh_risk[family], 0.14, 0.01))]
    level = rng.choice(4, size=cases.size, p=[0.62, 0.24, 0.11, 0.03])
    start = ref - rng.integers(7, 700, size=cases.size)
    end = spell_ends(rng, start, 0.5, 60, 450, ref)
    child = world.age < 18
    kids = world.members(cases, child)
    case_of = np.full(households.shape[0], -1, dtype=np.int64)
    case_of[cases] = np.arange(cases.size)
    c = case_of[world.household[kids]]
    born = world.dob[kids] <= start[c]
    kids, c = kids[born], c[born]
    indicator = np.array(
        ["early_help_assessment", "child_in_need", "child_protection_plan", "looked_after"]
    )
    for code in range(3):
        chosen = level[c] == code
        table.add(kids[chosen], str(indicator[code]), start[c][chosen], end[c][chosen])
    enquiry = (level[c] == 2) | ((level[c] == 1) & draw(rng, np.full(c.size, 0.3)))
    s47_date = np.maximum(
        start[c][enquiry] - rng.integers(0, 30, size=int(enquiry.sum())),
        world.dob[kids[enquiry]] + 1,
    )
    table.add(kids[enquiry], "s47_enquiry", np.maximum(s47_date, ref - 730))
    looked_after = np.flatnonzero(level[c] == 3)
    first_child = looked_after[np.unique(c[looked_after], return_index=True)[1]]
    table.add(kids[first_child], "looked_after", start[c][first_child], end[c][first_child])

    teens = np.flatnonzero((world.age >= 11) & (world.age <= 17))
    exploited = teens[draw(rng, chance(world.risk[teens], 0.012, 0.001))]
    when, _ = dates_between(
        rng, np.maximum(world.aged(11)[exploited] + 2, ref - 700), np.full(exploited.size, ref)
    )
    table.add(exploited, "cse_concern", when)

    twos = world.dob + rng.integers(731, 1000, size=world.people)
    turned_two = np.flatnonzero((twos <= ref) & (twos > ref - 700))
    not_taken = turned_two[draw(rng, chance(world.risk[turned_two], 0.2, 0.03))]
    table.add(not_taken, "early_education_not_taken", twos[not_taken])

    extra = np.union1d(
        households["household"].to_numpy()[world.household[exploited]], world.household[not_taken]
    )
    all_cases = np.union1d(cases, extra)
    case_refs = np.full(households.shape[0], "", dtype=object)
    case_refs[all_cases] = joined("CASE", reference_numbers(rng, all_cases.size, 7))
    parents = world.members(cases, np.isin(world.role, ("head", "partner")))
    events = table.frame()
    known = np.union1d(parents, events["person"].to_numpy(dtype=np.int64))
    return ProviderView.build("social_care", events, known, case_refs[world.household[known]])
