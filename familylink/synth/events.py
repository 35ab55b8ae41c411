"""Shared machinery of the providers' event generators: the world they see, date drawing,
the latent-need model and the table events are collected in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from familylink.synth.dates import NAT
from familylink.synth.population import Population
from familylink.synth.text import zero_padded

#: Events fall within about two years (700-730 days) before the reference date.
YEAR_DAYS = 365.25


@dataclass
class World:
    """Arrays over persons (index = person number) and households that generators read."""

    ref: np.datetime64
    population: Population
    dob: np.ndarray = field(init=False)
    age: np.ndarray = field(init=False)
    sex: np.ndarray = field(init=False)
    household: np.ndarray = field(init=False)
    role: np.ndarray = field(init=False)
    risk: np.ndarray = field(init=False)
    kind: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        persons = self.population.persons
        households = self.population.households
        self.dob = persons["dob"].to_numpy().astype("datetime64[D]")
        self.age = persons["age"].to_numpy()
        self.sex = persons["sex"].to_numpy(dtype=object)
        self.household = persons["household"].to_numpy()
        self.role = persons["role_in_household"].to_numpy(dtype=object)
        self.risk = households["risk"].to_numpy()[self.household]
        self.kind = households["kind"].to_numpy(dtype=object)[self.household]

    @property
    def people(self) -> int:
        return self.dob.size

    def aged(self, years: float) -> np.ndarray:
        """The date each person reaches ``years`` of age (approximately, for bounds)."""
        return self.dob + np.int64(round(years * YEAR_DAYS))

    def members(self, households: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """People living in any of ``households`` (optionally also satisfying ``mask``)."""
        chosen = np.zeros(self.population.households.shape[0], dtype=bool)
        chosen[households] = True
        keep = chosen[self.household]
        if mask is not None:
            keep &= mask
        return np.flatnonzero(keep)


def chance(risk: np.ndarray, scale: float, floor: float = 0.0) -> np.ndarray:
    """Probability of a problem given latent need: ``floor`` plus a saturating share of the rest."""
    return floor + (1.0 - floor) * (1.0 - np.exp(-scale * risk))


def draw(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    return rng.random(p.shape) < p


def dates_between(
    rng: np.random.Generator, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A uniform date in [low, high] for each pair; also whether the range is non-empty."""
    low = np.asarray(low, dtype="datetime64[D]")
    high = np.asarray(high, dtype="datetime64[D]")
    span = (high - low).astype(np.int64)
    ok = span >= 0
    offset = np.floor(rng.random(span.shape) * (np.maximum(span, 0) + 1)).astype(np.int64)
    return low + offset, ok


def spell_ends(
    rng: np.random.Generator,
    start: np.ndarray,
    closed_share: float,
    low: int,
    high: int,
    ref: np.datetime64,
    future_ok: bool = False,
) -> np.ndarray:
    """End dates: ``closed_share`` of spells end ``low``-``high`` days after starting, the rest
    are open (NaT). Ends after the reference date become open unless ``future_ok``."""
    end = start + rng.integers(low, high + 1, size=start.size)
    closed = rng.random(start.size) < closed_share
    if not future_ok:
        closed &= end <= ref - 1
    return np.where(closed, end, NAT).astype("datetime64[D]")


class EventTable:
    """Collects events of one source; ``frame()`` gives them sorted by person and date."""

    COLUMNS = ("person", "indicator", "event_date", "end_date", "value", "detail")

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(
        self,
        person: np.ndarray,
        indicator: str,
        event_date: np.ndarray,
        end_date: np.ndarray | None = None,
        value: np.ndarray | None = None,
        detail: np.ndarray | str | None = None,
    ) -> None:
        n = np.asarray(person).size
        if n == 0:
            return
        if detail is None or isinstance(detail, str):
            detail = np.full(n, detail or "", dtype=object)
        self._parts.append(
            pd.DataFrame(
                {
                    "person": np.asarray(person, dtype=np.int64),
                    "indicator": indicator,
                    "event_date": np.asarray(event_date, dtype="datetime64[D]"),
                    "end_date": np.full(n, NAT)
                    if end_date is None
                    else np.asarray(end_date, dtype="datetime64[D]"),
                    "value": np.full(n, "", dtype=object)
                    if value is None
                    else np.asarray(value, dtype=object),
                    "detail": np.asarray(detail, dtype=object),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame(
                {
                    "person": np.empty(0, dtype=np.int64),
                    "indicator": np.empty(0, dtype=object),
                    "event_date": np.empty(0, dtype="datetime64[D]"),
                    "end_date": np.empty(0, dtype="datetime64[D]"),
                    "value": np.empty(0, dtype=object),
                    "detail": np.empty(0, dtype=object),
                }
            )
        frame = pd.concat(self._parts, ignore_index=True)
        return frame.sort_values(
            ["person", "event_date", "indicator"], kind="stable", ignore_index=True
        )


@dataclass
class ProviderView:
    """What one provider holds: its events and the people it knows (with its household ref)."""

    source: str
    events: pd.DataFrame
    #: person, household_ref ("" when the source has none): everyone the source knows,
    #: including every person with an event.
    known: pd.DataFrame

    @staticmethod
    def build(
        source: str, events: pd.DataFrame, known_people: np.ndarray, refs: np.ndarray | None = None
    ) -> ProviderView:
        people = np.asarray(known_people, dtype=np.int64)
        ref_values = (
            np.full(people.size, "", dtype=object)
            if refs is None
            else np.asarray(refs, dtype=object)
        )
        known = pd.DataFrame({"person": people, "household_ref": ref_values})
        extra = np.setdiff1d(events["person"].to_numpy(dtype=np.int64), people)
        if extra.size:
            known = pd.concat(
                [
                    known,
                    pd.DataFrame(
                        {"person": extra, "household_ref": np.full(extra.size, "", dtype=object)}
                    ),
                ],
                ignore_index=True,
            )
        known = known.sort_values("person", kind="stable").drop_duplicates("person", keep="first")
        return ProviderView(source, events, known.reset_index(drop=True))


def reference_numbers(rng: np.random.Generator, count: int, digits: int) -> np.ndarray:
    """``count`` distinct random numbers of ``digits`` digits (zero-padded strings)."""
    space = 10**digits
    pool = np.unique(rng.integers(0, space, size=int(count * 1.2) + 32))
    while pool.size < count:
        pool = np.unique(np.concatenate([pool, rng.integers(0, space, size=count)]))
    return zero_padded(rng.permutation(pool)[:count], digits)
