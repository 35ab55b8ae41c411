"""County shapes: the same generator, bent towards the cases that stress the hub's SQL.

A ``CountyShape`` changes the population or the providers' views in one way each:

* ``non_resident_parents``: the share of social-care cases that also hold an adult who lives
  in another household of the county (a parent living elsewhere, sharing the case reference);
* ``communal_weight`` and ``communal_households``: more communal establishments (hostels,
  HMOs, temporary accommodation), each of ``communal_households`` (low, high) households;
* ``big_households``: the share of family households made big (5-9 children, 1-3 adult
  children and two grandparents);
* ``shared_refs``: the share of DWP and housing records whose reference is replaced by one
  of a few references each held by many people of many households (2-60 holders);
* ``missing_sources``: sources whose extract is not written (the hub runs without them);
* ``name_concentration``: every given- and family-name weight raised to this power (above 1,
  the commonest names of each community commoner: Patel, Smith, Khan, Williams and Jones
  as concentrated as in a real Leicestershire extract, for the privacy attacks).

Every change draws from its own random streams (``shape:<name>``), and the default shape
changes nothing, so ``generate_county`` without a shape writes the same bytes as before.
``SHAPES`` holds the named shapes ``familylink synth --shape`` offers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from familylink.core.contract import SOURCES
from familylink.core.errors import Problem
from familylink.synth import households as hh
from familylink.synth.settings import SynthError

if TYPE_CHECKING:  # events imports population, which imports this module
    from familylink.synth.events import ProviderView

SHARED_REF_SOURCES = ("dwp", "housing")


@dataclass(frozen=True)
class CountyShape:
    name: str = "default"
    non_resident_parents: float = 0.0
    communal_weight: float = 1.0
    communal_households: tuple[int, int] = (3, 15)
    big_households: float = 0.0
    shared_refs: float = 0.0
    missing_sources: tuple[str, ...] = ()
    name_concentration: float = 1.0

    def __post_init__(self) -> None:
        problems = [Problem(f"shape.{name}", f"{getattr(self, name)!r} is not a share in [0, 1]")
                    for name in ("non_resident_parents", "big_households", "shared_refs")
                    if not 0.0 <= float(getattr(self, name)) <= 1.0]
        if not 0.0 < float(self.communal_weight) <= 50.0:
            problems.append(Problem("shape.communal_weight", f"{self.communal_weight!r} is not in (0, 50]"))
        if not 0.25 <= float(self.name_concentration) <= 4.0:
            problems.append(Problem("shape.name_concentration", f"{self.name_concentration!r} is not in [0.25, 4]"))
        low, high = self.communal_households
        if not 1 <= low <= high <= 1000:
            problems.append(Problem("shape.communal_households", f"{self.communal_households!r} is not "
                                    "(low, high) with 1 <= low <= high <= 1000"))
        problems += [Problem("shape.missing_sources", f"{source!r} is not a source")
                     for source in self.missing_sources if source not in SOURCES]
        if len(set(self.missing_sources)) >= len(SOURCES):
            problems.append(Problem("shape.missing_sources", "at least one source must remain"))
        if problems:
            raise SynthError("Invalid county shape.", problems)

    @property
    def is_default(self) -> bool:
        return all(getattr(self, f.name) == f.default for f in fields(self) if f.name != "name")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SHAPES: dict[str, CountyShape] = {shape.name: shape for shape in (
    CountyShape(),
    CountyShape("non-resident-parents", non_resident_parents=0.9),
    CountyShape("large-communal", communal_weight=4.0, communal_households=(40, 150)),
    CountyShape("big-households", big_households=0.25),
    CountyShape("shared-refs", shared_refs=0.08),
    CountyShape("missing-source", missing_sources=("health",)),
    CountyShape("concentrated-names", name_concentration=1.25),
)}


def county_shape(shape: CountyShape | str | None, missing_sources: tuple[str, ...] = ()) -> CountyShape:
    """The shape named (``SHAPES``) or given, with ``missing_sources`` added."""
    if shape is None:
        shape = SHAPES["default"]
    elif isinstance(shape, str):
        if shape not in SHAPES:
            raise SynthError("Unknown county shape.", [Problem("shape", f"{shape!r} is not one of "
                                                                         f"{', '.join(SHAPES)}")])
        shape = SHAPES[shape]
    if missing_sources:
        merged = tuple(dict.fromkeys((*shape.missing_sources, *missing_sources)))
        shape = replace(shape, missing_sources=merged)
    return shape


def kind_weights(shape: CountyShape, weights: np.ndarray) -> np.ndarray:
    """Household kind weights with the communal kinds scaled (unchanged by default)."""
    if shape.communal_weight == 1.0:
        return weights
    out = weights.copy()
    for name in hh.COMMUNAL_KINDS:
        out[hh.kind_index(name)] *= shape.communal_weight
    return out


def enlarge(shape: CountyShape, rng: np.random.Generator, shapes: hh.Shapes) -> hh.Shapes:
    """Make ``big_households`` of the family households big (nothing by default)."""
    if not shape.big_households:
        return shapes
    family = np.isin(shapes.kind, [hh.kind_index(k) for k in hh.FAMILY_KINDS])
    big = family & (rng.random(shapes.kind.size) < shape.big_households)
    count = int(big.sum())
    return hh.Shapes(shapes.kind, shapes.partner,
                     _fill(big, rng.integers(5, 10, size=count), shapes.children),
                     np.where(big, 2, shapes.grandparents).astype(np.int64),
                     _fill(big, rng.integers(1, 4, size=count), shapes.adult_children))


def _fill(mask: np.ndarray, values: np.ndarray, otherwise: np.ndarray) -> np.ndarray:
    out = np.array(otherwise, dtype=np.int64)
    out[mask] = values
    return out


def reshape_views(shape: CountyShape, rng: np.random.Generator, views: dict[str, ProviderView],
                  persons: pd.DataFrame) -> dict[str, ProviderView]:
    """The providers' views with non-resident parents and shared references added."""
    if shape.non_resident_parents:
        views["social_care"] = _non_resident_parents(shape.non_resident_parents, rng, views["social_care"], persons)
    if shape.shared_refs:
        for source in SHARED_REF_SOURCES:
            views[source] = _shared_refs(shape.shared_refs, rng, views[source])
    return views


