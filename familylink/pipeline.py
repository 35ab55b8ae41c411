"""Stage orchestration: sealing a folder of raw extracts, and the demo chain.

API only: returns summaries, never prints. The CLI presents them.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import duckdb

from familylink.core.errors import ExtractError, OutputExistsError, Problem
from familylink.core.fingerprint import file_sha256, write_json
from identification.framework import Framework, load_framework
from identification.identify import IdentifySummary, identify
from identification.settings import (
    IdentificationSettings,
    Localities,
    load_identification_settings,
    load_localities,
)
from matching.link import LinkSummary, link_persons
from matching.settings import LinkageSettings, load_linkage_settings
from protocols.agreements import AgreementSet
from protocols.keys import PartnershipKey, generate_key, write_key_file
from protocols.seal import ExtractReport, file_date, pseudonymise
from protocols.sealed import SEALED_SUFFIX, open_sealed_folder

Progress = Callable[[str, int, int], None]
DEMO_MARKER = ".familylink-demo"


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
    """Synthesise a county, make a partnership key, seal every source's extract, and run
    the hub's chain (link, identify) on the sealed extracts."""
    from familylink.synth import generate_county

    out_dir = Path(out_dir)
    prepare_demo_dir(out_dir)
    county = out_dir / "county"
    synth = generate_county(people, seed, reference_date, county, progress=progress)
    keys = out_dir / "provider-keys"
    keys.mkdir(mode=0o700)
    key = generate_key()
    write_key_file(keys / "partnership.key", key)
    extracts = out_dir / "hub" / "extracts"
    reports = seal_folder(county / "raw", extracts, key, agreements, extract_date=reference_date,
                          progress=progress)
    run = out_dir / "hub" / "run"
    chain = run_chain(extracts, run, reference_date, progress=progress)
    from familylink.synth.evaluate import score_families

    score = score_families(run, county / "truth")
    return DemoSummary(out_dir, reference_date, people, seed, key.fingerprint, synth, reports,
                       {"raw": county / "raw", "truth": county / "truth", "key": keys / "partnership.key",
                        "extracts": extracts, "run": run, "candidates": run / "candidates.xlsx",
                        "report": run / "report.html"}, chain.link, chain, score)


@dataclass
class ChainConfig:
    """Every document a run uses, loaded and validated once at the edge."""

    linkage: LinkageSettings
    framework: Framework
    identification: IdentificationSettings
    localities: Localities

    @classmethod
    def load(cls, *, linkage_file: Path | None = None, framework: str | Path | None = None,
             identification_file: Path | None = None, localities_file: Path | None = None) -> ChainConfig:
        return cls(load_linkage_settings(linkage_file), load_framework(framework or "phase2-2015"),
                   load_identification_settings(identification_file), load_localities(localities_file))


@dataclass
class ChainSummary:
    run_dir: Path
    reference_date: dt.date
    link: LinkSummary
    identify: IdentifySummary
    manifest: Path
    seconds: dict[str, float]


def _partial_dir(run_dir: Path) -> Path:
    return run_dir.with_name(f".{run_dir.name}.partial-{os.getpid()}")


def run_chain(extracts: Path, run_dir: Path, reference_date: dt.date, *, config: ChainConfig | None = None,
              model_file: Path | None = None, progress: Progress | None = None) -> ChainSummary:
    """Link the sealed extracts in ``extracts`` and identify families at ``reference_date``.

    Everything is written to a hidden sibling directory first and renamed to ``run_dir`` only
    when complete: a run that fails or is killed leaves no partial run directory.
    """
    config = config or ChainConfig.load()
    run_dir = Path(run_dir)
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise OutputExistsError(f"{run_dir} already exists and is not empty",
                                [Problem(str(run_dir), "exists", "choose a new --out for every run")])
    work = _partial_dir(run_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        started = time.perf_counter()
        con = duckdb.connect(str(work / "run.duckdb"))
        try:
            linked = link_persons(Path(extracts), work, config.linkage, con, model_file=model_file, progress=progress)
            link_seconds = round(time.perf_counter() - started, 2)
            found = identify(con, work, config.framework, config.identification, config.localities, reference_date,
                             meta={"key fingerprint": linked.key_fingerprint}, progress=progress)
        finally:
            con.close()
        seconds = {"link": link_seconds, "identify": round(time.perf_counter() - started - link_seconds, 2)}
        write_json(work / MANIFEST_FILE, run_manifest(Path(extracts), work, reference_date, config, linked, found,
                                                      seconds))
        if run_dir.exists():
            run_dir.rmdir()
        work.rename(run_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ChainSummary(run_dir, reference_date, linked, found, run_dir / MANIFEST_FILE, seconds)


MANIFEST_FILE = "manifest.json"
_PACKAGES = ("familylink", "splink", "duckdb", "pyarrow", "cryptography", "jellyfish", "openpyxl", "pydantic")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_manifest(extracts: Path, run_dir: Path, reference_date: dt.date, config: ChainConfig,
                 linked: LinkSummary, found: IdentifySummary, seconds: dict[str, float]) -> dict:
    """What went in, with which settings and software, what came out, and how long it took.
    Deterministic apart from ``timings_seconds``."""
    inputs = [{"file": e.path.name, "source": e.source, "extract_date": e.manifest.get("extract_date"),
               "rows": e.manifest["counts"]["accepted"], "records": e.manifest["counts"]["records"],
               "content_sha256": e.content_sha256}
              for e in open_sealed_folder(extracts)]
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
        "outputs_sha256": outputs,
        "timings_seconds": {**seconds, "link_steps": linked.seconds, "identify_steps": found.seconds},
    }
