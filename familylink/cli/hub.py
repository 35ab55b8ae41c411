"""Hub-side commands: link."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb
from rich.table import Table

from familylink.cli.common import console, handle_errors, progress_bars, quiet_option
from familylink.core.errors import OutputExistsError, Problem
from matching.link import link_persons
from matching.settings import load_linkage_settings


@click.command()
@click.option("--extracts", "extracts_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of sealed extracts (*.sealed), one per source.")
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to create (database, model, charts, persons.csv).")
@click.option("--model", "model_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse a trained model.json (quarterly runs) instead of training.")
@click.option("--linkage", "linkage_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Linkage settings YAML [default: config/linkage/default.yaml].")
@quiet_option
@handle_errors
def link(extracts_dir, run_dir, model_file, linkage_file, quiet) -> None:
    """Link the records of every sealed extract into persons and households.

    Persons: Splink 5 (Fellegi-Sunter, unsupervised) over tokens and Bloom filters, with
    guards against chaining. Households: shared household references, UPRNs and addresses,
    with communal addresses (hostels, HMOs) detected and reported.
    """
    settings = load_linkage_settings(linkage_file)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise OutputExistsError(f"{run_dir} already exists and is not empty",
                                [Problem(str(run_dir), "exists", "choose a new --out for every run")])
    run_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(run_dir / "run.duckdb"))
    try:
        with progress_bars(quiet) as progress:
            summary = link_persons(extracts_dir, run_dir, settings, con, model_file=model_file, progress=progress)
    finally:
        con.close()
    table = Table(title=f"Persons linked in {run_dir}", show_header=False, title_justify="left")
    table.add_row("records (source, record_id)", f"{summary.records:,}")
    table.add_row("persons", f"{summary.persons:,}")
    table.add_row("comparisons made", f"{summary.pairs_scored:,}")
    table.add_row("split rounds (clusters joining two identifiers)", f"{summary.split_rounds:,}")
    table.add_row("links kept", f"{summary.guards.edges_kept:,}")
    table.add_row("links refused: different NHS/NI/UPN", f"{summary.guards.dropped_conflicting_identifier:,}")
    table.add_row("links refused: twins", f"{summary.guards.dropped_twins:,}")
    table.add_row("largest person cluster", f"{summary.largest_cluster:,}")
    table.add_row("oversize clusters (review)", f"{summary.oversize_clusters:,}")
    if summary.conflicted_clusters_left:
        table.add_row("clusters still joining two identifiers", f"{summary.conflicted_clusters_left:,}")
    table.add_row("households", f"{summary.households.households:,}")
    table.add_row("communal addresses (reported)", f"{summary.households.communal_addresses:,}")
    table.add_row("seconds", ", ".join(f"{k} {v}" for k, v in summary.seconds.items()))
    console.print(table)
    console.print(f"persons.csv, households.csv, model.json and charts are in {run_dir}", markup=False)
