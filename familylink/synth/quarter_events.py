"""A provider's view one quarter on: the previous quarter's events, with some open spells
closed inside the new quarter, custody releases turned into licences and events older than
the look-back dropped; plus new events dated inside the new quarter.

New events come from running the providers' generators afresh at the new reference date (an
independent random stream) and keeping what falls inside the new quarter: the generators
spread events over two years, so the quarter gets the same density of events as any other
stretch of the previous extract, driven by the same latent need. Spells only start for people
(social care: households) without one open; one-off events (a permanent exclusion, the
two-year review) happen once. Termly attendance continues each pupil's own level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from familylink.core.contract import DEFAULT_VOCABULARY
from familylink.synth.dates import NAT
from familylink.synth.education import TERMS_RECORDED, term_ends
from familylink.synth.events import ProviderView, reference_numbers
from familylink.synth.population import Population
from familylink.synth.text import formatted

#: Indicators recorded as spells (event_date = start, end_date blank while open).
SPELLS = (
    "out_of_work_benefit",
    "licence",
    "community_order",
    "alternative_provision",
    "not_on_roll",
    "temporary_accommodation",
    "early_help_assessment",
    "child_in_need",
    "child_protection_plan",
    "looked_after",
)
SOCIAL_CARE_SPELLS = SPELLS[6:]
#: Share of open spells (grouped by household and start: a joint claim, a family's case)
#: that end inside a quarter. Licences and community orders carry their end dates already.
CLOSE_RATE = {
    "out_of_work_benefit": 0.17,
    "alternative_provision": 0.15,
    "not_on_roll": 0.3,
    "temporary_accommodation": 0.1,
    "early_help_assessment": 0.2,
    "child_in_need": 0.18,
    "child_protection_plan": 0.15,
    "looked_after": 0.06,
}
#: Events a person has at most once here; the review ones are new only for children not yet
#: past the middle of the review age range (days of age) at the previous reference date.
ONCE = ("permanent_exclusion", "speech_language_delay", "early_education_not_taken")
REVIEW_MIDPOINT_DAYS = {"speech_language_delay": 815, "early_education_not_taken": 865}
#: Extracts hold events of the last two years (spells while open or ended within them).
LOOKBACK_DAYS = 730
#: Custody release dates are drawn up to this many days ahead; new sentences per quarter
#: replace the releases of a quarter.
CUSTODY_HORIZON_DAYS = 540
#: Licence length after a release inside the quarter (days).
LICENCE_DAYS = (120, 730)
TERM_INDICATORS = ("attendance_term", "unauthorised_absence_term")
#: Per-person events that recur: this share of a quarter's new ones goes to people who had
#: the same kind of event in the previous 12 months (in proportion to how many), so the
#: number of people and families with such events stays near the first quarter's.
RECURRING = (
    "mental_health",
    "substance_misuse",
    "health_concern",
    "proven_offence",
    "arrest",
    "asb_intervention",
    "missing_episode",
    "neet",
    "fixed_term_exclusion",
    "cse_concern",
    "rent_arrears",
    "eviction_notice",
    "asb_housing_intervention",
)
RECURRENCE_SHARE = 0.5
#: Household incidents (police call-outs with victim and perpetrator rows): a share of a
#: quarter's new incidents repeats, on its new date, the latest incident at a household
#: with incidents in the previous 12 months (same people, same roles).
INCIDENT_CODES = ("domestic_callout", "domestic_abuse_victim", "domestic_abuse_perpetrator")
ATTENDANCE_NOISE = 0.35  # as in education.schools
#: Sources whose household_ref is a household's (tenancy, case): newcomers join it.
HOUSEHOLD_REF_SOURCES = ("housing", "social_care")


@dataclass
class ViewChanges:
    closed: int = 0
    dropped: int = 0
    new_events: int = 0
    new_people: int = 0
    by_indicator: dict[str, int] = field(default_factory=dict)


def _columns(events: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return (
        events["person"].to_numpy(dtype=np.int64),
        events["indicator"].to_numpy(dtype=object),
        events["event_date"].to_numpy().astype("datetime64[D]"),
        events["end_date"].to_numpy().astype("datetime64[D]"),
    )


def _keys(person: np.ndarray, indicator: np.ndarray) -> np.ndarray:
    """An integer per (person, indicator) pair (indicator codes are at most 4,096)."""
    codes = pd.Series(indicator, dtype=object).map(_CODES).fillna(_CODES_FULL).to_numpy()
    return person.astype(np.int64) * 4096 + codes.astype(np.int64)


_CODES = {code: i for i, code in enumerate(sorted(
    spec.code for specs in DEFAULT_VOCABULARY.values() for spec in specs
))}  # fmt: skip
_CODES_FULL = len(_CODES)


def _close_spells(
    rng: np.random.Generator,
    events: pd.DataFrame,
    household: np.ndarray,
    ref1: np.datetime64,
    ref2: np.datetime64,
) -> int:
    """End a share of the open spells (in place) on a date inside (ref1, ref2]."""
    person, indicator, start, end = _columns(events)
    rate = pd.Series(indicator).map(CLOSE_RATE).fillna(0.0).to_numpy()
    index = np.flatnonzero(np.isnat(end) & (rate > 0) & (start <= ref1))
    if index.size == 0:
        return 0
    keys = pd.DataFrame({"h": household[person[index]], "i": indicator[index], "d": start[index]})
    group = keys.groupby(["h", "i", "d"], sort=True).ngroup().to_numpy()
    groups = int(group.max()) + 1
    draw = rng.random(groups)
    days = int((ref2 - ref1).astype(np.int64))
    when = ref1 + rng.integers(1, days + 1, size=groups)
    close = draw[group] < rate[index]
    end[index[close]] = when[group[close]]
    events["end_date"] = end
    return int(close.sum())


def _releases(
    rng: np.random.Generator, events: pd.DataFrame, ref1: np.datetime64, ref2: np.datetime64
) -> pd.DataFrame:
    """A licence from each custody release due inside (ref1, ref2]."""
    person, indicator, start, _ = _columns(events)
    out = (indicator == "custody_release_due") & (start > ref1) & (start <= ref2)
    who, when = person[out], start[out]
    length = rng.integers(LICENCE_DAYS[0], LICENCE_DAYS[1] + 1, size=who.size)
    return _frame(who, "licence", when, when + length)


def _frame(person, indicator, start, end=None, value=None, detail=None) -> pd.DataFrame:
    n = np.asarray(person).size
    return pd.DataFrame(
        {
            "person": np.asarray(person, dtype=np.int64),
            "indicator": np.asarray(np.broadcast_to(indicator, (n,)), dtype=object),
            "event_date": np.asarray(start, dtype="datetime64[D]"),
            "end_date": np.full(n, NAT) if end is None else np.asarray(end, "datetime64[D]"),
            "value": np.full(n, "", dtype=object) if value is None else value,
            "detail": np.full(n, "", dtype=object) if detail is None else detail,
        }
    )


def _in_lookback(events: pd.DataFrame, ref2: np.datetime64) -> np.ndarray:
    _, indicator, start, end = _columns(events)
    cutoff = ref2 - LOOKBACK_DAYS
    spell = np.isin(indicator, SPELLS)
    keep = np.where(spell, np.isnat(end) | (end >= cutoff), start >= cutoff)
    terms = np.isin(indicator, TERM_INDICATORS)
    oldest_term = term_ends(ref2, TERMS_RECORDED)[0]
    return keep & ~(terms & (start < oldest_term))


def _accepted(
    rng: np.random.Generator,
    fresh: pd.DataFrame,
    previous: pd.DataFrame,
    population: Population,
    ref1: np.datetime64,
    ref2: np.datetime64,
) -> np.ndarray:
    """Which fresh events join the new quarter."""
    person, indicator, start, _ = _columns(fresh)
    p_person, p_indicator, p_start, p_end = _columns(previous)
    household = population.persons["household"].to_numpy()
    dob = population.persons["dob"].to_numpy().astype("datetime64[D]")
    keep = (start > ref1) & (start <= ref2) & ~np.isin(indicator, TERM_INDICATORS)

    active = (p_start <= ref1) & (np.isnat(p_end) | (p_end > ref1)) & np.isin(p_indicator, SPELLS)
    busy = np.isin(_keys(person, indicator), _keys(p_person[active], p_indicator[active]))
    spell = np.isin(indicator, SPELLS)
    keep &= ~(spell & busy)
    in_case = np.isin(p_indicator, SOCIAL_CARE_SPELLS) & active
    case_households = np.unique(household[p_person[in_case]])
    keep &= ~(np.isin(indicator, SOCIAL_CARE_SPELLS) & np.isin(household[person], case_households))
    pending = p_person[(p_indicator == "custody_release_due") & (p_start > ref2)]
    keep &= ~(np.isin(indicator, ("licence", "community_order")) & np.isin(person, pending))

    had = np.isin(_keys(person, indicator), _keys(p_person, p_indicator))
    for code in ONCE:
        keep &= ~((indicator == code) & had)
        if code in REVIEW_MIDPOINT_DAYS:
            late = dob[person] + REVIEW_MIDPOINT_DAYS[code] <= ref1
            keep &= ~((indicator == code) & late)

    days = int((ref2 - ref1).astype(np.int64))
    custody = indicator == "custody_release_due"
    known_to_probation = np.isin(person, p_person)
    sentenced = rng.random(person.size) < days / CUSTODY_HORIZON_DAYS
    keep |= custody & (start > ref2) & ~known_to_probation & sentenced
    return keep


def _recur(
    rng: np.random.Generator, added: pd.DataFrame, previous: pd.DataFrame, ref1: np.datetime64
) -> pd.DataFrame:
    """Give a share of the new recurring events to people who had such events lately."""
    person = added["person"].to_numpy(dtype=np.int64).copy()
    indicator = added["indicator"].to_numpy(dtype=object)
    p_person, p_indicator, p_start, _ = _columns(previous)
    recent = (p_start > ref1 - 365) & (p_start <= ref1)
    for code in RECURRING:
        rows = np.flatnonzero(indicator == code)
        moved = rows[rng.random(rows.size) < RECURRENCE_SHARE]
        carriers, counts = np.unique(p_person[recent & (p_indicator == code)], return_counts=True)
        if moved.size == 0 or carriers.size == 0:
            continue
        person[moved] = carriers[
            rng.choice(carriers.size, size=moved.size, p=counts / counts.sum())
        ]
    return added.assign(person=person)


def _repeat_incidents(
    rng: np.random.Generator,
    added: pd.DataFrame,
    previous: pd.DataFrame,
    household: np.ndarray,
    ref1: np.datetime64,
) -> pd.DataFrame:
    person, indicator, start, _ = _columns(added)
    incident = np.isin(indicator, INCIDENT_CODES)
    if not incident.any():
        return added
    p_person, p_indicator, p_start, _ = _columns(previous)
    recent = np.isin(p_indicator, INCIDENT_CODES) & (p_start > ref1 - 365) & (p_start <= ref1)
    old = pd.DataFrame(
        {"h": household[p_person[recent]], "d": p_start[recent], "row": np.flatnonzero(recent)}
    )
    if old.empty:
        return added
    per_household = old.drop_duplicates(["h", "d"]).groupby("h").size()
    latest = old[old["d"] == old.groupby("h")["d"].transform("max")]
    new = pd.DataFrame({"h": household[person[incident]], "d": start[incident]})
    keys = new.drop_duplicates().sort_values(["h", "d"], ignore_index=True)
    repeat = rng.random(keys.shape[0]) < RECURRENCE_SHARE
    weights = per_household.to_numpy() / per_household.sum()
    target = per_household.index.to_numpy()[
        rng.choice(per_household.size, size=int(repeat.sum()), p=weights)
    ]
    dropped = keys[repeat].assign(drop=1.0)
    flag = new.merge(dropped, on=["h", "d"], how="left")["drop"].fillna(0.0).to_numpy() > 0
    keep = np.ones(person.size, dtype=bool)
    keep[np.flatnonzero(incident)[flag]] = False
    copies = pd.DataFrame({"h": target, "when": keys["d"].to_numpy()[repeat]}).merge(
        latest, on="h", how="inner"
    )
    rows = previous.iloc[copies["row"].to_numpy()]
    repeated = _frame(
        rows["person"].to_numpy(), rows["indicator"].to_numpy(dtype=object), copies["when"]
    )
    return pd.concat([added[keep], repeated], ignore_index=True)


def _new_terms(
    rng: np.random.Generator,
    fresh: pd.DataFrame,
    previous: pd.DataFrame,
    events: pd.DataFrame,
    ref1: np.datetime64,
    ref2: np.datetime64,
) -> pd.DataFrame:
    """Attendance and unauthorised absence for terms ending inside (ref1, ref2]: pupils on roll
    (as the fresh run has them, less those missing education then) at their own level."""
    person, indicator, start, _ = _columns(fresh)
    value = pd.to_numeric(fresh["value"], errors="coerce").to_numpy()
    p_person, p_indicator, _, _ = _columns(previous)
    p_value = pd.to_numeric(previous["value"], errors="coerce").to_numpy()
    att = p_indicator == "attendance_term"
    absent = pd.Series(100 - p_value[att]).groupby(p_person[att]).agg(["mean", "sum"])
    unauth = pd.Series(p_value[p_indicator == "unauthorised_absence_term"])
    unauth = unauth.groupby(p_person[p_indicator == "unauthorised_absence_term"]).sum()
    share = (unauth.reindex(absent.index).fillna(0) / absent["sum"].clip(lower=0.1)).clip(0, 0.95)
    level = absent["mean"] / np.exp(ATTENDANCE_NOISE**2 / 2)
    e_person, e_indicator, e_start, e_end = _columns(events)
    nor = e_indicator == "not_on_roll"
    parts = []
    for term in term_ends(ref2, TERMS_RECORDED):
        if term <= ref1:
            continue
        rows = np.flatnonzero((indicator == "attendance_term") & (start == term))
        pupils = person[rows]
        missing = nor & (e_start <= term) & (np.isnat(e_end) | (e_end >= term))
        on_roll = ~np.isin(pupils, e_person[missing])
        rows, pupils = rows[on_roll], pupils[on_roll]
        fresh_att = value[rows]
        un_rows = (indicator == "unauthorised_absence_term") & (start == term)
        fresh_un = pd.Series(value[un_rows], index=person[un_rows]).reindex(pupils).to_numpy()
        known = np.isin(pupils, absent.index.to_numpy())
        noise = rng.lognormal(0.0, ATTENDANCE_NOISE, size=pupils.size)
        own_level = level.reindex(pupils).to_numpy()
        attendance = np.where(known, np.clip(100 - own_level * noise, 15, 100), fresh_att)
        unauthorised = np.where(
            known, (100 - attendance) * share.reindex(pupils).to_numpy(), fresh_un
        )
        when = np.full(pupils.size, term)
        parts.append(
            _frame(
                pupils, "attendance_term", when, value=formatted("%.1f", np.round(attendance, 1))
            )
        )
        parts.append(
            _frame(
                pupils,
                "unauthorised_absence_term",
                when,
                value=formatted("%.1f", np.round(unauthorised, 1)),
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else _frame([], "", [])


def _fresh_refs(rng: np.random.Generator, refs: np.ndarray, taken: set[str]) -> np.ndarray:
    """Refs of newcomers' new cases, renumbered where the number is already in use."""
    out = refs.copy()
    renumbered: dict[str, str] = {}
    for i, value in enumerate(out):
        if not value or value not in taken:
            continue
        if value not in renumbered:
            prefix = value.rstrip("0123456789")
            digits = len(value) - len(prefix)
            candidate = value
            while candidate in taken:
                candidate = prefix + str(reference_numbers(rng, 1, digits)[0])
            taken.add(candidate)
            renumbered[value] = candidate
        out[i] = renumbered[value]
    return out


