"""The true population one quarter on: the same people three months older, babies born into
existing households, some households moved house, families gained (a first baby) or lost (the
youngest turned 18). Used by ``familylink.synth.quarters``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from familylink.core.dates import add_quarters
from familylink.synth import identifiers, names, tables
from familylink.synth.dates import age_years, iso, ymd
from familylink.synth.population import MOVE_RATE, Population
from familylink.synth.text import zero_padded

#: Births per woman (head or partner of a household, not in a hostel) per quarter, by age at
#: the start of the quarter: about 11 births a year per 1,000 people, as in England.
BIRTH_RATE = ((17, 25, 0.012), (25, 35, 0.024), (35, 40, 0.014), (40, 45, 0.004))
#: Women without a partner in the household give birth less often.
LONE_BIRTH_FACTOR = 0.45
#: No birth in a household where a baby was born less than this many days before.
BIRTH_SPACING_DAYS = 300
#: Households moving in a quarter: the two-year rates of ``population.MOVE_RATE`` spread over
#: eight quarters (households in hostels and those that already moved are not moved again).
QUARTER_MOVE_SHARE = 1 / 8
#: Household kinds that become a family household with their first baby.
KIND_WITH_BABY = {"single": "lone_parent", "couple": "couple_children"}
KIND_WITH_BABY["couple_adult_children"] = "couple_children"


def quarter_after(reference_date: dt.date) -> dt.date:
    """The reference date three months on (a month's last day stays a month's last day)."""
    return add_quarters(reference_date, 1)


@dataclass
class Evolution:
    """A quarter's population and what changed since the previous one."""

    population: Population
    #: per household: the family id it has ever been given ("" never)
    family_ref: np.ndarray
    next_family: int
    births: int
    #: household_id, move_date, from_uprn, to_uprn, from_postcode, to_postcode
    moves: pd.DataFrame


def first_family_state(population: Population) -> tuple[np.ndarray, int]:
    """The family ids households hold in the first quarter and the next free family number."""
    ids = population.households["family_id"].to_numpy(dtype=object)
    numbers = [int(v[1:]) for v in ids if v]
    return ids.copy(), (max(numbers) + 1 if numbers else 1)


def evolve_population(
    rng: np.random.Generator,
    population: Population,
    family_ref: np.ndarray,
    next_family: int,
    ref1: np.datetime64,
    ref2: np.datetime64,
) -> Evolution:
    """The population at ``ref2`` given the population at ``ref1`` (three months earlier)."""
    persons = population.persons.copy()
    households = population.households.copy()
    babies = _births(rng, persons, households, ref1, ref2)
    with_baby = np.unique(babies["household"].to_numpy())
    kind = households["kind"].to_numpy(dtype=object)
    no_child = persons.groupby("household")["age"].min().reindex(range(kind.size)).to_numpy() >= 18
    kind[with_baby] = [
        KIND_WITH_BABY.get(k, k) if first else k
        for k, first in zip(kind[with_baby], no_child[with_baby], strict=True)
    ]
    households["kind"] = kind
    persons = pd.concat([persons, babies], ignore_index=True)
    persons["age"] = age_years(persons["dob"].to_numpy().astype("datetime64[D]"), ref2)
    moves = _moves(rng, households, population.dwellings, ref1, ref2)

    family_ref = family_ref.copy()
    youngest = persons.groupby("household")["age"].min().reindex(range(kind.size)).to_numpy()
    is_family = youngest < 18
    new = np.flatnonzero(is_family & (family_ref == ""))
    family_ref[new] = zero_padded(np.arange(next_family, next_family + new.size), 7, "F")
    households["family_id"] = np.where(is_family, family_ref, "").astype(object)
    persons["family_id"] = households["family_id"].to_numpy()[persons["household"].to_numpy()]
    return Evolution(
        Population(persons, households, population.dwellings),
        family_ref,
        next_family + new.size,
        int(babies.shape[0]),
        moves,
    )


