"""Hub intake command: receive signed, encrypted sealed extracts."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from familylink.cli.common import console, handle_errors, store_option
from familylink.core.errors import FamilylinkError, Problem
from familylink.hub_intake import receive_into_store
from familylink.pipeline import default_operator
from familylink.store import RunStore
from protocols.intake import ProviderRegistry
from protocols.keys import load_hub_key


@click.command()
@click.option("--in", "inbox", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Folder of *.transfer files received from providers.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the verified sealed extracts (the --extracts of the next run).")
@click.option("--hub-key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The hub's private key file (familylink keygen --kind hub).")
@click.option("--providers", type=click.Path(path_type=Path), default=None,
              help="Registered provider public keys: a folder of <source>.pub files or a providers.yaml "
                   "[default: config/providers].")
@store_option
@click.option("--operator", default=None, help="Who runs the intake, for the record [default: the OS user].")
@handle_errors
def intake(inbox, out_dir, hub_key, providers, store_path, operator) -> None:
    """Verify and decrypt providers' transfers into sealed extracts.

    Each transfer must be signed by its source's registered key, encrypted to this hub, intact,
    and newer than the last extract accepted from that source. Every acceptance and refusal is
    recorded in the run store's audit log.
    """
    received, refused = receive_into_store(inbox, out_dir, hub_key=load_hub_key(hub_key),
                                           registry=ProviderRegistry.load(providers), store=RunStore(store_path),
                                           operator=operator or default_operator())
    table = Table(title=f"Intake from {inbox}", title_justify="left")
    for column in ("source", "extract date", "outcome"):
        table.add_column(column)
    for item in received:
        table.add_row(item.source, item.extract_date.isoformat(), f"accepted: {item.sealed_path.name}")
    for refusal in refused:
        table.add_row(refusal.source or "?", refusal.extract_date.isoformat() if refusal.extract_date else "",
                      f"refused ({refusal.reason.value})")
    console.print(table)
    if refused:
        raise FamilylinkError(f"{len(refused)} of {len(received) + len(refused)} transfers refused (recorded in "
                              f"the audit log)", [Problem("", refusal.summary) for refusal in refused])