def next_view(
    rng: np.random.Generator,
    previous: ProviderView,
    fresh: ProviderView,
    population: Population,
    ref1: np.datetime64,
    ref2: np.datetime64,
    newborn: np.ndarray,
) -> tuple[ProviderView, ViewChanges]:
    """The provider's view at ``ref2`` from its view at ``ref1`` and a fresh run at ``ref2``.
    ``newborn`` people become known to the source (health: every baby gets a record)."""
    changes = ViewChanges()
    household = population.persons["household"].to_numpy()
    events = previous.events.copy()
    changes.closed = _close_spells(rng, events, household, ref1, ref2)
    released = _releases(rng, events, ref1, ref2)
    keep = _in_lookback(events, ref2)
    changes.dropped = int((~keep).sum())
    events = events[keep]
    fresh_events = fresh.events
    accepted = fresh_events[_accepted(rng, fresh_events, previous.events, population, ref1, ref2)]
    accepted = _recur(rng, accepted, previous.events, ref1)
    accepted = _repeat_incidents(rng, accepted, previous.events, household, ref1)
    combined = pd.concat([events, released, accepted], ignore_index=True)
    terms = _new_terms(rng, fresh_events, previous.events, combined, ref1, ref2)
    added = pd.concat([released, accepted, terms], ignore_index=True)
    changes.new_events = int(added.shape[0])
    changes.by_indicator = {
        str(k): int(v) for k, v in added["indicator"].value_counts().sort_index().items()
    }
    events = pd.concat([combined, terms], ignore_index=True).sort_values(
        ["person", "event_date", "indicator"], kind="stable", ignore_index=True
    )

    known = previous.known
    people = np.union1d(events["person"].to_numpy(dtype=np.int64), newborn)
    newcomers = np.setdiff1d(people, known["person"].to_numpy(dtype=np.int64))
    changes.new_people = int(newcomers.size)
    fresh_refs = fresh.known.set_index("person")["household_ref"]
    refs = fresh_refs.reindex(newcomers).fillna("").to_numpy(dtype=object)
    taken = set(known["household_ref"].tolist()) - {""}
    refs = _fresh_refs(rng, refs, taken)
    if previous.source in HOUSEHOLD_REF_SOURCES:
        held = known[known["household_ref"] != ""]
        by_household = pd.Series(
            held["household_ref"].to_numpy(), index=household[held["person"].to_numpy()]
        )
        by_household = by_household[~by_household.index.duplicated()]
        joined = by_household.reindex(household[newcomers]).fillna("").to_numpy(dtype=object)
        refs = np.where(joined != "", joined, refs).astype(object)
    added_known = pd.DataFrame({"person": newcomers, "household_ref": refs})
    known = pd.concat([known, added_known], ignore_index=True)
    known = known.sort_values("person", kind="stable", ignore_index=True)
    return ProviderView(previous.source, events, known), changes
