"""From a provider's view of the truth to its raw extract: records, record_ids, duplicate
records, the identity each record carries and the address on each row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from familylink.core.contract import EVENT_COLUMNS, RAW_COLUMNS
from familylink.synth.addresses import format_addresses
from familylink.synth.corruption import RecordIdentity, corrupt_identity, format_postcodes
from familylink.synth.dates import NAT, iso, ymd
from familylink.synth.events import ProviderView, reference_numbers
from familylink.synth.population import Population
from familylink.synth.settings import CorruptionSettings

#: Identity columns each source shares (every source also has record_id and event columns).
SOURCE_IDENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "schools": (
        "given_name",
        "middle_names",
        "family_name",
        "date_of_birth",
        "sex",
        "address",
        "postcode",
        "upn",
    ),
    "police": ("given_name", "family_name", "date_of_birth", "sex", "address", "postcode"),
    "dwp": (
        "given_name",
        "middle_names",
        "family_name",
        "date_of_birth",
        "sex",
        "address",
        "postcode",
        "household_ref",
        "ni_number",
    ),
    "housing": (
        "given_name",
        "family_name",
        "date_of_birth",
        "sex",
        "address",
        "postcode",
        "uprn",
        "household_ref",
        "ni_number",
    ),
    "health": (
        "given_name",
        "middle_names",
        "family_name",
        "date_of_birth",
        "sex",
        "address",
        "postcode",
        "nhs_number",
    ),
    "social_care": (
        "given_name",
        "family_name",
        "date_of_birth",
        "sex",
        "address",
        "postcode",
        "uprn",
        "household_ref",
        "nhs_number",
    ),
    "probation": ("given_name", "family_name", "date_of_birth", "sex", "address", "postcode"),
}


def source_columns(source: str) -> list[str]:
    """The raw file's header: the contract's column order, filtered to what the source shares."""
    shared = {"record_id", *SOURCE_IDENTITY_COLUMNS[source], *EVENT_COLUMNS}
    return [c for c in RAW_COLUMNS if c in shared]


@dataclass
class Extract:
    source: str
    rows: pd.DataFrame  # raw columns, all strings, sorted
    records: pd.DataFrame  # record_id, person (int), copy (0, or 1 for a duplicate record)
    #: the identity each record carries (index = row of ``records``), kept for later quarters
    identity: RecordIdentity | None = None


def _record_ids(
    rng: np.random.Generator, source: str, birth_year: np.ndarray, ref_year: int
) -> np.ndarray:
    """Distinct record_ids in the source's own scheme, one per record (``birth_year`` each)."""
    count = birth_year.size
    if source == "police":
        # nominal ids carry the year the person was first recorded (aged 10 or over)
        first = np.clip(np.maximum(2004, birth_year + 10), None, ref_year)
        year = first + np.floor(rng.random(count) * (ref_year - first + 1)).astype(np.int64)
        serial = np.empty(count, dtype=object)
        for y in np.unique(year):
            index = np.flatnonzero(year == y)
            serial[index] = reference_numbers(rng, index.size, 5)
        return np.array([f"NOM/{y}/{n}" for y, n in zip(year, serial, strict=True)], dtype=object)
    if source == "probation":
        letters = np.array(list("ABCDEFGHJKLMNPRSTVWXY"))[rng.integers(0, 21, size=count)]
        return (letters.astype(object) + reference_numbers(rng, count, 6)).astype(object)
    prefix, digits = {
        "schools": ("SCH-", 6),
        "dwp": ("DWP", 8),
        "housing": ("HSG/", 6),
        "health": ("RWE", 7),
        "social_care": ("LCS", 7),
    }[source]
    digits = max(digits, len(str(count * 3)))
    return (prefix + reference_numbers(rng, count, digits)).astype(object)


def _with_identity_only_rows(view: ProviderView) -> pd.DataFrame:
    """Event rows plus one identity-only row for each known person without events."""
    events = view.events
    silent = np.setdiff1d(
        view.known["person"].to_numpy(dtype=np.int64), events["person"].to_numpy(dtype=np.int64)
    )
    blank = pd.DataFrame(
        {
            "person": silent,
            "indicator": "",
            "event_date": np.full(silent.size, NAT),
            "end_date": np.full(silent.size, NAT),
            "value": "",
            "detail": "",
        }
    )
    rows = pd.concat([events, blank], ignore_index=True) if silent.size else events.copy()
    return rows.sort_values(["person", "event_date", "indicator"], kind="stable", ignore_index=True)


