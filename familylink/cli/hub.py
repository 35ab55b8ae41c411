"""Hub-side commands: link, run, refresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.table import Table

from familylink import database
from familylink.cli.common import (
    DATE,
    console,
    handle_errors,
    memory_limit_option,
    progress_bars,
    quiet_option,
    store_option,
)
from familylink.core.dates import previous_quarter_end
from familylink.core.errors import OutputExistsError, Problem
from familylink.core.resources import use_memory_limit
from familylink.pipeline import (
    ChainConfig,
    ChainSummary,
    StageTracker,
    check_new_run_dir,
    load_linkage,
    run_chain,
)
from familylink.store import RunStore, runs
from matching.link import link_persons


@click.command()
@click.option("--extracts", "extracts_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of sealed extracts (*.sealed), one per source.")
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to create (database, model, charts, persons.csv).")
@click.option("--model", "model_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse a trained model.json (quarterly runs) instead of training.")
@click.option("--linkage", "linkage_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Linkage settings YAML [default: config/linkage/default.yaml].")
@memory_limit_option
@quiet_option
@handle_errors
def link(extracts_dir, run_dir, model_file, linkage_file, memory_limit, quiet) -> None:
    """Link the records of every sealed extract into persons and households.

    Persons: Splink 5 (Fellegi-Sunter, unsupervised) over tokens and Bloom filters, with
    guards against chaining. Households: shared household references, UPRNs and addresses,
    with communal addresses (hostels, HMOs) detected and reported.
    """
    settings = load_linkage(linkage_file)
    budget = use_memory_limit(memory_limit)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise OutputExistsError(f"{run_dir} already exists and is not empty",
                                [Problem(str(run_dir), "exists", "choose a new --out for every run")])
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        con = database.connect(run_dir / "run.duckdb", budget=budget)
        try:
            with progress_bars(quiet) as progress:
                stages = StageTracker(progress)
                with database.memory_guard(stages.name, budget):
                    summary = link_persons(extracts_dir, run_dir, settings, con, model_file=model_file,
                                           progress=stages)
        finally:
            con.close()
    except BaseException:  # the run directory is written in full or left as it was
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            for child in run_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
    table = Table(title=f"Persons linked in {run_dir}", show_header=False, title_justify="left")
    table.add_row("records (source, record_id)", f"{summary.records:,}")
    table.add_row("persons", f"{summary.persons:,}")
    table.add_row("comparisons made", f"{summary.pairs_scored:,}")
    table.add_row("split rounds (clusters joining two identifiers)", f"{summary.split_rounds:,}")
    table.add_row("links kept", f"{summary.guards.edges_kept:,}")
    table.add_row("links refused: different NHS/NI/UPN", f"{summary.guards.dropped_conflicting_identifier:,}")
    if summary.guards.dropped_dateless_links:
        table.add_row("links refused: a record without a date of birth joining people born years apart",
                      f"{summary.guards.dropped_dateless_links:,}")
    if summary.guards.dropped_confirmed_dates:
        table.add_row("links refused: two dates of birth, each held by another record of that name",
                      f"{summary.guards.dropped_confirmed_dates:,}")
    if summary.guards.dropped_confirmed_names:
        table.add_row("links refused: two given names born the same day, each held by another record (twins)",
                      f"{summary.guards.dropped_confirmed_names:,}")
    if summary.guards.dropped_twins:
        table.add_row("links refused: twins (guards.twins: veto)", f"{summary.guards.dropped_twins:,}")
    calibration, accuracy = summary.calibration, summary.accuracy
    if calibration:
        table.add_row("threshold (match probability)",
                      f"{calibration['threshold_match_probability']:.3f} ({calibration['threshold_method']})")
        table.add_row("prior (two random records are one person)",
                      f"{calibration['probability_two_random_records_match']:.3g}")
        raised = sorted(((x["bits"], x["label"]) for x in calibration.get("u_without_matches", []) if x["bits"] >= 0.1),
                        reverse=True)
        if raised:
            table.add_row("agreement weighed up: the matches among random pairs taken out of u (largest first)",
                          ", ".join(f"{label} {bits:+.1f} bits" for bits, label in raised[:3]))
        dependence = calibration.get("name_dependence")
        if dependence:
            table.add_row("pairs sharing both names, reweighed (given names depend on family names)",
                          f"{dependence['pairs_corrected']:,} ({dependence['pairs_lowered']:,} lowered, "
                          f"{dependence['pairs_raised']:,} raised)")
        source_prior = calibration.get("source_pair_prior")
        if source_prior and source_prior.get("pairs_moved"):
            lowered = sorted((bits, pair) for pair, bits in source_prior["bits_by_source_pair"].items() if bits < 0)
            table.add_row("pairs lowered: sources that link less often than the partnership (lowest first)",
                          f"{source_prior['pairs_moved']:,} (" + ", ".join(f"{pair} {bits:+.1f} bits"
                                                                     for bits, pair in lowered[:3]) + ")")
        unpartnered = calibration.get("unpartnered")
        if unpartnered and unpartnered.get("pairs_raised"):
            table.add_row("pairs raised: records without a partner where sources pair nearly everyone",
                          f"{unpartnered['pairs_raised']:,}")
        for level in calibration.get("levels_on_threshold", []):
            table.add_row("on the threshold: review these links",
                          f"{level['pairs']:,} pairs at '{level['label']}' score {level['share_matching']:.3f}")
        for session in calibration.get("em_sessions", []):
            if session.get("warning"):
                table.add_row("warning: training", session["warning"])
    if accuracy:
        table.add_row("estimated precision / recall / F1",
                      f"{accuracy['precision']:.3f} / {accuracy['recall']:.3f} / {accuracy['f1']:.3f} (no truth: "
                      f"from the model)")
        table.add_row("estimated missed links", f"{accuracy['expected_missed_links']:,.0f}")
    table.add_row("largest person cluster", f"{summary.largest_cluster:,}")
    table.add_row("oversize clusters (review)", f"{summary.oversize_clusters:,}")
    if summary.conflicted_clusters_left:
        table.add_row("clusters still joining two identifiers", f"{summary.conflicted_clusters_left:,}")
    table.add_row("households", f"{summary.households.households:,}")
    table.add_row("communal addresses (reported)", f"{summary.households.communal_addresses:,}")
    table.add_row("seconds", ", ".join(f"{k} {v}" for k, v in summary.seconds.items()))
    console.print(table)
    console.print(f"persons.csv, households.csv, model.json and charts are in {run_dir}", markup=False)


def chain_options(command):
    """Options shared by ``run`` and ``refresh``."""
    options = [
        click.option("--extracts", "extracts_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Folder of sealed extracts (*.sealed), one per source."),
        click.option("--reference-date", type=DATE, default=None,
                     help="Date the framework is evaluated at [default: the last day of the previous quarter]."),
        click.option("--framework", default="phase2-2015", show_default=True,
                     help="A shipped framework (phase1-2012, phase2-2015, supporting-families-2022) or a .yaml."),
        click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Run directory to create (written in full or not at all)."),
        store_option,
        click.option("--operator", default=None, help="Who runs this, for the record [default: the OS user]."),
        click.option("--linkage", "linkage_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Linkage settings YAML [default: config/linkage/default.yaml]."),
        click.option("--settings", "identification_file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Identification settings YAML [default: config/identification.yaml]."),
        click.option("--localities", "localities_file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Localities YAML [default: config/localities.yaml]."),
        memory_limit_option,
        quiet_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _chain(kind, extracts_dir, reference_date, framework, run_dir, store_path, operator, linkage_file,
           identification_file, localities_file, memory_limit, quiet, model_file=None, retrain=False) -> None:
    use_memory_limit(memory_limit)
    config = ChainConfig.load(linkage_file=linkage_file, framework=framework,
                              identification_file=identification_file, localities_file=localities_file)
    reference_date = reference_date or previous_quarter_end()
    check_new_run_dir(run_dir)  # before the store is created or opened
    new_store = not Path(store_path).exists()
    store = RunStore(store_path)
    try:
        with progress_bars(quiet) as progress:
            summary = run_chain(extracts_dir, run_dir, reference_date, config=config, model_file=model_file,
                                progress=progress, store=store, kind=kind, retrain=retrain, operator=operator or "")
    except BaseException:
        if new_store and not runs(store):  # a store this failed run created holds nothing: remove it
            for path in (store.file, store.file.with_name(store.file.name + ".wal")):
                path.unlink(missing_ok=True)
        raise
    print_chain_summary(summary, store_path)


@click.command()
@chain_options
@click.option("--model", "model_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse a trained linkage model.json instead of training.")
@handle_errors
def run(extracts_dir, reference_date, framework, run_dir, store_path, operator, linkage_file, identification_file,
        localities_file, memory_limit, quiet, model_file) -> None:
    """Link the sealed extracts and identify eligible families: the candidate list.

    Writes persons.csv, households.csv, families.csv, candidates.csv, candidates.xlsx,
    evidence.csv, report.html and manifest.json into the run directory, and records the run
    in the run store (stable ids carried over from its latest run).
    """
    _chain("run", extracts_dir, reference_date, framework, run_dir, store_path, operator, linkage_file,
           identification_file, localities_file, memory_limit, quiet, model_file=model_file)


@click.command()
@chain_options
@click.option("--retrain", is_flag=True, help="Train a new linkage model instead of reusing the latest run's.")
@handle_errors
def refresh(extracts_dir, reference_date, framework, run_dir, store_path, operator, linkage_file,
            identification_file, localities_file, memory_limit, quiet, retrain) -> None:
    """The quarterly refresh: run again on new extracts, against the store's latest run.

    Reuses the latest run's linkage model (unless --retrain), keeps person and family ids,
    marks each family new, continuing, no_longer_eligible or attached, writes changes.csv
    (families that entered, left, changed headlines, merged or split) and, for attached
    families, outcomes.csv.
    """
    _chain("refresh", extracts_dir, reference_date, framework, run_dir, store_path, operator, linkage_file,
           identification_file, localities_file, memory_limit, quiet, retrain=retrain)


def print_chain_summary(summary: ChainSummary, store_path: Path | None = None) -> None:
    linked, found = summary.link, summary.identify
    scores = found.scores
    title = f"{found.framework_id} (version {found.framework_version}) at {summary.reference_date}"
    if summary.run_id:
        title = f"Run {summary.run_id}: {title}"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_row("records linked into persons", f"{linked.records:,} -> {linked.persons:,}")
    if linked.accuracy:
        a = linked.accuracy
        table.add_row("person links, estimated (no truth)",
                      f"precision {a['precision']:.3f}, recall {a['recall']:.3f}, F1 {a['f1']:.3f}, about "
                      f"{a['expected_missed_links']:,.0f} missed; threshold "
                      f"{linked.calibration.get('threshold_match_probability', 0):.3f}")
    table.add_row("households (communal addresses reported)",
                  f"{linked.households.households:,} ({linked.households.communal_addresses:,})")
    table.add_row("families (non-resident parents)",
                  f"{found.families.families:,} ({found.families.non_resident_members:,})")
    table.add_row("eligible families", f"{scores.eligible:,}")
    complex_ = sum(n for count, n in scores.by_headline_count.items() if count >= 5)
    table.add_row("  with 5 or more headlines", f"{complex_:,}")
    table.add_row("families marked for review", f"{scores.for_review:,}")
    facts = summary.store
    if facts is not None:
        table.add_row("status", ", ".join(f"{k} {v:,}" for k, v in found.status_counts.items()))
        if facts.previous_run_id:
            changes = ", ".join(f"{k} {v:,}" for k, v in facts.changes.items()) or "none"
            table.add_row(f"changes since {facts.previous_run_id}", changes)
        else:
            table.add_row("changes", "none to show: the first run in this store")
        if facts.attached_families:
            table.add_row("attached families (outcomes claimable)",
                          f"{facts.attached_families:,} ({facts.outcomes_claimable:,})")
    table.add_row("seconds", ", ".join(f"{k} {v}" for k, v in summary.seconds.items()))
    console.print(table)
    console.print(f"candidates.xlsx, candidates.csv, evidence.csv, report.html and manifest.json are in "
                  f"{summary.run_dir}", markup=False)
    if summary.run_id and store_path is not None:
        console.print(f"Recorded as {summary.run_id} in the run store {store_path} (`familylink runs --store "
                      f"{store_path}` lists its runs).", markup=False)
