"""National and local identifiers: NHS number, NI number, UPN, UPRN, sex, household reference.

Each ``normalise_*`` function returns the canonical string, ``None`` for ``None`` or blank
input, and raises ``ValueError`` for a malformed value. Error messages describe the
expected form and never contain the value. Only ASCII digits and letters are accepted.
"""

from __future__ import annotations

import re

from .names import normalise_text

__all__ = [
    "nhs_check_digit",
    "normalise_household_ref",
    "normalise_ni_number",
    "normalise_nhs_number",
    "normalise_sex",
    "normalise_upn",
    "normalise_uprn",
    "upn_check_letter",
]

_SPACES_AND_DASHES = re.compile(r"[\s\-]+")


def _compact(text: str) -> str:
    return _SPACES_AND_DASHES.sub("", text)


# --- NHS number -----------------------------------------------------------------------

_NINE_DIGITS = re.compile(r"[0-9]{9}")
_TEN_DIGITS = re.compile(r"[0-9]{10}")


def nhs_check_digit(nine_digits: str) -> int | None:
    """The modulus-11 check digit for the first nine digits of an NHS number.

    Weights 10 down to 2; check = 11 - (sum mod 11), with 11 read as 0. Returns ``None``
    when the check would be 10: no valid NHS number starts with those nine digits.
    Raises ``ValueError`` unless given exactly nine ASCII digits.
    """
    if not isinstance(nine_digits, str) or not _NINE_DIGITS.fullmatch(nine_digits):
        raise ValueError("the NHS check digit needs exactly nine digits")
    total = sum(int(d) * w for d, w in zip(nine_digits, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def normalise_nhs_number(text: str | None) -> str | None:
    """Ten digits with a valid modulus-11 check digit, spaces and dashes removed.

    ``"943 476 5919"`` -> ``"9434765919"``. ``None`` for blank input. ``ValueError`` for
    anything else, including placeholders made of one repeated digit (``0000000000``,
    ``9999999999``), which pass the checksum but would link unrelated people.
    """
    if text is None:
        return None
    value = _compact(text)
    if not value:
        return None
    if not _TEN_DIGITS.fullmatch(value):
        raise ValueError("an NHS number has 10 digits")
    if nhs_check_digit(value[:9]) != int(value[9]):
        raise ValueError("NHS number check digit is wrong")
    if value.count(value[0]) == 10:
        raise ValueError("NHS number is a placeholder (one repeated digit)")
    return value


# --- National Insurance number ----------------------------------------------------------

_NI = re.compile(r"([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])([0-9]{6})[A-D]?")
_NI_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def normalise_ni_number(text: str | None) -> str | None:
    """National Insurance number as its eight characters without the suffix letter.

    ``"ab 12 34 56 c"`` -> ``"AB123456"``. Case, spaces and dashes are ignored. The first
    prefix letter is not D, F, I, Q, U or V; the second not D, F, I, O, Q, U or V; the
    prefixes BG, GB, KN, NK, NT, TN and ZZ are not allocated. Six digits follow, then an
    optional suffix A-D, which is dropped because records often omit it. ``None`` for
    blank input; ``ValueError`` otherwise.
    """
    if text is None:
        return None
    value = _compact(text)
    if not value:
        return None
    found = _NI.fullmatch(value.upper()) if value.isascii() else None
    if found is None or found[1] in _NI_BAD_PREFIXES:
        raise ValueError("not a National Insurance number (expected e.g. AB123456C)")
    return found[1] + found[2]


# --- Unique Pupil Number ----------------------------------------------------------------

#: Letters of the UPN alphabet (no I, O or S) with their values 0-22.
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_VALUE = {letter: value for value, letter in enumerate(UPN_LETTERS)}
_UPN_BODY = re.compile(rf"[0-9]{{11}}[0-9{UPN_LETTERS}]")
_UPN = re.compile(rf"([{UPN_LETTERS}])([0-9]{{11}}[0-9{UPN_LETTERS}])")


def _upn_check(body: str) -> str:
    total = sum(
        weight * (int(c) if c.isdigit() else _UPN_VALUE[c])
        for weight, c in zip(range(2, 14), body, strict=True)
    )
    return UPN_LETTERS[total % 23]


def upn_check_letter(twelve: str) -> str:
    """The DfE check letter for characters 2-13 of a UPN.

    Character k (k = 2..13) is weighted by k; a final letter (temporary UPN) counts as its
    position in ``ABCDEFGHJKLMNPQRTUVWXYZ`` (A = 0 ... Z = 22); the sum modulo 23 indexes
    the same alphabet. ``"801200005001"`` -> ``"B"``. ``ValueError`` unless given eleven
    digits followed by a digit or one of those letters (case-insensitive).
    """
    body = twelve.upper() if isinstance(twelve, str) and twelve.isascii() else ""
    if not _UPN_BODY.fullmatch(body):
        raise ValueError("a UPN check letter needs 11 digits then a digit or letter")
    return _upn_check(body)


def normalise_upn(text: str | None) -> str | None:
    """Unique Pupil Number: 13 characters, upper case, check letter verified.

    A check letter, eleven digits, then a digit (permanent UPN) or a letter (temporary
    UPN), letters from ``ABCDEFGHJKLMNPQRTUVWXYZ``. Case, spaces and dashes are ignored.
    ``None`` for blank input; ``ValueError`` when malformed or the check letter is wrong.
    """
    if text is None:
        return None
    value = _compact(text)
    if not value:
        return None
    found = _UPN.fullmatch(value.upper()) if value.isascii() else None
    if found is None:
        raise ValueError("not a UPN (expected a letter, 11 digits and a digit or letter)")
    if _upn_check(found[2]) != found[1]:
        raise ValueError("UPN check letter is wrong")
    return found[0]


# --- UPRN, sex, household reference -------------------------------------------------------

_UPRN = re.compile(r"0*([1-9][0-9]{0,11})")


def normalise_uprn(text: str | None) -> str | None:
    """Unique Property Reference Number: 1 to 12 significant digits, leading zeros removed.

    ``" 000100030234567 "`` -> ``"100030234567"``. Surrounding whitespace is ignored, any
    number of leading zeros is accepted; zero itself is not a UPRN. ``None`` for blank
    input; ``ValueError`` otherwise.
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    found = _UPRN.fullmatch(value) if value.isascii() else None
    if found is None:
        raise ValueError("a UPRN is 1 to 12 digits")
    return found[1]


# fmt: off
_SEX = {
    "M": "M", "MALE": "M",
    "F": "F", "FEMALE": "F",
    "U": "U", "UNKNOWN": "U", "X": "U", "I": "U", "INDETERMINATE": "U", "NOT KNOWN": "U",
    "NOT SPECIFIED": "U", "UNSPECIFIED": "U", "NOT STATED": "U",
}
# fmt: on


def normalise_sex(text: str | None) -> str | None:
    """``M``, ``F`` or ``U`` from the usual codes and words, any case.

    M/MALE -> ``M``; F/FEMALE -> ``F``; U/UNKNOWN/X/I/INDETERMINATE/NOT KNOWN/NOT
    SPECIFIED/UNSPECIFIED/NOT STATED -> ``U``. ``None`` for blank input; ``ValueError``
    for anything else (numeric codes are ambiguous between standards and are refused).
    """
    if text is None or not text.strip():
        return None
    code = _SEX.get(normalise_text(text))
    if code is None:
        raise ValueError("sex must be M, F or U (or MALE, FEMALE, UNKNOWN)")
    return code


def normalise_household_ref(text: str | None) -> str | None:
    """The provider's household reference, stripped, inner whitespace collapsed, upper case.

    ``None`` for blank input. Any other text is accepted as it is an opaque reference.
    """
    if text is None:
        return None
    value = " ".join(text.split()).upper()
    return value or None
