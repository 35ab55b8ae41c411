"""Dates: agreement date patterns, strict parsing, day/month swaps, ages.

A date pattern is written with ``YYYY``, ``MM`` and ``DD``, each exactly once, and the
separators ``-``, ``/``, ``.`` or a space (or none): ``YYYY-MM-DD``, ``DD/MM/YYYY``,
``DD-MM-YYYY``, ``YYYYMMDD``, ``MM/DD/YYYY``, ``DD.MM.YYYY``. Patterns are case-insensitive.

Parsing is strict and does not use ``strptime`` (slow, and lenient in ways that hide
errors): the year must have exactly four digits, the separators must be exactly those of
the pattern, surrounding whitespace is ignored. A day or month may have one digit
(``1/2/2020``) only where a separator or an end of the value bounds it, as ``strptime``
also allows; in a pattern without separators (``YYYYMMDD``) every field has its full width.
Only ASCII digits count. Compiled patterns are cached.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

__all__ = [
    "age_in_months",
    "age_in_years",
    "compile_date_format",
    "parse_date",
    "swap_day_month",
    "truncate_to_month",
]

_TOKEN = re.compile(r"YYYY|MM|DD|[-/. ]")
_STRPTIME = {"YYYY": "%Y", "MM": "%m", "DD": "%d"}
_FIELDS = {"YYYY": "year", "MM": "month", "DD": "day"}
_SUPPORTED = "YYYY, MM and DD each exactly once, separated by '-', '/', '.', a space or nothing"


@lru_cache(maxsize=64)
def _tokens(pattern: str) -> tuple[str, ...]:
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"unsupported date pattern: expected {_SUPPORTED}")
    upper = pattern.upper()
    tokens = tuple(_TOKEN.findall(upper))
    fields = [t for t in tokens if t in _FIELDS]
    if "".join(tokens) != upper or sorted(fields) != ["DD", "MM", "YYYY"]:
        raise ValueError(f"unsupported date pattern {pattern!r}: expected {_SUPPORTED}")
    return tokens


def compile_date_format(pattern: str) -> str:
    """The ``strptime``/``strftime`` format of a date pattern.

    ``"DD/MM/YYYY"`` -> ``"%d/%m/%Y"``. Raises ``ValueError`` naming the supported form
    when the pattern does not hold ``YYYY``, ``MM`` and ``DD`` exactly once each, or holds
    anything other than the separators ``-``, ``/``, ``.`` and space.
    """
    return "".join(_STRPTIME.get(t, t) for t in _tokens(pattern))


@lru_cache(maxsize=64)
def _matcher(pattern: str) -> re.Pattern[str]:
    tokens = _tokens(pattern)
    pieces = []
    for i, token in enumerate(tokens):
        if token == "YYYY":
            pieces.append("(?P<year>[0-9]{4})")
        elif token in _FIELDS:
            bounded = (i == 0 or tokens[i - 1] not in _FIELDS) and (
                i == len(tokens) - 1 or tokens[i + 1] not in _FIELDS
            )
            width = "{1,2}" if bounded else "{2}"
            pieces.append(f"(?P<{_FIELDS[token]}>[0-9]{width})")
        else:
            pieces.append(re.escape(token))
    return re.compile("".join(pieces))


def parse_date(text: str | None, pattern: str) -> date | None:
    """Parse ``text`` written in ``pattern`` (see the module notes for the strict rules).

    Returns ``None`` for ``None``, empty or whitespace-only text. Raises ``ValueError``
    (the message names the pattern, never the value) when the pattern is unsupported, the
    text does not have the pattern's shape, or it is not a calendar date (``31/02/2020``).
    """
    matcher = _matcher(pattern)
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    found = matcher.fullmatch(value)
    if found is None:
        raise ValueError(f"not a date written as {pattern}")
    try:
        return date(int(found["year"]), int(found["month"]), int(found["day"]))
    except ValueError:
        raise ValueError(f"not a valid calendar date (pattern {pattern})") from None


def swap_day_month(d: date) -> date | None:
    """``d`` with day and month exchanged, or ``None`` when that is not a different date.

    ``2015-03-07`` -> ``2015-07-03``; ``2015-03-25`` -> ``None`` (no 25th month);
    ``2015-04-04`` -> ``None``. Applying it twice gives the date back.
    """
    if d.day > 12 or d.day == d.month:
        return None
    return date(d.year, d.day, d.month)


def age_in_years(dob: date, at: date) -> int:
    """Whole years completed from ``dob`` to ``at``: the floor of the exact age.

    A birthday is reached on its anniversary; someone born on 29 February reaches it on
    1 March in a common year (as the law of England and Wales has it). When ``at`` is
    before ``dob`` the result is negative (``-1`` for up to a year before the birth), so
    the age never decreases as ``at`` moves on. Equals ``age_in_months(dob, at) // 12``.
    """
    return at.year - dob.year - ((at.month, at.day) < (dob.month, dob.day))


def age_in_months(dob: date, at: date) -> int:
    """Whole months completed from ``dob`` to ``at`` (floor; negative before the birth).

    A month is completed on the same day number of a later month; when that month is too
    short (born on the 31st), it is completed on the 1st of the month after:
    ``age_in_months(date(2020, 1, 31), date(2020, 2, 29)) == 0`` and ``== 1`` on 1 March.
    """
    months = (at.year - dob.year) * 12 + at.month - dob.month
    return months - (at.day < dob.day)


def truncate_to_month(d: date) -> date:
    """The first day of ``d``'s month."""
    return d.replace(day=1)
