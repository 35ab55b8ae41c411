"""The schools extract: pupils' termly attendance and absence, exclusions, alternative
provision, children missing education, and young people not in education, employment or
training (from the careers service)."""

from __future__ import annotations

import numpy as np

from familylink.synth.dates import from_ymd, ymd
from familylink.synth.events import (
    EventTable,
    ProviderView,
    World,
    chance,
    dates_between,
    draw,
    spell_ends,
)
from familylink.synth.text import formatted

#: (month, day) of the last day of the autumn, spring and summer terms.
TERM_ENDS = ((12, 20), (3, 29), (7, 21))
#: Attendance rows are written for the most recent terms (the rules read the latest three).
TERMS_RECORDED = 4


def term_ends(ref: np.datetime64, count: int) -> np.ndarray:
    """The ``count`` most recent last-days-of-term on or before ``ref``, oldest first."""
    year = int(ymd(np.array([ref]))[0][0])
    candidates = [
        from_ymd(np.array([y]), np.array([m]), np.array([d]))[0]
        for y in range(year - 3, year + 1)
        for m, d in TERM_ENDS
    ]
    past = sorted(c for c in candidates if c <= ref)
    return np.array(past[-count:], dtype="datetime64[D]")


def school_day(dates: np.ndarray) -> np.ndarray:
    """Move dates off weekends (to the Friday before) and out of August (back to July)."""
    _, month, _ = ymd(dates)
    dates = np.where(month == 8, dates - 31, dates).astype("datetime64[D]")
    weekday = (dates.astype(np.int64) + 3) % 7  # Monday = 0
    return (dates - np.where(weekday >= 5, weekday - 4, 0)).astype("datetime64[D]")


def _academic_year(dates: np.ndarray) -> np.ndarray:
    """The calendar year in which the academic year containing each date began."""
    year, month, _ = ymd(dates)
    return year - (month < 9)


def schools(rng: np.random.Generator, world: World) -> ProviderView:
    table = EventTable()
    ref = world.ref
    terms = term_ends(ref, TERMS_RECORDED)
    reception = _academic_year(world.dob) + 4  # Reception starts the September after turning 4
    term_year = _academic_year(terms)
    on_roll = (reception[:, None] <= term_year[None, :]) & (
        term_year[None, :] <= reception[:, None] + 11
    )
    on_roll &= world.dob[:, None] < terms[None, :]
    pupils = np.flatnonzero(on_roll.any(axis=1))
    roll = on_roll[pupils]
    risk = world.risk[pupils]
    age = world.age[pupils]
    secondary = age >= 11

    # children missing education: no attendance for terms that end inside the spell
    missing = pupils[draw(rng, chance(risk, 0.008, 0.0008))]
    nor_start, _ = dates_between(
        rng, np.full(missing.size, ref - 600), np.full(missing.size, ref - 10)
    )
    nor_end = spell_ends(rng, nor_start, 0.45, 20, 200, ref)
    table.add(missing, "not_on_roll", nor_start, nor_end)
    position = np.searchsorted(pupils, missing)
    end_or_ref = np.where(np.isnat(nor_end), ref, nor_end)
    inside = (terms[None, :] >= nor_start[:, None]) & (terms[None, :] <= end_or_ref[:, None])
    roll[position] &= ~inside

    # attendance: a personal level, worse with latent need and in secondary school
    level = 1.0 + rng.gamma(1.3, 1.5, size=pupils.size) * np.where(secondary, 1.3, 1.0)
    level += risk * rng.gamma(2.0, 2.2, size=pupils.size)
    share = np.clip(rng.beta(1.2, 4.0, size=pupils.size) + 0.35 * (1 - np.exp(-risk)), 0, 0.95)
    noise = rng.lognormal(0.0, 0.35, size=roll.shape)
    attendance = np.clip(100 - level[:, None] * noise, 15, 100)
    unauthorised = (100 - attendance) * share[:, None]
    rows, cols = np.nonzero(roll)
    table.add(
        pupils[rows],
        "attendance_term",
        terms[cols],
        value=formatted("%.1f", np.round(attendance[rows, cols], 1)),
    )
    table.add(
        pupils[rows],
        "unauthorised_absence_term",
        terms[cols],
        value=formatted("%.1f", np.round(unauthorised[rows, cols], 1)),
    )

    # exclusions, dated on or after the first day in Reception
    school_start = from_ymd(reception[pupils], np.full(pupils.size, 9), np.full(pupils.size, 3))
    earliest = np.maximum(school_start, ref - 700)
    rate = (0.01 + 0.45 * risk**1.3) * np.where(secondary, 1.0, 0.3)
    count = np.minimum(rng.poisson(rate), 8)
    who = np.repeat(np.arange(pupils.size), count)
    first_day, ok = dates_between(rng, earliest[who], np.full(who.size, ref))
    first_day = school_day(first_day)
    ok &= (first_day >= earliest[who]) & (first_day <= ref)
    days = rng.choice([1, 2, 3, 4, 5, 10], size=who.size, p=[0.42, 0.25, 0.13, 0.09, 0.08, 0.03])
    table.add(pupils[who[ok]], "fixed_term_exclusion", first_day[ok], value=days[ok].astype(str))
    permanent = draw(rng, chance(risk, 0.006) * np.where(secondary, 1.0, 0.15))
    excluded = np.flatnonzero(permanent)
    perm_date, ok = dates_between(rng, earliest[excluded], np.full(excluded.size, ref - 20))
    perm_date = school_day(perm_date)
    ok &= perm_date >= earliest[excluded]
    excluded, perm_date = excluded[ok], perm_date[ok]
    table.add(pupils[excluded], "permanent_exclusion", perm_date)

    # alternative provision: most permanently excluded pupils, and a few others
    after = draw(rng, np.full(excluded.size, 0.75))
    ap_start = perm_date[after] + rng.integers(5, 45, size=int(after.sum()))
    others = np.flatnonzero(draw(rng, chance(risk, 0.006) * secondary) & ~permanent)
    other_start, ok = dates_between(rng, earliest[others], np.full(others.size, ref - 5))
    ap_people = np.concatenate([excluded[after], others[ok]])
    ap_start = np.concatenate([ap_start, other_start[ok]])
    keep = ap_start <= ref
    ap_people, ap_start = ap_people[keep], ap_start[keep]
    table.add(
        pupils[ap_people],
        "alternative_provision",
        ap_start,
        spell_ends(rng, ap_start, 0.4, 40, 300, ref),
    )

    # NEET young people (16-24 at the event and at the reference date)
    young = np.flatnonzero((world.age >= 16) & (world.age <= 24))
    p_neet = chance(world.risk[young], 0.25, 0.035) * np.where(world.age[young] >= 18, 1.4, 0.6)
    neet = young[draw(rng, p_neet)]
    snapshots = rng.choice([1, 2, 3], size=neet.size, p=[0.55, 0.3, 0.15])
    who = np.repeat(neet, snapshots)
    when, ok = dates_between(
        rng, np.maximum(world.aged(16)[who] + 2, ref - 700), np.full(who.size, ref)
    )
    table.add(who[ok], "neet", when[ok])

    events = table.frame()
    known = np.union1d(pupils, neet)
    return ProviderView.build("schools", events, known)
