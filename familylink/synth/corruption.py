"""Recording errors, applied per record (one person in one source), vectorised where it
matters: rates come from ``CorruptionSettings``; string edits run only on the chosen few."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from familylink.synth import tables
from familylink.synth.dates import from_ymd, iso, ymd
from familylink.synth.identifiers import spoil_nhs_numbers
from familylink.synth.settings import CorruptionSettings

JUSTICE_SOURCES = ("police", "probation")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_NOT_DECOMPOSED = str.maketrans(
    {"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "ß": "ss", "Đ": "D", "đ": "d"}
)


@cache
def _variants(field: str) -> dict[str, tuple[str, ...]]:
    """name -> its alternatives (both directions of the bundled table), sorted."""
    table = tables.name_variants()
    table = table[table["field"] == field]
    out: dict[str, set[str]] = {}
    for name, variant in zip(table["name"], table["variant"], strict=True):
        out.setdefault(name, set()).add(variant)
        out.setdefault(variant, set()).add(name)
    return {k: tuple(sorted(v - {k})) for k, v in sorted(out.items())}


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_NOT_DECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pick(
    rng: np.random.Generator, rate: float, n: int, where: np.ndarray | None = None
) -> np.ndarray:
    chosen = rng.random(n) < rate
    return chosen if where is None else chosen & where


def _map_unique(values: np.ndarray, chosen: np.ndarray, function) -> None:
    """Apply ``function`` to the chosen entries in place, once per distinct value."""
    index = np.flatnonzero(chosen)
    if index.size == 0:
        return
    distinct = {v: function(v) for v in sorted(set(values[index].tolist()))}
    values[index] = [distinct[v] for v in values[index]]


def typo(text: str, r: np.ndarray) -> str:
    """One keyboard error chosen by four uniform numbers ``r``: insert, delete, substitute or
    transpose a letter (never the first letter, names rarely go wrong there)."""
    if len(text) < 3:
        return text
    op = int(r[0] * 4)
    pos = 1 + int(r[1] * (len(text) - 1))
    letter = _LETTERS[int(r[2] * 26)]
    if text[pos - 1].isupper() and text[pos - 1 :].isupper():
        letter = letter.upper()
    if op == 0:
        return text[:pos] + letter + text[pos:]
    if op == 1:
        return text[:pos] + text[pos + 1 :]
    if op == 2:
        return text[:pos] + (letter if letter != text[pos].lower() else "e") + text[pos + 1 :]
    if pos + 1 < len(text):
        return text[:pos] + text[pos + 1] + text[pos] + text[pos + 2 :]
    return text[: pos - 1] + text[pos] + text[pos - 1]


@dataclass
class RecordIdentity:
    """Identity columns of each record as the source holds them, plus address styling."""

    given_name: np.ndarray
    middle_names: np.ndarray
    family_name: np.ndarray
    date_of_birth: np.ndarray  # strings
    sex: np.ndarray
    nhs_number: np.ndarray
    ni_number: np.ndarray
    upn: np.ndarray
    uprn_missing: np.ndarray
    stale_address: np.ndarray
    layout: np.ndarray  # 0 canonical, 1 "2/14 Mill Ln", 2 "14 Mill Lane Flat 2", 3 no commas
    abbreviate: np.ndarray
    town_missing: np.ndarray
    address_missing: np.ndarray
    postcode_style: np.ndarray  # 0 as is, 1 no space, 2 lower case, 3 two spaces, 4 lower no space
    postcode_missing: np.ndarray
    postcode_invalid: np.ndarray


def corrupt_names(
    rng: np.random.Generator,
    s: CorruptionSettings,
    source: str,
    people: pd.DataFrame,
    has_middle_column: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = people.shape[0]
    given = people["given_name"].to_numpy(dtype=object).copy()
    middle = people["middle_names"].to_numpy(dtype=object).copy()
    family = people["family_name"].to_numpy(dtype=object).copy()
    previous = people["previous_family_name"].to_numpy(dtype=object)

    old = _pick(rng, s.old_surname, n, previous != "")
    family[old] = previous[old]
    partial = np.flatnonzero(
        _pick(rng, s.partial_double_barrel, n, people["double_barrelled"].to_numpy() & ~old)
    )
    how = rng.integers(0, 3, size=partial.size)
    for i, h in zip(partial, how, strict=True):
        parts = family[i].split("-")
        family[i] = parts[0] if h == 0 else parts[-1] if h == 1 else " ".join(parts)

    for values, field, rate in (
        (given, "given", s.nickname),
        (family, "family", s.family_spelling),
    ):
        table = _variants(field)
        known = np.fromiter((v in table for v in values), dtype=bool, count=n)
        index = np.flatnonzero(_pick(rng, rate, n, known))
        choice = rng.random(index.size)
        for i, r in zip(index, choice, strict=True):
            options = table[values[i]]
            values[i] = options[int(r * len(options))]

    if has_middle_column:
        middle[_pick(rng, s.middle_name_missing, n, middle != "")] = ""
    else:
        joined = _pick(rng, s.middle_in_given, n, middle != "")
        given[joined] = (
            given[joined] + " " + np.array([m.split(" ")[0] for m in middle[joined]], dtype=object)
        )
        middle[:] = ""

    for values in (given, middle, family):
        accented = np.fromiter((not v.isascii() for v in values), dtype=bool, count=n)
        _map_unique(values, _pick(rng, s.accent_stripped, n, accented), strip_accents)
    apostrophe = np.fromiter(("'" in v for v in family), dtype=bool, count=n)
    spaced = rng.random(n) < 0.3
    _map_unique(
        family,
        _pick(rng, s.apostrophe_variation, n, apostrophe & ~spaced),
        lambda v: v.replace("'", ""),
    )
    _map_unique(
        family,
        _pick(rng, s.apostrophe_variation, n, apostrophe & spaced),
        lambda v: v.replace("'", " "),
    )

    typo_at = np.flatnonzero(rng.random(n) < s.name_typo)
    in_given = rng.random(typo_at.size) < 0.6
    r = rng.random((typo_at.size, 3))
    for i, g, rr in zip(typo_at, in_given, r, strict=True):
        if g:
            given[i] = typo(given[i], rr)
        else:
            family[i] = typo(family[i], rr)

    swap = rng.random(n) < s.name_swap
    given[swap], family[swap] = family[swap], given[swap].copy()

    upper_rate = s.upper_case_justice if source in JUSTICE_SOURCES else s.upper_case
    draw = rng.random(n)
    upper = draw < upper_rate
    lower = (draw >= upper_rate) & (draw < upper_rate + s.lower_case)
    title = (draw >= upper_rate + s.lower_case) & (draw < upper_rate + s.lower_case + s.title_case)
    for values in (given, middle, family):
        _map_unique(values, upper, str.upper)
        _map_unique(values, lower, str.lower)
        _map_unique(values, title, str.title)
    return given, middle, family


def corrupt_dates_of_birth(
    rng: np.random.Generator,
    s: CorruptionSettings,
    source: str,
    dob: np.ndarray,
    first_event: np.ndarray,
    ref: np.datetime64,
) -> np.ndarray:
    """DOB strings with swaps, digit errors and blanks. A changed date is kept only when it
    is no later than the record's first event (``first_event``, NaT if none) nor ``ref``."""
    n = dob.size
    year, month, day_ = ymd(dob)
    swap = _pick(rng, s.dob_day_month_swap, n, (day_ <= 12) & (day_ != month))
    new_y, new_m, new_d = year.copy(), np.where(swap, day_, month), np.where(swap, month, day_)
    digit = rng.random(n) < s.dob_digit_error
    which = rng.integers(0, 3, size=n)
    new_y = np.where(
        digit & (which == 0), year + rng.choice([-1, 1, -10], size=n, p=[0.45, 0.45, 0.1]), new_y
    )
    units = day_ % 10
    new_unit = (units + rng.integers(1, 9, size=n)) % 10
    day_digit = np.clip(day_ - units + new_unit, 1, 28)
    new_d = np.where(digit & (which >= 1), day_digit, new_d)
    changed = from_ymd(new_y, new_m, new_d)
    latest = np.where(np.isnat(first_event), ref, np.minimum(first_event, ref))
    keep = (swap | digit) & (changed <= latest)
    out = np.where(keep, changed, dob).astype("datetime64[D]")
    text = iso(out)
    missing_rate = s.dob_missing_police if source == "police" else s.dob_missing
    text[rng.random(n) < missing_rate] = ""
    return text


