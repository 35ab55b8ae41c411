"""The true population: households in dwellings, people with names, dates of birth and ids.

Everything here is the *truth*; the providers' views of it (and their errors) come later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from familylink.synth import households as hh
from familylink.synth import identifiers, names, tables
from familylink.synth.dates import NAT, age_years, day, ymd
from familylink.synth.places import build_dwellings
from familylink.synth.shape import CountyShape, enlarge, kind_weights
from familylink.synth.text import zero_padded

#: Probability that a household moved house in the two years before the reference date.
MOVE_RATE = {
    "family": 0.15,
    "other": 0.09,
    "communal_single": 0.35,
    "temporary_accommodation_family": 0.9,
}
#: Multiplier of the latent need ("risk") by household kind.
RISK_BY_KIND = {
    "single": 0.7,
    "couple": 0.4,
    "couple_children": 0.75,
    "lone_parent": 1.7,
    "step_family": 1.5,
    "multigenerational": 0.8,
    "couple_adult_children": 0.5,
    "communal_single": 2.5,
    "temporary_accommodation_family": 3.0,
}


@dataclass
class Population:
    persons: pd.DataFrame
    households: pd.DataFrame
    dwellings: pd.DataFrame


def _by_group(
    rng: np.random.Generator, keys: np.ndarray, options: dict[str, tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """For each key, draw one of ``options[key] = (values, weights)``."""
    out = np.empty(keys.size, dtype=object)
    for key, index in sorted(pd.Series(keys).groupby(keys).indices.items()):
        values, weights = options[key]
        out[index] = values[rng.choice(values.size, size=len(index), p=weights / weights.sum())]
    return out


def _community_options() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    frame = tables.communities()
    return {
        loc: (g["community"].to_numpy(dtype=object), g["weight"].to_numpy())
        for loc, g in frame.groupby("locality", sort=True)
    }


def _sample_households(
    rng: np.random.Generator, people: int, shape: CountyShape, shape_rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, hh.Shapes]:
    """District row, community and shape of enough households for ``people`` people."""
    districts = tables.postcode_districts()
    customs = tables.community_customs()
    weights = districts["weight"].to_numpy()
    guess = int(people / 2.2) + 64
    while True:
        row = rng.choice(len(districts), size=guess, p=weights / weights.sum())
        locality = districts["locality"].to_numpy(dtype=object)[row]
        community = _by_group(rng, locality, _community_options())
        kind = np.empty(guess, dtype=np.int64)
        multigen = hh.kind_index("multigenerational")
        for comm, index in sorted(pd.Series(community).groupby(community).indices.items()):
            kw = kind_weights(shape, hh.KIND_WEIGHTS).copy()
            kw[multigen] *= customs.at[comm, "multigenerational_weight"]
            kind[index] = rng.choice(len(hh.KINDS), size=len(index), p=kw / kw.sum())
        shapes = enlarge(shape, shape_rng, hh.sample_shapes(rng, kind))
        if shapes.size.sum() >= people:
            shapes = hh.trim_to(shapes, people)
            count = shapes.kind.size
            return row[:count], community[:count], shapes
        guess = int(guess * 1.3)


def _communal_groups(
    rng: np.random.Generator, row: np.ndarray, communal: np.ndarray, sizes: tuple[int, int] = (3, 15)
) -> tuple[np.ndarray, np.ndarray]:
    """Group communal households of each district row into establishments of ``sizes``
    (3-15 by default) households.

    Returns (establishment number within its row, or -1; establishments per row).
    """
    low, high = sizes
    establishment = np.full(row.size, -1)
    per_row = np.zeros(len(tables.postcode_districts()), dtype=np.int64)
    for r in range(per_row.size):
        members = np.flatnonzero(communal & (row == r))
        if members.size == 0:
            continue
        members = rng.permutation(members)
        sizes = rng.integers(low, high + 1, size=members.size // low + 1)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        group = np.searchsorted(starts, np.arange(members.size), side="right") - 1
        establishment[members] = group
        per_row[r] = int(group.max()) + 1
    return establishment, per_row


def _place_households(
    rng: np.random.Generator, row: np.ndarray, kind_names: np.ndarray, ref: np.datetime64,
    communal_sizes: tuple[int, int] = (3, 15),
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Build the dwellings and put each household in one; pick movers and their old homes.

    Returns (dwellings, current dwelling, previous dwelling or -1, move date or NaT).
    """
    communal = np.isin(kind_names, hh.COMMUNAL_KINDS)
    family = np.isin(kind_names, hh.FAMILY_KINDS)
    rate = np.where(family, MOVE_RATE["family"], MOVE_RATE["other"])
    for name in ("communal_single", "temporary_accommodation_family"):
        rate = np.where(kind_names == name, MOVE_RATE[name], rate)
    moved = rng.random(row.size) < rate
    establishment, communal_per_row = _communal_groups(rng, row, communal, communal_sizes)
    rows = len(tables.postcode_districts())
    normal = np.bincount(row[~communal], minlength=rows)
    movers = np.bincount(row[moved], minlength=rows)
    dwellings = build_dwellings(rng, normal + movers + normal // 20 + 2, communal_per_row)

    current = np.full(row.size, -1, dtype=np.int64)
    previous = np.full(row.size, -1, dtype=np.int64)
    d_row = dwellings["row"].to_numpy()
    d_communal = dwellings["communal"].to_numpy()
    for r in range(rows):
        homes = rng.permutation(np.flatnonzero((d_row == r) & ~d_communal))
        here = np.flatnonzero((row == r) & ~communal)
        current[here] = homes[: here.size]
        spare = homes[here.size :]
        leaving = np.flatnonzero((row == r) & moved)
        previous[leaving] = spare[: leaving.size]
        hostels = np.flatnonzero((d_row == r) & d_communal)
        in_hostel = np.flatnonzero((row == r) & communal)
        current[in_hostel] = hostels[establishment[in_hostel]]
    # a third of movers came from another part of the county
    movers_index = np.flatnonzero(moved)
    far = movers_index[rng.random(movers_index.size) < 0.33]
    previous[far] = previous[rng.permutation(far)]
    move_date = np.where(moved, ref - rng.integers(14, 730, size=row.size), NAT)
    return dwellings, current, previous, move_date.astype("datetime64[D]")


def build_population(rng: np.random.Generator, people: int, reference_date: dt.date,
                     shape: CountyShape | None = None, shape_rng: np.random.Generator | None = None) -> Population:
    """The true population; ``shape`` (``familylink.synth.shape``) bends it, drawing from
    ``shape_rng`` (the default shape draws nothing)."""
    ref = day(reference_date)
    shape = shape or CountyShape()
    shape_rng = shape_rng or np.random.default_rng(0)
    row, community, shapes = _sample_households(rng, people, shape, shape_rng)
    n_hh = row.size
    kind_names = np.array(hh.KINDS, dtype=object)[shapes.kind]
    dwellings, current, previous, move_date = _place_households(rng, row, kind_names, ref,
                                                                shape.communal_households)
    members = hh.sample_members(rng, shapes)

    locality = tables.postcode_districts()["locality"].to_numpy(dtype=object)[row]
    risk = rng.gamma(0.4, 0.9, size=n_hh) * np.vectorize(RISK_BY_KIND.get)(kind_names)
    risk *= np.where(locality == "Leicester City", 1.2, 1.0)
    households = pd.DataFrame(
        {
            "household": np.arange(n_hh),
            "household_id": zero_padded(np.arange(1, n_hh + 1), 7, "H"),
            "kind": kind_names,
            "row": row,
            "locality": locality,
            "community": community,
            "dwelling": current,
            "prev_dwelling": previous,
            "move_date": move_date,
            "communal": np.isin(kind_names, hh.COMMUNAL_KINDS),
            "risk": risk,
        }
    )
    persons = _people(rng, members, households, ref, shape.name_concentration)
    ages = persons.groupby("household")["age"].min().reindex(range(n_hh)).to_numpy()
    is_family = ages < 18
    family_no = np.cumsum(is_family)
    households["family_id"] = np.where(is_family, zero_padded(family_no, 7, "F"), "").astype(object)
    persons["family_id"] = households["family_id"].to_numpy()[persons["household"].to_numpy()]
    return Population(persons, households, dwellings)


def _people(
    rng: np.random.Generator, m: hh.Members, households: pd.DataFrame, ref: np.datetime64,
    concentration: float = 1.0,
) -> pd.DataFrame:
    n = m.household.size
    h = m.household
    role = np.array(hh.ROLES, dtype=object)[m.role]
    dob = ref - m.age_days.astype("timedelta64[D]")
    age = age_years(dob, ref)
    birth_year = ymd(dob)[0]
    customs = tables.community_customs()

    # communities: partners are sometimes from another community; children take either parent's
    hh_comm = households["community"].to_numpy(dtype=object)
    community = hh_comm[h].copy()
    partner = np.flatnonzero(role == "partner")
    mixed = partner[
        rng.random(partner.size)
        < customs["mixed_partner_rate"].reindex(community[partner]).to_numpy()
    ]
    community[mixed] = _by_group(
        rng, households["locality"].to_numpy(dtype=object)[h[mixed]], _community_options()
    )
    partner_comm = hh_comm.copy()
    partner_comm[h[partner]] = community[partner]
    kids = np.flatnonzero(np.isin(role, ("child", "adult_child")))
    from_partner = rng.random(kids.size) < 0.5
    community[kids] = np.where(from_partner, partner_comm[h[kids]], hh_comm[h[kids]])

    # family names: the household's surname (father's), partner's own, previous partners'
    hh_name = names.family_name_index(rng, hh_comm, concentration)
    hh_male = names.render_family_name(hh_name, np.full(hh_name.size, "M"))
    hh_female = names.render_family_name(hh_name, np.full(hh_name.size, "F"))
    double = rng.random(hh_comm.size) < customs["double_barrel_rate"].reindex(hh_comm).to_numpy()
    second = names.render_family_name(
        names.family_name_index(rng, hh_comm, concentration), np.full(hh_comm.size, "M")
    )
    hh_male = np.where(double & (second != hh_male), hh_male + "-" + second, hh_male)
    hh_female = np.where(double & (second != hh_female), hh_female + "-" + second, hh_female)
    family = np.where(m.sex == "F", hh_female[h], hh_male[h]).astype(object)
    own = names.render_family_name(names.family_name_index(rng, community, concentration), m.sex)
    previous = np.full(n, "", dtype=object)
    head_sex = m.sex[role == "head"]
    is_partner = role == "partner"
    takes = rng.random(n) < customs["wife_takes_surname_rate"].reindex(community).to_numpy()
    hetero = is_partner & (m.sex == "F") & (head_sex[h] == "M")
    family[is_partner & ~(hetero & takes)] = own[is_partner & ~(hetero & takes)]
    previous[hetero & takes & (own != family)] = own[hetero & takes & (own != family)]
    kind = households["kind"].to_numpy(dtype=object)[h]
    child = role == "child"
    absent_father = child & (kind == "lone_parent") & (rng.random(hh_comm.size) < 0.45)[h]
    father_name = names.render_family_name(
        names.family_name_index(rng, hh_comm, concentration), np.full(hh_comm.size, "M")
    )
    earlier = names.render_family_name(
        names.family_name_index(rng, hh_comm, concentration), np.full(hh_comm.size, "M")
    )
    family[absent_father] = father_name[h[absent_father]]
    kids_count = np.bincount(h[child], minlength=hh_comm.size)
    from_before = rng.integers(1, np.maximum(kids_count, 2))  # eldest ones: previous relationship
    step_child = child & (kind == "step_family") & (m.rank >= kids_count[h] - from_before[h])
    family[step_child] = earlier[h[step_child]]
    double_person = double[h] & (family == np.where(m.sex == "F", hh_female[h], hh_male[h]))
    family = names.apply_surname_customs(rng, family, community, m.sex, age >= 16)
    double_person &= np.fromiter(("-" in f for f in family), dtype=bool, count=n)

    # given and middle names
    given = names.given_names(rng, community, m.sex, birth_year, concentration)
    twin_prev = np.flatnonzero(m.twin_of_previous)
    previous_given = np.empty(n, dtype=object)
    previous_given[twin_prev] = given[twin_prev - 1]
    given[twin_prev] = names.redraw_equal(
        rng,
        given[twin_prev],
        previous_given[twin_prev],
        community[twin_prev],
        m.sex[twin_prev],
        birth_year[twin_prev],
    )
    twin_of = np.full(n, -1, dtype=np.int64)
    twin_of[twin_prev] = twin_prev - 1
    first_of_pair = twin_prev - 1
    first_of_pair = first_of_pair[twin_of[first_of_pair] < 0]
    twin_of[first_of_pair] = first_of_pair + 1
    # a son named after his father (same name, different date of birth)
    head_given = given[role == "head"]
    junior = child & (m.sex == "M") & (twin_of < 0) & (rng.random(n) < 0.035) & (head_sex[h] == "M")
    given[junior] = head_given[h[junior]]
    has_middle = rng.random(n) < customs["middle_name_rate"].reindex(community).to_numpy()
    middle = np.where(has_middle, names.given_names(rng, community, m.sex, birth_year, concentration), "").astype(
        object
    )
    middle = np.where(has_middle & (middle == given), "", middle).astype(object)
    two = has_middle & (rng.random(n) < customs["second_middle_rate"].reindex(community).to_numpy())
    second_middle = names.given_names(rng, community, m.sex, birth_year, concentration)
    two &= (second_middle != middle) & (second_middle != given) & (middle != "")
    middle[two] = middle[two] + " " + second_middle[two]

    frame = pd.DataFrame(
        {
            "person": np.arange(n),
            "person_id": zero_padded(np.arange(1, n + 1), 7, "P"),
            "household": h,
            "role_in_household": role,
            "sex": m.sex,
            "dob": dob,
            "age": age,
            "community": community,
            "given_name": given,
            "middle_names": middle,
            "family_name": family,
            "previous_family_name": previous,
            "double_barrelled": double_person,
            "twin_of": twin_of,
        }
    )
    _add_identifiers(rng, frame, households, birth_year)
    return frame


def _add_identifiers(
    rng: np.random.Generator, frame: pd.DataFrame, households: pd.DataFrame, birth_year: np.ndarray
) -> None:
    n = frame.shape[0]
    age = frame["age"].to_numpy()
    frame["nhs_number"] = identifiers.nhs_numbers(rng, n).astype(object)
    ni = np.full(n, "", dtype=object)
    adult = np.flatnonzero(age >= 16)
    ni[adult] = identifiers.ni_numbers(rng, adult.size)
    frame["ni_number"] = ni
    upn = np.full(n, "", dtype=object)
    pupil = np.flatnonzero((age >= 4) & (age <= 25))
    la = tables.postcode_districts()["la_code"].astype(int).to_numpy()[households["row"].to_numpy()]
    la = la[frame["household"].to_numpy()[pupil]]
    _, month, _ = ymd(frame["dob"].to_numpy()[pupil])
    reception = birth_year[pupil] - (month < 9) + 4
    school = rng.integers(2000, 2300, size=pupil.size)
    key = pd.DataFrame(
        {"la": la, "school": school, "year": reception % 100, "r": rng.random(pupil.size)}
    )
    key = key.sort_values(["la", "school", "year", "r"], kind="stable")
    serial = np.empty(pupil.size, dtype=np.int64)
    serial[key.index.to_numpy()] = (
        key.groupby(["la", "school", "year"]).cumcount().to_numpy() % 1000
    )
    upn[pupil] = identifiers.upns(la, school, reception % 100, serial)
    frame["upn"] = upn
