"""Provider-side commands: keygen, validate, pseudonymise."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from familylink.cli.common import DATE, console, handle_errors, progress_bars, quiet_option
from protocols.agreements import default_agreements_dir, load_agreements
from protocols.keys import generate_key, load_key, write_key_file
from protocols.seal import ExtractReport, validate_extract
from protocols.seal import pseudonymise as seal_extract

agreements_option = click.option(
    "--agreements", "agreements_dir", type=click.Path(file_okay=False, path_type=Path),
    default=None, help="Folder of sharing agreements [default: config/agreements].")
date_format_option = click.option(
    "--date-format", default=None, metavar="PATTERN",
    help="The file's date format, e.g. DD/MM/YYYY (overrides the agreement's).")
extract_date_option = click.option(
    "--extract-date", type=DATE, default=None,
    help="Date the extract was taken [default: the file's modification date].")
source_option = click.option("--source", required=True, help="Source name, e.g. schools or police.")
workers_option = click.option(
    "--workers", type=click.IntRange(min=1, max=32), default=None,
    help="Processes to use [default: one for small files, one per core (max 4) from 60,000 rows].")
input_option = click.option("--in", "input_path", required=True,
                            type=click.Path(dir_okay=False, path_type=Path), help="The raw CSV extract.")


def print_report(report: ExtractReport, show: int = 15) -> None:
    table = Table(title=f"{report.path.name} ({report.source})", show_header=False, title_justify="left")
    table.add_row("rows in", f"{report.rows_in:,}")
    table.add_row("accepted", f"{report.accepted:,}")
    table.add_row("quarantined", f"{report.quarantined:,}")
    table.add_row("reconciled", "yes" if report.reconciled else "NO")
    table.add_row("distinct record_ids", f"{report.records:,}")
    for column, count in report.fields_blanked.items():
        table.add_row(f"blanked: {column}", f"{count:,}")
    if report.warnings:
        table.add_row("warnings", f"{report.warnings:,}")
    if report.blank_rows:
        table.add_row("blank lines skipped", f"{report.blank_rows:,}")
    console.print(table)
    for line in report.located_messages(show):
        console.print(f"  {line}", markup=False)
    if len(report.issues) > show:
        console.print(f"  ... see {report.problems_path} for every problem", markup=False)
    if report.quarantine_path:
        console.print(f"Quarantined rows: {report.quarantine_path}", markup=False)


@click.command()
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new key file (never overwritten).")
@handle_errors
def keygen(out_path: Path) -> None:
    """Create a new 256-bit partnership secret in a file only you can read."""
    key = generate_key()
    write_key_file(out_path, key)
    console.print(f"Wrote {out_path} (mode 0600). Key fingerprint: {key.fingerprint}", markup=False)
    console.print("Share it with each provider over a secure channel; never send it to the hub.")


@click.command()
@source_option
@input_option
@agreements_option
@date_format_option
@extract_date_option
@workers_option
@quiet_option
@handle_errors
def validate(source, input_path, agreements_dir, date_format, extract_date, workers, quiet) -> None:
    """Check a raw extract against its sharing agreement without sealing it.

    Writes NAME.quarantine.csv (rejected rows with reasons) and NAME.problems.csv (every
    problem by row and column) beside the input. Exits non-zero only when the file as a
    whole cannot be used.
    """
    agreements = load_agreements(agreements_dir or default_agreements_dir())
    with progress_bars(quiet) as progress:
        report = validate_extract(input_path, source, agreements, date_format=date_format,
                                  extract_date=extract_date, progress=progress, workers=workers)
    print_report(report)


@click.command()
@source_option
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The partnership key file.")
@input_option
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The sealed extract to write (one file, e.g. schools.sealed).")
@agreements_option
@date_format_option
@extract_date_option
@click.option("--force", is_flag=True, help="Replace an existing sealed file.")
@workers_option
@quiet_option
@handle_errors
def pseudonymise(source, key_path, input_path, out_path, agreements_dir, date_format,
                 extract_date, force, workers, quiet) -> None:
    """Validate and seal a raw extract into one pseudonymised file for the hub.

    No name, date of birth, address, postcode, UPRN or national identifier leaves in clear:
    they become keyed tokens and Bloom filters. Quarantine and problem reports stay beside
    the input, on the provider's machine.
    """
    agreements = load_agreements(agreements_dir or default_agreements_dir())
    key = load_key(key_path)
    with progress_bars(quiet) as progress:
        report = seal_extract(input_path, out_path, source, key, agreements, date_format=date_format,
                              extract_date=extract_date, overwrite=force, progress=progress,
                              workers=workers)
    print_report(report)
    console.print(f"Sealed extract: {report.sealed_path} (key {key.fingerprint}, "
                  f"content sha256 {report.manifest['content']['sha256'][:16]}...)", markup=False)

