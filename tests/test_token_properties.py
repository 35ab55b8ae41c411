"""The same person recorded differently in two sources gets equal tokens where the
normalised values are equal (case, accents, spacing, nicknames, date formats, postcodes)."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols.agreements import Agreement
from protocols.encoding import ExtractEncoder
from protocols.keys import generate_key
from protocols.normalise import age_in_months, age_in_years
from protocols.rawfile import RawChunk
from protocols.validation import RowValidator
from tests.conftest import EXTRACT_DATE

KEY = generate_key()
HEADER = ["record_id", "given_name", "family_name", "date_of_birth", "sex", "address", "postcode",
          "indicator", "event_date", "end_date", "value", "detail"]
NICKNAMES = [("William", "Bill"), ("Robert", "Bob"), ("Katherine", "Kate"), ("Muhammad", "Mohammed"),
             ("Elizabeth", "Liz"), ("Thomas", "Tom"), ("Margaret", "Peggy")]
letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10)


def accented(text: str, marks: list[bool]) -> str:
    """Add a combining acute accent to vowels where ``marks`` says so (then compose)."""
    out = []
    for char, mark in zip(text, marks + [False] * len(text), strict=False):
        out.append(char + "\u0301" if mark and char in "aeiou" else char)
    return unicodedata.normalize("NFC", "".join(out))


def spaced(text: str, pad: int) -> str:
    return " " * pad + text.replace(" ", " " * (pad + 1)) + " " * pad


def seal_row(agreements, source: str, values: dict, date_format: str | None = None) -> dict:
    validator = RowValidator(_path(source), HEADER, agreements[source], EXTRACT_DATE, date_format)
    result = validator.check(RawChunk([2], [[values.get(c, "") for c in HEADER]]))
    assert len(result.clean) == 1, result.issues
    encoder = ExtractEncoder(KEY, agreements.partnership, agreements[source], EXTRACT_DATE)
    return encoder.encode(result.clean).to_pylist()[0]


def _path(source):
    from pathlib import Path

    return Path(f"{source}.csv")


@settings(max_examples=60, deadline=None)
@given(
    given_name=letters, family=st.lists(letters, min_size=1, max_size=3), dob=st.dates(dt.date(1930, 1, 1), dt.date(2024, 12, 31)),
    marks=st.lists(st.booleans(), max_size=12), pad=st.integers(0, 2), upper=st.booleans(), hyphen=st.booleans(),
)
def test_case_accent_spacing_and_date_format_give_equal_tokens(agreements, given_name, family, dob, marks, pad, upper, hyphen):
    family_a = " ".join(family)
    family_b = ("-" if hyphen else " ").join(family)
    first = {"record_id": "A1", "given_name": given_name.title(), "family_name": family_a.title(),
             "date_of_birth": dob.isoformat(), "postcode": "LE11 3AB", "address": "14 Mill Lane, Loughborough"}
    second = {"record_id": "B7",
              "given_name": spaced(accented(given_name.upper() if upper else given_name, marks), pad),
              "family_name": spaced(accented(family_b.upper() if upper else family_b, marks[::-1]), pad),
              "date_of_birth": dob.strftime("%d/%m/%Y"), "postcode": " le113ab ", "address": "14  MILL LN, Loughborough"}
    a = seal_row(agreements, "police", first)
    b = seal_row(agreements, "probation", second, date_format="DD/MM/YYYY")
    for column in ("tok_given_first", "tok_given_canon", "tok_given_nysiis", "tok_family",
                   "tok_family_nysiis", "tok_family_parts", "tok_name_parts", "bf_given", "bf_family",
                   "tok_dob", "tok_postcode", "tok_postcode_sector", "tok_address", "bf_address"):
        assert a[column] == b[column] and a[column] is not None, column
    assert a["age_months"] == b["age_months"] and a["age_years"] == b["age_years"]


@settings(max_examples=30, deadline=None)
@given(pair=st.sampled_from(NICKNAMES), family=letters, swap_case=st.booleans())
def test_nicknames_share_the_canonical_given_name_token(agreements, pair, family, swap_case):
    formal, nickname = pair
    a = seal_row(agreements, "police", {"record_id": "A", "given_name": formal, "family_name": family})
    b = seal_row(agreements, "probation", {"record_id": "B", "given_name": nickname.upper() if swap_case else nickname,
                                           "family_name": family})
    assert a["tok_given_canon"] == b["tok_given_canon"]
    assert a["tok_given_first"] != b["tok_given_first"]


@settings(max_examples=40, deadline=None)
@given(dob=st.dates(dt.date(1950, 1, 1), dt.date(2020, 12, 31)).filter(lambda d: d.day <= 12 and d.day != d.month))
def test_day_month_swap_is_visible_as_token_equality(agreements, dob):
    swapped = dt.date(dob.year, dob.day, dob.month)
    a = seal_row(agreements, "police", {"record_id": "A", "given_name": "Ann", "family_name": "Lee",
                                        "date_of_birth": dob.isoformat()})
    b = seal_row(agreements, "probation", {"record_id": "B", "given_name": "Ann", "family_name": "Lee",
                                           "date_of_birth": swapped.isoformat()})
    assert a["tok_dob"] != b["tok_dob"] and a["tok_dob_swapped"] == b["tok_dob"]
    assert abs(a["age_years"] - b["age_years"]) <= 1  # one year of birth: ages at the extract date within a year


def test_given_family_swap_is_visible_in_the_shared_name_part_domain(agreements):
    a = seal_row(agreements, "police", {"record_id": "A", "given_name": "Ahmed", "family_name": "Khan"})
    b = seal_row(agreements, "probation", {"record_id": "B", "given_name": "Khan", "family_name": "Ahmed"})
    assert a["tok_given_first"] != b["tok_family"]  # per-field keys hide the swap...
    assert a["tok_name_parts"] == b["tok_name_parts"]  # ...the shared name-part domain shows it


def _sealed_with(agreements, source: str, values: dict, **changes) -> dict:
    agreement = agreements[source].model_copy(update=changes)
    validator = RowValidator(_path(source), HEADER, agreement, EXTRACT_DATE, None)
    result = validator.check(RawChunk([2], [[values.get(c, "") for c in HEADER]]))
    return ExtractEncoder(KEY, agreements.partnership, agreement, EXTRACT_DATE).encode(result.clean).to_pylist()[0]


def test_ages_travel_in_whole_years_unless_the_agreement_declares_months(agreements):
    """Issue 13: the year and month of birth reach the hub only where an agreement says why."""
    dob = dt.date(2016, 10, 15)
    row = {"record_id": "A", "given_name": "Ann", "family_name": "Lee", "date_of_birth": dob.isoformat()}
    years = _sealed_with(agreements, "police", row)
    assert years["age_months"] is None and years["age_years"] == age_in_years(dob, EXTRACT_DATE)
    months = _sealed_with(agreements, "police", row, age_precision="months",
                          age_months_reason="a rule of this partnership needs ages in months")
    assert months["age_months"] == age_in_months(dob, EXTRACT_DATE) and months["age_years"] == years["age_years"]
    assert months["tok_dob"] == years["tok_dob"]


def test_ages_in_months_need_a_reason_in_the_agreement(agreements):
    document = agreements["police"].model_dump(mode="json", by_alias=True)
    with pytest.raises(ValidationError, match="age_months_reason"):
        Agreement.model_validate({**document, "age_precision": "months"})
    assert Agreement.model_validate({**document, "age_precision": "months", "age_months_reason": "a rule"})
