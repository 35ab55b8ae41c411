"""The date format of each date column: declared, or detected where the values make it clear.

A column's format is *declared* by ``--date-format COLUMN=FORMAT``, by ``--date-format
FORMAT`` (every column), or by the agreement's ``date_formats``; a declared format is
binding. Otherwise the column is expected in the agreement's ``date_format``; when most of
its first rows' values are not in that format, the format is *detected* over the whole
column: the one supported format that reads the most values is chosen and reported (a day
above 12 somewhere tells DD/MM/YYYY from MM/DD/YYYY). When two formats read the values
equally well the column is ambiguous and the file is refused with the option to pass.
Values are held in memory only and never appear in a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from familylink.core.errors import ExtractError, Problem
from protocols.agreements import Agreement
from protocols.normalise import compile_date_format, parse_date

DATE_COLUMNS = ("date_of_birth", "event_date", "end_date")
CANDIDATE_DATE_FORMATS = ("YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD-MM-YYYY", "MM-DD-YYYY", "DD.MM.YYYY",
                          "YYYYMMDD", "YYYY/MM/DD", "DDMMYYYY")
#: Rows looked at to decide whether a column is in the agreement's usual format.
SAMPLE_ROWS = 5_000


@dataclass(frozen=True)
class DateFormatOptions:
    """What ``--date-format`` said: one format for every column and/or one per column."""

    every_column: str | None = None
    per_column: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: str | Sequence[str] | Mapping[str, str] | None) -> DateFormatOptions:
        """From ``"DD/MM/YYYY"``, ``["date_of_birth=DD/MM/YYYY", ...]`` or a mapping."""
        if values is None:
            return cls()
        if isinstance(values, Mapping):
            items = [f"{column}={pattern}" for column, pattern in values.items()]
        elif isinstance(values, str):
            items = [values]
        else:
            items = list(values)
        every, per_column = None, {}
        for item in items:
            column, sep, pattern = item.partition("=")
            if sep:
                column = column.strip().lower()
                if column not in DATE_COLUMNS:
                    raise ExtractError(f"--date-format {item}: {column or '(blank)'} is not a date column",
                                       [Problem("--date-format", f"date columns are {', '.join(DATE_COLUMNS)}",
                                                "write COLUMN=FORMAT, e.g. date_of_birth=DD/MM/YYYY")])
                if column in per_column:
                    raise ExtractError(f"--date-format names {column} twice")
                per_column[column] = _checked(pattern.strip(), item)
            elif every is not None:
                raise ExtractError("--date-format: only one format for every column; name the others "
                                   "COLUMN=FORMAT, e.g. --date-format date_of_birth=DD/MM/YYYY")
            else:
                every = _checked(item.strip(), item)
        return cls(every, per_column)


def _checked(pattern: str, item: str) -> str:
    try:
        compile_date_format(pattern)
    except ValueError as error:
        raise ExtractError(f"--date-format {item}: {error}") from None
    return pattern.upper()


@dataclass
class DateFormats:
    """The format of each date column and how it was decided."""

    formats: dict[str, str]
    origin: dict[str, str]  # column -> "--date-format", "agreement" or "detected"
    notes: list[str] = field(default_factory=list)  # one sentence per detected column

    @property
    def detected(self) -> list[str]:
        return [c for c in DATE_COLUMNS if self.origin.get(c) == "detected"]


def declared_formats(agreement: Agreement, options: DateFormatOptions) -> dict[str, tuple[str, str]]:
    """column -> (format, origin) for every column whose format is declared."""
    declared: dict[str, tuple[str, str]] = {}
    for column in DATE_COLUMNS:
        if column in options.per_column:
            declared[column] = (options.per_column[column], "--date-format")
        elif options.every_column:
            declared[column] = (options.every_column, "--date-format")
        elif column in agreement.date_formats:
            declared[column] = (agreement.date_formats[column], "agreement")
    return declared


def resolve_date_formats(raw, agreement: Agreement, options: DateFormatOptions) -> DateFormats:
    """Decide each date column's format for the raw extract ``raw`` (a ``RawExtract``)."""
    declared = declared_formats(agreement, options)
    formats = {c: declared[c][0] if c in declared else agreement.date_format for c in DATE_COLUMNS}
    origin = {c: declared[c][1] if c in declared else "agreement" for c in DATE_COLUMNS}
    result = DateFormats(formats, origin)
    undeclared = [c for c in DATE_COLUMNS if c not in declared and c in raw.header]
    if not undeclared:
        return result
    sample = raw.column_values(undeclared, SAMPLE_ROWS)
    suspect = [c for c in undeclared if _failures(sample[c], formats[c]) * 2 > len(sample[c])]
    if not suspect:
        return result
    values = sample if raw.read_whole_file else raw.column_values(suspect)
    problems: list[Problem] = []
    unclear: list[str] = []
    for column in suspect:
        chosen, problem = _detect(raw.path.name, column, values[column], formats[column], agreement.source)
        if problem:
            problems.append(problem)
            unclear.append(column)
            continue
        formats[column], origin[column] = chosen, "detected"
        result.notes.append(f"{raw.path.name}, column {column}: dates read as {chosen} (detected: the agreement's "
                            f"{agreement.date_format} does not fit them; pass --date-format {column}=FORMAT to decide)")
    if problems:
        raise ExtractError(
            f"{raw.path.name}: the date format of column(s) {', '.join(unclear)} cannot be told from the "
            f"values: {problems[0].fix}", problems)
    return result


def _failures(values: Iterable[str], pattern: str) -> int:
    failures = 0
    for value in values:
        try:
            parse_date(value, pattern)
        except ValueError:
            failures += 1
    return failures


def _detect(file_name: str, column: str, values: set[str], usual: str, source: str) -> tuple[str, Problem | None]:
    """The one format that reads the most values, or a problem saying why there is none."""
    counts = {}
    for pattern in CANDIDATE_DATE_FORMATS:
        count = 0
        for value in values:
            with contextlib.suppress(ValueError):
                count += parse_date(value, pattern) is not None
        counts[pattern] = count
    best = max(counts.values())
    winners = [p for p, n in counts.items() if n == best]
    where = f"{file_name}, column {column}"
    if best * 2 <= len(values):
        return usual, Problem(where, f"most values are not dates in the agreement's {usual} nor in any "
                              "supported format", f"pass --date-format {column}=FORMAT with the file's format, "
                              f"or correct date_format in the {source} agreement")
    if len(winners) > 1:
        options = " or ".join(f"--date-format {column}={p}" for p in winners)
        return usual, Problem(where, f"the values fit {' and '.join(winners)} equally well (no day above 12)",
                              f"pass {options}")
    return winners[0], None
