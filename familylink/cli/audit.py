"""Audit-trail commands: audit show, audit verify."""

from __future__ import annotations

import json

import click
from rich.table import Table

from familylink.cli.common import console, handle_errors, store_option
from familylink.core.errors import StoreError
from familylink.store.audit import ACTIONS, audit_entries, open_audit_store, verify_audit


@click.group()
def audit() -> None:
    """The audit trail: who did what to the run store, hash-chained."""


@audit.command()
@store_option
@click.option("--last", "last", type=click.IntRange(min=1), default=None, help="Only the last N entries.")
@click.option("--action", type=click.Choice(ACTIONS), default=None, help="Only entries of this action.")
@handle_errors
def show(store_path, last, action) -> None:
    """List audit entries, oldest first."""
    entries = audit_entries(open_audit_store(store_path, read_only=True), action=action, last=last)
    table = Table(title=f"Audit log of {store_path}", title_justify="left")
    for column in ("seq", "at (UTC)", "operator", "action", "subject", "outcome", "details", "hash"):
        table.add_column(column, justify="right" if column == "seq" else "left")
    for e in entries:
        table.add_row(str(e.seq), f"{e.at:%Y-%m-%d %H:%M:%S}", e.operator, e.action, e.subject, e.outcome,
                      json.dumps(e.details, sort_keys=True), e.entry_hash[:12])
    console.print(table)
    if not entries:
        console.print("No audit entries" + (f" for {action}." if action else " yet."), markup=False)


@audit.command()
@store_option
@click.option("--anchor", default=None, metavar="HASH",
              help="A head hash (or its first 8+ hex digits) recorded earlier: the log must still hold it.")
@handle_errors
def verify(store_path, anchor) -> None:
    """Check the hash chain: exit 1 and name every edited, removed or inserted entry."""
    store = open_audit_store(store_path, read_only=True)
    problems = verify_audit(store, anchor=anchor)
    if problems:
        raise StoreError(f"{store_path}: the audit log has been tampered with or damaged "
                         f"({len(problems)} problem{'s' if len(problems) != 1 else ''})", problems)
    entries = audit_entries(store)
    head = entries[-1].entry_hash[:16] if entries else "(empty)"
    console.print(f"audit log intact: {len(entries):,} entries, head {head}", markup=False)

