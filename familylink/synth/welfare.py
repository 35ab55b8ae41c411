"""The DWP and housing extracts: benefit claims; social tenancies, arrears, evictions, ASB,
homelessness and temporary accommodation."""

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
from familylink.synth.text import formatted, joined

BENEFITS = np.array(["UC", "ESA", "IS", "JSA"], dtype=object)


def dwp(rng: np.random.Generator, world: World) -> ProviderView:
    """Claims by benefit unit: the head of a household and a partner; adult children and
    grandparents claim on their own. A joint Universal Credit claim gives both partners the
    spell; on a legacy benefit the partner is on the claim without a spell of their own."""
    table = EventTable()
    ref = world.ref
    working_age = (world.age >= 18) & (world.age <= 66)
    head = np.flatnonzero(working_age & (world.role == "head"))
    others = np.flatnonzero(working_age & np.isin(world.role, ("adult_child", "grandparent")))
    on_benefit_head = head[draw(rng, chance(world.risk[head], 0.3, 0.03))]
    on_benefit_other = others[draw(rng, chance(world.risk[others], 0.1, 0.02))]
    claimants = np.concatenate([on_benefit_head, on_benefit_other])
    lone = np.isin(world.kind[claimants], ("lone_parent", "temporary_accommodation_family"))
    benefit = np.where(
        lone & (rng.random(claimants.size) < 0.25),
        "IS",
        BENEFITS[rng.choice(4, size=claimants.size, p=[0.66, 0.2, 0.02, 0.12])],
    ).astype(object)
    start, _ = dates_between(
        rng, np.full(claimants.size, ref - 700), np.full(claimants.size, ref - 1)
    )
    end = spell_ends(rng, start, 0.3, 30, 500, ref)
    claim_ref = joined("CLM", reference_numbers(rng, claimants.size + head.size, 8))
    table.add(claimants, "out_of_work_benefit", start, end, detail=benefit)

    # partners of head claimants
    partner_of = _partner_index(world)
    partner = partner_of[world.household[on_benefit_head]]
    has_partner = partner >= 0
    joint_uc = has_partner & (benefit[: on_benefit_head.size] == "UC")
    heads = slice(0, on_benefit_head.size)
    table.add(
        partner[joint_uc],
        "out_of_work_benefit",
        start[heads][joint_uc],
        end[heads][joint_uc],
        detail="UC",
    )

    # in-work Universal Credit, pension-age and carers' claims: known, no out-of-work spell
    rest = np.setdiff1d(np.flatnonzero(world.role == "head"), on_benefit_head)
    in_work = rest[draw(rng, np.full(rest.size, 0.09))]
    in_work_partner = partner_of[world.household[in_work]]
    people = np.concatenate(
        [claimants, partner[has_partner], in_work, in_work_partner[in_work_partner >= 0]]
    )
    refs = np.concatenate(
        [
            claim_ref[: claimants.size],
            claim_ref[: on_benefit_head.size][has_partner],
            claim_ref[claimants.size : claimants.size + in_work.size],
            claim_ref[claimants.size : claimants.size + in_work.size][in_work_partner >= 0],
        ]
    )
    return ProviderView.build("dwp", table.frame(), people, refs)


def _partner_index(world: World) -> np.ndarray:
    """Per household: the partner's person number, or -1."""
    out = np.full(world.population.households.shape[0], -1, dtype=np.int64)
    partners = np.flatnonzero(world.role == "partner")
    out[world.household[partners]] = partners
    return out


def _head_index(world: World) -> np.ndarray:
    out = np.full(world.population.households.shape[0], -1, dtype=np.int64)
    heads = np.flatnonzero(world.role == "head")
    out[world.household[heads]] = heads
    return out


