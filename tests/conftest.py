from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from protocols.agreements import default_agreements_dir, load_agreements
from protocols.keys import generate_key

EXTRACT_DATE = dt.date(2026, 9, 30)


@pytest.fixture(scope="session")
def agreements():
    return load_agreements(default_agreements_dir())


@pytest.fixture(scope="session")
def key():
    return generate_key()


HEALTH_HEADER = ["record_id", "given_name", "middle_names", "family_name", "date_of_birth", "sex",
                 "address", "postcode", "nhs_number", "indicator", "event_date", "end_date", "value", "detail"]


def health_row(**values) -> dict:
    row = {
        "record_id": "H1", "given_name": "Zoë", "middle_names": "", "family_name": "O'Brien",
        "date_of_birth": "1985-03-14", "sex": "F", "address": "Flat 2, 14 Mill Lane, Loughborough",
        "postcode": "LE11 3AB", "nhs_number": "9434765919", "indicator": "mental_health",
        "event_date": "2026-05-01", "end_date": "", "value": "", "detail": "",
    }
    row.update(values)
    return row


def write_csv(path: Path, rows: list[dict], header: list[str] | None = None, *, encoding="utf-8",
              bom=False, crlf=False) -> Path:
    header = header or list(rows[0])
    with open(path, "w", encoding=encoding, newline="") as handle:
        if bom:
            handle.write("\ufeff")
        writer = csv.writer(handle, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(c, "") for c in header])
    return path
