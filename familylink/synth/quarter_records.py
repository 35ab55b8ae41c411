"""A provider's raw extract one quarter on. Every record of the previous extract keeps its
record_id and the identity it carried (same spelling, same errors, same address styling);
a person with two records keeps both, each old row stays under its record and new rows go
to the record in use (the one holding the person's latest row). People new to the source
get new records, with record_ids in the source's scheme and their own recording errors."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from familylink.synth.corruption import RecordIdentity, corrupt_identity
from familylink.synth.dates import iso, ymd
from familylink.synth.events import ProviderView
from familylink.synth.population import Population
from familylink.synth.records import (
    SOURCE_IDENTITY_COLUMNS,
    Extract,
    _record_ids,
    _with_identity_only_rows,
    assemble_rows,
)
from familylink.synth.settings import CorruptionSettings

_ROW_KEY = ("indicator", "event_date", "value", "detail")


def _row_keys(person: np.ndarray, frame: pd.DataFrame) -> pd.Series:
    key = pd.Series(person.astype(str), dtype=object)
    for column in _ROW_KEY:
        key = key + "|" + frame[column].to_numpy(dtype=object)
    return key


def _copies(previous: Extract, rows: pd.DataFrame) -> np.ndarray:
    """Which of a person's records (copy 0 or 1) each new row belongs to."""
    records = previous.records
    person = rows["person"].to_numpy(dtype=np.int64)
    twice = records.loc[records["copy"] == 1, "person"].to_numpy(dtype=np.int64)
    copy = np.zeros(person.size, dtype=np.int64)
    chosen = np.flatnonzero(np.isin(person, twice))
    if chosen.size == 0:
        return copy
    theirs = records[records["person"].isin(twice)].set_index("record_id")
    old = previous.rows[previous.rows["record_id"].isin(theirs.index)]
    owner = theirs.loc[old["record_id"].to_numpy()]
    old_person = owner["person"].to_numpy(dtype=np.int64)
    old_copy = owner["copy"].to_numpy()
    lookup = pd.Series(old_copy, index=_row_keys(old_person, old).to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    # the record in use: the copy holding the person's latest dated row
    latest = (
        pd.DataFrame({"p": old_person, "d": old["event_date"].to_numpy(), "c": old_copy})
        .sort_values(["p", "d", "c"], kind="stable")
        .drop_duplicates("p", keep="last")
        .set_index("p")["c"]
    )
    subset = rows.iloc[chosen]
    text = subset.assign(event_date=iso(subset["event_date"].to_numpy().astype("datetime64[D]")))
    found = lookup.reindex(_row_keys(person[chosen], text).to_numpy()).to_numpy()
    in_use = latest.reindex(person[chosen]).fillna(0).to_numpy()
    copy[chosen] = np.where(pd.isna(found), in_use, found).astype(np.int64)
    return copy


def _unique_ids(
    rng: np.random.Generator, source: str, birth_year: np.ndarray, year: int, taken: set[str]
) -> np.ndarray:
    ids = _record_ids(rng, source, birth_year, year)
    for _ in range(50):
        clash = np.isin(ids, list(taken)) | pd.Series(ids).duplicated().to_numpy()
        if not clash.any():
            return ids
        ids[clash] = _record_ids(rng, source, birth_year[clash], year)
    raise RuntimeError(f"cannot find free record_ids for {source}")  # pragma: no cover


def _concat(first: RecordIdentity, second: RecordIdentity) -> RecordIdentity:
    return RecordIdentity(
        **{
            f.name: np.concatenate([getattr(first, f.name), getattr(second, f.name)])
            for f in fields(RecordIdentity)
        }
    )


def next_extract(
    rng: np.random.Generator,
    previous: Extract,
    view: ProviderView,
    population: Population,
    settings: CorruptionSettings,
    ref: np.datetime64,
) -> Extract:
    """The extract of ``view`` (a later quarter) continuing ``previous``'s records."""
    source = view.source
    assert previous.identity is not None, "the previous extract must keep its identities"
    rows = _with_identity_only_rows(view)
    rows["copy"] = _copies(previous, rows)
    records = previous.records
    # every existing record appears, if only with an identity-only row
    present = pd.MultiIndex.from_frame(rows[["person", "copy"]])
    wanted = pd.MultiIndex.from_frame(records[["person", "copy"]])
    missing = records[~wanted.isin(present)]
    if missing.shape[0]:
        blank = pd.DataFrame(
            {
                "person": missing["person"].to_numpy(dtype=np.int64),
                "indicator": "",
                "event_date": np.full(missing.shape[0], np.datetime64("NaT"), "datetime64[D]"),
                "end_date": np.full(missing.shape[0], np.datetime64("NaT"), "datetime64[D]"),
                "value": "",
                "detail": "",
                "copy": missing["copy"].to_numpy(dtype=np.int64),
            }
        )
        rows = pd.concat([rows, blank], ignore_index=True)

    index = pd.Series(
        np.arange(records.shape[0]), index=pd.MultiIndex.from_frame(records[["person", "copy"]])
    )
    record = index.reindex(pd.MultiIndex.from_frame(rows[["person", "copy"]])).to_numpy().copy()
    new_people = np.unique(rows["person"].to_numpy(dtype=np.int64)[pd.isna(record)])
    record_ids = records["record_id"].to_numpy(dtype=object)
    identity = previous.identity
    added = pd.DataFrame({"person": new_people, "copy": np.zeros(new_people.size, np.int64)})
    if new_people.size:
        start = records.shape[0]
        position = pd.Series(np.arange(start, start + new_people.size), index=new_people)
        new_rows = pd.isna(record)
        record[new_rows] = position.loc[rows["person"].to_numpy()[new_rows]].to_numpy()
        persons = population.persons.iloc[new_people].reset_index(drop=True)
        birth_year = ymd(persons["dob"].to_numpy().astype("datetime64[D]"))[0]
        fresh_ids = _unique_ids(rng, source, birth_year, int(str(ref)[:4]), set(record_ids))
        first_event = (
            pd.Series(rows["event_date"].to_numpy().astype("datetime64[D]")[new_rows])
            .groupby(rows["person"].to_numpy()[new_rows])
            .min()
            .reindex(new_people)
            .to_numpy()
            .astype("datetime64[D]")
        )
        fresh = corrupt_identity(
            rng,
            settings,
            source,
            persons,
            first_event,
            "middle_names" in SOURCE_IDENTITY_COLUMNS[source],
            ref,
        )
        record_ids = np.concatenate([record_ids, fresh_ids]).astype(object)
        identity = _concat(identity, fresh)
    record = record.astype(np.int64)
    out = assemble_rows(rng, view, population, rows, record, record_ids, identity, ref)
    all_records = pd.concat([records[["person", "copy"]], added], ignore_index=True).assign(
        record_id=record_ids
    )[["record_id", "person", "copy"]]
    return Extract(source, out, all_records, identity)