def corrupt_identity(
    rng: np.random.Generator,
    s: CorruptionSettings,
    source: str,
    people: pd.DataFrame,
    first_event: np.ndarray,
    has_middle_column: bool,
    ref: np.datetime64,
) -> RecordIdentity:
    """The identity each record carries. ``people`` has one row per record (persons columns)."""
    n = people.shape[0]
    given, middle, family = corrupt_names(rng, s, source, people, has_middle_column)
    dob = corrupt_dates_of_birth(
        rng, s, source, people["dob"].to_numpy().astype("datetime64[D]"), first_event, ref
    )
    sex = people["sex"].to_numpy(dtype=object).copy()
    unknown = rng.random(n) < s.sex_unknown
    sex[unknown] = np.where(rng.random(int(unknown.sum())) < 0.5, "U", "")

    nhs = people["nhs_number"].to_numpy(dtype=object).copy()
    nhs_missing = s.identifier_missing * (5 if source == "social_care" else 1)
    bad = np.flatnonzero(rng.random(n) < s.nhs_invalid)
    nhs[bad] = spoil_nhs_numbers(rng, nhs[bad].astype(str))
    nhs[rng.random(n) < min(1.0, nhs_missing)] = ""
    ni = people["ni_number"].to_numpy(dtype=object).copy()
    ni_missing = s.identifier_missing * (10 if source == "housing" else 0.2)
    ni[rng.random(n) < min(1.0, ni_missing)] = ""
    spaced = np.flatnonzero(_pick(rng, s.ni_spaced, n, ni != ""))
    ni[spaced] = [f"{v[:2]} {v[2:4]} {v[4:6]} {v[6:8]} {v[8:]}" for v in ni[spaced]]
    upn = people["upn"].to_numpy(dtype=object).copy()
    upn[(people["age"].to_numpy() > 19) | (rng.random(n) < s.identifier_missing)] = ""
    uprn_missing = rng.random(n) < min(
        1.0, s.identifier_missing * (12 if source == "social_care" else 1)
    )

    style = rng.random(n)
    layout = np.where(style < s.address_layout, rng.integers(1, 4, size=n), 0)
    postcode_style = np.where(rng.random(n) < s.postcode_format, rng.integers(1, 5, size=n), 0)
    return RecordIdentity(
        given_name=given,
        middle_names=middle,
        family_name=family,
        date_of_birth=dob,
        sex=sex,
        nhs_number=nhs,
        ni_number=ni,
        upn=upn,
        uprn_missing=uprn_missing,
        stale_address=rng.random(n) < s.stale_address,
        layout=layout,
        abbreviate=rng.random(n) < s.street_abbreviation,
        town_missing=rng.random(n) < s.town_missing,
        address_missing=rng.random(n) < s.address_missing,
        postcode_style=postcode_style,
        postcode_missing=rng.random(n) < s.postcode_missing,
        postcode_invalid=rng.random(n) < s.postcode_invalid,
    )


def format_postcodes(
    rng: np.random.Generator, postcode: np.ndarray, style: np.ndarray, invalid: np.ndarray
) -> np.ndarray:
    """Postcodes as recorded: spacing and case per ``style``; a few malformed on purpose."""
    out = postcode.astype(object).copy()
    forms = {
        1: lambda p: p.replace(" ", ""),
        2: str.lower,
        3: lambda p: p.replace(" ", "  "),
        4: lambda p: p.replace(" ", "").lower(),
    }
    for code, form in forms.items():
        index = np.flatnonzero(style == code)
        out[index] = [form(p) for p in postcode[index]]
    bad = np.flatnonzero(invalid)
    how = rng.integers(0, 3, size=bad.size)
    for i, h in zip(bad, how, strict=True):
        p = postcode[i]
        out[i] = (
            p[:-1]
            if h == 0
            else p.split(" ")[0]
            if h == 1
            else p.replace("1", "I").replace("0", "O") + "X"
        )
    return out
