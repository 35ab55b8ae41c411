"""The ``familylink`` command. Only this package prints or exits."""

from __future__ import annotations

import click

import familylink
from familylink.cli.audit import audit
from familylink.cli.data import demo, synth
from familylink.cli.governance import protocol
from familylink.cli.hub import link, refresh, run
from familylink.cli.intake import intake
from familylink.cli.provider import keygen, pseudonymise, validate
from familylink.cli.store import attach, diff, runs_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(familylink.__version__, prog_name="familylink")
def cli() -> None:
    """familylink: privacy-preserving data matching and family identification.

    Providers seal their extracts (keygen, validate, pseudonymise); the hub links and
    identifies families. Run `familylink demo` to see the whole chain on synthetic data.
    """


for command in (synth, keygen, validate, pseudonymise, intake, link, run, refresh, runs_command, diff, attach,
                audit, protocol, demo):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="familylink")
