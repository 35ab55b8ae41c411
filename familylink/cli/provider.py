"""Provider-side commands: keygen, validate, pseudonymise."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from familylink.cli.common import DATE, console, handle_errors, progress_bars, quiet_option
from familylink.core.errors import KeyFileError, OutputExistsError, Problem
from protocols.agreements import default_agreements_dir, load_agreements
from protocols.keys import (
    generate_hub_key,
    generate_key,
    generate_signing_key,
    load_hub_public_key,
    load_key,
    load_signing_key,
    rotate_key,
    write_key_file,
    write_key_pair,
)
from protocols.seal import (
    ExtractReport,
    ReadOptions,
    missing_folders,
    remove_empty_folders,
    validate_extract,
)
from protocols.seal import pseudonymise as seal_extract
from protocols.transfer import (
    SEALED_NAME,
    TRANSFER_SUFFIX,
    TransferError,
    seal_for_transfer,
    transfer_path_for,
)

agreements_option = click.option(
    "--agreements", "agreements_dir", type=click.Path(file_okay=False, path_type=Path),
    default=None, help="Folder of sharing agreements [default: config/agreements].")
date_format_option = click.option(
    "--date-format", "date_formats", multiple=True, metavar="[COLUMN=]PATTERN",
    help="A date format, e.g. DD/MM/YYYY for every date column, or date_of_birth=DD/MM/YYYY for one "
         "(repeatable; overrides the agreement). Without it, a column whose values clearly are in another "
         "format than the agreement's is detected and reported.")
extract_date_option = click.option(
    "--extract-date", type=DATE, default=None,
    help="Date the extract was taken [default: the file's modification date].")
source_option = click.option("--source", required=True, help="Source name, e.g. schools or police.")
workers_option = click.option(
    "--workers", type=click.IntRange(min=1, max=32), default=None,
    help="Processes to use [default: one for small files, one per core (max 4) from 60,000 rows].")
input_option = click.option("--in", "input_path", required=True,
                            type=click.Path(dir_okay=False, path_type=Path),
                            help="The raw extract: a CSV file (UTF-8) or an Excel workbook (.xlsx).")


def read_options(command):
    """Options for reading a raw extract, shared by validate and pseudonymise."""
    options = [
        date_format_option,
        click.option("--delimiter", default=None, metavar="CHAR",
                     help="The CSV file's delimiter, e.g. ';' or tab [default: ',']."),
        click.option("--sheet", default=None, help="The workbook's sheet to read [default: the first]."),
        click.option("--warn-quarantined", type=click.FloatRange(0, 100), default=20.0, show_default=True,
                     metavar="PERCENT", help="Warn loudly (summary and manifest) above this share of rows "
                                             "quarantined."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _read_options(date_formats, delimiter, sheet, warn_quarantined, drop_unshared=False) -> ReadOptions:
    return ReadOptions(tuple(date_formats) or None, delimiter, sheet, drop_unshared, warn_quarantined / 100)


def print_report(report: ExtractReport, show: int = 15) -> None:
    table = Table(title=f"{report.path.name} ({report.source})", show_header=False, title_justify="left")
    table.add_row("rows in", f"{report.rows_in:,}")
    table.add_row("accepted", f"{report.accepted:,}")
    table.add_row("quarantined", f"{report.quarantined:,}")
    table.add_row("reconciled", "yes" if report.reconciled else "NO")
    for column in report.dropped_columns:
        table.add_row(f"dropped column: {column}", "not shared (--drop-unshared): values not read")
    table.add_row("distinct record_ids", f"{report.records:,}")
    for column, count in report.fields_blanked.items():
        table.add_row(f"blanked: {column}", f"{count:,}")
    if report.warnings:
        table.add_row("warnings", f"{report.warnings:,}")
    if report.blank_rows:
        table.add_row("blank lines skipped", f"{report.blank_rows:,}")
    console.print(table)
    for note in report.date_notes:
        console.print(f"Date format: {note}", markup=False)
    if report.dropped_columns:
        console.print(f"Dropped (not in the {report.source} agreement, names only in the manifest): "
                      f"{', '.join(report.dropped_columns)}", markup=False)
    for line in report.located_messages(show):
        console.print(f"  {line}", markup=False)
    if len(report.issues) > show:
        console.print(f"  ... see {report.problems_path} for every problem", markup=False)
    if report.quarantine_path:
        console.print(f"Quarantined rows: {report.quarantine_path}", markup=False)
    if report.quarantine_warning:
        console.print(f"[bold red]WARNING:[/] {escape(report.quarantine_warning)} (also in the manifest; see "
                      f"{report.quarantine_path})")


@click.command()
@click.option("--kind", type=click.Choice(["partnership", "signing", "hub"]), default="partnership",
              show_default=True,
              help="partnership: the shared secret for tokens; signing: a provider's Ed25519 key pair "
                   "(FILE, kept by the provider, and FILE.pub, registered with the hub); hub: the hub's "
                   "X25519 key pair (FILE, kept by the hub, and FILE.pub, given to every provider).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new key file (never overwritten); key pairs add FILE.pub.")
@click.option("--rotate", "rotate_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="OLD_KEY",
              help="Rotate the partnership key: a new key in --out that records OLD_KEY's fingerprint. "
                   "OLD_KEY is left untouched for you to archive offline (see README, Governance).")
@handle_errors
def keygen(kind: str, out_path: Path, rotate_path: Path | None) -> None:
    """Create a new key in a file only you can read: the partnership secret, a provider's
    signing key pair or the hub's encryption key pair.

    With --rotate OLD_KEY: a new partnership key replacing OLD_KEY (after a suspected
    compromise, or on schedule). Every provider reseals with the new key; the hub refuses a
    run that mixes keys; person and family ids carry over.
    """
    if rotate_path is not None:
        if kind != "partnership":
            raise KeyFileError("--rotate applies to the partnership key only",
                               [Problem("--kind", kind, "make a new signing or hub key pair with --out")])
        old, new = rotate_key(rotate_path, out_path)
        console.print(f"Wrote {out_path} (mode 0600). New key fingerprint: {new.fingerprint} "
                      f"(replaces {old.fingerprint}).", markup=False)
        console.print(f"Next: archive {rotate_path} offline, away from the data; give the new key to every "
                      "provider over a secure channel; every provider reseals its next extract with it. "
                      "The hub refuses extracts sealed with different keys in one run.", markup=False)
        return
    if kind == "partnership":
        key = generate_key()
        write_key_file(out_path, key)
        console.print(f"Wrote {out_path} (mode 0600). Key fingerprint: {key.fingerprint}", markup=False)
        console.print("Share it with each provider over a secure channel; never send it to the hub.")
        return
    pair = generate_signing_key() if kind == "signing" else generate_hub_key()
    public_path = write_key_pair(out_path, pair)
    if kind == "signing":
        console.print(f"Wrote {out_path} (mode 0600, the private signing key: keep it on this machine) and "
                      f"{public_path} (the public key). Signing key fingerprint: {pair.fingerprint}", markup=False)
        console.print(f"Register {public_path.name} with the hub as <source>.pub and confirm the fingerprint "
                      "with the hub by phone or in person.", markup=False)
    else:
        console.print(f"Wrote {out_path} (mode 0600, the hub private key: keep it on the hub) and "
                      f"{public_path} (the public key). Hub key fingerprint: {pair.fingerprint}", markup=False)
        console.print(f"Give {public_path.name} to every provider (pseudonymise --encrypt-to) and confirm "
                      "the fingerprint with them.", markup=False)


@click.command()
@source_option
@input_option
@agreements_option
@read_options
@click.option("--drop-unshared", is_flag=True,
              help="Leave out columns the agreement does not share instead of refusing the file.")
@extract_date_option
@workers_option
@quiet_option
@handle_errors
def validate(source, input_path, agreements_dir, date_formats, delimiter, sheet, warn_quarantined, drop_unshared,
             extract_date, workers, quiet) -> None:
    """Check a raw extract against its sharing agreement without sealing it.

    Writes NAME.quarantine.csv (rejected rows with reasons) and NAME.problems.csv (every
    problem by row and column) beside the input. Exits non-zero only when the file as a
    whole cannot be used.
    """
    agreements = load_agreements(agreements_dir or default_agreements_dir())
    with progress_bars(quiet) as progress:
        report = validate_extract(input_path, source, agreements, extract_date=extract_date, progress=progress,
                                  workers=workers, options=_read_options(date_formats, delimiter, sheet,
                                                                         warn_quarantined, drop_unshared))
    print_report(report)


@click.command()
@source_option
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The partnership key file.")
@input_option
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The sealed extract to write (one file, e.g. schools.sealed); with --sign-key and "
                   "--encrypt-to, the transfer is written to NAME.sealed.transfer.")
@agreements_option
@read_options
@click.option("--drop-unshared", is_flag=True,
              help="Seal only the fields the agreement shares: other columns are dropped (their names listed in "
                   "the summary and the manifest, their values never read) instead of refusing the file.")
@extract_date_option
@click.option("--force", is_flag=True, help="Replace an existing sealed or transfer file.")
@click.option("--sign-key", "sign_key_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The provider's signing key (keygen --kind signing); with --encrypt-to, writes a signed, "
                   "encrypted NAME.sealed.transfer for the hub instead of the plain sealed file.")
@click.option("--encrypt-to", "hub_key_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The hub's public key file (FILE.pub of keygen --kind hub); needs --sign-key.")
@click.option("--keep-sealed", is_flag=True,
              help="With --sign-key and --encrypt-to, also keep the plain sealed file at --out.")
@workers_option
@quiet_option
@handle_errors
def pseudonymise(source, key_path, input_path, out_path, agreements_dir, date_formats, delimiter, sheet,
                 warn_quarantined, drop_unshared, extract_date, force, sign_key_path, hub_key_path, keep_sealed,
                 workers, quiet) -> None:
    """Validate and seal a raw extract into one pseudonymised file for the hub.

    No name, date of birth, address, postcode, UPRN or national identifier leaves in clear:
    they become keyed tokens and Bloom filters. Quarantine and problem reports stay beside
    the input, on the provider's machine. With --sign-key and --encrypt-to the sealed file
    is signed and encrypted to the hub: --out NAME.sealed (or NAME.sealed.transfer) writes
    NAME.sealed.transfer only, unless --keep-sealed.
    """
    if (sign_key_path is None) != (hub_key_path is None):
        raise TransferError("--sign-key and --encrypt-to go together: give both to send a signed, encrypted "
                            "transfer, or neither for a plain sealed file")
    if keep_sealed and sign_key_path is None:
        raise TransferError("--keep-sealed only applies with --sign-key and --encrypt-to")
    agreements = load_agreements(agreements_dir or default_agreements_dir())
    key = load_key(key_path)
    options = _read_options(date_formats, delimiter, sheet, warn_quarantined, drop_unshared)
    if sign_key_path is None:
        with progress_bars(quiet) as progress:
            report = seal_extract(input_path, out_path, source, key, agreements, options=options,
                                  extract_date=extract_date, overwrite=force, progress=progress,
                                  workers=workers)
        print_report(report)
        console.print(f"Sealed extract: {report.sealed_path} (key {key.fingerprint}, "
                      f"content sha256 {report.manifest['content']['sha256'][:16]}...)", markup=False)
        return
    signing_key = load_signing_key(sign_key_path)
    hub_key = load_hub_public_key(hub_key_path)
    sealed_out, transfer_out = _transfer_paths(out_path, force)
    created = missing_folders(sealed_out.parent)
    sealed_out.parent.mkdir(parents=True, exist_ok=True)
    if keep_sealed:
        work = sealed_out
    else:
        descriptor, name = tempfile.mkstemp(prefix=f".{sealed_out.name}.", suffix=".tmp", dir=sealed_out.parent)
        os.close(descriptor)
        work = Path(name)
    try:
        with progress_bars(quiet) as progress:
            report = seal_extract(input_path, work, source, key, agreements, options=options,
                                  extract_date=extract_date, overwrite=force or not keep_sealed,
                                  progress=progress, workers=workers)
        transfer = seal_for_transfer(work, transfer_out, signing_key=signing_key, hub_public_key=hub_key,
                                     source=source, extract_date=report.extract_date,
                                     sealed_name=sealed_out.name, overwrite=force)
    except BaseException:
        if not keep_sealed:
            work.unlink(missing_ok=True)
        remove_empty_folders(created)
        raise
    if not keep_sealed:
        work.unlink(missing_ok=True)
    print_report(report)
    if keep_sealed:
        console.print(f"Sealed extract: {sealed_out} (key {key.fingerprint})", markup=False)
    console.print(f"Transfer file: {transfer.path} (signed by {transfer.signer_fingerprint}, encrypted to hub "
                  f"{transfer.recipient_fingerprint}, container sha256 {transfer.container_sha256[:16]}...)",
                  markup=False)


def _transfer_paths(out_path: Path, force: bool) -> tuple[Path, Path]:
    """(sealed, transfer) for --out NAME.sealed or NAME.sealed.transfer; refuses an existing
    transfer file before any work is done."""
    if out_path.name.endswith(TRANSFER_SUFFIX):
        sealed_out = out_path.with_name(out_path.name[: -len(TRANSFER_SUFFIX)])
    else:
        sealed_out = out_path
    if not SEALED_NAME.match(sealed_out.name):
        raise TransferError(f"--out {out_path.name}: a transfer needs a name like health.sealed or "
                            "health.sealed.transfer")
    transfer_out = transfer_path_for(sealed_out)
    if transfer_out.exists() and not force:
        raise OutputExistsError(f"{transfer_out} already exists",
                                [Problem(str(transfer_out), "exists", "pass --force to replace it")])
    return sealed_out, transfer_out
