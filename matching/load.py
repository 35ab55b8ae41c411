"""Loading a folder of sealed extracts into DuckDB and building one linkage record each.

Every extract is verified first (content hash, schema, one key and one encoding across
the folder: ``protocols.sealed``). A record's rows can carry several address versions
(people move): the most recent row's identity is used for comparison, and every address
version is kept in ``record_addresses`` for household formation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from familylink.core.tables import (
    LINKAGE_RECORD_COLUMNS,
    LINKAGE_RECORDS,
    RECORD_ADDRESSES,
    SEALED_ROWS,
)
from protocols.sealed import SealedExtract, open_sealed_folder

#: identity columns copied from a record's newest row (the rest are derived below)
_IDENTITY = ", ".join(c for c in LINKAGE_RECORD_COLUMNS
                      if c not in ("unique_id", "source", "record_id", "latest_event_date", "locality_first", "locality_last")
                      and not c.startswith("bf_"))


@dataclass(frozen=True)
class LoadSummary:
    extracts: tuple[SealedExtract, ...]
    rows: int
    records: int

    @property
    def key_fingerprint(self) -> str:
        return self.extracts[0].key_fingerprint


def load_sealed_folder(folder: str | Path, con: duckdb.DuckDBPyConnection) -> LoadSummary:
    """Verify every sealed extract in ``folder`` and build the linkage tables in ``con``."""
    extracts = tuple(open_sealed_folder(folder))
    con.execute(f"DROP TABLE IF EXISTS {SEALED_ROWS}")
    for number, extract in enumerate(extracts):  # a handful of files: a Python loop
        con.register("incoming_extract", extract.read_table())
        select = "SELECT *, ?::DATE AS extract_date FROM incoming_extract"
        if number == 0:
            con.execute(f"CREATE TABLE {SEALED_ROWS} AS {select}", [extract.manifest["extract_date"]])
        else:
            con.execute(f"INSERT INTO {SEALED_ROWS} {select}", [extract.manifest["extract_date"]])
        con.unregister("incoming_extract")
    con.execute(f"""
        CREATE OR REPLACE TABLE {LINKAGE_RECORDS} AS
        WITH ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY source, record_id
                ORDER BY coalesce(event_date, extract_date) DESC, row_number DESC) AS newest,
                max(coalesce(event_date, extract_date)) OVER (PARTITION BY source, record_id) AS latest_event_date
            FROM {SEALED_ROWS}
        )
        SELECT source || '|' || record_id AS unique_id, source, record_id, {_IDENTITY},
               bf_given::BIT AS bf_given, bf_family::BIT AS bf_family, bf_address::BIT AS bf_address,
               bit_count(bf_given::BIT)::INTEGER AS bf_given_bits,
               bit_count(bf_family::BIT)::INTEGER AS bf_family_bits,
               bit_count(bf_address::BIT)::INTEGER AS bf_address_bits,
               latest_event_date,
               tok_locality_parts[1] AS locality_first, tok_locality_parts[-1] AS locality_last
        FROM ranked WHERE newest = 1
        ORDER BY source, record_id
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE {RECORD_ADDRESSES} AS
        WITH versions AS (
            SELECT source, record_id, tok_uprn, tok_postcode, tok_address, tok_building, bf_address,
                   tok_household, max(coalesce(event_date, extract_date)) AS last_seen
            FROM {SEALED_ROWS}
            WHERE tok_address IS NOT NULL OR tok_uprn IS NOT NULL OR tok_postcode IS NOT NULL
            GROUP BY ALL
        )
        SELECT source || '|' || record_id AS unique_id, source, record_id, tok_uprn, tok_postcode,
               tok_address, tok_building, bf_address::BIT AS bf_address,
               bit_count(bf_address::BIT)::INTEGER AS bf_address_bits, tok_household, last_seen,
               row_number() OVER (PARTITION BY source, record_id
                                  ORDER BY last_seen DESC, tok_address NULLS LAST) = 1 AS is_latest
        FROM versions
        ORDER BY source, record_id, last_seen DESC, tok_address
    """)
    rows = con.execute(f"SELECT count(*) FROM {SEALED_ROWS}").fetchone()[0]
    records = con.execute(f"SELECT count(*) FROM {LINKAGE_RECORDS}").fetchone()[0]
    return LoadSummary(extracts, rows, records)
