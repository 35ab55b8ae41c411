"""Dwellings: streets, house numbers, flats, postcodes and UPRNs over the postcode districts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from familylink.synth import tables
from familylink.synth.identifiers import uprns

#: Letters allowed in the unit part of a UK postcode's inward code (no C, I, K, M, O, V).
UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def _street_names(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k street names for one town: (base, type, abbreviation), distinct while they last."""
    bases = np.array(tables.street_names(), dtype=object)
    types = tables.street_types()
    weights = np.tile(types["weight"].to_numpy(), bases.size)
    combos = bases.size * len(types)
    pick = rng.choice(combos, size=k, replace=k > combos, p=weights / weights.sum())
    type_index = pick % len(types)
    return (
        bases[pick // len(types)],
        types["street_type"].to_numpy(dtype=object)[type_index],
        types["abbreviation"].to_numpy(dtype=object)[type_index],
    )


def _buildings(rng: np.random.Generator, need: int, flat_share: float) -> np.ndarray:
    """Dwellings per building (1 = house, 2..12 = block of flats) summing to at least ``need``."""
    count = max(8, int(need / (1 + flat_share * 6)) + 8)
    while True:
        block = rng.random(count) < flat_share
        flats = np.where(block, rng.integers(2, 13, size=count), 1)
        total = np.cumsum(flats)
        if total[-1] >= need:
            return flats[: int(np.searchsorted(total, need)) + 1]
        count = int(count * 1.3) + 8


def build_dwellings(
    rng: np.random.Generator, normal_need: Sequence[int], communal_need: Sequence[int]
) -> pd.DataFrame:
    """Every dwelling of the county, one row each, ordered by district row, street and number.

    ``normal_need[r]`` ordinary dwellings (houses and flats) and ``communal_need[r]`` communal
    buildings (hostels, HMOs, temporary accommodation: one UPRN each) are built in postcode
    district row ``r`` of ``tables.postcode_districts()``. Columns: row, outward, town,
    locality, la_code, street_base, street_type, street_abbr, number, flat (0 = none),
    postcode, uprn, communal.
    """
    districts = tables.postcode_districts()
    parts: list[dict[str, np.ndarray]] = []
    for row in range(len(districts)):
        city = districts.at[row, "locality"] == "Leicester City"
        flats = _buildings(rng, int(normal_need[row]), 0.16 if city else 0.06)
        communal = np.zeros(flats.size + int(communal_need[row]), dtype=bool)
        communal[flats.size :] = True
        flats = np.concatenate([flats, np.ones(int(communal_need[row]), dtype=np.int64)])
        order = rng.permutation(flats.size)
        flats, communal = flats[order], communal[order]
        sizes = rng.integers(6, 45, size=flats.size // 6 + 2)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        street = np.searchsorted(starts, np.arange(flats.size), side="right") - 1
        number = np.arange(flats.size) - starts[street] + 1
        n_streets = int(street.max()) + 1
        base, kind, abbr = _street_names(rng, n_streets)
        group_size = rng.integers(4, 14, size=n_streets)
        group_key = street.astype(np.int64) * 1000 + (number - 1) // group_size[street]
        _, group = np.unique(group_key, return_inverse=True)
        parts.append(
            {
                "row": np.full(flats.size, row),
                "flats": flats,
                "communal": communal,
                "street_base": base[street],
                "street_type": kind[street],
                "street_abbr": abbr[street],
                "number": number,
                "group": group,
            }
        )
    _assign_postcodes(rng, districts, parts)
    buildings = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "group"}
    flats = buildings.pop("flats")
    frame = pd.DataFrame({k: np.repeat(v, flats) for k, v in buildings.items()})
    starts = np.repeat(np.cumsum(flats) - flats, flats)
    frame["flat"] = np.where(np.repeat(flats > 1, flats), np.arange(frame.shape[0]) - starts + 1, 0)
    frame["uprn"] = uprns(rng, frame.shape[0])
    for column in ("outward", "town", "locality", "la_code"):
        frame[column] = districts[column].to_numpy(dtype=object)[frame["row"].to_numpy()]
    frame["la_code"] = frame["la_code"].astype(int)
    return frame


def _assign_postcodes(
    rng: np.random.Generator, districts: pd.DataFrame, parts: list[dict[str, np.ndarray]]
) -> None:
    """Set ``part["postcode"]``, a full postcode for every building: one unit per (street, group of neighbours).

    Units of one outward code are shared out among its rows (e.g. LE2 Leicester and LE2
    Oadby) in sector order, so each town gets its own sectors; when an outward code runs out
    of its 4,000 units they are reused.
    """
    outward = districts["outward"].to_numpy()
    for code in sorted(set(outward)):
        rows = [r for r in range(len(districts)) if outward[r] == code]
        need = sum(int(parts[r]["group"].max()) + 1 for r in rows)
        sector = np.repeat(rng.permutation(10), 400)
        letters = np.concatenate([rng.permutation(400) for _ in range(10)])
        inward = np.char.add(
            sector.astype(str),
            np.char.add(UNIT_LETTERS[letters // 20], UNIT_LETTERS[letters % 20]),
        )
        inward = np.resize(inward, max(need, 1))
        taken = 0
        for r in rows:
            groups = int(parts[r]["group"].max()) + 1
            units = np.char.add(code + " ", inward[taken : taken + groups])
            parts[r]["postcode"] = units.astype(object)[parts[r]["group"]]
            taken += groups
