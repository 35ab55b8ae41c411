"""Information-governance commands: the sharing protocol rendered for review, and its lint."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from familylink.cli.common import console, handle_errors
from familylink.core.errors import ConfigError
from protocols.agreements import default_agreements_dir, load_agreements
from protocols.assessment import GOAL, assess_extracts, read_assessment, write_assessment
from protocols.protocol_document import check_protocol, render_protocol

#: Where ``protocol assess`` writes and ``protocol render`` looks for the latest assessment.
DEFAULT_ASSESSMENT = Path("privacy-assessment.json")

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
@click.option("--assessment", "assessment_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The privacy assessment to include (written by `protocol assess`) [default: "
                   f"{DEFAULT_ASSESSMENT} if it exists].")
@agreements_option
@handle_errors
def render(fmt: str, out_path: Path, assessment_path: Path | None, agreements_dir: Path | None) -> None:
    """Write the protocol document (purpose, parties, legal gateways, data items, risks...).

    Prints where it was written and the protocol fingerprint, which a signed-off copy
    carries so it can be matched to the agreements a run used. The latest privacy assessment
    (`protocol assess`) is included as the last section.
    """
    agreements = load_agreements(agreements_dir or default_agreements_dir())
    if assessment_path is None and DEFAULT_ASSESSMENT.is_file():
        assessment_path = DEFAULT_ASSESSMENT
    assessment = read_assessment(assessment_path) if assessment_path is not None else None
    text = render_protocol(agreements, fmt, assessment)
    try:
        out_path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{out_path}: cannot write the protocol ({error.strerror})") from None
    console.print(f"Wrote {out_path} (protocol fingerprint {agreements.fingerprint})", markup=False)
    if assessment_path is not None:
        console.print(f"Included the privacy assessment {assessment_path}", markup=False)
    else:
        console.print("No privacy assessment included: run `familylink protocol assess --extracts DIR` first.",
                      markup=False)


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


@protocol.command()
@click.option("--extracts", "extracts_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder of sealed extracts to assess (the hub's view).")
@click.option("--public-names", "public_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A public frequency list, CSV kind,value,count (kinds: given, given_first, family, "
                   "family_nysiis, name_part...; rows of other kinds are ignored) [default: the bundled list from a second synthetic "
                   "county, labelled as such].")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_ASSESSMENT,
              show_default=True, help="The JSON assessment to write (replaced if it exists).")
@handle_errors
def assess(extracts_dir: Path, public_path: Path | None, out_path: Path) -> None:
    """Measure what an intruder with the hub's view could learn from the sealed extracts.

    Prints the k-anonymity of the clear attributes (records unique, in groups under 5 and
    under 10, per source and overall) and every attack figure (frequency alignment with a
    public list, tokens decoded by clear attributes, the similarity-graph attack on the name
    Bloom filters), then writes the JSON that `protocol render` includes. Counts under 5 are
    shown as <5. No key is needed or read.
    """
    if not extracts_dir.is_dir():
        raise ConfigError(f"{extracts_dir}: no such folder of sealed extracts")
    result = assess_extracts(extracts_dir, public_path)
    table = Table(title="k-anonymity of the clear attributes")
    for header in ("quasi-identifiers", "scope", "records", "unique", "group < 5", "group < 10"):
        table.add_column(header)
    for row in result["k_anonymity"]:
        table.add_row(row["quasi_identifiers"], row["scope"], str(row["records"]), f"{row['unique']:.1%}",
                      f"{row['under_5']:.1%}", f"{row['under_10']:.1%}")
    console.print(table)
    attacks = Table(title=f"Attacks (share of records; goal under {GOAL:.0%})")
    for header in ("attack", "column", "share"):
        attacks.add_column(header)
    for row in result["frequency"]:
        if row["estimated_reidentified"] is not None:
            attacks.add_row("frequency alignment (estimate)", row["column"], f"{row['estimated_reidentified']:.2%}")
    for row in (r for r in result["cooccurrence"] if r["decoded"] > 0):
        attacks.add_row(f"co-occurrence with {row['clear']}", row["column"], f"{row['decoded']:.2%}")
    for row in result["graph"]:
        attacks.add_row("similarity graph (estimate)", row["column"], f"{row['estimated_reidentified']:.2%}")
    console.print(attacks)
    try:
        write_assessment(result, out_path)
    except OSError as error:
        raise ConfigError(f"{out_path}: cannot write the assessment ({error.strerror})") from None
    over = len(result["above_goal"])
    console.print(f"{over} attack figure(s) above {GOAL:.0%}. Wrote {out_path}; `familylink protocol render` "
                  "includes it.", markup=False)
