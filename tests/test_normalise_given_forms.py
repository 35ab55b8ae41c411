"""Tests of protocols.normalise.names.given_name_forms and its table given_name_forms.csv."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.normalise import canonical_given_name, normalise_text
from protocols.normalise.names import (
    _given_forms,
    _nicknames,
    _validate_given_forms,
    given_name_forms,
)

NORMALISED_PART = re.compile(r"[A-Z0-9]+(?: [A-Z0-9]+)*")
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Harry", {"HARRY", "HENRY", "HAROLD", "HARRISON", "HARJIT", "HARPREET", "HARJINDER", "HARINDER",
                   "HARDEEP"}),
        # English short forms added with issue 10
        ("Terry", {"TERRY", "TERENCE", "THERESA"}),
        ("Tel", {"TEL", "TERENCE"}),
        ("Ant", {"ANT", "ANTHONY"}),
        ("Kez", {"KEZ", "KERRY", "KIERAN"}),
        ("Debs", {"DEBS", "DEBORAH"}),
        # South Asian: a short form, a pet name with usual full names, a Gujarati suffix
        ("Ram", {"RAM", "RAMESH", "RAMAN", "RAMCHANDRA"}),
        ("Sunny", {"SUNNY", "SANDEEP", "SUNIL", "SANJEEV", "SANJAY"}),
        ("Rameshbhai", {"RAMESHBHAI", "RAMESH"}),
        # Polish, Romanian, Lithuanian diminutives and their cross-language forms (through the
        # canonical form: KUBA is JAKUB, which may be JACOB or JAMES)
        ("Kuba", {"KUBA", "JAKUB", "JACOB", "JAMES"}),
        ("Aga", {"AGA", "AGNIESZKA", "AGNES"}),
        ("Ionuț", {"IONUT", "ION", "JOHN"}),
        ("Jonukas", {"JONUKAS", "JONAS", "JOHN"}),
        # Arabic and Somali transliterations resolve to one canonical spelling
        ("Maxamed", {"MAXAMED", "MUHAMMAD"}),
        ("Faadumo", {"FAADUMO", "FATIMA"}),
        ("Xuseen", {"XUSEEN", "HUSSAIN"}),
        ("Cabdiraxmaan", {"CABDIRAXMAAN", "ABDULRAHMAN"}),
        ("Abdi", {"ABDI", "ABDULLAH", "ABDULRAHMAN", "ABDULKARIM", "ABDULQADIR", "ABDULRASHID", "ABDULAZIZ",
                  "ABDIRIZAK", "ABDIWALI", "ABDIFATAH"}),
        ("JACK", {"JACK", "JOHN", "JACOB"}),
        ("Millie", {"MILLIE", "AMELIA", "MILDRED", "CAMILLA"}),
        ("sam", {"SAM", "SAMUEL", "SAMANTHA"}),
        ("Liam", {"LIAM", "WILLIAM"}),
        # an unambiguous nickname: itself and its canonical form (nicknames.csv)
        ("Bill", {"BILL", "WILLIAM"}),
        ("Catherine", {"CATHERINE", "KATHERINE"}),
        # full names and names with no known forms: themselves only
        ("Henry", {"HENRY"}),
        ("John", {"JOHN"}),
        ("William", {"WILLIAM"}),
        ("Harold", {"HAROLD"}),
        ("Zephaniah", {"ZEPHANIAH"}),
        (" zoë ", {"ZOE"}),
        ("", set()),
        ("  -- ", set()),
    ],
)
def test_given_name_forms(raw, expected):
    forms = given_name_forms(raw)
    assert set(forms) == expected
    assert list(forms) == sorted(set(forms))


def test_forms_meet_for_one_person_and_not_for_different_names():
    def meet(a: str, b: str) -> bool:
        return bool(set(given_name_forms(a)) & set(given_name_forms(b)))

    for short, full in [("HARRY", "HENRY"), ("JACK", "JOHN"), ("MILLIE", "AMELIA"), ("SAMMY", "SAMUEL"),
                        ("HAL", "HARRY"), ("JACK", "JOHNNY"), ("KATE", "CATHERINE"), ("LIAM", "BILL")]:
        assert meet(short, full), (short, full)
    for short, full in [("TERRY", "TERENCE"), ("DREW", "ANDREW"), ("RAM", "RAMESH"), ("AGA", "AGNIESZKA"),
                        ("JACKIE", "JACQUELINE"), ("ANT", "ANTONY"), ("TONY", "ANT"), ("DEL", "DEREK"),
                        ("GAZ", "GARY"), ("BAZ", "BARRY"), ("KEZ", "KERRY"), ("JACKS", "JACKIE"), ("DEBS", "DEBBIE"),
                        ("BEX", "BECKY"), ("LOU", "LOUISE"), ("MO", "MOHAMED"), ("RAJ", "RAJESH"),
                        ("RAJ", "RAJINDER"), ("MATEUSZ", "MATTHEW"), ("KUBA", "JAKE"), ("KRZYSIEK", "CHRISTOPHER"),
                        ("MICHAL", "MICK"), ("PIOTREK", "PETER"), ("JANEK", "JOHNNY"), ("PAWEL", "PAUL"),
                        ("ANDRZEJ", "ANDY"), ("GICU", "GEORGE"), ("NICU", "NICOLAE"), ("CABDI", "ABDULRAHMAN"),
                        ("XASAN", "HASAN"), ("CAASHA", "AYESHA"), ("YOUSSEF", "YUSUF"), ("EBRAHIM", "IBRAHIM"),
                        ("UMAR", "OMAR"), ("NASRIN", "NASREEN"), ("HOSSAIN", "HUSSEIN"), ("FATEMA", "FAADUMO")]:
        assert meet(short, full), (short, full)
    for a, b in [("WILLIAM", "HAROLD"), ("HENRY", "HAROLD"), ("JOHN", "JACOB"), ("OLIVER", "OLIVIA"),
                 ("HARRY", "JACK"), ("SAMUEL", "SAMANTHA"), ("MATTHEW", "MICHAEL"), ("RAMESH", "RAJESH"),
                 ("HUSSAIN", "HASSAN"), ("FATIMA", "AISHA"), ("IMRAN", "MUHAMMAD"), ("KASIA", "GOSIA")]:
        assert not meet(a, b), (a, b)


def test_table_is_clean_and_every_full_form_is_canonical():
    table = _given_forms()
    assert len(table) >= 100
    nicknames = _nicknames()
    for short, fulls in table.items():
        assert normalise_text(short) == short and " " not in short and short not in nicknames
        for full in fulls:
            assert normalise_text(full) == full and full not in table and full not in nicknames
            assert given_name_forms(full) == (full,)


def test_nicknames_table_is_clean_and_conservative():
    nicknames = _nicknames()
    assert len(nicknames) >= 700
    assert not set(nicknames.values()) & set(nicknames)          # no chains
    for variant, canonical in nicknames.items():
        assert canonical_given_name(variant) == canonical and canonical_given_name(canonical) == canonical
    # ambiguous short forms and names in their own right stay out of the canonical table
    for ambiguous in ("TERRY", "JACKIE", "RAJ", "RAM", "SUNNY", "PINKY", "ASIA", "OLA", "ABDI", "ABDUL", "JAN",
                      "ION", "MAREK", "MATEUSZ", "GEORGE", "ALI", "MO", "DREW", "HARRY", "JACK"):
        assert ambiguous not in nicknames, ambiguous
    # transliterations of one name are one canonical spelling
    for group in (("MOHAMMED", "MUHAMMAD", "MOHAMED", "MOHAMMAD", "MOHAMAD", "MUHAMMED", "MAXAMED", "MD"),
                  ("HUSSAIN", "HUSSEIN", "HOSSAIN", "XUSEEN"), ("AHMED", "AHMAD", "AXMED"),
                  ("FATIMA", "FATEMA", "FAADUMO"), ("NASREEN", "NASRIN"), ("YUSUF", "YOUSEF", "YOUSSEF"),
                  ("IBRAHIM", "EBRAHIM"), ("OMAR", "UMAR", "CUMAR"), ("HASSAN", "XASAN", "HASAN"),
                  ("AISHA", "CAASHA", "AYESHA"), ("ABDI", "CABDI"), ("ABDULRAHMAN", "ABDURRAHMAN", "ABDIRAHMAN")):
        assert len({canonical_given_name(n) for n in group}) == 1, group


def test_validation_rejects_bad_tables():
    nicknames = {"BILL": "WILLIAM"}
    with pytest.raises(ValueError, match="also short forms"):
        _validate_given_forms([("NAT", "NATHAN"), ("NATHAN", "NATHANIEL")], nicknames)
    with pytest.raises(ValueError, match="twice"):
        _validate_given_forms([("SAM", "SAMUEL"), ("SAM", "SAMUEL")], nicknames)
    with pytest.raises(ValueError, match="own full form"):
        _validate_given_forms([("SAM", "SAM")], nicknames)
    with pytest.raises(ValueError, match="normalised"):
        _validate_given_forms([("sam", "SAMUEL")], nicknames)
    with pytest.raises(ValueError, match="normalised"):
        _validate_given_forms([("SAM", "")], nicknames)
    with pytest.raises(ValueError, match="nicknames.csv"):
        _validate_given_forms([("BILL", "WILLIAM")], nicknames)
    with pytest.raises(ValueError, match="canonical form WILLIAM"):
        _validate_given_forms([("WILLS", "BILL")], nicknames)
    with pytest.raises(ValueError, match="suffix"):
        _validate_given_forms([("RAJ", "RAJKUMAR")], nicknames, ("KUMAR",))
    assert _validate_given_forms([("RAJ", "RAJKUMAR")], nicknames) == {"RAJ": ("RAJKUMAR",)}
    assert _validate_given_forms([("SAM", "SAMUEL"), ("SAM", "SAMANTHA")], nicknames) == {
        "SAM": ("SAMANTHA", "SAMUEL")}


@settings(deadline=None, max_examples=200)
@given(st.one_of(ANY_TEXT, st.sampled_from(sorted(_given_forms())), st.sampled_from(sorted(_nicknames()))))
def test_forms_are_total_and_hold_the_part_and_its_canonical_form(text):
    forms = given_name_forms(text)
    key = normalise_text(text)
    assert forms == given_name_forms(key)
    if not key:
        assert forms == ()
        return
    assert key in forms and canonical_given_name(key) in forms
    assert all(NORMALISED_PART.fullmatch(f) for f in forms)
    for form in forms:  # every form of a part is a full or canonical form meeting the part's forms
        assert set(given_name_forms(form)) & set(forms)