def _split_duplicates(rng: np.random.Generator, rows: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Give a share of people a second record: their later rows move to it (or, with one row,
    the second record gets an identity-only row). Adds column ``copy`` (0 or 1)."""
    person = rows["person"].to_numpy()
    people, first, counts = np.unique(person, return_index=True, return_counts=True)
    twice = rng.random(people.size) < rate
    split = rng.integers(1, np.maximum(counts, 2))
    position = np.arange(person.size) - np.repeat(first, counts)
    rows = rows.assign(
        copy=(
            (position >= np.repeat(split, counts)) & np.repeat(twice & (counts >= 2), counts)
        ).astype(np.int64)
    )
    lonely = people[twice & (counts == 1)]
    if lonely.size:
        extra = pd.DataFrame(
            {
                "person": lonely,
                "indicator": "",
                "event_date": np.full(lonely.size, NAT),
                "end_date": np.full(lonely.size, NAT),
                "value": "",
                "detail": "",
                "copy": 1,
            }
        )
        rows = pd.concat([rows, extra], ignore_index=True)
    return rows


def build_extract(
    rng: np.random.Generator,
    view: ProviderView,
    population: Population,
    settings: CorruptionSettings,
    ref: np.datetime64,
) -> Extract:
    source = view.source
    rows = _split_duplicates(rng, _with_identity_only_rows(view), settings.duplicate_record)
    keys = (
        rows[["person", "copy"]]
        .drop_duplicates()
        .sort_values(["person", "copy"], ignore_index=True)
    )
    keys["record"] = np.arange(keys.shape[0])
    rows = rows.merge(keys, on=["person", "copy"], how="left", sort=False)
    record = rows["record"].to_numpy()
    n_records = keys.shape[0]
    birth_year = ymd(population.persons["dob"].to_numpy()[keys["person"].to_numpy()])[0]
    record_ids = _record_ids(rng, source, birth_year, int(str(ref)[:4]))

    first_event = np.full(n_records, np.datetime64("NaT"), dtype="datetime64[D]")
    dated = rows["event_date"].to_numpy().astype("datetime64[D]")
    has_date = ~np.isnat(dated)
    order = np.argsort(dated[has_date], kind="stable")[::-1]
    first_event[record[has_date][order]] = dated[has_date][order]  # earliest wins (written last)

    persons = population.persons.iloc[keys["person"].to_numpy()].reset_index(drop=True)
    identity = corrupt_identity(
        rng,
        settings,
        source,
        persons,
        first_event,
        "middle_names" in SOURCE_IDENTITY_COLUMNS[source],
        ref,
    )

    out = assemble_rows(rng, view, population, rows, record, record_ids, identity, ref)
    records = pd.DataFrame(
        {
            "record_id": record_ids,
            "person": keys["person"].to_numpy(),
            "copy": keys["copy"].to_numpy(),
        }
    )
    return Extract(source, out, records, identity)


def assemble_rows(
    rng: np.random.Generator,
    view: ProviderView,
    population: Population,
    rows: pd.DataFrame,
    record: np.ndarray,
    record_ids: np.ndarray,
    identity: RecordIdentity,
    ref: np.datetime64,
) -> pd.DataFrame:
    """The raw file's rows: ``rows`` (person and event columns) written under record
    ``record[i]`` (index into ``record_ids`` and ``identity``), with the address each row
    carries (the old home before a move, or always when the record is stale)."""
    source = view.source
    dated = rows["event_date"].to_numpy().astype("datetime64[D]")
    has_date = ~np.isnat(dated)
    # address on each row: the old home before a move, or always when the record is stale
    households = population.households
    hh = population.persons["household"].to_numpy()[rows["person"].to_numpy()]
    current = households["dwelling"].to_numpy()[hh]
    previous = households["prev_dwelling"].to_numpy()[hh]
    moved_on = households["move_date"].to_numpy().astype("datetime64[D]")[hh]
    row_date = np.where(has_date, dated, ref)
    old = (previous >= 0) & (identity.stale_address[record] | (row_date < moved_on))
    dwelling = np.where(old, previous, current)
    pairs, pair_of_row = np.unique(
        record.astype(np.int64) * 10_000_000 + dwelling, return_inverse=True
    )
    pair_record, pair_dwelling = pairs // 10_000_000, pairs % 10_000_000
    dwellings = population.dwellings
    address = format_addresses(
        dwellings,
        pair_dwelling,
        identity.layout[pair_record],
        identity.abbreviate[pair_record],
        identity.town_missing[pair_record],
    )
    address[identity.address_missing[pair_record]] = ""
    postcode = format_postcodes(
        rng,
        dwellings["postcode"].to_numpy(dtype=object)[pair_dwelling],
        identity.postcode_style[pair_record],
        identity.postcode_invalid[pair_record],
    )
    postcode[identity.postcode_missing[pair_record]] = ""
    uprn = dwellings["uprn"].to_numpy()[pair_dwelling].astype(str).astype(object)
    uprn[identity.uprn_missing[pair_record]] = ""

    refs = view.known.set_index("person")["household_ref"]
    columns = {
        "record_id": record_ids[record],
        "given_name": identity.given_name[record],
        "middle_names": identity.middle_names[record],
        "family_name": identity.family_name[record],
        "date_of_birth": identity.date_of_birth[record],
        "sex": identity.sex[record],
        "address": address[pair_of_row],
        "postcode": postcode[pair_of_row],
        "uprn": uprn[pair_of_row],
        "household_ref": refs.reindex(rows["person"].to_numpy()).fillna("").to_numpy(dtype=object),
        "nhs_number": identity.nhs_number[record],
        "ni_number": identity.ni_number[record],
        "upn": identity.upn[record],
        "indicator": rows["indicator"].to_numpy(dtype=object),
        "event_date": iso(dated),
        "end_date": iso(rows["end_date"].to_numpy().astype("datetime64[D]")),
        "value": rows["value"].to_numpy(dtype=object),
        "detail": rows["detail"].to_numpy(dtype=object),
    }
    out = pd.DataFrame({c: columns[c] for c in source_columns(source)})
    out = out.sort_values(
        ["record_id", "event_date", "indicator", "end_date", "value"],
        kind="stable",
        ignore_index=True,
    )
    return out
