"""Seal one raw health extract and link it at the product's defaults (a test helper, not a
test module): what a user does with ``familylink pseudonymise`` and ``familylink link``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb

from matching.link import link_persons
from matching.settings import load_linkage_settings
from protocols.agreements import default_agreements_dir, load_agreements
from protocols.keys import PartnershipKey
from protocols.seal import pseudonymise


def seal_health_extract(raw: Path, folder: Path, key_label: bytes, *, date_format: str,
                        extract_date: dt.date) -> Path:
    """``raw`` sealed as the health source under a key derived from ``key_label``, into
    ``folder``/extracts; returns that folder (every row is checked to reconcile)."""
    sealed = folder / "extracts"
    sealed.mkdir()
    report = pseudonymise(raw, sealed / "health.sealed", "health", PartnershipKey(hashlib.sha256(key_label).digest()),
                          load_agreements(default_agreements_dir()), date_format=date_format,
                          extract_date=extract_date)
    assert report.reconciled
    return sealed


def link_at_defaults(sealed: Path, run: Path):
    """Link ``sealed`` into a new ``run`` folder at the default linkage settings; returns the
    persons as a pandas frame of (unique_id, cluster_id) and the saved model document."""
    run.mkdir()
    con = duckdb.connect(str(run / "run.duckdb"))
    try:
        link_persons(sealed, run, load_linkage_settings(), con)
        clusters = con.execute("SELECT unique_id, person_id AS cluster_id FROM persons").df()
    finally:
        con.close()
    return clusters, json.loads((run / "model.json").read_text(encoding="utf-8"))
