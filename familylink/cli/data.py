"""Commands that make data: synth and demo."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from familylink.cli.common import (
    DATE,
    console,
    handle_errors,
    memory_limit_option,
    progress_bars,
    quiet_option,
)
from familylink.cli.hub import print_chain_summary
from familylink.core.dates import previous_quarter_end
from familylink.pipeline import run_demo
from familylink.synth.shape import SHAPES, county_shape
from protocols.agreements import default_agreements_dir, load_agreements

reference_date_option = click.option(
    "--reference-date", type=DATE, default=None,
    help="Reference date [default: the last day of the previous quarter].")


@click.command()
@click.option("--people", type=click.IntRange(min=10), required=True, help="How many people live in the county.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same bytes).")
@reference_date_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for raw/ (one CSV per source) and truth/.")
@click.option("--shape", type=click.Choice(list(SHAPES)), default="default", show_default=True,
              help="Bend the county towards a hard case: many non-resident parents, large communal addresses, "
                   "big households, many shared claim references, or a source missing (health).")
@click.option("--missing-source", "missing_sources", multiple=True, metavar="SOURCE",
              help="Do not write this source's extract (repeatable).")
@quiet_option
@handle_errors
def synth(people, seed, reference_date, out_dir, shape, missing_sources, quiet) -> None:
    """Generate a synthetic county: raw extracts for all seven sources, plus the truth."""
    from familylink.synth import generate_county

    reference_date = reference_date or previous_quarter_end()
    county = county_shape(shape, tuple(missing_sources))
    with progress_bars(quiet) as progress:
        summary = generate_county(people, seed, reference_date, out_dir, progress=progress, shape=county)
    table = Table(title=f"Synthetic county in {out_dir}", title_justify="left")
    table.add_column("source")
    table.add_column("records", justify="right")
    table.add_column("rows", justify="right")
    for source, records in summary.records.items():
        table.add_row(source, f"{records:,}", f"{summary.rows[source]:,}")
    console.print(table)
    console.print(f"{summary.people:,} people in {summary.households:,} households; "
                  f"{summary.families:,} families, {summary.eligible_families:,} eligible under Phase 2 "
                  f"at {reference_date}.", markup=False)


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("familylink-demo"), show_default=True, help="Demo folder (replaced on each run).")
@click.option("--people", type=click.IntRange(min=100), default=20_000, show_default=True,
              help="How many people live in the synthetic county.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed for the county.")
@reference_date_option
@memory_limit_option
@quiet_option
@handle_errors
def demo(out_dir, people, seed, reference_date, memory_limit, quiet) -> None:
    """Two quarters on an embedded synthetic county: synth, keygen, seal, run, attach, refresh."""
    from familylink.core.resources import use_memory_limit

    use_memory_limit(memory_limit)
    agreements = load_agreements(default_agreements_dir())
    reference_date = reference_date or previous_quarter_end()
    with progress_bars(quiet) as progress:
        summary = run_demo(out_dir, agreements, people=people, seed=seed,
                           reference_date=reference_date, progress=progress)
    table = Table(title=f"Sealed extracts at {reference_date}", title_justify="left")
    for column in ("source", "rows in", "accepted", "quarantined", "fields blanked", "records"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for report in summary.seal_reports:
        table.add_row(report.source, f"{report.rows_in:,}", f"{report.accepted:,}", f"{report.quarantined:,}",
                      f"{sum(report.fields_blanked.values()):,}", f"{report.records:,}")
    console.print(table)
    console.print(f"County: {summary.synth.people:,} people, {summary.synth.families:,} families "
                  f"({summary.synth.eligible_families:,} eligible in truth).", markup=False)
    first = summary.first_chain
    console.print(f"First quarter ({first.reference_date}): run {first.run_id}, "
                  f"{first.identify.scores.eligible:,} eligible families; then 25 of them attached.", markup=False)
    print_chain_summary(summary.chain)
    score, refresh = summary.score, summary.refresh
    console.print(f"Against the county's truth: {score.found:,} of {score.truth_eligible:,} truly eligible families "
                  f"found (recall {score.recall:.3f}); {score.true_positives:,} of the {score.hub_eligible:,} "
                  f"families the hub calls eligible are (precision {score.precision:.3f}). "
                  f"{refresh.kept_share:.1%} of the {refresh.families_in_both:,} families in both quarters kept "
                  f"their family_id.", markup=False)
    console.print(f"Key fingerprint {summary.key_fingerprint}. Look in:", markup=False)
    for name, path in summary.paths.items():
        console.print(f"  {name:<10} {path}", markup=False)
