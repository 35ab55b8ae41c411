"""Reference dates."""

from __future__ import annotations

import datetime as dt


def previous_quarter_end(today: dt.date | None = None) -> dt.date:
    """The last day of the quarter before the one ``today`` falls in (31 Mar, 30 Jun, 30 Sep, 31 Dec)."""
    today = today or dt.date.today()
    first_month_of_quarter = 3 * ((today.month - 1) // 3) + 1
    return dt.date(today.year, first_month_of_quarter, 1) - dt.timedelta(days=1)


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day ``months`` later (negative: earlier), clamped to the end of a shorter month:
    2024-08-31 minus 6 months is 2024-02-29."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    following = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last = (following - dt.timedelta(days=1)).day
    return dt.date(year, month + 1, min(day.day, last))


def add_quarters(day: dt.date, quarters: int) -> dt.date:
    """The reference date ``quarters`` quarters on (negative: back). A month's last day gives
    the last day of the target month (2026-09-30 -> 2026-12-31, 2026-06-30); any other day the
    same day, clamped (``add_months``)."""
    shifted = add_months(day, 3 * quarters)
    if (day + dt.timedelta(days=1)).day == 1:  # the last day of its month
        shifted = add_months(shifted.replace(day=1), 1) - dt.timedelta(days=1)
    return shifted
