"""The bundled reference tables in ``familylink/synth/data/`` (names, places, customs)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd


def _read(name: str) -> pd.DataFrame:
    path = resources.files("familylink.synth").joinpath("data").joinpath(name)
    with path.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


@cache
def postcode_districts() -> pd.DataFrame:
    """outward, town, locality, la_code, weight: one row per (outward code, town)."""
    frame = _read("postcode_districts.csv")
    frame["weight"] = frame["weight"].astype(float)
    return frame


@cache
def communities() -> pd.DataFrame:
    """locality, community, weight: the community mix of each locality."""
    frame = _read("communities.csv")
    frame["weight"] = frame["weight"].astype(float)
    return frame


@cache
def community_customs() -> pd.DataFrame:
    """Per community: middle-name, double-barrel, surname-taking and household-shape rates."""
    frame = _read("community_customs.csv").set_index("community")
    return frame.astype(float)


@cache
def surname_customs() -> pd.DataFrame:
    """community, sex, surname, rate: surnames used by sex within a community (Begum, Kaur)."""
    frame = _read("surname_customs.csv")
    frame["rate"] = frame["rate"].astype(float)
    return frame


@cache
def given_names() -> pd.DataFrame:
    """community, sex, name, weight_young, weight_old (young = born 1998 or later)."""
    frame = _read("given_names.csv")
    for column in ("weight_young", "weight_old"):
        frame[column] = frame[column].astype(float)
    return frame


@cache
def family_names() -> pd.DataFrame:
    """community, name_m, name_f, weight (name_f differs for Polish and Lithuanian names)."""
    frame = _read("family_names.csv")
    frame["weight"] = frame["weight"].astype(float)
    return frame


@cache
def name_variants() -> pd.DataFrame:
    """field (given/family), name, variant: nicknames and alternative spellings."""
    return _read("name_variants.csv")


@cache
def street_names() -> tuple[str, ...]:
    return tuple(_read("street_names.csv")["name"])


@cache
def street_types() -> pd.DataFrame:
    """street_type, abbreviation, weight."""
    frame = _read("street_types.csv")
    frame["weight"] = frame["weight"].astype(float)
    return frame