def _non_resident_parents(share: float, rng: np.random.Generator, view: ProviderView,
                          persons: pd.DataFrame) -> ProviderView:
    """For ``share`` of the cases, one or two adults of other households join the case."""
    known = view.known
    household = persons["household"].to_numpy()
    cases = known[known["household_ref"] != ""].drop_duplicates("household_ref")
    chosen = cases[rng.random(len(cases)) < share]
    adults = persons.loc[persons["age"] >= 18, "person"].to_numpy()
    if chosen.empty or adults.size == 0:
        return view
    repeat = rng.integers(1, 3, size=len(chosen))
    refs = np.repeat(chosen["household_ref"].to_numpy(dtype=object), repeat)
    homes = np.repeat(household[chosen["person"].to_numpy()], repeat)
    parent = adults[rng.integers(0, adults.size, size=refs.size)]
    elsewhere = (household[parent] != homes) & ~np.isin(parent, known["person"].to_numpy())
    added = pd.DataFrame({"person": parent[elsewhere], "household_ref": refs[elsewhere]})
    added = added.drop_duplicates("person")
    merged = pd.concat([known, added], ignore_index=True).sort_values("person", kind="stable")
    return replace(view, known=merged.reset_index(drop=True))


def _shared_refs(share: float, rng: np.random.Generator, view: ProviderView) -> ProviderView:
    """``share`` of the records with a reference take one of a few references held by 2-60 people."""
    known = view.known.copy()
    holders = np.flatnonzero((known["household_ref"] != "").to_numpy())
    picked = holders[rng.random(holders.size) < share]
    if picked.size < 2:
        return view
    sizes = rng.integers(2, 61, size=picked.size // 2 + 1)
    group = np.searchsorted(np.cumsum(sizes), np.arange(picked.size), side="right")
    refs = known["household_ref"].to_numpy(dtype=object).copy()
    first = {}
    for index, g in zip(rng.permutation(picked), group, strict=True):
        first.setdefault(int(g), refs[index])
        refs[index] = first[int(g)]
    known["household_ref"] = refs
    return replace(view, known=known)
