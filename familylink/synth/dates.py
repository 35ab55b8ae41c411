"""Vectorised date helpers over numpy ``datetime64[D]`` arrays."""

from __future__ import annotations

import datetime as dt

import numpy as np

DAY = np.timedelta64(1, "D")
NAT = np.datetime64("NaT", "D")


def day(value: dt.date) -> np.datetime64:
    return np.datetime64(value.isoformat(), "D")


def ymd(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1-12) and day (1-31) of each date (NaT gives garbage; mask it yourself)."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    months = dates.astype("datetime64[M]")
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day_ = (dates - months).astype(np.int64) + 1
    return year, month, day_


def age_years(dob: np.ndarray, at: np.ndarray | np.datetime64) -> np.ndarray:
    """Whole years from ``dob`` to ``at`` (birthday counted on the day itself)."""
    y1, m1, d1 = ymd(dob)
    y2, m2, d2 = ymd(np.broadcast_to(np.asarray(at, dtype="datetime64[D]"), np.shape(dob)))
    before_birthday = (m2 < m1) | ((m2 == m1) & (d2 < d1))
    return y2 - y1 - before_birthday.astype(np.int64)


def from_ymd(year: np.ndarray, month: np.ndarray, day_: np.ndarray) -> np.ndarray:
    months = (np.asarray(year) - 1970) * 12 + np.asarray(month) - 1
    return months.astype("datetime64[M]").astype("datetime64[D]") + (np.asarray(day_) - 1) * DAY


def iso(dates: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` strings, blank for NaT (object array)."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    text = np.datetime_as_string(dates, unit="D").astype(object)
    text[np.isnat(dates)] = ""
    return text
