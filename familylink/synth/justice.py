"""The police and probation extracts: offences, arrests, ASB, domestic abuse, missing
children; custody releases, licences and community orders."""

from __future__ import annotations

import numpy as np

from familylink.synth.events import (
    EventTable,
    ProviderView,
    World,
    chance,
    dates_between,
    draw,
    spell_ends,
)


def _male_factor(world: World, people: np.ndarray, male: float, female: float) -> np.ndarray:
    return np.where(world.sex[people] == "M", male, female)


def _dated(
    rng: np.random.Generator,
    world: World,
    people: np.ndarray,
    min_age: float,
    latest_offset: int = 0,
):
    """One date per entry in the last two years, at or after ``min_age`` (entries that cannot
    be placed are dropped): returns (people, dates)."""
    earliest = np.maximum(world.aged(min_age)[people] + 2, world.ref - 700)
    when, ok = dates_between(rng, earliest, np.full(people.size, world.ref - latest_offset))
    return people[ok], when[ok]


def police_and_probation(
    rng: np.random.Generator, world: World
) -> tuple[ProviderView, ProviderView]:
    police = EventTable()
    ref = world.ref
    age, risk = world.age, world.risk

    # offenders: young people 10-17 and adults; offences, most with an arrest shortly before
    youth = np.flatnonzero((age >= 10) & (age <= 17))
    adults = np.flatnonzero((age >= 18) & (age <= 70))
    young_offender = youth[
        draw(rng, chance(risk[youth], 0.05, 0.003) * _male_factor(world, youth, 1.6, 0.5))
    ]
    adult_offender = adults[
        draw(
            rng,
            chance(risk[adults], 0.035, 0.003)
            * _male_factor(world, adults, 1.6, 0.35)
            * np.where(age[adults] < 50, 1.0, 0.3),
        )
    ]
    offenders = np.concatenate([young_offender, adult_offender])
    count = 1 + np.minimum(rng.poisson(0.5 + 0.4 * risk[offenders]), 5)
    who, when = _dated(rng, world, np.repeat(offenders, count), 10)
    police.add(who, "proven_offence", when)
    arrested = draw(rng, np.full(who.size, 0.7))
    arrest_date = when[arrested] - rng.integers(0, 60, size=int(arrested.sum()))
    ok = arrest_date >= np.maximum(world.aged(10)[who[arrested]] + 2, ref - 730)
    police.add(who[arrested][ok], "arrest", arrest_date[ok])
    others = np.concatenate([youth, adults])
    suspects = others[
        draw(rng, chance(risk[others], 0.01, 0.004) * _male_factor(world, others, 1.5, 0.6))
    ]
    who, when = _dated(rng, world, suspects, 10)
    police.add(who, "arrest", when)

    # anti-social behaviour interventions
    asb = others[
        draw(rng, chance(risk[others], 0.03, 0.002) * np.where(age[others] < 18, 1.3, 0.8))
    ]
    who, when = _dated(
        rng, world, np.repeat(asb, rng.choice([1, 2], size=asb.size, p=[0.7, 0.3])), 10
    )
    police.add(who, "asb_intervention", when)

    _domestic_abuse(rng, world, police)

    # children reported missing
    teens = np.flatnonzero((age >= 10) & (age <= 17))
    runaways = teens[draw(rng, chance(risk[teens], 0.02, 0.002))]
    episodes = rng.choice([1, 2, 3, 5], size=runaways.size, p=[0.5, 0.25, 0.15, 0.1])
    who, when = _dated(rng, world, np.repeat(runaways, episodes), 10)
    police.add(who, "missing_episode", when)

    # old nominals, victims and witnesses with nothing recent: identity-only rows
    everyone = np.flatnonzero(age >= 12)
    known = np.union1d(everyone[draw(rng, np.full(everyone.size, 0.012))], offenders)
    police_view = ProviderView.build("police", police.frame(), known)
    return police_view, _probation(rng, world, adult_offender)


