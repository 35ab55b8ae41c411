"""Run-store commands: runs, diff, attach."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import click
from rich.table import Table

from familylink.cli.common import console, handle_errors, store_option
from familylink.pipeline import default_operator
from familylink.refresh import import_register
from familylink.store import RunStore, family_changes, get_run, runs
from identification.attachments import read_attachment_register


@click.command(name="runs")
@store_option
@handle_errors
def runs_command(store_path) -> None:
    """List the runs recorded in the run store, oldest first."""
    recorded = runs(RunStore(store_path, read_only=True))
    table = Table(title=f"Runs in {store_path}", title_justify="left")
    for column in ("run", "kind", "reference", "persons", "families", "eligible", "after"):
        table.add_column(column, no_wrap=True,
                         justify="right" if column in ("persons", "families", "eligible") else "left")
    for r in recorded:
        counts = r.counts or {}
        table.add_row(r.run_id, r.kind, r.reference_date.isoformat(),
                      f"{counts.get('persons', 0):,}", f"{counts.get('families', 0):,}",
                      f"{counts.get('eligible_families', 0):,}", r.previous_run_id or "")
    console.print(table)
    for r in recorded:
        console.print(f"{r.run_id}: recorded {r.created_at:%Y-%m-%d %H:%M} UTC by {r.operator or 'unknown'}, "
                      f"framework {r.framework_id} {r.framework_version}, in {r.run_dir}", markup=False)
    if not recorded:
        console.print("No runs yet: `familylink run` records the first.", markup=False)


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@store_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every change to this CSV file.")
@handle_errors
def diff(run_a, run_b, store_path, out_file) -> None:
    """Compare two recorded runs: families that entered, left, changed headlines, merged or split.

    Families are matched through their members, so any two runs compare, in either order.
    """
    store = RunStore(store_path, read_only=True)
    a, b = get_run(store, run_a), get_run(store, run_b)
    changes = family_changes(store, a.run_id, b.run_id)
    table = Table(title=f"{a.run_id} ({a.reference_date}) -> {b.run_id} ({b.reference_date})", title_justify="left")
    table.add_column("change")
    table.add_column("families", justify="right")
    for kind in ("entered", "left", "headlines_changed", "merged", "split"):
        table.add_row(kind, f"{sum(c.change == kind for c in changes):,}")
    console.print(table)
    if out_file:
        with open(out_file, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["family_id", "previous_family_ids", "change", "headlines_before", "headlines_after",
                             "detail"])
            for c in changes:
                writer.writerow([c.family_id, ";".join(c.previous_family_ids), c.change, ";".join(c.headlines_before),
                                 ";".join(c.headlines_after), c.detail])
        console.print(f"{len(changes):,} changes written to {out_file}", markup=False)


@click.command()
@click.option("--register", "register_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The council's register of attached families (CSV: attachment_ref, source, record_id, "
                   "attached_on, lead_team).")
@store_option
@click.option("--operator", default=None, help="Who imports it, for the record [default: the OS user].")
@handle_errors
def attach(register_file, store_path, operator) -> None:
    """Import the register of attached families into the run store.

    Attached families are linked to current families through their members' records at the
    next run or refresh: shown as attached (never offered as new), with outcomes evaluated
    for the problems identified at attachment.
    """
    register = read_attachment_register(register_file, today=dt.date.today())
    for problem in register.problems:
        console.print(f"  - {problem}", markup=False)
    register_id, rows = import_register(RunStore(store_path), register, operator or default_operator())
    console.print(f"{register_file}: {register.rows_in:,} rows in, {rows:,} imported as {register_id} "
                  f"({register.entries:,} attachments), {len(register.rejected):,} rejected.", markup=False)
