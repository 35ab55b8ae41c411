"""Names as councils meet them, at the sealed-column level: Sikh names (KAUR, SINGH) as family
name, middle name or part of a family surname; hyphenated, double-barrelled and solid family
names; given names after a prefix; Gujarati given-name suffixes. Plus the properties of the
normalisation behind them (hypothesis)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.encoding import ExtractEncoder
from protocols.keys import generate_key
from protocols.normalise import name_parts, normalise_text
from protocols.normalise.names import (
    _given_affixes,
    _validate_given_affixes,
    family_name_parts,
    given_name_forms,
    given_name_forms_of_parts,
)
from protocols.rawfile import RawChunk
from protocols.validation import RowValidator
from tests.conftest import EXTRACT_DATE

KEY = generate_key()
HEADER = ["record_id", "given_name", "middle_names", "family_name", "date_of_birth", "indicator", "event_date"]
NORMALISED_PART = re.compile(r"[A-Z0-9]+")
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
PART = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=9)


def sealed(agreements, given_name: str, family_name: str, middle: str = "") -> dict:
    """One health record sealed (health shares middle names)."""
    from pathlib import Path

    values = {"record_id": "A", "given_name": given_name, "middle_names": middle, "family_name": family_name,
              "date_of_birth": "1990-04-01"}
    validator = RowValidator(Path("health.csv"), HEADER, agreements["health"], EXTRACT_DATE)
    result = validator.check(RawChunk([2], [[values.get(c, "") for c in HEADER]]))
    assert len(result.clean) == 1, result.issues
    encoder = ExtractEncoder(KEY, agreements.partnership, agreements["health"], EXTRACT_DATE)
    return encoder.encode(result.clean).to_pylist()[0]


def shares(a: dict, b: dict, column: str) -> int:
    return len(set(a[column] or ()) & set(b[column] or ()))


def test_sikh_family_names_share_the_family_surname_and_the_name_parts(agreements):
    hyphenated = sealed(agreements, "Harpreet", "Kaur-Dhillon")
    spaced = sealed(agreements, "Harpreet", "KAUR DHILLON")
    surname = sealed(agreements, "Harpreet", "Dhillon")
    kaur_only = sealed(agreements, "Harpreet", "Kaur")
    kaur_middle = sealed(agreements, "Harpreet", "Dhillon", middle="Kaur")
    other_family = sealed(agreements, "Harpreet", "Kaur-Sandhu")
    assert hyphenated["tok_family"] == spaced["tok_family"]
    assert hyphenated["tok_family_parts"] == spaced["tok_family_parts"]
    assert len(hyphenated["tok_family_parts"]) == 3                    # KAUR, DHILLON, KAURDHILLON
    assert shares(hyphenated, surname, "tok_family_parts") == 1        # DHILLON: the surname proper
    assert shares(hyphenated, kaur_only, "tok_family_parts") == 1      # KAUR
    assert shares(surname, kaur_only, "tok_family_parts") == 0         # nothing says DHILLON is KAUR
    assert shares(hyphenated, other_family, "tok_family_parts") == 1   # KAUR only: another family
    # family name only KAUR in one source, KAUR as a middle name in another: a shared name part
    assert shares(kaur_only, kaur_middle, "tok_name_parts") == 2       # HARPREET, KAUR
    assert shares(kaur_middle, hyphenated, "tok_name_parts") == 3      # HARPREET, KAUR, DHILLON
    singh = sealed(agreements, "Jaswinder", "Singh Sandhu")
    assert shares(singh, sealed(agreements, "Jaswinder", "Sandhu"), "tok_family_parts") == 1
    assert shares(singh, sealed(agreements, "Jaswinder", "Sandhu", middle="Singh"), "tok_name_parts") == 3


def test_double_barrelled_names_meet_each_part_and_the_solid_form(agreements):
    double = sealed(agreements, "Amy", "Smith-Jones")
    for other, shared in [("Smith Jones", 3), ("SMITHJONES", 1), ("Smith", 1), ("Jones", 1), ("Brown", 0)]:
        assert shares(double, sealed(agreements, "Amy", other), "tok_family_parts") == shared, other
    assert shares(sealed(agreements, "Sean", "O Brien"), sealed(agreements, "Sean", "O'Brien"), "tok_family_parts") == 1
    assert len(sealed(agreements, "Amy", "Smith")["tok_family_parts"]) == 1


def test_nothing_marks_a_sikh_name_in_clear_or_in_the_shape_of_the_columns(agreements):
    """KAUR and SINGH are encoded exactly like any other part: the same columns, the same counts
    of tokens as a non-Sikh name of the same shape, and no clear column that differs."""
    sikh, other = sealed(agreements, "Harpreet", "Kaur-Dhillon"), sealed(agreements, "Harriet", "Moore-Dillon")
    clear = [c for c, v in sikh.items() if not c.startswith(("tok_", "bf_")) and c not in ("record_id",)]
    assert all(sikh[c] == other[c] for c in clear)
    for column in ("tok_family_parts", "tok_name_parts"):
        assert len(sikh[column]) == len(other[column])
    assert {c for c, v in sikh.items() if v is None} == {c for c, v in other.items() if v is None}


def test_given_name_after_a_prefix_and_with_a_suffix_meets_the_calling_name(agreements):
    def meet(a: str, b: str) -> bool:
        return bool(shares(sealed(agreements, a, "Khan"), sealed(agreements, b, "Khan"), "tok_given_forms"))

    assert meet("Mohammed Imran", "Imran")
    assert meet("Md Imran", "IMRAN")
    assert meet("Syed Ali", "Ali")
    assert meet("Rameshbhai", "Ramesh") and meet("Hansaben", "Hansa") and meet("Rajeshkumar", "Rajesh")
    assert meet("Kuba", "Jacob") and meet("Mateusz", "Matthew") and meet("Ionut", "Ion")
    assert not meet("Imran", "Ali")
    assert not meet("Mohammed Imran", "Ali")


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("MOHAMMED", "IMRAN"), {"MOHAMMED", "MUHAMMAD", "IMRAN"}),
        (("IMRAN", "MOHAMMED"), {"IMRAN"}),
        (("SYED", "ALI", "HASSAN"), {"SYED", "ALI"}),
        (("KUBA",), {"KUBA", "JAKUB", "JACOB", "JAMES"}),
        (("RAMESHBHAI", "PATEL"), {"RAMESHBHAI", "RAMESH"}),
        ((), set()),
        (("",), set()),
    ],
)
def test_given_name_forms_of_parts(parts, expected):
    assert set(given_name_forms_of_parts(parts)) == expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("SMITH", "JONES"), ("JONES", "SMITH", "SMITHJONES")),
        (("KAUR", "DHILLON"), ("DHILLON", "KAUR", "KAURDHILLON")),
        (("SMITH",), ("SMITH",)),
        (("VAN", "DER", "BERG"), ("BERG", "DER", "VAN", "VANDERBERG")),
        (("SMITH", "SMITH"), ("SMITH", "SMITHSMITH")),
        ((), ()),
    ],
)
def test_family_name_parts(parts, expected):
    assert family_name_parts(parts) == expected


def test_affix_table_is_checked_at_load():
    prefixes, suffixes = _given_affixes()
    assert {"MUHAMMAD", "SYED", "ABDUL"} <= prefixes and {"BHAI", "BEN", "KUMAR"} <= set(suffixes)
    assert list(suffixes) == sorted(suffixes, key=lambda w: (-len(w), w))
    nicknames = {"MOHAMMED": "MUHAMMAD"}
    with pytest.raises(ValueError, match="canonical form MUHAMMAD"):
        _validate_given_affixes([("MOHAMMED", "prefix")], nicknames)
    with pytest.raises(ValueError, match="twice"):
        _validate_given_affixes([("BEN", "suffix"), ("BEN", "prefix")], nicknames)
    with pytest.raises(ValueError, match="kind"):
        _validate_given_affixes([("BEN", "infix")], nicknames)
    with pytest.raises(ValueError, match="normalised"):
        _validate_given_affixes([("bhai", "suffix")], nicknames)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.one_of(ANY_TEXT, PART, st.sampled_from(["MOHAMMED", "MD", "SYED", "ABDUL", "RAMESHBHAI"])),
                max_size=4))
def test_forms_of_parts_are_total_and_hold_the_first_parts_forms(parts):
    forms = given_name_forms_of_parts(parts)
    keys = [k for p in parts for k in normalise_text(p).split()]
    assert forms == tuple(sorted(set(forms)))
    assert all(NORMALISED_PART.fullmatch(f) for f in forms)
    if not keys:
        assert forms == ()
        return
    assert set(given_name_forms(keys[0])) <= set(forms)
    assert given_name_forms_of_parts(keys) == forms          # normalising first changes nothing


@settings(deadline=None, max_examples=200)
@given(st.lists(st.one_of(ANY_TEXT, PART), max_size=4))
def test_family_parts_are_total_and_meet_every_part(parts):
    values = family_name_parts(parts)
    keys = [k for p in parts for k in normalise_text(p).split()]
    assert values == tuple(sorted(set(values)))
    assert all(NORMALISED_PART.fullmatch(v) for v in values)
    assert set(keys) <= set(values)
    assert len(values) <= len(set(keys)) + (len(keys) > 1)
    if len(keys) > 1:
        assert "".join(keys) in values
        # the solid form meets the name written with hyphens or spaces
        assert set(family_name_parts(("".join(keys),))) <= set(values)
    assert family_name_parts(name_parts("-".join(parts))) == family_name_parts(name_parts(" ".join(parts)))


@settings(deadline=None, max_examples=200)
@given(PART, st.sampled_from(["BHAI", "BEN", "KUMAR", "KUMARI"]))
def test_a_suffixed_name_meets_its_stem(stem, suffix):
    forms = set(given_name_forms(stem + suffix))
    if len(stem) >= 3:
        assert set(given_name_forms(stem)) & forms
    assert stem + suffix in forms
