"""Name sampling from the bundled frequency tables, one numpy draw per (community, sex, cohort)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from familylink.synth import tables

#: People born in or after this year draw from the "young" given-name weights.
YOUNG_FROM_YEAR = 1998


def given_names(
    rng: np.random.Generator, community: np.ndarray, sex: np.ndarray, birth_year: np.ndarray,
    concentration: float = 1.0,
) -> np.ndarray:
    """A given name for each person from their community's table (by sex and birth cohort).

    ``concentration`` above 1 raises every weight to that power (the commonest names
    commoner, as in a real council); 1 draws exactly as the table says."""
    table = tables.given_names()
    out = np.empty(community.size, dtype=object)
    young = birth_year >= YOUNG_FROM_YEAR
    keys = pd.DataFrame({"c": community, "s": sex, "y": young})
    for (comm, sx, yg), index in sorted(keys.groupby(["c", "s", "y"]).indices.items()):
        options = table[(table["community"] == comm) & (table["sex"] == sx)]
        if options.empty:  # unknown sex: draw from either
            options = table[table["community"] == comm]
        weights = options["weight_young" if yg else "weight_old"].to_numpy() + 0.05
        if concentration != 1.0:
            weights = weights ** concentration
        names = options["name"].to_numpy(dtype=object)
        out[index] = names[rng.choice(names.size, size=index.size, p=weights / weights.sum())]
    return out


@cache
def _given_name_groups() -> dict[str, frozenset[str]]:
    """Upper-cased given name -> the names of its variant groups in the bundled table (a name
    and its variants form one group: MUHAMMAD, MOHAMMAD and MOHAMMED; WILLIAM, BILL and LIAM)."""
    table = tables.name_variants()
    table = table[table["field"] == "given"]
    out: dict[str, set[str]] = {}
    for name, variant in zip(table["name"].str.upper(), table["variant"].str.upper(), strict=True):
        out.setdefault(name, {name}).add(name)
        out.setdefault(variant, {variant}).add(name)
    return {k: frozenset(v) for k, v in out.items()}


def one_name(a: str, b: str) -> bool:
    """True where ``a`` and ``b`` are one given name: equal, or spellings or short forms of one
    name in the bundled variant table (parents do not call twins MOHAMMAD and MUHAMMAD)."""
    a, b = a.upper(), b.upper()
    if a == b:
        return True
    groups = _given_name_groups()
    return bool(groups.get(a, frozenset({a})) & groups.get(b, frozenset({b})))


def redraw_equal(
    rng: np.random.Generator,
    names: np.ndarray,
    others: np.ndarray,
    community: np.ndarray,
    sex: np.ndarray,
    birth_year: np.ndarray,
) -> np.ndarray:
    """Redraw ``names`` wherever they are one name with ``others`` (equal, or two spellings
    or forms of one name: twins, siblings, middle = given), a few rounds."""
    names = names.copy()
    for _ in range(8):
        same = np.flatnonzero([one_name(a, b) for a, b in zip(names, others, strict=True)])
        if same.size == 0:
            break
        names[same] = given_names(rng, community[same], sex[same], birth_year[same])
    return names


def family_name_index(rng: np.random.Generator, community: np.ndarray, concentration: float = 1.0) -> np.ndarray:
    """Row of ``tables.family_names()`` for each entry, from that community's surnames
    (weights raised to ``concentration``, as in ``given_names``)."""
    table = tables.family_names()
    out = np.empty(community.size, dtype=np.int64)
    groups = pd.Series(community).groupby(community).indices
    for comm, index in sorted(groups.items()):
        rows = np.flatnonzero(table["community"].to_numpy() == comm)
        weights = table["weight"].to_numpy()[rows]
        if concentration != 1.0:
            weights = weights ** concentration
        out[index] = rows[rng.choice(rows.size, size=len(index), p=weights / weights.sum())]
    return out


def render_family_name(index: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """The masculine or feminine form (they differ for Polish and Lithuanian surnames)."""
    table = tables.family_names()
    male = table["name_m"].to_numpy(dtype=object)[index]
    female = table["name_f"].to_numpy(dtype=object)[index]
    return np.where(sex == "F", female, male)


def apply_surname_customs(
    rng: np.random.Generator,
    family: np.ndarray,
    community: np.ndarray,
    sex: np.ndarray,
    adult: np.ndarray,
) -> np.ndarray:
    """Surnames some communities use by sex (Begum, Khatun, Bibi for women; Singh, Kaur).

    Begum, Khatun and Bibi are given to adult women only; Singh and Kaur to anyone.
    """
    family = family.copy()
    draw = rng.random(family.size)
    for row in tables.surname_customs().itertuples(index=False):
        eligible = (community == row.community) & (sex == row.sex)
        if row.surname in ("Begum", "Khatun", "Bibi"):
            eligible &= adult
        family[eligible & (draw >= 0) & (draw < row.rate)] = row.surname
        draw = np.where(eligible, draw - row.rate, draw)
    return family
