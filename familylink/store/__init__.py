"""The run store: every run's provenance and tables, stable ids and changes between runs.

API only (no printing). Typical use in the pipeline::

    store = RunStore(path)                       # applies pending migrations
    apply_person_ids(con, store)                 # after linkage
    apply_family_ids(con, store)                 # after families are formed, before scoring
    record = record_run(store, con, meta)        # after scoring and outputs, one transaction
    family_changes(store, "R0001", record.run_id)
"""

from familylink.store.changes import FamilyChange, family_changes, recorded_changes
from familylink.store.db import DEFAULT_STORE_PATH, MIGRATIONS, Migration, RunStore, StoreError
from familylink.store.ids import (
    IdAssignment,
    IdCounts,
    apply_family_ids,
    apply_person_ids,
    carry_over_ids,
)
from familylink.store.runs import RunMeta, RunRecord, get_run, record_run, runs

__all__ = [
    "DEFAULT_STORE_PATH", "MIGRATIONS", "FamilyChange", "IdAssignment", "IdCounts", "Migration", "RunMeta",
    "RunRecord", "RunStore", "StoreError", "apply_family_ids", "apply_person_ids", "carry_over_ids",
    "family_changes", "get_run", "record_run", "recorded_changes", "runs",
]
