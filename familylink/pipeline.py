"""Stage orchestration: sealing a folder of raw extracts, and the demo chain.

API only: returns summaries, never prints. The CLI presents them.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from familylink.core.errors import ExtractError, OutputExistsError, Problem
from matching.link import link_persons
from matching.settings import load_linkage_settings
from protocols.agreements import AgreementSet
from protocols.keys import PartnershipKey, generate_key, write_key_file
from protocols.seal import ExtractReport, file_date, pseudonymise
from protocols.sealed import SEALED_SUFFIX

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
    """Synthesise a county, make a partnership key, seal every source's extract, and link
    the sealed extracts into persons and households."""
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
    run.mkdir(parents=True)
    con = duckdb.connect(str(run / "run.duckdb"))
    try:
        linked = link_persons(extracts, run, load_linkage_settings(), con, progress=progress)
    finally:
        con.close()
    return DemoSummary(out_dir, reference_date, people, seed, key.fingerprint, synth, reports,
                       {"raw": county / "raw", "truth": county / "truth", "key": keys / "partnership.key",
                        "extracts": extracts, "run": run}, linked)
