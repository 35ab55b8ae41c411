"""Address lines as providers type them: canonical ``Flat 2, 14 Mill Lane, Loughborough``
or variants (``2/14 Mill Ln``, ``14 Mill Lane Flat 2``, no commas, no town)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _s(values: np.ndarray) -> np.ndarray:
    return values.astype(str).astype(object)


def format_addresses(
    dwellings: pd.DataFrame,
    dwelling: np.ndarray,
    layout: np.ndarray,
    abbreviate: np.ndarray,
    town_missing: np.ndarray,
) -> np.ndarray:
    """One address line per entry of ``dwelling`` (index into ``dwellings``), in the layout
    (0 canonical, 1 slash, 2 flat last, 3 no commas) and with the options given."""
    d = dwellings.iloc[dwelling]
    flat = d["flat"].to_numpy()
    has_flat = flat > 0
    flat_s = _s(flat)
    number = _s(d["number"].to_numpy())
    street_type = np.where(
        abbreviate, d["street_abbr"].to_numpy(dtype=object), d["street_type"].to_numpy(dtype=object)
    )
    street = d["street_base"].to_numpy(dtype=object) + " " + street_type
    town = d["town"].to_numpy(dtype=object)
    comma = np.where(layout == 3, " ", ", ").astype(object)
    blank = np.full(dwelling.size, "", dtype=object)

    building = number + " " + street
    canonical = np.where(has_flat, "Flat " + flat_s + comma + building, building)
    slash = np.where(has_flat, flat_s + "/" + number + " " + street, building)
    flat_last = np.where(has_flat, building + " Flat " + flat_s, building)
    line = np.select([layout == 1, layout == 2], [slash, flat_last], default=canonical)
    return line + np.where(town_missing, blank, comma + town)
