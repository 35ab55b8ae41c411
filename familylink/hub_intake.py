"""Intake at the hub: receive signed, encrypted transfers into sealed extracts, with a record.

API only. ``receive_into_store`` verifies every ``*.transfer`` in an inbox against the
registered provider keys and the hub's private key (``protocols.intake``), refuses replays
using the run store's record of the last accepted extract date per source, and records every
acceptance and refusal in the store's audit log (accepted extracts also in ``intake_log``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from familylink.store import RunStore
from familylink.store.audit import append_audit
from familylink.store.db import utc_now
from protocols.intake import IntakeRefused, ProviderRegistry, Received, receive_folder
from protocols.keys import HubKey


def last_accepted(store: RunStore) -> dict[str, dt.date]:
    """source -> the newest extract date accepted at intake."""
    with store.connect(read_only=True) as con:
        return dict(con.execute("SELECT source, max(extract_date) FROM intake_log GROUP BY source").fetchall())


def receive_into_store(inbox: Path, out_dir: Path, *, hub_key: HubKey, registry: ProviderRegistry,
                       store: RunStore, operator: str) -> tuple[list[Received], list[IntakeRefused]]:
    """Receive the inbox's transfers into ``out_dir``; every outcome recorded in the store."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    received, refused = receive_folder(inbox, out_dir, hub_private_key=hub_key, registry=registry,
                                       last_accepted=last_accepted(store))
    with store.connect() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            for item in received:
                con.execute("INSERT INTO intake_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [item.source, item.extract_date, item.container_sha256,
                             item.transfer_path.name if item.transfer_path else None, item.sealed_path.name,
                             item.signer_fingerprint, utc_now(), operator])
                append_audit(con, "intake", item.source, "accepted", item.audit_details(), operator)
            for refusal in refused:
                subject = refusal.source or (refusal.path.name if refusal.path else "unknown")
                append_audit(con, "intake", subject, "refused", refusal.audit_details(), operator)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return received, refused
