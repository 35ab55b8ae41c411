"""File-wide accounting of a raw extract: counts, whole-file checks, conflicting identities.

Chunks may be validated in several processes; their results come back here in file order,
so everything that depends on the whole file (reconciled counts, "most dates fail the
format", "this is another source's file", a record_id whose identity changes between rows)
is decided in one place.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

from familylink.core.contract import DEFAULT_VOCABULARY
from familylink.core.errors import ExtractError, Problem
from protocols.agreements import Agreement
from protocols.normalise import parse_date
from protocols.rawfile import where
from protocols.validation import ChunkResult, RowIssue

DATE_COLUMNS = ("date_of_birth", "event_date", "end_date")
#: A column is unusable as a whole when more than this share of its values fail.
WHOLE_FILE_FAILURE_SHARE = 0.5
MIN_VALUES_FOR_WHOLE_FILE_CHECK = 5
CANDIDATE_DATE_FORMATS = ("YYYY-MM-DD", "DD/MM/YYYY", "DD-MM-YYYY", "DD.MM.YYYY", "YYYYMMDD", "YYYY/MM/DD")


class ExtractTally:
    """Adds up chunk results in file order."""

    def __init__(self, path: Path, agreement: Agreement, date_format: str) -> None:
        self.path = path
        self.agreement = agreement
        self.date_format = date_format
        self.rows_in = self.accepted = self.quarantined = self.warnings = self.blank_rows = 0
        self.indicator_values = 0
        self.blanked: Counter[str] = Counter()
        self.date_values: Counter[str] = Counter()
        self.date_failures: Counter[str] = Counter()
        self.unknown_indicators: Counter[str] = Counter()
        self.failed_dates: list[str] = []
        self._first_identity: dict[str, tuple[int, int]] = {}

    def add(self, result: ChunkResult) -> None:
        """Merge one chunk's counts and add conflicting-identity warnings to its issues."""
        stats = result.stats
        self.rows_in += stats.rows_in
        self.blank_rows += stats.blank_rows
        self.accepted += stats.accepted
        self.quarantined += stats.quarantined
        self.indicator_values += stats.indicator_values
        self.blanked.update(stats.blanked)
        self.date_values.update(stats.date_values)
        self.date_failures.update(stats.date_failures)
        self.unknown_indicators.update(stats.unknown_indicators)
        self.failed_dates.extend(stats.failed_dates[: max(0, 50 - len(self.failed_dates))])
        warnings = self._conflicts(result.identities)
        if warnings:
            self.warnings += len(warnings)
            result.issues.extend(warnings)
            result.issues.sort(key=lambda issue: issue.row)

    def _conflicts(self, identities: list[tuple[str, int, int]]) -> list[RowIssue]:
        found = []
        first = self._first_identity
        for record_id, row, digest in identities:
            seen = first.get(record_id)
            if seen is None:
                first[record_id] = (row, digest)
            elif seen[1] != digest:
                found.append(RowIssue(row, "record_id", "warning",
                                      f"conflicting identity: the name or date of birth differs from row {seen[0]} "
                                      "under the same record_id"))
        return found

    @property
    def records(self) -> int:
        return len(self._first_identity)

    def guess_date_format(self) -> str | None:
        """The supported pattern that parses most of the failing dates, if it parses most."""
        best, best_count = None, 0
        for pattern in CANDIDATE_DATE_FORMATS:
            count = 0
            for raw in self.failed_dates:
                with contextlib.suppress(ValueError):
                    count += parse_date(raw, pattern) is not None
            if count > best_count:
                best, best_count = pattern, count
        return best if best_count > len(self.failed_dates) / 2 else None

    def check_whole_file(self) -> None:
        """Raise when the file as a whole cannot be used (call after the first chunk and at the end)."""
        failing = []
        for column in DATE_COLUMNS:
            values, failures = self.date_values[column], self.date_failures[column]
            if values >= MIN_VALUES_FOR_WHOLE_FILE_CHECK and failures > WHOLE_FILE_FAILURE_SHARE * values:
                failing.append((column, round(100 * failures / values)))
        if failing:
            guess = self.guess_date_format()
            fix = (f"the values look like {guess}: pass --date-format {guess}" if guess else
                   "pass --date-format with the file's real format (e.g. DD/MM/YYYY)")
            raise ExtractError(
                f"{self.path.name}: most values in column(s) {', '.join(c for c, _ in failing)} are not dates "
                f"in the format {self.date_format}, so the file cannot be used as it is",
                [Problem(where(self.path, column=column), f"{share}% of its dates fail the format",
                         f"{fix}, or correct date_format in the {self.agreement.source} agreement")
                 for column, share in failing],
            )
        unknown = sum(self.unknown_indicators.values())
        if self.indicator_values >= MIN_VALUES_FOR_WHOLE_FILE_CHECK and \
                unknown > WHOLE_FILE_FAILURE_SHARE * self.indicator_values:
            votes: Counter[str] = Counter()
            for code, count in self.unknown_indicators.items():
                for source, specs in DEFAULT_VOCABULARY.items():
                    if any(s.code == code for s in specs):
                        votes[source] += count
            guess = votes.most_common(1)[0][0] if votes else None
            hint = (f"it looks like a {guess} extract" if guess and guess != self.agreement.source
                    else "the codes are in no source's vocabulary")
            raise ExtractError(
                f"{self.path.name}: {round(100 * unknown / self.indicator_values)}% of its indicator codes are "
                f"not in the {self.agreement.source} vocabulary; {hint}",
                [Problem(where(self.path, column="indicator"), "wrong source for this file",
                         "check --source, or extend the agreement's vocabulary if the codes are new")],
            )
