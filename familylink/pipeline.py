"""Stage orchestration: sealing a folder of raw extracts, and the demo chain.

API only: returns summaries, never prints. The CLI presents them.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from familylink import database
from familylink.core.dates import add_quarters
from familylink.core.errors import ConfigError, ExtractError, OutputExistsError, Problem
from familylink.core.fingerprint import file_sha256, write_json
from familylink.core.resources import memory_budget
from familylink.refresh import StoreFacts, after_scoring, import_register, save_model, saved_model
from familylink.store import (
    RunMeta,
    RunRecord,
    RunStore,
    apply_family_ids,
    apply_person_ids,
    record_run,
    runs,
)
from familylink.store.audit import append_audit
from identification.attachments import read_attachment_register
from identification.framework import Framework, load_framework
from identification.identify import IdentifySummary, identify
from identification.outcomes import OutcomeSettings, load_outcome_settings
from identification.settings import (
    IdentificationSettings,
    Localities,
    load_identification_settings,
    load_localities,
)
from matching.households import write_households_csv
from matching.link import LinkSummary, link_persons, write_persons_csv
from matching.settings import LinkageSettings, load_linkage_settings
from protocols.agreements import AgreementSet
from protocols.keys import PartnershipKey, generate_key, write_key_file
from protocols.seal import ExtractReport, file_date, pseudonymise
from protocols.sealed import SEALED_SUFFIX

Progress = Callable[[str, int, int], None]
DEMO_MARKER = ".familylink-demo"


def linkage_quality(accuracy: dict, calibration: dict) -> dict[str, str]:
    """The run's own estimate of its person links, for the workbook and report (no truth)."""
    a, c = accuracy, calibration
    if not a:
        return {}
    quality = {"person links (estimated, no truth)":
               f"precision {a['precision']:.3f}, recall {a['recall']:.3f}, F1 {a['f1']:.3f}; about "
               f"{a['expected_missed_links']:,.0f} links missed; threshold {c.get('threshold_match_probability', 0):.3f}"}
    warnings = [s["warning"] for s in c.get("em_sessions", []) if s.get("warning")]
    if warnings:
        quality["person links: warning"] = "; ".join(warnings)
    return quality


def sealed_name(source: str, extract_date: dt.date) -> str:
    return f"{source}-{extract_date.isoformat()}{SEALED_SUFFIX}"


