"""Checking raw rows against the agreement: quarantine, blanked fields, warnings.

- A *row-level* problem (no record_id, unknown indicator, unparseable event date, an event
  before the person's birth, ...) sends the row to quarantine with its reason.
- A *field-level* problem (impossible date of birth, failed check digit, malformed
  postcode, ...) blanks that field; the person still takes part in matching on the rest.
- A *warning* (conflicting identities under one record_id) is reported, nothing changes.
- A *whole-file* problem (most dates in the wrong format, a file from another source) is
  an ExtractError: one sentence naming the file and column.

Values are normalised once per distinct raw value (extracts repeat names, dates and
addresses on every event row).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from familylink.core.contract import DEFAULT_VOCABULARY, IDENTITY_COLUMNS
from familylink.core.errors import ExtractError, Problem
from protocols.agreements import Agreement
from protocols.normalise import (
    Address,
    Postcode,
    age_in_years,
    compile_date_format,
    name_parts,
    normalise_address,
    normalise_household_ref,
    normalise_name,
    normalise_ni_number,
    normalise_nhs_number,
    normalise_sex,
    normalise_upn,
    normalise_uprn,
    parse_date,
    parse_postcode,
)
from protocols.rawfile import RawChunk, where

IssueKind = Literal["quarantined", "blanked", "warning"]
DATE_COLUMNS = ("date_of_birth", "event_date", "end_date")
#: A date column is unusable as a whole when more than this share of its values fail.
WHOLE_FILE_FAILURE_SHARE = 0.5
MIN_VALUES_FOR_WHOLE_FILE_CHECK = 5
OLDEST_AGE = 120
CANDIDATE_DATE_FORMATS = ("YYYY-MM-DD", "DD/MM/YYYY", "DD-MM-YYYY", "DD.MM.YYYY", "YYYYMMDD", "YYYY/MM/DD")
_FAILED = object()


@dataclass(frozen=True)
class RowIssue:
    row: int
    column: str
    kind: IssueKind
    reason: str


class Identity(NamedTuple):
    """One record's normalised identity fields; a field the source does not share is empty."""

    given: tuple[str, ...]
    middle: str
    family: tuple[str, ...]
    dob: dt.date | None
    sex: str | None
    address: Address | None
    postcode: Postcode | None
    uprn: str | None
    household_ref: str | None
    nhs: str | None
    ni: str | None
    upn: str | None


@dataclass
class CleanRows:
    """Accepted rows of one chunk: identity normalised, event columns parsed."""

    row_number: list[int] = field(default_factory=list)
    record_id: list[str] = field(default_factory=list)
    identity: list[Identity] = field(default_factory=list)
    indicator: list[str | None] = field(default_factory=list)
    event_date: list[dt.date | None] = field(default_factory=list)
    end_date: list[dt.date | None] = field(default_factory=list)
    value: list[float | None] = field(default_factory=list)
    detail: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row_number)


@dataclass
class ChunkResult:
    clean: CleanRows
    issues: list[RowIssue]
    quarantined: list[tuple[int, list[str], str, str]]  # row, raw values, column, reason


class _Cache:
    """Normalise each distinct raw value once; remember failures as ``_FAILED``."""

    def __init__(self, function) -> None:
        self._function = function
        self._values: dict[str, object] = {}

    def __call__(self, raw: str):
        value = self._values.get(raw, None)
        if value is None and raw not in self._values:
            try:
                value = self._function(raw)
            except ValueError:
                value = _FAILED
            if len(self._values) > 500_000:
                self._values.clear()
            self._values[raw] = value
        return value