def _births(
    rng: np.random.Generator,
    persons: pd.DataFrame,
    households: pd.DataFrame,
    ref1: np.datetime64,
    ref2: np.datetime64,
) -> pd.DataFrame:
    """New persons (same columns as ``persons``): babies born in (ref1, ref2]."""
    n = persons.shape[0]
    h = persons["household"].to_numpy()
    dob = persons["dob"].to_numpy().astype("datetime64[D]")
    role = persons["role_in_household"].to_numpy(dtype=object)
    sex = persons["sex"].to_numpy(dtype=object)
    age = age_years(dob, ref1)
    latest_birth = pd.Series(dob).groupby(h).max().reindex(range(households.shape[0])).to_numpy()
    has_partner = np.bincount(h[role == "partner"], minlength=households.shape[0]) > 0
    rate = np.zeros(n)
    for low, high, value in BIRTH_RATE:
        rate[(age >= low) & (age < high)] = value
    rate *= np.where(has_partner[h], 1.0, LONE_BIRTH_FACTOR)
    mother = (
        np.isin(role, ("head", "partner"))
        & (sex == "F")
        & ~households["communal"].to_numpy()[h]
        & (latest_birth[h] < ref2 - BIRTH_SPACING_DAYS)
    )
    mothers = np.flatnonzero(mother & (rng.random(n) < rate))
    mothers = mothers[np.unique(h[mothers], return_index=True)[1]]  # one birth a household
    count = mothers.size
    home = h[mothers]
    quarter_days = int((ref2 - ref1).astype(np.int64))
    baby_dob = ref1 + rng.integers(1, quarter_days + 1, size=count)
    baby_sex = np.where(rng.random(count) < 0.512, "M", "F").astype(object)
    community = persons["community"].to_numpy(dtype=object)[mothers]
    birth_year = ymd(baby_dob)[0]

    # surname: the youngest sibling's, else the father's (a male head), else the mother's
    family = persons["family_name"].to_numpy(dtype=object)
    given_all = persons["given_name"].to_numpy(dtype=object)
    child = np.flatnonzero(role == "child")
    child = child[np.argsort(dob[child], kind="stable")]  # oldest first: youngest written last
    sibling_name = np.full(households.shape[0], "", dtype=object)
    sibling_given = np.full(households.shape[0], "", dtype=object)
    sibling_name[h[child]] = family[child]
    sibling_given[h[child]] = given_all[child]
    heads = np.flatnonzero(role == "head")
    head_name = np.full(households.shape[0], "", dtype=object)
    head_male = np.zeros(households.shape[0], dtype=bool)
    head_name[h[heads]] = family[heads]
    head_male[h[heads]] = sex[heads] == "M"
    surname = np.where(
        sibling_name[home] != "",
        sibling_name[home],
        np.where(head_male[home], head_name[home], family[mothers]),
    ).astype(object)

    given = names.given_names(rng, community, baby_sex, birth_year)
    given = names.redraw_equal(rng, given, sibling_given[home], community, baby_sex, birth_year)
    customs = tables.community_customs()
    has_middle = rng.random(count) < customs["middle_name_rate"].reindex(community).to_numpy()
    middle = names.given_names(rng, community, baby_sex, birth_year)
    middle = np.where(has_middle & (middle != given), middle, "").astype(object)

    existing = set(persons["nhs_number"].tolist())
    pool = [v for v in identifiers.nhs_numbers(rng, count + 64) if v not in existing]
    return pd.DataFrame(
        {
            "person": np.arange(n, n + count),
            "person_id": zero_padded(np.arange(n + 1, n + count + 1), 7, "P"),
            "household": home,
            "role_in_household": np.full(count, "child", dtype=object),
            "sex": baby_sex,
            "dob": baby_dob.astype(persons["dob"].dtype),
            "age": np.zeros(count, dtype=np.int64),
            "community": community,
            "given_name": given,
            "middle_names": middle,
            "family_name": surname,
            "previous_family_name": np.full(count, "", dtype=object),
            "double_barrelled": np.array(["-" in s for s in surname], dtype=bool),
            "twin_of": np.full(count, -1, dtype=np.int64),
            "nhs_number": np.array(pool[:count], dtype=object),
            "ni_number": np.full(count, "", dtype=object),
            "upn": np.full(count, "", dtype=object),
        }
    )


def _moves(
    rng: np.random.Generator,
    households: pd.DataFrame,
    dwellings: pd.DataFrame,
    ref1: np.datetime64,
    ref2: np.datetime64,
) -> pd.DataFrame:
    """Move some households (in place in ``households``) to an empty home, most in the same
    postcode district, a third elsewhere in the county. Returns the moves."""
    kind = households["kind"].to_numpy(dtype=object)
    rate = np.array([MOVE_RATE["other"]] * kind.size)
    family = households["family_id"].to_numpy(dtype=object) != ""
    rate[family] = MOVE_RATE["family"]
    rate *= QUARTER_MOVE_SHARE
    current = households["dwelling"].to_numpy().copy()
    previous = households["prev_dwelling"].to_numpy().copy()
    can_move = ~households["communal"].to_numpy() & (previous < 0)
    movers = np.flatnonzero(can_move & (rng.random(kind.size) < rate))
    d_row = dwellings["row"].to_numpy()
    target = d_row[current[movers]]
    far = np.flatnonzero(rng.random(movers.size) < 0.33)
    target[far] = target[rng.permutation(far)]
    taken = np.zeros(d_row.size, dtype=bool)
    taken[current] = True
    taken[previous[previous >= 0]] = True
    taken |= dwellings["communal"].to_numpy()
    new_home = np.full(movers.size, -1, dtype=np.int64)
    for r in np.unique(target):
        free = rng.permutation(np.flatnonzero((d_row == r) & ~taken))
        going = np.flatnonzero(target == r)
        placed = going[: free.size]
        new_home[placed] = free[: placed.size]
    moved = new_home >= 0
    movers, new_home = movers[moved], new_home[moved]
    quarter_days = int((ref2 - ref1).astype(np.int64))
    when = ref1 + rng.integers(1, quarter_days + 1, size=movers.size)
    old_home = current[movers]
    current[movers] = new_home
    previous[movers] = old_home
    move_date = households["move_date"].to_numpy().astype("datetime64[D]")
    move_date[movers] = when
    households["dwelling"] = current
    households["prev_dwelling"] = previous
    households["move_date"] = move_date.astype(households["move_date"].dtype)
    households["row"] = d_row[current]
    households["locality"] = dwellings["locality"].to_numpy(dtype=object)[current]
    uprn = dwellings["uprn"].to_numpy()
    postcode = dwellings["postcode"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "household_id": households["household_id"].to_numpy(dtype=object)[movers],
            "move_date": iso(when),
            "from_uprn": uprn[old_home],
            "to_uprn": uprn[new_home],
            "from_postcode": postcode[old_home],
            "to_postcode": postcode[new_home],
        }
    )