def seal_folder(raw_dir: Path, out_dir: Path, key: PartnershipKey, agreements: AgreementSet, *,
                extract_date: dt.date | None = None, overwrite: bool = False,
                progress: Progress | None = None) -> list[ExtractReport]:
    """Seal every ``<source>.csv`` in ``raw_dir`` that has an agreement, into ``out_dir``."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    paths = [raw_dir / f"{s}.csv" for s in agreements.sources if (raw_dir / f"{s}.csv").is_file()]
    if not paths:
        raise ExtractError(f"{raw_dir}: no raw extract named after a source with an agreement",
                                [Problem(str(raw_dir), f"expected files like {agreements.sources[0]}.csv")])
    reports = []
    for path in paths:
        date = extract_date or file_date(path)
        out = out_dir / sealed_name(path.stem, date)
        reports.append(pseudonymise(path, out, path.stem, key, agreements, extract_date=date,
                                    overwrite=overwrite, progress=progress))
    return reports


@dataclass
class DemoSummary:
    out_dir: Path
    reference_date: dt.date
    people: int
    seed: int
    key_fingerprint: str
    synth: object
    seal_reports: list[ExtractReport] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    link: object = None
    chain: object = None
    score: object = None  # eligible families found, against the county's truth
    first_chain: object = None
    refresh: object = None  # ids kept and changes found, against the truth


def prepare_demo_dir(out_dir: Path) -> None:
    """Empty a previous demo folder; refuse to touch a folder the demo did not make."""
    if out_dir.exists():
        if not (out_dir / DEMO_MARKER).is_file():
            raise OutputExistsError(
                f"{out_dir} exists and was not made by `familylink demo`",
                [Problem(str(out_dir), "not a demo folder", "choose another --out or remove it yourself")])
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / DEMO_MARKER).write_text("made by familylink demo; safe to delete\n", encoding="utf-8")


def run_demo(out_dir: Path, agreements: AgreementSet, *, people: int = 20_000, seed: int = 7,
             reference_date: dt.date, progress: Progress | None = None) -> DemoSummary:
    """Two quarters of the hub's work on a synthetic county.

    Synthesise the county at the quarter before ``reference_date`` and at ``reference_date``,
    make a partnership key, seal every source's extract of each quarter, run the first
    quarter, import an attachment register (the first quarter's most complex new families,
    attached two weeks after its reference date), then refresh on the second quarter: stable
    ids, status, changes and the attached families' outcomes.
    """
    from familylink.synth import generate_quarters
    from familylink.synth.evaluate import score_families, score_refresh

    out_dir = Path(out_dir)
    prepare_demo_dir(out_dir)
    county = out_dir / "county"
    first = add_quarters(reference_date, -1)
    synth = generate_quarters(people, seed, first, county, quarters=2, progress=progress)
    keys = out_dir / "provider-keys"
    keys.mkdir(mode=0o700)
    key = generate_key()
    write_key_file(keys / "partnership.key", key)
    hub = out_dir / "hub"
    hub.mkdir()
    store = RunStore(hub / "familylink.duckdb")
    dates = (first, reference_date)
    reports, chains = [], []
    for quarter, date in enumerate(dates, start=1):
        extracts = hub / "extracts" / date.isoformat()
        reports.append(seal_folder(county / f"q{quarter}" / "raw", extracts, key, agreements, extract_date=date,
                                   progress=progress))
        if quarter == 2:
            register = write_demo_register(chains[0].run_dir, county / "attachment-register.csv",
                                           first + dt.timedelta(days=14))
            import_register(store, read_attachment_register(register, today=reference_date), "familylink demo")
        chains.append(run_chain(extracts, hub / "runs" / date.isoformat(), date, progress=progress, store=store,
                                kind="run" if quarter == 1 else "refresh", operator="familylink demo"))
    run = chains[-1].run_dir
    score = score_families(run, county / "q2" / "truth")
    refresh = score_refresh(chains[0].run_dir, run, county / "q1" / "truth", county / "q2" / "truth",
                            county / "truth_changes.csv")
    return DemoSummary(out_dir, reference_date, people, seed, key.fingerprint, synth[-1], reports[-1],
                       {"raw": county / "q2" / "raw", "truth": county / "q2" / "truth",
                        "key": keys / "partnership.key", "extracts": hub / "extracts", "store": store.path,
                        "first run": chains[0].run_dir, "run": run, "candidates": run / "candidates.xlsx",
                        "changes": run / "changes.csv", "outcomes": run / "outcomes.csv",
                        "report": run / "report.html"},
                       chains[-1].link, chains[-1], score, chains[0], refresh)


def write_demo_register(run_dir: Path, path: Path, attached_on: dt.date, families: int = 25) -> Path:
    """A council's attachment register for the demo: the run's ``families`` eligible families
    with the most headlines, every member record listed, attached on ``attached_on``."""
    con = database.connect(run_dir / "run.duckdb", read_only=True)
    try:
        rows = con.execute("""
            WITH chosen AS (SELECT family_id, locality FROM candidates WHERE eligible
                            ORDER BY headline_count DESC, family_id LIMIT ?)
            SELECT 'ATT-' || substr(f.family_id, 2) AS attachment_ref, p.source, p.record_id,
                   ? AS attached_on, 'Early Help ' || chosen.locality AS lead_team
            FROM chosen JOIN families f USING (family_id) JOIN persons p ON p.person_id = f.person_id
            WHERE f.resident ORDER BY ALL""", [families, attached_on]).fetchall()
    finally:
        con.close()
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["attachment_ref", "source", "record_id", "attached_on", "lead_team"])
        writer.writerows(rows)
    return path


@dataclass
class ChainConfig:
    """Every document a run uses, loaded and validated once at the edge."""

    linkage: LinkageSettings
    framework: Framework
    identification: IdentificationSettings
    localities: Localities
    outcomes: OutcomeSettings

    @classmethod
    def load(cls, *, linkage_file: Path | None = None, framework: str | Path | None = None,
             identification_file: Path | None = None, localities_file: Path | None = None,
             outcomes_file: Path | None = None) -> ChainConfig:
        return cls(load_linkage(linkage_file), load_framework(framework or "phase2-2015"),
                   load_identification_settings(identification_file), load_localities(localities_file),
                   load_outcome_settings(outcomes_file))


def load_linkage(path: Path | None) -> LinkageSettings:
    """The linkage settings, with a file that is not text refused in one sentence."""
    try:
        return load_linkage_settings(path)
    except (UnicodeDecodeError, RecursionError):
        raise ConfigError(f"{path}: cannot read the linkage settings (not UTF-8 YAML text)",
                          [Problem(str(path), "not UTF-8 YAML text", "pass a linkage settings file such as "
                                   "config/linkage/default.yaml")]) from None


@dataclass
class ChainSummary:
    run_dir: Path
    reference_date: dt.date
    link: LinkSummary
    identify: IdentifySummary
    manifest: Path
    seconds: dict[str, float]
    run_id: str | None = None
    store: StoreFacts | None = None


def _partial_dir(run_dir: Path) -> Path:
    """The hidden sibling a run is written into; left-overs of killed runs are removed."""
    for stale in run_dir.parent.glob(f".{run_dir.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return run_dir.with_name(f".{run_dir.name}.partial-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_chain(extracts: Path, run_dir: Path, reference_date: dt.date, *, config: ChainConfig | None = None,
              model_file: Path | None = None, progress: Progress | None = None, store: RunStore | None = None,
              kind: str = "run", retrain: bool = False, operator: str = "") -> ChainSummary:
    """Link the sealed extracts in ``extracts`` and identify families at ``reference_date``.

    With a ``store``: person and family ids carry over from the store's latest run, the
    attachment register is applied (status ``attached``, outcomes), status and changes are
    set against the latest run, and the run is recorded in one transaction. A ``refresh``
    reuses the latest run's linkage model unless ``retrain`` (or ``model_file``) is given.

    Everything is written to a hidden sibling directory first and renamed to ``run_dir`` only
    when complete (after the store's commit): a run that fails or is killed leaves no partial
    run directory, and the store as it was.
    """
    config = config or ChainConfig.load()
    run_dir = Path(run_dir)
    check_new_run_dir(run_dir)
    previous = latest_run(store) if store else None
    work = _partial_dir(run_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    budget = memory_budget()
    stages = StageTracker(progress)
    try:
        if kind == "refresh" and model_file is None and not retrain and previous is not None:
            model_file = saved_model(store, previous, work / "previous-model.json")
        started = time.perf_counter()
        facts: list[StoreFacts] = []
        con = database.connect(work / "run.duckdb", budget=budget)
        try:
            linked = link_persons(Path(extracts), work, config.linkage, con, model_file=model_file, progress=stages)
            stages("identify", 0, len(StageTracker.IDENTIFY_STEPS))
            if store:
                apply_person_ids(con, store)
                write_persons_csv(con, work / "persons.csv")
                write_households_csv(con, work / "households.csv")
            link_seconds = round(time.perf_counter() - started, 2)
            hooks = {}
            if store:
                hooks = {"after_families": lambda c: apply_family_ids(c, store),
                         "after_scoring": lambda c: facts.append(
                             after_scoring(c, store, previous, reference_date, config.outcomes))}
            found = identify(con, work, config.framework, config.identification, config.localities, reference_date,
                             meta={"key fingerprint": linked.key_fingerprint, **linkage_quality(linked.accuracy, linked.calibration)},
                             progress=stages, **hooks)
            stages.now("record")
            seconds = {"link": link_seconds, "identify": round(time.perf_counter() - started - link_seconds, 2)}
            manifest = run_manifest(Path(extracts), work, reference_date, config, linked, found, seconds,
                                    resources=budget.manifest())
            record = None
            if store:
                model_key = save_model(store, work / "model.json")
                record = record_run(store, con, RunMeta.from_manifest(
                    manifest, run_dir=run_dir.resolve(), operator=operator or default_operator(), kind=kind,
                    model_fingerprint=model_key))
                manifest["run_id"] = record.run_id
                manifest["previous_run_id"] = record.previous_run_id
                append_audit(store, "export", record.run_id, "done",
                             {"run_dir": str(run_dir.resolve()), "files_sha256": manifest["outputs_sha256"]},
                             record.operator)
            write_json(work / MANIFEST_FILE, manifest)
        finally:
            con.close()
        (work / "previous-model.json").unlink(missing_ok=True)
        if run_dir.exists():
            run_dir.rmdir()
        work.rename(run_dir)
    except BaseException as error:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(error, Exception) and database.out_of_memory(error):
            raise database.memory_error(stages.name(), budget) from error
        raise
    return ChainSummary(run_dir, reference_date, linked, found, run_dir / MANIFEST_FILE, seconds,
                        record.run_id if record else None, facts[0] if facts else None)


class StageTracker:
    """Passes progress reports on and remembers which stage of a run is under way, so that
    running out of memory can be reported against it."""

    #: the steps ``matching.link`` reports as ``linking`` 0..5, and ``identification.identify``
    #: as ``identify`` 1..4 (each report marks the end of a step)
    LINK_STEPS = ("load", "train", "predict", "cluster", "households")
    IDENTIFY_STEPS = ("families", "scoring", "workbook", "report")

    def __init__(self, progress: Progress | None) -> None:
        self.progress, self.current = progress, "link: load"

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "linking":
            self.current = f"link: {self.LINK_STEPS[min(done, len(self.LINK_STEPS) - 1)]}"
        elif stage == "identify":
            self.current = f"identify: {self.IDENTIFY_STEPS[min(done, len(self.IDENTIFY_STEPS) - 1)]}"
        if self.progress:
            self.progress(stage, done, total)

    def now(self, name: str) -> None:
        self.current = name

    def name(self) -> str:
        return self.current


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse a run directory that already holds something (every run gets a new one)."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise OutputExistsError(f"{run_dir} already exists and is not empty",
                                [Problem(str(run_dir), "exists", "choose a new --out for every run")])


def latest_run(store: RunStore) -> RunRecord | None:
    recorded = runs(store)
    return recorded[-1] if recorded else None


def default_operator() -> str:
    """The OS user running familylink."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


MANIFEST_FILE = "manifest.json"
_PACKAGES = ("familylink", "splink", "duckdb", "pyarrow", "cryptography", "jellyfish", "openpyxl", "pydantic")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_manifest(extracts: Path, run_dir: Path, reference_date: dt.date, config: ChainConfig,
                 linked: LinkSummary, found: IdentifySummary, seconds: dict[str, float], *,
                 resources: dict | None = None) -> dict:
    """What went in, with which settings and software, what came out, and how long it took.
    Deterministic apart from ``timings_seconds`` (and ``resources``, the machine's memory budget)."""
    inputs = [{"file": e.path.name, "source": e.source, "extract_date": e.manifest.get("extract_date"),
               "agreement_fingerprint": e.manifest.get("agreement", {}).get("fingerprint"),
               "rows": e.manifest["counts"]["accepted"], "records": e.manifest["counts"]["records"],
               "quarantined": e.manifest["counts"]["quarantined"],
               "quarantine_warning": e.manifest.get("quarantine_warning"),  # the provider's loud warning
               "content_sha256": e.content_sha256}
              for e in linked.extracts]  # verified once, when linking loaded them
    outputs = {name: file_sha256(path) for name, path in sorted(found.outputs.items())}
    for name in ("persons.csv", "households.csv", "model.json"):
        outputs[name] = file_sha256(run_dir / name)
    fw = config.framework
    scores = found.scores
    return {
        "format": "familylink-run-manifest",
        "version": 1,
        "reference_date": reference_date.isoformat(),
        "inputs": {"extracts": inputs, "key_fingerprint": linked.key_fingerprint},
        "framework": {"id": fw.id, "version": fw.version, "title": fw.title, "fingerprint": fw.fingerprint,
                      "minimum_headlines": fw.minimum_headlines},
        "config": {"linkage_fingerprint": config.linkage.fingerprint,
                   "identification_fingerprint": config.identification.fingerprint,
                   "localities_fingerprint": config.localities.fingerprint,
                   "outcomes_fingerprint": config.outcomes.fingerprint,
                   "model_file": "model.json"},
        "software": {"python": platform.python_version(), **{p: _version(p) for p in _PACKAGES}},
        "counts": {
            "records": linked.records, "rows": linked.rows, "persons": linked.persons,
            "households": linked.households.households,
            "communal_addresses": linked.households.communal_addresses,
            "families": scores.families, "eligible_families": scores.eligible,
            "families_for_review": scores.for_review, "evidence_rows": scores.evidence_rows,
            "families_by_headline_count": {str(k): v for k, v in scores.by_headline_count.items()},
        },
        "linkage": {"calibration": linked.calibration, "estimated_accuracy": linked.accuracy},
        "outputs_sha256": outputs,
        "resources": resources or memory_budget().manifest(),
        "timings_seconds": {**seconds, "link_steps": linked.seconds, "identify_steps": found.seconds},
    }
