"""Checking raw rows against the agreement: quarantine, blanked fields, warnings.

- A *row-level* problem (no record_id, unknown indicator, unparseable event date, an event
  before the person's birth, ...) sends the row to quarantine with its reason.
- A *field-level* problem (impossible date of birth, failed check digit, malformed
  postcode, a detail code the agreement does not allow, ...) blanks that field; the person
  and the event still take part on the rest.
- A *warning* (conflicting identities under one record_id) is reported, nothing changes.
- A *whole-file* problem (most dates in the wrong format, a file from another source) is
  decided over the whole file by ``protocols.tally``.

Values are normalised once per distinct raw value (extracts repeat names, dates and
addresses on every event row).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Literal, NamedTuple

from familylink.core.contract import IDENTITY_COLUMNS
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
    normalise_nhs_number,
    normalise_ni_number,
    normalise_sex,
    normalise_upn,
    normalise_uprn,
    parse_date,
    parse_postcode,
)
from protocols.rawfile import RawChunk

IssueKind = Literal["quarantined", "blanked", "warning"]
OLDEST_AGE = 120
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
    #: a number per distinct identity, never reused within one validator (a cache key)
    identity_number: list[int] = field(default_factory=list)
    indicator: list[str | None] = field(default_factory=list)
    event_date: list[dt.date | None] = field(default_factory=list)
    end_date: list[dt.date | None] = field(default_factory=list)
    value: list[float | None] = field(default_factory=list)
    detail: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row_number)


@dataclass
class ChunkStats:
    """Counts from one chunk; the caller adds them up over the file (see protocols.tally)."""

    rows_in: int = 0
    blank_rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    blanked: Counter = field(default_factory=Counter)
    date_values: Counter = field(default_factory=Counter)
    date_failures: Counter = field(default_factory=Counter)
    indicator_values: int = 0
    unknown_indicators: Counter = field(default_factory=Counter)
    #: column -> a few failing values, in memory only, to suggest a format
    failed_dates: dict[str, list[str]] = field(default_factory=dict)
    #: (column, reason) -> rows quarantined for it, and the first such row
    quarantine_reasons: Counter = field(default_factory=Counter)
    first_rows: dict = field(default_factory=dict)

    def failed_date(self, column: str, raw: str) -> None:
        values = self.failed_dates.setdefault(column, [])
        if len(values) < 50:
            values.append(raw)


@dataclass
class ChunkResult:
    clean: CleanRows
    issues: list[RowIssue]
    quarantined: list[tuple[int, list[str], str, str]]  # row, raw values, column, reason
    stats: ChunkStats
    #: (record_id, row, identity digest) of every accepted row, for conflicting-identity checks
    identities: list[tuple[str, int, int]]


class _Cache:
    """Normalise each distinct raw value once; remember failures as ``_FAILED``."""

    def __init__(self, function) -> None:
        self._function = function
        self._values: dict[str, object] = {}

    def __call__(self, raw: str):
        try:
            return self._values[raw]
        except KeyError:
            pass
        try:
            value = self._function(raw)
        except ValueError:
            value = _FAILED
        if len(self._values) > 500_000:
            self._values.clear()
        self._values[raw] = value
        return value


def _tuple_getter(indices: list[int]):
    """A function returning the values at ``indices`` as a tuple (itemgetter returns a bare
    value for one index)."""
    if len(indices) >= 2:
        return itemgetter(*indices)
    if len(indices) == 1:
        only = indices[0]
        return lambda record: (record[only],)
    return lambda record: ()


class RowValidator:
    """Validates chunks of one raw extract. Holds caches only: any chunk can go to any process."""

    def __init__(self, path: Path, header: list[str], agreement: Agreement,
                 extract_date: dt.date, date_format: str | Mapping[str, str] | None = None) -> None:
        self.path = path
        self.agreement = agreement
        self.extract_date = extract_date
        #: column -> format: one for every column, one per column, or the agreement's
        self.date_formats = {column: (date_format if isinstance(date_format, str) else
                                      (date_format or {}).get(column)) or agreement.date_format_of(column)
                             for column in ("date_of_birth", "event_date", "end_date")}
        for pattern in set(self.date_formats.values()):
            compile_date_format(pattern)
        self.header = header
        self.index = {name: i for i, name in enumerate(header)}
        self.indicators = agreement.indicators
        self.details = agreement.allowed_details
        self._stats = ChunkStats()
        self._identities: dict[tuple[str, ...], tuple] = {}
        self._shares = {c: agreement.shares(c) for c in agreement.fields}
        identity_indices = [i for i, c in enumerate(header) if c in IDENTITY_COLUMNS and c != "record_id"]
        self._raw_identity = _tuple_getter(identity_indices)
        self._identity_count = 0
        self._dates = {pattern: _Cache(lambda raw, pattern=pattern: parse_date(raw, pattern))
                       for pattern in set(self.date_formats.values())}
        self._date = {column: self._dates[pattern] for column, pattern in self.date_formats.items()}
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

    def _get(self, record: list[str], column: str) -> str:
        i = self.index.get(column)
        return "" if i is None else record[i].strip()

    def check(self, chunk: RawChunk) -> ChunkResult:
        self._stats = stats = ChunkStats(blank_rows=chunk.blank_rows)
        clean = CleanRows()
        identities: list[tuple[str, int, int]] = []
        issues: list[RowIssue] = []
        quarantined: list[tuple[int, list[str], str, str]] = []
        width = len(self.header)
        record_id_at = self.index["record_id"]
        raw_identity_of = self._raw_identity

        def reject(row: int, record: list[str], column: str, reason: str) -> None:
            quarantined.append((row, record, column, reason))
            issues.append(RowIssue(row, column, "quarantined", reason))
            stats.quarantine_reasons[(column, reason)] += 1
            stats.first_rows.setdefault((column, reason), row)

        ragged = chunk.ragged or {}
        for number, (row, record) in enumerate(zip(chunk.row_numbers, chunk.rows, strict=True)):
            stats.rows_in += 1
            if number in ragged or len(record) != width:
                values, expected = ragged.get(number, (len(record), width))
                reject(row, record, "", f"the row has {values} values but the header has {expected}")
                continue
            record_id = record[record_id_at].strip()
            if not record_id:
                reject(row, record, "record_id", "record_id is blank")
                continue
            raw_identity = raw_identity_of(record)
            known = self._identities.get(raw_identity)
            if known is None:
                known = self._identity_of(record)
                if len(self._identities) > 500_000:
                    self._identities.clear()
                self._identities[raw_identity] = known
            identity, blanks, dob_outcome, digest, number = known
            if dob_outcome is not None:  # date statistics count rows, not distinct identities
                stats.date_values["date_of_birth"] += 1
                stats.date_failures["date_of_birth"] += dob_outcome
            event = self._event(row, record, identity.dob, reject, issues)
            if event is None:
                continue
            for column, reason in blanks:
                stats.blanked[column] += 1
                issues.append(RowIssue(row, column, "blanked", reason))
            identities.append((record_id, row, digest))
            stats.accepted += 1
            clean.row_number.append(row)
            clean.record_id.append(record_id)
            clean.identity.append(identity)
            clean.identity_number.append(number)
            indicator, event_date, end_date, value, detail = event
            clean.indicator.append(indicator)
            clean.event_date.append(event_date)
            clean.end_date.append(end_date)
            clean.value.append(value)
            clean.detail.append(detail)
        stats.quarantined = len(quarantined)
        return ChunkResult(clean, issues, quarantined, stats, identities)

    def _event(self, row, record, dob, reject, issues):
        """The parsed event columns, or None when the row was sent to quarantine."""
        indicator = self._get(record, "indicator").lower()
        event_raw = self._get(record, "event_date")
        end_raw = self._get(record, "end_date")
        value_raw = self._get(record, "value")
        detail_raw = self._get(record, "detail").upper()
        if not indicator:
            if event_raw or end_raw or value_raw or detail_raw:
                self._stats.blanked["indicator"] += 1
                issues.append(RowIssue(row, "indicator", "blanked",
                                       "event columns are filled but indicator is blank; they were ignored"))
            return (None, None, None, None, None)
        self._stats.indicator_values += 1
        spec = self.indicators.get(indicator)
        if spec is None:
            self._stats.unknown_indicators[indicator] += 1
            return reject(row, record, "indicator", f"indicator code not in the {self.agreement.source} vocabulary")
        if not event_raw:
            return reject(row, record, "event_date", "event_date is blank but an indicator is set")
        event_date = self._checked_date("event_date", event_raw)
        if event_date is _FAILED:
            return reject(row, record, "event_date",
                          f"not a valid date in the format {self.date_formats['event_date']}")
        end_date = None
        if end_raw:
            end_date = self._checked_date("end_date", end_raw)
            if end_date is _FAILED:
                return reject(row, record, "end_date",
                              f"not a valid date in the format {self.date_formats['end_date']}")
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
                self._stats.blanked["value"] += 1
                issues.append(RowIssue(row, "value", "blanked", "value is not a number; left blank"))
            elif spec.value == "required" and value < 0:
                return reject(row, record, "value", "value must not be negative")
        elif spec.value == "required":
            return reject(row, record, "value", f"value is required for {indicator}")
        detail = None
        if detail_raw:
            allowed = self.details.get(indicator)
            if allowed is not None and detail_raw not in allowed:
                # minimisation: the code is not shared, the event still is
                self._stats.blanked["detail"] += 1
                issues.append(RowIssue(row, "detail", "blanked",
                                       f"detail code not allowed for {indicator} under the {self.agreement.source} "
                                       f"agreement (allowed: {', '.join(sorted(allowed)) or 'none'}); left blank"))
            else:
                detail = detail_raw
        return (indicator, event_date, end_date, value, detail)

    def _identity_of(self, record: list[str]) -> tuple:
        """Normalise one distinct set of raw identity values.

        Returns the identity, the fields blanked with their reasons, whether the date of
        birth failed to parse (1), parsed (0) or was blank (None), a digest of name and date
        of birth that is the same in every process (for conflicting-identity checks), and a
        number for this distinct identity (the encoder's cache key).
        """
        blanks: list[tuple[str, str]] = []
        dob_raw = self._get(record, "date_of_birth")
        dob, problem = self._date_of_birth(dob_raw)
        dob_outcome = None if not dob_raw else int(self._date["date_of_birth"](dob_raw) is _FAILED)
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
        digest = int.from_bytes(hashlib.blake2b(
            repr((identity.given, identity.family, identity.dob)).encode("utf-8"), digest_size=8).digest(), "big")
        self._identity_count += 1
        return identity, tuple(blanks), dob_outcome, digest, self._identity_count

    def _date_of_birth(self, raw: str) -> tuple[dt.date | None, str]:
        """The date of birth, or None with the reason it was blanked ("" when fine or blank)."""
        if not raw:
            return None, ""
        dob = self._date["date_of_birth"](raw)
        if dob is _FAILED:
            self._stats.failed_date("date_of_birth", raw)
            return None, f"not a valid date in the format {self.date_formats['date_of_birth']}; left blank"
        if dob > self.extract_date:
            return None, "date of birth is after the extract date; left blank"
        if age_in_years(dob, self.extract_date) > OLDEST_AGE:
            return None, f"implies an age over {OLDEST_AGE}; left blank"
        return dob, ""

    def _checked_date(self, column: str, raw: str):
        self._stats.date_values[column] += 1
        value = self._date[column](raw)
        if value is _FAILED:
            self._stats.date_failures[column] += 1
            self._stats.failed_date(column, raw)
        return value