def _domestic_abuse(rng: np.random.Generator, world: World, police: EventTable) -> None:
    """Incidents at households with adults: a call-out row for every adult living there, and
    for most incidents a victim (a woman) and, when he lives there, a perpetrator."""
    households = world.population.households
    ref = world.ref
    adult = world.age >= 18
    adults_per_hh = np.bincount(world.household[adult], minlength=households.shape[0])
    hh_risk = households["risk"].to_numpy()
    eligible = np.flatnonzero((adults_per_hh >= 1) & ~households["communal"].to_numpy())
    with_kids = households["family_id"].to_numpy(dtype=object)[eligible] != ""
    p = chance(hh_risk[eligible], 0.1, 0.006) * np.where(with_kids, 1.3, 0.7)
    abused = eligible[draw(rng, p)]
    incidents = np.repeat(abused, 1 + np.minimum(rng.poisson(0.5 + 0.5 * hh_risk[abused]), 6))
    when = ref - rng.integers(0, 700, size=incidents.size)
    # one row per adult present, as a call-out
    order = np.argsort(world.household, kind="stable")
    adult_sorted = order[adult[order]]
    starts = np.searchsorted(world.household[adult_sorted], incidents, side="left")
    counts = adults_per_hh[incidents]
    incident_of_row = np.repeat(np.arange(incidents.size), counts)
    person = adult_sorted[np.repeat(starts, counts) + _ranks(counts)]
    police.add(person, "domestic_callout", when[incident_of_row])
    # victim and perpetrator: head or partner by sex
    recorded = draw(rng, np.full(incidents.size, 0.8))
    head_or_partner = adult_sorted[np.isin(world.role[adult_sorted], ("head", "partner"))]
    women = head_or_partner[world.sex[head_or_partner] == "F"]
    men = head_or_partner[world.sex[head_or_partner] == "M"]
    victim = _one_per_household(world, women, incidents[recorded])
    perpetrator = _one_per_household(world, men, incidents[recorded])
    days = when[recorded]
    police.add(victim[victim >= 0], "domestic_abuse_victim", days[victim >= 0])
    named = (perpetrator >= 0) & draw(rng, np.full(perpetrator.size, 0.85))
    police.add(perpetrator[named], "domestic_abuse_perpetrator", days[named])


def _ranks(counts: np.ndarray) -> np.ndarray:
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def _one_per_household(world: World, people: np.ndarray, households: np.ndarray) -> np.ndarray:
    """For each household in ``households``, the first of ``people`` living there, or -1."""
    first = np.full(world.population.households.shape[0], -1, dtype=np.int64)
    chosen = people[::-1]
    first[world.household[chosen]] = chosen
    return first[households]


def _probation(rng: np.random.Generator, world: World, adult_offenders: np.ndarray) -> ProviderView:
    table = EventTable()
    ref = world.ref
    age, risk = world.age, world.risk
    adults = np.flatnonzero((age >= 18) & (age <= 65))
    fresh = adults[
        draw(rng, chance(risk[adults], 0.004, 0.0005) * _male_factor(world, adults, 1.5, 0.3))
    ]
    supervised = np.union1d(adult_offenders[draw(rng, np.full(adult_offenders.size, 0.45))], fresh)
    kind = rng.choice(3, size=supervised.size, p=[0.25, 0.35, 0.4])
    custody = supervised[kind == 0]
    table.add(custody, "custody_release_due", ref + rng.integers(1, 540, size=custody.size))
    licence = supervised[kind == 1]
    start, ok = dates_between(
        rng, np.maximum(world.aged(18)[licence] + 2, ref - 700), np.full(licence.size, ref)
    )
    table.add(
        licence[ok],
        "licence",
        start[ok],
        spell_ends(rng, start[ok], 1.0, 120, 730, ref, future_ok=True),
    )
    community = supervised[kind == 2]
    start, ok = dates_between(
        rng, np.maximum(world.aged(18)[community] + 2, ref - 700), np.full(community.size, ref)
    )
    length = rng.choice([182, 365, 730], size=int(ok.sum()), p=[0.3, 0.5, 0.2])
    table.add(community[ok], "community_order", start[ok], start[ok] + length)
    past = adults[
        draw(rng, chance(risk[adults], 0.004, 0.002) * _male_factor(world, adults, 1.5, 0.3))
    ]
    return ProviderView.build("probation", table.frame(), np.union1d(supervised, past))
