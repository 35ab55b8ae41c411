"""Property tests of protocols.normalise (hypothesis)."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from protocols.normalise import (
    Address,
    Postcode,
    age_in_months,
    age_in_years,
    bigrams,
    canonical_given_name,
    compile_date_format,
    metaphone,
    name_parts,
    nhs_check_digit,
    normalise_address,
    normalise_household_ref,
    normalise_name,
    normalise_nhs_number,
    normalise_ni_number,
    normalise_sex,
    normalise_text,
    normalise_upn,
    normalise_uprn,
    nysiis,
    parse_date,
    parse_postcode,
    swap_day_month,
    truncate_to_month,
    upn_check_letter,
)
from protocols.normalise.names import _nicknames

settings.register_profile("normalise", deadline=None, max_examples=200)
settings.load_profile("normalise")

#: Any text at all, lone surrogates included.
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)
NORMALISED = re.compile(r"(?:[A-Z0-9]+(?: [A-Z0-9]+)*)?")
LATIN_WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10
)
COMBINING = st.characters(min_codepoint=0x300, max_codepoint=0x36F)

# --- names ------------------------------------------------------------------------


@given(ANY_TEXT)
@example("ͅ")
@example("A\u0345B")
@example("ŉ")
@example("ß")
def test_normalise_text_idempotent_charset_and_case_free(text):
    out = normalise_text(text)
    assert NORMALISED.fullmatch(out)
    assert normalise_text(out) == out
    assert normalise_text(text.upper()) == out
    assert normalise_text(text.lower()) == out
    assert normalise_text(text.swapcase()) == out


@given(ANY_TEXT)
def test_normalise_text_ignores_extra_whitespace(text):
    padded = " \t" + re.sub(r"\s", "  \n ", text) + "\u00a0 \r\n"
    assert normalise_text(padded) == normalise_text(text)


@given(st.lists(st.tuples(LATIN_WORD, st.lists(COMBINING, max_size=3)), min_size=1, max_size=4))
def test_normalise_text_ignores_added_accents(words):
    plain = " ".join(word for word, _ in words)
    accented = " ".join("".join(ch + "".join(marks) for ch in word) for word, marks in words)
    expected = normalise_text(plain)
    assert normalise_text(accented) == expected
    assert normalise_text(unicodedata.normalize("NFC", accented)) == expected
    assert normalise_text(unicodedata.normalize("NFD", accented)) == expected


@given(st.lists(LATIN_WORD, min_size=1, max_size=5))
def test_name_parts_hyphen_equals_space(words):
    assert name_parts("-".join(words)) == name_parts(" ".join(words))
    assert name_parts(" - ".join(words)) == name_parts(" ".join(words))


@given(ANY_TEXT)
def test_name_parts_never_empty_for_a_non_blank_name(text):
    parts = name_parts(text)
    assert bool(parts) == bool(normalise_text(text))
    assert all(NORMALISED.fullmatch(p) and " " not in p and p for p in parts)
    assert normalise_name(text) == " ".join(parts)
    assert name_parts(normalise_name(text)) == parts


@given(
    st.one_of(
        ANY_TEXT,
        st.sampled_from(sorted(_nicknames())),
        st.sampled_from(sorted(set(_nicknames().values()))),
    )
)
def test_canonical_given_name_idempotent(text):
    once = canonical_given_name(text)
    assert canonical_given_name(once) == once
    assert NORMALISED.fullmatch(once)


@given(ANY_TEXT)
def test_phonetic_codes_and_bigrams_total(text):
    for code in (nysiis(text), metaphone(text)):
        assert isinstance(code, str)
    assert nysiis(text) == nysiis(normalise_text(text))
    grams = bigrams(text)
    assert len(set(grams)) == len(grams)
    assert all(len(g) == 2 for g in grams)
    assert bool(grams) == bool(normalise_text(text))
    assert grams == bigrams(normalise_text(text))


# --- dates -------------------------------------------------------------------------

PATTERNS = [
    "YYYY-MM-DD",
    "DD/MM/YYYY",
    "DD-MM-YYYY",
    "YYYYMMDD",
    "MM/DD/YYYY",
    "DD.MM.YYYY",
    "YYYY/MM/DD",
    "DD MM YYYY",
]
DATES = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


def _write(d: date, pattern: str, short: bool = False) -> str:
    day = str(d.day) if short else f"{d.day:02d}"
    month = str(d.month) if short else f"{d.month:02d}"
    return pattern.replace("YYYY", f"{d.year:04d}").replace("MM", month).replace("DD", day)


@given(DATES, st.sampled_from(PATTERNS))
def test_parse_date_round_trip(d, pattern):
    assert parse_date(_write(d, pattern), pattern) == d
    assert parse_date(f"  {_write(d, pattern)}\t", pattern) == d


@given(
    st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)), st.sampled_from(PATTERNS)
)
def test_parse_date_round_trip_through_strftime(d, pattern):
    assert parse_date(d.strftime(compile_date_format(pattern)), pattern) == d


@given(DATES, st.sampled_from([p for p in PATTERNS if p != "YYYYMMDD"]))
def test_parse_date_accepts_short_day_and_month_with_separators(d, pattern):
    assert parse_date(_write(d, pattern, short=True), pattern) == d


@given(DATES)
def test_swap_day_month_is_an_involution(d):
    swapped = swap_day_month(d)
    if swapped is None:
        assert d.day > 12 or d.day == d.month
    else:
        assert swapped != d
        assert (swapped.day, swapped.month, swapped.year) == (d.month, d.day, d.year)
        assert swap_day_month(swapped) == d


@given(DATES, DATES, st.integers(min_value=0, max_value=4000))
def test_ages_monotone_and_consistent(dob, at, step):
    assume(at <= date.max - timedelta(days=step))
    later = at + timedelta(days=step)
    assert age_in_years(dob, at) <= age_in_years(dob, later)
    assert age_in_months(dob, at) <= age_in_months(dob, later)
    assert age_in_years(dob, at) == age_in_months(dob, at) // 12
    assert (age_in_years(dob, at) < 0) == (at < dob)
    assert (age_in_months(dob, at) < 0) == (at < dob)
    assert age_in_years(dob, dob) == 0 and age_in_months(dob, dob) == 0


@given(DATES)
def test_truncate_to_month(d):
    first = truncate_to_month(d)
    assert (first.year, first.month, first.day) == (d.year, d.month, 1)
    assert truncate_to_month(first) == first


# --- postcodes ------------------------------------------------------------------------

LETTER = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGIT = st.sampled_from("0123456789")


@st.composite
def postcodes(draw) -> tuple[str, str]:
    shape = draw(st.sampled_from(["A9", "A99", "AA9", "AA99", "A9A", "AA9A"]))
    outward = "".join(draw(LETTER if c == "A" else DIGIT) for c in shape)
    inward = draw(DIGIT) + draw(LETTER) + draw(LETTER)
    return outward, inward


@given(
    postcodes(),
    st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=8, max_size=8),
    st.booleans(),
)
def test_postcode_invariant_under_case_and_spacing(code, gaps, lower):
    outward, inward = code
    chars = list(outward + inward)
    written = gaps[0] + "".join(c + g for c, g in zip(chars, gaps[1:] + [""] * 8, strict=False))
    if lower:
        written = written.lower()
    parsed = parse_postcode(written)
    assert parsed == Postcode(
        unit=f"{outward} {inward}",
        sector=f"{outward} {inward[0]}",
        district=outward,
        area=re.match(r"[A-Z]+", outward).group(),
    )
    assert parse_postcode(parsed.unit) == parsed


# --- identifiers ----------------------------------------------------------------------


@st.composite
def nhs_numbers(draw) -> str:
    nine = draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    check = nhs_check_digit(nine)
    assume(check is not None)
    number = nine + str(check)
    assume(len(set(number)) > 1)
    return number


@given(nhs_numbers())
def test_generated_nhs_numbers_validate(number):
    assert normalise_nhs_number(number) == number
    assert normalise_nhs_number(f"{number[:3]} {number[3:6]} {number[6:]}") == number


@given(nhs_numbers(), st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=9))
def test_nhs_single_digit_change_detected(number, position, delta):
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(ValueError):
        normalise_nhs_number(changed)


@given(nhs_numbers(), st.integers(min_value=0, max_value=8))
def test_nhs_adjacent_transposition_detected(number, position):
    assume(number[position] != number[position + 1])
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    with pytest.raises(ValueError):
        normalise_nhs_number(swapped)


@given(
    st.text(alphabet="0123456789", min_size=11, max_size=11),
    st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUVWXYZ"),
)
def test_generated_upns_validate_and_errors_detected(eleven, last):
    body = eleven + last
    upn = upn_check_letter(body) + body
    assert normalise_upn(upn.lower()) == upn
    wrong = next(c for c in "ABCDEFGHJKLMNPQRTUVWXYZ" if c != upn[0])
    with pytest.raises(ValueError):
        normalise_upn(wrong + body)


# --- addresses --------------------------------------------------------------------------

STREET_NAMES = [
    "MILL",
    "CHURCH",
    "STATION",
    "HIGH",
    "OAK TREE",
    "BEAUMONT",
    "QUEENS",
    "ASHBY",
    "SAINT MARYS",
    "KINGS",
    "MELTON",
    "FOREST",
]
TYPES = {
    "ROAD": ["ROAD", "RD", "Rd."],
    "STREET": ["STREET", "ST", "St."],
    "AVENUE": ["AVENUE", "AVE", "AV"],
    "LANE": ["LANE", "LN"],
    "CLOSE": ["CLOSE", "CL"],
    "CRESCENT": ["CRESCENT", "CRES"],
    "DRIVE": ["DRIVE", "DR"],
    "GARDENS": ["GARDENS", "GDNS"],
    "PLACE": ["PLACE", "PL"],
    "SQUARE": ["SQUARE", "SQ"],
    "TERRACE": ["TERRACE", "TER", "TERR"],
    "COURT": ["COURT", "CT"],
    "GREEN": ["GREEN", "GRN"],
    "GROVE": ["GROVE", "GR", "GRO"],
    "PARK": ["PARK", "PK"],
    "WAY": ["WAY", "WY"],
}
TOWNS = ["", "LOUGHBOROUGH", "MARKET HARBOROUGH", "SHEPSHED", "HINCKLEY", "SOUTH WIGSTON"]
FLAT_WORDS = ["Flat", "FLAT", "flat", "Apartment", "Apt", "Apt.", "Unit", "Flat No."]


@st.composite
def addresses(draw):
    flat = draw(st.sampled_from(["", "1", "2", "12", "2A", "B"]))
    number = draw(st.sampled_from(["1", "14", "14A", "203", "3-5"]))
    name = draw(st.sampled_from(STREET_NAMES))
    street_type = draw(st.sampled_from(sorted(TYPES)))
    written_type = draw(st.sampled_from(TYPES[street_type]))
    written_name = "St" if name == "SAINT MARYS" and draw(st.booleans()) else ""
    written_name = f"{written_name} MARYS" if written_name else name
    town = draw(st.sampled_from(TOWNS))
    postcode = draw(st.sampled_from(["", "LE11 3AB", "le113ab", "LE67 9ZZ"]))
    expected = " ".join(p for p in (f"FLAT {flat}" if flat else "", number, name, street_type) if p)

    flat_word = draw(st.sampled_from(FLAT_WORDS))
    street = f"{number} {written_name} {written_type}"
    tail = [t for t in (town, postcode) if t]
    layouts = [[f"{flat_word} {flat}", street, *tail] if flat else [street, *tail]]
    if flat:
        layouts.append([f"{street} {flat_word} {flat}", *tail])
        if "-" not in number:
            layouts.append([f"{flat}/{number} {written_name} {written_type}", *tail])
        if flat[0].isdigit():
            layouts.append([flat, street, *tail])
    parts = draw(st.sampled_from(layouts))
    separator = draw(st.sampled_from([", ", " ", ",", " , ", "\n"]))
    text = separator.join(parts)
    return text, expected


def _respace(text: str, gap: str) -> str:
    return gap + re.sub(r" +", gap, text) + gap


@given(
    addresses(),
    st.sampled_from(["lower", "upper", "title", "same"]),
    st.sampled_from([" ", "  ", " \t "]),
)
def test_address_key_invariant_under_layout_case_spacing_and_abbreviation(address, case, gap):
    text, expected = address
    text = {"lower": text.lower(), "upper": text.upper(), "title": text.title(), "same": text}[case]
    parsed = normalise_address(_respace(text, gap))
    assert parsed.key == expected, (text, parsed)
    assert parsed == normalise_address(text)


# --- totality ---------------------------------------------------------------------------

VALIDATING = [
    normalise_nhs_number,
    normalise_ni_number,
    normalise_upn,
    normalise_uprn,
    normalise_sex,
    parse_postcode,
    upn_check_letter,
    nhs_check_digit,
]
TOTAL = [
    normalise_text,
    name_parts,
    normalise_name,
    canonical_given_name,
    nysiis,
    metaphone,
    bigrams,
    normalise_address,
    normalise_household_ref,
]


@given(ANY_TEXT)
@example("")
@example("\ud800")
@example("Flat / - , 2/ -14 ,, St")
def test_every_function_is_total(text):
    for function in TOTAL:
        function(text)
    for function in VALIDATING:
        with contextlib.suppress(ValueError):
            function(text)


@given(ANY_TEXT, st.one_of(st.sampled_from(PATTERNS), ANY_TEXT))
def test_dates_total(text, pattern):
    try:
        result = parse_date(text, pattern)
    except ValueError:
        return
    assert result is None or isinstance(result, date)


@given(ANY_TEXT)
def test_address_fields_are_normalised(text):
    parsed = normalise_address(text)
    assert isinstance(parsed, Address)
    for value in (parsed.flat, parsed.number, parsed.street, parsed.locality, parsed.key):
        assert re.fullmatch(r"(?:[A-Z0-9-]+(?: [A-Z0-9-]+)*)?", value), parsed
