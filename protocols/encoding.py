"""Turning validated, normalised rows into the sealed columns (tokens, Bloom filters, ages).

Which key encodes which column is fixed here: every token column has its own HKDF-derived
key, except that ``tok_dob_swapped`` uses the date-of-birth key (so a day/month swap in
one source is seen as equality with the other source's ``tok_dob``) and every name part
(given, middle, family) is also tokenised under one shared name-part key (so a given/family
name swap can still be seen). ``tok_given_forms`` (every possible form of the first given-name
part, ``protocols.normalise.names.given_name_forms``) has one key of its own for the whole
list: every form of every record and source is tokenised under it, so two records' lists can
be intersected, while its tokens cannot be joined to any other column's. The values behind
``tok_given_forms`` are ``given_name_forms_of_parts`` of the whole given name (the forms of
its first part, and of the next part after a prefix such as MUHAMMAD); those behind
``tok_family_parts`` are ``family_name_parts`` (every family-name part and, for two or more,
the parts written solid).

Bloom filters: ``bf_given`` and ``bf_family`` are made under one shared key (HKDF label
``bloom/name``) with the same size and number of hashes (the partnership settings must say
so), so a given name in one record and a family name in another can be compared by Dice;
``bf_address`` has its own key (``bloom/address``). Encoding version 2 made this change;
extracts sealed before it (schema version 1) are refused by the hub.

Date of birth (schema version 3, issue 13): only ``tok_dob`` (the whole date) and
``tok_dob_swapped`` (day and month swapped, under the same key). No token of a part of the
date: the clear age (``age_months`` with the manifest's extract date) gives the year and
month of birth, so year or month tokens are decoded by joining with it; a day token falls to
frequency (day 31 is in seven months only); and a month-and-day token would be decoded for
everyone born on a date that the clear columns pin for a few records (an age that changes
between two dated events). The linkage takes "same year" from the clear ``age_years`` and
"same year and month, another day" from the clear ``age_months`` (benchmarks/README.md).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from familylink.core.contract import (
    SEALED_COLUMNS,
    SEALED_TOKEN_COLUMNS,
    SEALED_TOKEN_LIST_COLUMNS,
)
from protocols.agreements import Agreement, Partnership
from protocols.encoders import BloomEncoder, TokenEncoder
from protocols.keys import PartnershipKey
from protocols.normalise import (
    age_in_months,
    age_in_years,
    canonical_given_name,
    metaphone,
    nysiis,
    swap_day_month,
    truncate_to_month,
)
from protocols.normalise.names import family_name_parts, given_name_forms_of_parts
from protocols.validation import CleanRows, Identity

_BLOOM_FIELDS = {"bf_given": "given_name", "bf_family": "family_name", "bf_address": "address"}
#: The HKDF label of each Bloom filter's key: both name filters share one keyed domain (and,
#: checked in protocols.agreements, one size and number of hashes), so the Dice of one
#: record's bf_given against another's bf_family measures a given/family swap with a typo.
BLOOM_KEY_LABELS = {"bf_given": "bloom/name", "bf_family": "bloom/name", "bf_address": "bloom/address"}
#: The sealed columns computed from the identity alone (cached per distinct identity).
IDENTITY_SEALED_COLUMNS = (
    "tok_given_first", "tok_given_canon", "tok_given_nysiis", "tok_given_metaphone", "tok_given_forms",
    "bf_given",
    "tok_middle",
    "tok_family", "tok_family_nysiis", "tok_family_metaphone", "tok_family_parts", "bf_family",
    "tok_name_parts",
    "tok_dob", "tok_dob_swapped", "age_months", "age_years",
    "sex", "postcode_district", "tok_postcode", "tok_postcode_sector",
    "tok_address", "tok_building", "bf_address", "tok_locality_parts",
    "tok_uprn", "tok_household", "tok_nhs", "tok_ni", "tok_upn",
)


def sealed_schema(partnership: Partnership) -> pa.Schema:
    """The Arrow schema of a sealed extract's data (the same for every source)."""
    types: dict[str, pa.DataType] = {
        "source": pa.string(),
        "record_id": pa.string(),
        "row_number": pa.int64(),
        "sex": pa.string(),
        "age_months": pa.int32(),
        "age_years": pa.int16(),
        "age_at_event": pa.int16(),
        "postcode_district": pa.string(),
        "indicator": pa.string(),
        "event_date": pa.date32(),
        "end_date": pa.date32(),
        "value": pa.float64(),
        "detail": pa.string(),
    }
    for column in SEALED_TOKEN_COLUMNS:
        types[column] = pa.string()
    for column in SEALED_TOKEN_LIST_COLUMNS:
        types[column] = pa.list_(pa.string())
    for column, field in _BLOOM_FIELDS.items():
        types[column] = pa.binary(partnership.encoding.bloom[field].bits // 8)
    assert tuple(types) == SEALED_COLUMNS, "sealed schema out of step with the contract"
    return pa.schema([pa.field(name, types[name]) for name in SEALED_COLUMNS])


class ExtractEncoder:
    """Encodes CleanRows of one source into an Arrow table of the sealed schema."""

    def __init__(self, key: PartnershipKey, partnership: Partnership, agreement: Agreement,
                 extract_date: dt.date) -> None:
        self.agreement = agreement
        self.source = agreement.source
        self.extract_date = extract_date
        self.schema = sealed_schema(partnership)
        size = partnership.encoding.token_bytes
        self.tokens = {c: TokenEncoder(key.field_key(f"token/{c}"), size) for c in SEALED_TOKEN_COLUMNS}
        self.tokens["tok_dob_swapped"] = self.tokens["tok_dob"]
        self.family_part = TokenEncoder(key.field_key("token/tok_family_parts"), size)
        self.name_part = TokenEncoder(key.field_key("token/name_part"), size)
        self.given_form = TokenEncoder(key.field_key("token/tok_given_forms"), size)
        self.locality_part = TokenEncoder(key.field_key("token/tok_locality_parts"), size)
        self.blooms = {
            column: BloomEncoder(key.field_key(BLOOM_KEY_LABELS[column]),
                                 partnership.encoding.bloom[field].bits,
                                 partnership.encoding.bloom[field].hashes)
            for column, field in _BLOOM_FIELDS.items()
        }
        self._given: dict[tuple[str, ...], tuple] = {}
        self._family: dict[tuple[str, ...], tuple] = {}
        self._parts: dict[tuple, list[str] | None] = {}
        self._dob: dict[dt.date, tuple] = {}
        self._identities: dict[int, tuple] = {}
        self._month_precision = agreement.date_precision == "month"
        #: age in whole months only where the agreement declares the need (else years only)
        self._age_months = agreement.age_precision == "months"

    def _given_columns(self, parts: tuple[str, ...]) -> tuple:
        cached = self._given.get(parts)
        if cached is None:
            if not parts:
                cached = (None,) * 6
            else:
                t = self.tokens
                first = parts[0]
                full = " ".join(parts)
                cached = (
                    t["tok_given_first"].encode(first),
                    t["tok_given_canon"].encode(canonical_given_name(first)),
                    t["tok_given_nysiis"].encode(nysiis(first)),
                    t["tok_given_metaphone"].encode(metaphone(first)),
                    sorted({self.given_form.encode(f) for f in given_name_forms_of_parts(parts)}) or None,
                    self.blooms["bf_given"].encode(full),
                )
            self._given[parts] = cached
        return cached

    def _family_columns(self, parts: tuple[str, ...]) -> tuple:
        cached = self._family.get(parts)
        if cached is None:
            if not parts:
                cached = (None,) * 5
            else:
                t = self.tokens
                joined = "".join(parts)
                full = " ".join(parts)
                cached = (
                    t["tok_family"].encode(full),
                    t["tok_family_nysiis"].encode(nysiis(joined)),
                    t["tok_family_metaphone"].encode(metaphone(joined)),
                    sorted({self.family_part.encode(p) for p in family_name_parts(parts)}),
                    self.blooms["bf_family"].encode(full),
                )
            self._family[parts] = cached
        return cached

    def _name_parts(self, given: tuple[str, ...], middle: str, family: tuple[str, ...]) -> list[str] | None:
        key = (given, middle, family)
        cached = self._parts.get(key)
        if cached is None and key not in self._parts:
            parts = set(given) | set(middle.split()) | set(family)
            cached = sorted(self.name_part.encode(p) for p in parts) or None
            self._parts[key] = cached
        return cached

    def _locality_parts(self, locality: str) -> list[str] | None:
        """Each word of the address's locality (town, district, county: what follows the
        street), so that one address written with and without its county still shares one."""
        words = locality.split()
        return sorted({self.locality_part.encode(w) for w in words}) if words else None

    def _dob_columns(self, dob: dt.date | None) -> tuple:
        if dob is None:
            return (None,) * 4
        cached = self._dob.get(dob)
        if cached is None:
            t = self.tokens
            swapped = swap_day_month(dob)
            cached = (
                t["tok_dob"].encode(dob.isoformat()),
                t["tok_dob"].encode(swapped.isoformat()) if swapped else None,
                age_in_months(dob, self.extract_date) if self._age_months else None,
                age_in_years(dob, self.extract_date),
            )
            self._dob[dob] = cached
        return cached

    def _identity_columns(self, identity: Identity, number: int) -> tuple:
        """Every sealed column that depends only on the identity, in IDENTITY_SEALED_COLUMNS order.

        ``number`` identifies the distinct identity (see CleanRows.identity_number).
        """
        cached = self._identities.get(number)
        if cached is not None:
            return cached
        t = self.tokens
        given, middle, family, dob, sex, address, postcode, uprn, household, nhs, ni, upn = identity
        cached = (
            *self._given_columns(given),
            t["tok_middle"].encode(middle),
            *self._family_columns(family),
            self._name_parts(given, middle, family),
            *self._dob_columns(dob),
            sex,
            postcode.district if postcode else None,
            t["tok_postcode"].encode(postcode.unit) if postcode else None,
            t["tok_postcode_sector"].encode(postcode.sector) if postcode else None,
            t["tok_address"].encode(address.key) if address else None,
            t["tok_building"].encode(address.building) if address else None,
            self.blooms["bf_address"].encode(address.key) if address else None,
            self._locality_parts(address.locality) if address else None,
            t["tok_uprn"].encode(uprn),
            t["tok_household"].encode(f"{self.source}\x1f{household}") if household else None,
            t["tok_nhs"].encode(nhs),
            t["tok_ni"].encode(ni),
            t["tok_upn"].encode(upn),
        )
        if len(self._identities) > 500_000:
            self._identities.clear()
        self._identities[number] = cached
        return cached

    def encode(self, rows: CleanRows) -> pa.Table:
        n = len(rows)
        identity_columns = self._identity_columns
        identity_values = [identity_columns(identity, number)
                           for identity, number in zip(rows.identity, rows.identity_number, strict=True)]
        columns: dict[str, list] = dict(zip(IDENTITY_SEALED_COLUMNS, (list(c) for c in zip(*identity_values, strict=False)),
                                            strict=True)) if n else {c: [] for c in IDENTITY_SEALED_COLUMNS}
        ages = []
        for identity, event in zip(rows.identity, rows.event_date, strict=True):
            dob = identity.dob
            ages.append(age_in_years(dob, event) if dob is not None and event is not None else None)
        events, ends = rows.event_date, rows.end_date
        if self._month_precision:
            events = [truncate_to_month(d) if d else None for d in events]
            ends = [truncate_to_month(d) if d else None for d in ends]
        columns.update(
            source=[self.source] * n,
            record_id=rows.record_id,
            row_number=rows.row_number,
            age_at_event=ages,
            indicator=rows.indicator,
            event_date=events,
            end_date=ends,
            value=rows.value,
            detail=rows.detail,
        )
        arrays = [pa.array(columns[f.name], type=f.type) for f in self.schema]
        return pa.Table.from_arrays(arrays, schema=self.schema)