def housing(rng: np.random.Generator, world: World) -> ProviderView:
    """Social tenancies (everyone in the household is on the tenancy, the head is the lead
    tenant) and homelessness cases (families in temporary accommodation, hostel residents)."""
    table = EventTable()
    ref = world.ref
    households = world.population.households
    hh_risk = households["risk"].to_numpy()
    kind = households["kind"].to_numpy(dtype=object)
    communal = households["communal"].to_numpy()
    city = households["locality"].to_numpy(dtype=object) == "Leicester City"
    head_of = _head_index(world)

    candidates = np.flatnonzero(~communal)
    p_tenant = (0.1 + 0.55 * (1 - np.exp(-0.8 * hh_risk[candidates]))) * np.where(
        city[candidates], 1.2, 0.9
    )
    tenancies = candidates[draw(rng, p_tenant)]
    lead = head_of[tenancies]

    in_arrears = draw(rng, chance(hh_risk[tenancies], 0.5, 0.12))
    debtors = lead[in_arrears]
    snapshots = rng.choice([1, 2, 3], size=debtors.size, p=[0.5, 0.3, 0.2])
    level = rng.lognormal(np.log(260) + 0.5 * world.risk[debtors], 0.9)
    who = np.repeat(np.arange(debtors.size), snapshots)
    when, _ = dates_between(rng, np.full(who.size, ref - 700), np.full(who.size, ref))
    amount = np.maximum(5.0, level[who] * rng.uniform(0.6, 1.4, size=who.size))
    table.add(debtors[who], "rent_arrears", when, value=formatted("%.2f", np.round(amount, 2)))
    notice = debtors[draw(rng, chance(world.risk[debtors], 0.2, 0.03))]
    when, _ = dates_between(rng, np.full(notice.size, ref - 700), np.full(notice.size, ref))
    table.add(notice, "eviction_notice", when)

    asb_hh = tenancies[draw(rng, chance(hh_risk[tenancies], 0.06, 0.004))]
    asb_person = head_of[asb_hh]
    when, _ = dates_between(rng, np.full(asb_hh.size, ref - 700), np.full(asb_hh.size, ref))
    table.add(asb_person, "asb_housing_intervention", when)

    # homelessness: families in temporary accommodation, some hostel residents, prevention
    ta_family = np.flatnonzero(kind == "temporary_accommodation_family")
    hostel = np.flatnonzero(kind == "communal_single")
    hostel_ta = hostel[draw(rng, np.full(hostel.size, 0.3))]
    placed = np.concatenate([ta_family, hostel_ta])
    moved_in = households["move_date"].to_numpy().astype("datetime64[D]")[placed]
    fallback = ref - rng.integers(20, 600, size=placed.size)
    ta_start = np.where(np.isnat(moved_in), fallback, moved_in)
    applicant = head_of[placed]
    table.add(
        applicant,
        "homelessness_application",
        np.maximum(ta_start - rng.integers(0, 60, size=placed.size), ref - 730),
    )
    table.add(
        applicant, "temporary_accommodation", ta_start, spell_ends(rng, ta_start, 0.1, 30, 400, ref)
    )
    others = np.setdiff1d(candidates, tenancies)
    prevented = others[draw(rng, chance(hh_risk[others], 0.012, 0.001))]
    when, _ = dates_between(rng, np.full(prevented.size, ref - 700), np.full(prevented.size, ref))
    table.add(head_of[prevented], "homelessness_application", when)

    cases = np.concatenate([tenancies, placed, prevented])
    prefixes = np.concatenate(
        [
            np.full(tenancies.size, "TEN/"),
            np.full(placed.size, "HOM/"),
            np.full(prevented.size, "HOM/"),
        ]
    )
    refs = joined(prefixes, reference_numbers(rng, cases.size, 6))
    hh_ref = np.full(households.shape[0], "", dtype=object)
    hh_ref[cases[::-1]] = refs[::-1]
    everyone = world.members(cases)
    return ProviderView.build("housing", table.frame(), everyone, hh_ref[world.household[everyone]])