class RowValidator:
    """Validates chunks of one raw extract in order, keeping the state that spans chunks."""

    def __init__(self, path: Path, header: list[str], agreement: Agreement,
                 extract_date: dt.date, date_format: str | None = None) -> None:
        self.path = path
        self.agreement = agreement
        self.extract_date = extract_date
        self.date_format = date_format or agreement.date_format
        compile_date_format(self.date_format)
        self.header = header
        self.index = {name: i for i, name in enumerate(header)}
        self.indicators = agreement.indicators
        self.details = agreement.allowed_details
        self.rows_in = 0
        self.accepted = 0
        self.quarantined = 0
        self.blanked: Counter[str] = Counter()
        self.warnings = 0
        self.date_values: Counter[str] = Counter()
        self.date_failures: Counter[str] = Counter()
        self.indicator_values = 0
        self.unknown_indicators: Counter[str] = Counter()
        self._identity: dict[str, tuple[int, int]] = {}
        self._identities: dict[tuple[str, ...], tuple] = {}
        self._shares = {c: agreement.shares(c) for c in agreement.fields}
        self._identity_indices = tuple(i for i, c in enumerate(header) if c in IDENTITY_COLUMNS and c != "record_id")
        self._failed_dates: list[str] = []
        parse = self._parse_date
        self._date = _Cache(parse)
        self._names = _Cache(name_parts)
        self._middle = _Cache(normalise_name)
        self._sex = _Cache(normalise_sex)
        self._postcode = _Cache(parse_postcode)
        self._address = _Cache(normalise_address)
        self._uprn = _Cache(normalise_uprn)
        self._nhs = _Cache(normalise_nhs_number)
        self._ni = _Cache(normalise_ni_number)
        self._upn = _Cache(normalise_upn)
        self._household = _Cache(normalise_household_ref)

    def _parse_date(self, raw: str) -> dt.date | None:
        return parse_date(raw, self.date_format)

    def _get(self, record: list[str], column: str) -> str:
        i = self.index.get(column)
        return "" if i is None else record[i].strip()

    def check(self, chunk: RawChunk) -> ChunkResult:
        clean = CleanRows()
        issues: list[RowIssue] = []
        quarantined: list[tuple[int, list[str], str, str]] = []
        width = len(self.header)
        ix = self.index
        id_columns = self._identity_indices

        def reject(row: int, record: list[str], column: str, reason: str) -> None:
            quarantined.append((row, record, column, reason))
            issues.append(RowIssue(row, column, "quarantined", reason))

        for row, record in zip(chunk.row_numbers, chunk.rows, strict=True):
            self.rows_in += 1
            if len(record) != width:
                reject(row, record, "", f"the row has {len(record)} values but the header has {width}")
                continue
            record_id = record[ix["record_id"]].strip()
            if not record_id:
                reject(row, record, "record_id", "record_id is blank")
                continue
            raw_identity = tuple(record[i] for i in id_columns)
            known = self._identities.get(raw_identity)
            if known is None:
                known = self._identity_of(record)
                if len(self._identities) > 500_000:
                    self._identities.clear()
                self._identities[raw_identity] = known
            identity, blanks, dob_outcome = known
            if dob_outcome is not None:  # date statistics count rows, not distinct identities
                self.date_values["date_of_birth"] += 1
                self.date_failures["date_of_birth"] += dob_outcome
            event = self._event(row, record, identity.dob, reject, issues)
            if event is None:
                continue
            for column, reason in blanks:
                self.blanked[column] += 1
                issues.append(RowIssue(row, column, "blanked", reason))
            self._check_identity(record_id, row, identity, issues)
            self.accepted += 1
            clean.row_number.append(row)
            clean.record_id.append(record_id)
            clean.identity.append(identity)
            indicator, event_date, end_date, value, detail = event
            clean.indicator.append(indicator)
            clean.event_date.append(event_date)
            clean.end_date.append(end_date)
            clean.value.append(value)
            clean.detail.append(detail)
        self.quarantined += len(quarantined)
        self.warnings += sum(1 for i in issues if i.kind == "warning")
        return ChunkResult(clean, issues, quarantined)

    def _event(self, row, record, dob, reject, issues):
        """The parsed event columns, or None when the row was sent to quarantine."""
        indicator = self._get(record, "indicator").lower()
        event_raw = self._get(record, "event_date")
        end_raw = self._get(record, "end_date")
        value_raw = self._get(record, "value")
        detail_raw = self._get(record, "detail").upper()
        if not indicator:
            if event_raw or end_raw or value_raw or detail_raw:
                self.blanked["indicator"] += 1
                issues.append(RowIssue(row, "indicator", "blanked",
                                       "event columns are filled but indicator is blank; they were ignored"))
            return (None, None, None, None, None)
        self.indicator_values += 1
        spec = self.indicators.get(indicator)
        if spec is None:
            self.unknown_indicators[indicator] += 1
            return reject(row, record, "indicator", f"indicator code not in the {self.agreement.source} vocabulary")
        if not event_raw:
            return reject(row, record, "event_date", "event_date is blank but an indicator is set")
        event_date = self._checked_date("event_date", event_raw)
        if event_date is _FAILED:
            return reject(row, record, "event_date", f"not a valid date in the format {self.date_format}")
        end_date = None
        if end_raw:
            end_date = self._checked_date("end_date", end_raw)
            if end_date is _FAILED:
                return reject(row, record, "end_date", f"not a valid date in the format {self.date_format}")
            if end_date < event_date:
                return reject(row, record, "end_date", "end_date is before event_date")
        if dob is not None and event_date < dob:
            return reject(row, record, "event_date", "the event is dated before the person's date of birth")
        value = None
        if value_raw:
            try:
                value = float(value_raw)
            except ValueError:
                value = None
            if value is None or not math.isfinite(value):
                if spec.value == "required":
                    return reject(row, record, "value", "value is not a number")
                value = None
                self.blanked["value"] += 1
                issues.append(RowIssue(row, "value", "blanked", "value is not a number; left blank"))
            elif spec.value == "required" and value < 0:
                return reject(row, record, "value", "value must not be negative")
        elif spec.value == "required":
            return reject(row, record, "value", f"value is required for {indicator}")
        detail = None
        if detail_raw:
            allowed = self.details.get(indicator)
            if allowed is not None and detail_raw not in allowed:
                return reject(row, record, "detail",
                              f"detail code not allowed for {indicator} (allowed: {', '.join(sorted(allowed))})")
            detail = detail_raw
        return (indicator, event_date, end_date, value, detail)

    def _identity_of(self, record: list[str]) -> tuple[Identity, tuple[tuple[str, str], ...], int | None]:
        """Normalise one distinct set of raw identity values.

        Returns the identity, the fields blanked with their reasons, and whether the date of
        birth failed to parse (1), parsed (0) or was blank (None).
        """
        blanks: list[tuple[str, str]] = []
        dob_raw = self._get(record, "date_of_birth")
        dob, problem = self._date_of_birth(dob_raw)
        dob_outcome = None if not dob_raw else int(self._date(dob_raw) is _FAILED)
        if problem:
            blanks.append(("date_of_birth", problem))

        def checked(column: str, cache: _Cache, reason: str):
            if not self._shares.get(column):
                return None
            raw = self._get(record, column)
            if not raw:
                return None
            value = cache(raw)
            if value is _FAILED:
                blanks.append((column, f"{reason}; left blank"))
                return None
            return value

        def names(column: str):
            parts = self._names(self._get(record, column)) if self._shares.get(column) else ()
            return () if parts is _FAILED else parts

        middle = self._middle(self._get(record, "middle_names")) if self._shares.get("middle_names") else ""
        address = self._address(self._get(record, "address")) if self._shares.get("address") else None
        if address is _FAILED or (address is not None and not address.key):
            address = None
        identity = Identity(
            given=names("given_name"),
            middle="" if middle is _FAILED else middle,
            family=names("family_name"),
            dob=dob,
            sex=checked("sex", self._sex, "not one of M, F, U"),
            address=address,
            postcode=checked("postcode", self._postcode, "not a valid UK postcode"),
            uprn=checked("uprn", self._uprn, "not a valid UPRN (1-12 digits)"),
            household_ref=checked("household_ref", self._household, "not a usable household reference"),
            nhs=checked("nhs_number", self._nhs, "not a valid NHS number (10 digits with a mod-11 check digit)"),
            ni=checked("ni_number", self._ni, "not a valid National Insurance number"),
            upn=checked("upn", self._upn, "not a valid UPN (13 characters with a check letter)"),
        )
        return identity, tuple(blanks), dob_outcome

    def _date_of_birth(self, raw: str) -> tuple[dt.date | None, str]:
        """The date of birth, or None with the reason it was blanked ("" when fine or blank)."""
        if not raw:
            return None, ""
        dob = self._date(raw)
        if dob is _FAILED:
            if len(self._failed_dates) < 50:
                self._failed_dates.append(raw)
            return None, f"not a valid date in the format {self.date_format}; left blank"
        if dob > self.extract_date:
            return None, "date of birth is after the extract date; left blank"
        if age_in_years(dob, self.extract_date) > OLDEST_AGE:
            return None, f"implies an age over {OLDEST_AGE}; left blank"
        return dob, ""

    def _checked_date(self, column: str, raw: str):
        self.date_values[column] += 1
        value = self._date(raw)
        if value is _FAILED:
            self.date_failures[column] += 1
            if len(self._failed_dates) < 50:
                self._failed_dates.append(raw)  # kept in memory only, to suggest a format
        return value

    def _guess_date_format(self) -> str | None:
        """The supported pattern that parses most of the failing dates, if it parses most."""
        best, best_count = None, 0
        for pattern in CANDIDATE_DATE_FORMATS:
            count = 0
            for raw in self._failed_dates:
                try:
                    count += parse_date(raw, pattern) is not None
                except ValueError:
                    pass
            if count > best_count:
                best, best_count = pattern, count
        return best if best_count > len(self._failed_dates) / 2 else None

    def _check_identity(self, record_id: str, row: int, identity: Identity, issues: list[RowIssue]) -> None:
        digest = hash((identity.given, identity.family, identity.dob))
        first = self._identity.get(record_id)
        if first is None:
            self._identity[record_id] = (row, digest)
        elif first[1] != digest:
            issues.append(RowIssue(row, "record_id", "warning",
                                   f"conflicting identity: the name or date of birth differs from row {first[0]} "
                                   "under the same record_id"))

    def check_whole_file(self) -> None:
        """Raise when the file as a whole cannot be used (call after the first chunk and at the end)."""
        failing = []
        for column in DATE_COLUMNS:
            values, failures = self.date_values[column], self.date_failures[column]
            if values >= MIN_VALUES_FOR_WHOLE_FILE_CHECK and failures > WHOLE_FILE_FAILURE_SHARE * values:
                failing.append((column, round(100 * failures / values)))
        if failing:
            guess = self._guess_date_format()
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
        if self.indicator_values >= MIN_VALUES_FOR_WHOLE_FILE_CHECK and unknown > WHOLE_FILE_FAILURE_SHARE * self.indicator_values:
            votes: Counter[str] = Counter()
            for code, count in self.unknown_indicators.items():
                for source, specs in DEFAULT_VOCABULARY.items():
                    if any(s.code == code for s in specs):
                        votes[source] += count
            guess = votes.most_common(1)[0][0] if votes else None
            hint = f"it looks like a {guess} extract" if guess and guess != self.agreement.source else \
                "the codes are in no source's vocabulary"
            raise ExtractError(
                f"{self.path.name}: {round(100 * unknown / self.indicator_values)}% of its indicator codes are "
                f"not in the {self.agreement.source} vocabulary; {hint}",
                [Problem(where(self.path, column="indicator"), "wrong source for this file",
                         "check --source, or extend the agreement's vocabulary if the codes are new")],
            )
