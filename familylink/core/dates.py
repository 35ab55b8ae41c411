"""Reference dates."""

from __future__ import annotations

import datetime as dt


def previous_quarter_end(today: dt.date | None = None) -> dt.date:
    """The last day of the quarter before the one ``today`` falls in (31 Mar, 30 Jun, 30 Sep, 31 Dec)."""
    today = today or dt.date.today()
    first_month_of_quarter = 3 * ((today.month - 1) // 3) + 1
    return dt.date(today.year, first_month_of_quarter, 1) - dt.timedelta(days=1)
