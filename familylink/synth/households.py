"""Household shapes and member ages, sampled vectorised (no loop over households).

A household has a *kind* (couple with children, lone parent, hostel resident...), a head,
maybe a partner, dependent children (youngest first, twins share a date of birth),
grandparents or adult children. Ages are whole days before the reference date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

YEAR = 365.25

KINDS = (
    "single",
    "couple",
    "couple_children",
    "lone_parent",
    "step_family",
    "multigenerational",
    "couple_adult_children",
    "communal_single",
    "temporary_accommodation_family",
)
#: Share of each kind among households (multigenerational is scaled by community customs).
KIND_WEIGHTS = np.array([0.27, 0.25, 0.185, 0.08, 0.03, 0.02, 0.075, 0.022, 0.006])
FAMILY_KINDS = (
    "couple_children",
    "lone_parent",
    "step_family",
    "multigenerational",
    "temporary_accommodation_family",
)
COMMUNAL_KINDS = ("communal_single", "temporary_accommodation_family")

ROLES = ("head", "partner", "grandparent", "adult_child", "child")
#: Share of children (after the first) who are the twin of the previous child.
TWIN_RATE = 0.03


@dataclass
class Shapes:
    """Per-household counts (arrays of length H)."""

    kind: np.ndarray  # index into KINDS
    partner: np.ndarray  # 0/1
    children: np.ndarray
    grandparents: np.ndarray
    adult_children: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return 1 + self.partner + self.children + self.grandparents + self.adult_children


def kind_index(name: str) -> int:
    return KINDS.index(name)


def sample_shapes(rng: np.random.Generator, kind: np.ndarray) -> Shapes:
    """Member counts for households of the given kinds."""
    n = kind.size
    k = {name: kind == kind_index(name) for name in KINDS}
    partner = (
        k["couple"]
        | k["couple_children"]
        | k["step_family"]
        | (k["multigenerational"] & (rng.random(n) < 0.85))
        | (k["couple_adult_children"] & (rng.random(n) < 0.8))
    ).astype(np.int64)
    children = rng.choice([1, 2, 3, 4, 5, 6], size=n, p=[0.41, 0.37, 0.14, 0.05, 0.02, 0.01])
    children = np.where(k["step_family"], np.maximum(children, 2), children)
    ta_children = rng.choice([1, 2, 3], size=n, p=[0.45, 0.35, 0.2])
    children = np.where(k["temporary_accommodation_family"], ta_children, children)
    family = np.isin(kind, [kind_index(x) for x in FAMILY_KINDS])
    children = np.where(family, children, 0)
    grandparents = np.where(k["multigenerational"], rng.choice([1, 2], size=n, p=[0.45, 0.55]), 0)
    adult_children = np.where(
        k["couple_adult_children"], rng.choice([1, 2, 3], size=n, p=[0.55, 0.35, 0.1]), 0
    )
    return Shapes(
        kind,
        partner,
        children.astype(np.int64),
        grandparents.astype(np.int64),
        adult_children.astype(np.int64),
    )


def trim_to(shapes: Shapes, people: int) -> Shapes:
    """Keep the first households whose members add up to exactly ``people``.

    The last household kept loses members (children, then adult children, grandparents,
    partner) to fit; a family household left without children becomes a couple or single.
    """
    total = np.cumsum(shapes.size)
    last = int(np.searchsorted(total, people))
    keep = slice(0, last + 1)
    out = Shapes(
        *(
            np.array(getattr(shapes, f)[keep])
            for f in ("kind", "partner", "children", "grandparents", "adult_children")
        )
    )
    over = int(total[last] - people)
    for field in ("children", "adult_children", "grandparents", "partner"):
        values = getattr(out, field)
        cut = min(over, int(values[-1]))
        values[-1] -= cut
        over -= cut
    if out.children[-1] == 0 and KINDS[out.kind[-1]] in FAMILY_KINDS:
        out.kind[-1] = kind_index("couple" if out.partner[-1] else "single")
        out.grandparents[-1] = 0 if out.partner[-1] else out.grandparents[-1]
    if KINDS[out.kind[-1]] == "couple" and out.partner[-1] == 0:
        out.kind[-1] = kind_index("single")
    return out


@dataclass
class Members:
    """One entry per person, ordered by household then role (head, partner, grandparents,
    adult children, children youngest first)."""

    household: np.ndarray
    role: np.ndarray  # index into ROLES
    rank: np.ndarray  # order within the role in the household (children: youngest first)
    age_days: np.ndarray
    sex: np.ndarray  # "M" / "F"
    twin_of_previous: np.ndarray  # child with the same birth date as the previous child


def _ranks(counts: np.ndarray) -> np.ndarray:
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    before = np.concatenate([[0.0], total])[starts]
    return total - np.repeat(before, counts)


def _years(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return rng.uniform(low * YEAR, high * YEAR, size=n)


def _adult_age(
    rng: np.random.Generator, n: int, bands: list[tuple[float, float, float]]
) -> np.ndarray:
    """Ages (days) from a mixture of uniform bands (low, high, weight)."""
    weights = np.array([b[2] for b in bands])
    band = rng.choice(len(bands), size=n, p=weights / weights.sum())
    low = np.array([b[0] for b in bands])[band]
    high = np.array([b[1] for b in bands])[band]
    return rng.uniform(low, high) * YEAR


def sample_members(rng: np.random.Generator, shapes: Shapes) -> Members:
    """Ages and sexes of every member, consistent within each household."""
    n = shapes.kind.size
    kind = shapes.kind
    is_kind = {name: kind == kind_index(name) for name in KINDS}

    # children: youngest first, each older one a gap of 10 months to 6 years (or a twin)
    kids = shapes.children
    child_hh = np.repeat(np.arange(n), kids)
    child_rank = _ranks(kids)
    youngest = np.where(
        is_kind["temporary_accommodation_family"], _years(rng, 0, 10, n), _years(rng, 0, 16.5, n)
    )
    twin = (child_rank > 0) & (rng.random(child_hh.size) < TWIN_RATE)
    gap = (
        rng.choice([1, 2, 3, 4, 5, 6], size=child_hh.size, p=[0.18, 0.32, 0.24, 0.13, 0.08, 0.05])
        * YEAR
    )
    gap = np.maximum(gap + rng.uniform(-150, 150, size=gap.size), 300)
    gap = np.where(twin | (child_rank == 0), 0.0, gap)
    child_age = np.minimum(youngest[child_hh] + _group_cumsum(gap, kids), 25.5 * YEAR)
    eldest = np.zeros(n)
    np.maximum.at(eldest, child_hh, child_age)

    # adult children of older couples: 18-32, youngest first
    adults = shapes.adult_children
    ac_hh = np.repeat(np.arange(n), adults)
    ac_rank = _ranks(adults)
    ac_gap = np.where(ac_rank == 0, 0.0, rng.uniform(1.0, 5.0, size=ac_hh.size) * YEAR)
    ac_age = np.minimum(_years(rng, 18, 30, n)[ac_hh] + _group_cumsum(ac_gap, adults), 40 * YEAR)
    np.maximum.at(eldest, ac_hh, ac_age)

    # head: parents are 17-48 years older than their eldest child
    has_kids = (kids + adults) > 0
    parent_gap = np.where(
        is_kind["lone_parent"] | is_kind["temporary_accommodation_family"],
        rng.normal(26, 6, size=n),
        rng.normal(29.5, 5.5, size=n),
    )
    parent_age = eldest + np.clip(parent_gap, 17.2, 48) * YEAR
    head_age = np.select(
        [has_kids, is_kind["single"], is_kind["couple"], is_kind["communal_single"]],
        [
            parent_age,
            _adult_age(rng, n, [(18, 30, 0.2), (30, 65, 0.45), (65, 95, 0.35)]),
            _adult_age(rng, n, [(20, 35, 0.25), (35, 65, 0.4), (65, 92, 0.35)]),
            _adult_age(rng, n, [(18, 35, 0.55), (35, 70, 0.45)]),
        ],
        default=parent_age,
    )
    partner_age = np.clip(head_age + rng.normal(-2, 3.5, size=n) * YEAR, 18 * YEAR, 99 * YEAR)
    partner_age = np.where(has_kids, np.maximum(partner_age, eldest + 16.5 * YEAR), partner_age)
    gp_count = shapes.grandparents
    gp_hh = np.repeat(np.arange(n), gp_count)
    gp_age = np.minimum(head_age[gp_hh] + rng.normal(27, 4, size=gp_hh.size) * YEAR, 99 * YEAR)
    gp_age = np.maximum(gp_age, head_age[gp_hh] + 16 * YEAR)

    # sexes
    same_sex = rng.random(n) < 0.03
    lone = is_kind["lone_parent"] | is_kind["temporary_accommodation_family"]
    head_sex = np.where(rng.random(n) < 0.5, "M", "F")
    head_sex = np.where(shapes.partner == 1, np.where(same_sex, head_sex, "M"), head_sex)
    head_sex = np.where(lone, np.where(rng.random(n) < 0.9, "F", "M"), head_sex)
    head_sex = np.where(
        is_kind["communal_single"], np.where(rng.random(n) < 0.72, "M", "F"), head_sex
    )
    partner_sex = np.where(same_sex, head_sex, "F")
    gp_rank = _ranks(gp_count)
    gp_sex = np.where(
        gp_count[gp_hh] == 2,
        np.where(gp_rank == 0, "M", "F"),
        np.where(rng.random(gp_hh.size) < 0.68, "F", "M"),
    )
    child_sex = np.where(rng.random(child_hh.size) < 0.512, "M", "F")
    ac_sex = np.where(rng.random(ac_hh.size) < 0.53, "M", "F")

    partner_hh = np.flatnonzero(shapes.partner == 1)
    blocks = [
        (np.arange(n), 0, np.zeros(n, dtype=np.int64), head_age, head_sex, np.zeros(n, dtype=bool)),
        (
            partner_hh,
            1,
            np.zeros(partner_hh.size, dtype=np.int64),
            partner_age[partner_hh],
            partner_sex[partner_hh],
            np.zeros(partner_hh.size, dtype=bool),
        ),
        (gp_hh, 2, gp_rank, gp_age, gp_sex, np.zeros(gp_hh.size, dtype=bool)),
        (ac_hh, 3, ac_rank, ac_age, ac_sex, np.zeros(ac_hh.size, dtype=bool)),
        (child_hh, 4, child_rank, child_age, child_sex, twin),
    ]
    household = np.concatenate([b[0] for b in blocks])
    role = np.concatenate([np.full(b[0].size, b[1]) for b in blocks])
    rank = np.concatenate([b[2] for b in blocks])
    order = np.lexsort((rank, role, household))
    age = np.rint(np.concatenate([b[3] for b in blocks])).astype(np.int64)
    return Members(
        household=household[order],
        role=role[order],
        rank=rank[order],
        age_days=age[order],
        sex=np.concatenate([b[4] for b in blocks]).astype(object)[order],
        twin_of_previous=np.concatenate([b[5] for b in blocks])[order],
    )
