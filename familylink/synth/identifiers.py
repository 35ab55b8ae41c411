"""National identifiers, computed vectorised: NHS numbers, NI numbers, UPNs and UPRNs."""

from __future__ import annotations

import numpy as np

from familylink.synth.text import joined, zero_padded

_NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)  # weights 10..2 of the first nine digits
_UPN_LETTERS = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"))  # remainder 0..22 (no I, O, S)
_UPN_WEIGHTS = np.arange(2, 14, dtype=np.int64)  # weights of characters 2..13
_NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"  # not D F I Q U V
_NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"  # not D F I O Q U V
_NI_NOT_ALLOCATED = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
NI_PREFIXES = np.array(
    sorted(a + b for a in _NI_FIRST for b in _NI_SECOND if a + b not in _NI_NOT_ALLOCATED)
)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative integers, most significant first: shape (n, width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values.astype(np.int64)[:, None] // powers[None, :]) % 10


def nhs_check_digit(bodies: np.ndarray) -> np.ndarray:
    """Mod-11 check digit of nine-digit NHS number bodies; 10 means "no valid number"."""
    total = (_digits(bodies, 9) * _NHS_WEIGHTS).sum(axis=1)
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def nhs_number_is_valid(number: str) -> bool:
    """True when ``number`` is ten digits with the right mod-11 check digit."""
    if len(number) != 10 or not number.isdigit():
        return False
    check = int(nhs_check_digit(np.array([int(number[:9])]))[0])
    return check != 10 and check == int(number[9])


def _unique_draw(rng: np.random.Generator, n: int, draw) -> np.ndarray:
    """n distinct values from ``draw(rng, m)`` in random order (deterministic for the rng)."""
    pool = np.empty(0, dtype=np.int64)
    while pool.size < n:
        pool = np.unique(np.concatenate([pool, draw(rng, int((n - pool.size) * 1.1) + 64)]))
    return rng.permutation(pool)[:n]


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct valid NHS numbers (strings of ten digits, England's 4xx-7xx ranges)."""

    def draw(gen: np.random.Generator, m: int) -> np.ndarray:
        bodies = gen.integers(400_000_000, 708_000_000, size=m, dtype=np.int64)
        check = nhs_check_digit(bodies)
        keep = check != 10
        return bodies[keep] * 10 + check[keep]

    return _unique_draw(rng, n, draw).astype(str)


def spoil_nhs_numbers(rng: np.random.Generator, numbers: np.ndarray) -> np.ndarray:
    """The same numbers with a wrong last digit (every other digit fails the check)."""
    if numbers.size == 0:
        return numbers
    last = np.array([int(x[-1]) for x in numbers])
    wrong = (last + rng.integers(1, 10, size=numbers.size)) % 10
    return np.array([x[:-1] + str(d) for x, d in zip(numbers, wrong, strict=True)], dtype=object)


def ni_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct National Insurance numbers like ``QQ123456C`` (allocatable prefixes)."""

    def draw(gen: np.random.Generator, m: int) -> np.ndarray:
        prefix = gen.integers(0, NI_PREFIXES.size, size=m, dtype=np.int64)
        return prefix * 1_000_000 + gen.integers(0, 1_000_000, size=m, dtype=np.int64)

    codes = _unique_draw(rng, n, draw)
    suffix = np.array(list("ABCD"))[rng.integers(0, 4, size=n)]
    return joined(NI_PREFIXES[codes // 1_000_000], zero_padded(codes % 1_000_000, 6), suffix)


def upn_check_letter(twelve_digits: np.ndarray) -> np.ndarray:
    """DfE check letter: sum of digit x weight (2..13) over characters 2-13, modulo 23."""
    total = (_digits(twelve_digits, 12) * _UPN_WEIGHTS).sum(axis=1)
    return _UPN_LETTERS[total % 23]


def upns(
    la_code: np.ndarray, establishment: np.ndarray, year2: np.ndarray, serial: np.ndarray
) -> np.ndarray:
    """Permanent UPNs: check letter, LA (3), establishment (4), year (2), serial (3)."""
    body = (
        la_code.astype(np.int64) * 1_000_000_000
        + establishment.astype(np.int64) * 100_000
        + (year2.astype(np.int64) % 100) * 1_000
        + serial.astype(np.int64)
    )
    return joined(upn_check_letter(body), zero_padded(body, 12))


def upn_is_valid(upn: str) -> bool:
    if len(upn) != 13 or not upn[1:].isdigit():
        return False
    return str(upn_check_letter(np.array([int(upn[1:])]))[0]) == upn[0]


def uprns(rng: np.random.Generator, n: int, start: int = 100_030_000_000) -> np.ndarray:
    """n distinct, increasing UPRNs (12 digits) with small random gaps, as int64."""
    return start + np.cumsum(rng.integers(1, 30, size=n, dtype=np.int64))
