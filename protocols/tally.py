"""File-wide accounting of a raw extract: counts, whole-file checks, conflicting identities.

Chunks may be validated in several processes; their results come back here in file order,
so everything that depends on the whole file (reconciled counts, "most dates fail the
format", "this is another source's file", a record_id whose identity changes between rows)
is decided in one place.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from familylink.core.contract import DEFAULT_VOCABULARY
from familylink.core.errors import ExtractError, Problem
from protocols.agreements import Agreement
from protocols.dateformats import CANDIDATE_DATE_FORMATS, DATE_COLUMNS
from protocols.normalise import parse_date
from protocols.rawfile import ROW_CONVENTION, where
from protocols.validation import ChunkResult, RowIssue

#: A column is unusable as a whole when more than this share of its values fail (in a
#: file with fewer values than MIN_VALUES_FOR_WHOLE_FILE_CHECK: when every value fails).
WHOLE_FILE_FAILURE_SHARE = 0.5
MIN_VALUES_FOR_WHOLE_FILE_CHECK = 5
#: Above this share of rows quarantined, the summary and the manifest carry a warning.
DEFAULT_QUARANTINE_WARNING_SHARE = 0.2


class ExtractTally:
    """Adds up chunk results in file order."""

    def __init__(self, path: Path, agreement: Agreement, date_formats: Mapping[str, str]) -> None:
        self.path = path
        self.agreement = agreement
        self.date_formats = dict(date_formats)
        self.rows_in = self.accepted = self.quarantined = self.warnings = self.blank_rows = 0
        self.indicator_values = 0
        self.blanked: Counter[str] = Counter()
        self.date_values: Counter[str] = Counter()
        self.date_failures: Counter[str] = Counter()
        self.unknown_indicators: Counter[str] = Counter()
        self.failed_dates: dict[str, list[str]] = {}
        self.quarantine_reasons: Counter[tuple[str, str]] = Counter()
        self.first_rows: dict[tuple[str, str], int] = {}
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
        for column, values in stats.failed_dates.items():
            kept = self.failed_dates.setdefault(column, [])
            kept.extend(values[: max(0, 50 - len(kept))])
        self.quarantine_reasons.update(stats.quarantine_reasons)
        for reason, row in stats.first_rows.items():
            self.first_rows.setdefault(reason, row)
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

    def guess_date_format(self, column: str) -> str | None:
        """The supported pattern that parses most of a column's failing dates, if it parses most."""
        failed = self.failed_dates.get(column, [])
        best, best_count = None, 0
        for pattern in CANDIDATE_DATE_FORMATS:
            count = 0
            for raw in failed:
                with contextlib.suppress(ValueError):
                    count += parse_date(raw, pattern) is not None
            if count > best_count:
                best, best_count = pattern, count
        return best if best_count > len(failed) / 2 else None

    def check_whole_file(self) -> None:
        """Raise when the file as a whole cannot be used (call after the first chunk and at the end)."""
        failing = []
        for column in DATE_COLUMNS:
            values, failures = self.date_values[column], self.date_failures[column]
            if failures > WHOLE_FILE_FAILURE_SHARE * values and \
                    (values >= MIN_VALUES_FOR_WHOLE_FILE_CHECK or failures == values > 0):
                failing.append((column, round(100 * failures / values)))
        if failing:
            problems = []
            for column, share in failing:
                guess = self.guess_date_format(column)
                fix = (f"the values look like {guess}: pass --date-format {column}={guess}" if guess else
                       f"pass --date-format {column}=FORMAT with the file's real format (e.g. DD/MM/YYYY)")
                problems.append(Problem(where(self.path, column=column),
                                        f"{share}% of its dates fail the format {self.date_formats[column]}",
                                        f"{fix}, or correct the {self.agreement.source} agreement's date format"))
            raise ExtractError(
                f"{self.path.name}: most values in column(s) {', '.join(c for c, _ in failing)} are not dates "
                f"in the format {' / '.join(sorted({self.date_formats[c] for c, _ in failing}))}, so the file "
                f"cannot be used as it is ({problems[0].fix})",
                problems,
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

    def check_some_accepted(self, issues: list[RowIssue]) -> None:
        """Raise when rows came in but none can be used: nothing accepted, nothing sealed."""
        if self.rows_in == 0 or self.accepted:
            return
        (column, reason), count = self.quarantine_reasons.most_common(1)[0]
        row = self.first_rows[(column, reason)]
        at = f"column {column}: " if column else ""
        everything = "its only row was" if self.rows_in == 1 else f"all {self.rows_in:,} rows were"
        raise ExtractError(
            f"{self.path.name}: no row can be used: {everything} quarantined, most often "
            f"({_rows(count)}, first at row {row}, {ROW_CONVENTION}) for {at}{reason}",
            [Problem(where(self.path, issue.row, issue.column), issue.reason, "correct the extract and run again")
             for issue in issues[:20] if issue.kind == "quarantined"],
        )

    def quarantine_warning(self, share: float) -> str | None:
        """A sentence when more than ``share`` of the rows were quarantined, else None."""
        if not self.rows_in or self.quarantined <= share * self.rows_in:
            return None
        (column, reason), count = self.quarantine_reasons.most_common(1)[0]
        at = f"column {column}: " if column else ""
        return (f"{self.path.name}: {100 * self.quarantined / self.rows_in:.0f}% of rows were quarantined "
                f"({self.quarantined:,} of {self.rows_in:,}; more than {100 * share:.0f}%), most often ({count:,}) "
                f"for {at}{reason}: the hub will miss those events")


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")
