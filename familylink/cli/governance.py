"""Information-governance commands: the sharing protocol rendered for review, and its lint."""

from __future__ import annotations

from pathlib import Path

import click

from familylink.cli.common import console, handle_errors
from familylink.core.errors import ConfigError
from protocols.agreements import default_agreements_dir, load_agreements
from protocols.protocol_document import check_protocol, render_protocol

agreements_option = click.option(
    "--agreements", "agreements_dir", type=click.Path(file_okay=False, path_type=Path),
    default=None, help="Folder of sharing agreements [default: config/agreements].")


@click.group()
def protocol() -> None:
    """Review the data-sharing protocol: render it for sign-off, or lint the agreements.

    The protocol is generated from the same sharing agreements the engine enforces, so the
    document a DPIA or data-sharing agreement cites cannot drift from what runs.
    """


@protocol.command()
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True,
              help="Markdown, or a self-contained HTML page.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (replaced if it exists).")
@agreements_option
@handle_errors
def render(fmt: str, out_path: Path, agreements_dir: Path | None) -> None:
    """Write the protocol document (purpose, parties, legal gateways, data items, risks...).

    Prints where it was written and the protocol fingerprint, which a signed-off copy
    carries so it can be matched to the agreements a run used.
    """
    agreements = load_agreements(agreements_dir or default_agreements_dir())
    text = render_protocol(agreements, fmt)
    try:
        out_path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{out_path}: cannot write the protocol ({error.strerror})") from None
    console.print(f"Wrote {out_path} (protocol fingerprint {agreements.fingerprint})", markup=False)


@protocol.command()
@agreements_option
@handle_errors
def check(agreements_dir: Path | None) -> None:
    """Lint the agreements: unexplained fields, missing Art 9/10 conditions, retention, gateways.

    Prints every problem with its file, key and fix; exits 1 when there is any.
    """
    directory = agreements_dir or default_agreements_dir()
    problems = check_protocol(directory)
    if problems:
        raise ConfigError(f"the sharing agreements in {directory} have {len(problems)} governance problem(s)",
                          problems)
    console.print(f"{directory}: no problems", markup=False)
