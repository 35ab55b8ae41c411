"""The identification stage, end to end: linked tables in, families, evidence and candidates out.

API only: returns a summary, never prints. Reads the tables the linkage stage wrote
(``persons``, ``households``, ``linkage_records``, ``sealed_rows``) in the run's DuckDB
database and writes ``families.csv``, ``candidates.csv``, ``evidence.csv``,
``candidates.xlsx`` and ``report.html`` into the run directory. Every CSV is written by
DuckDB from an ordered query, so the same tables give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from familylink.core.tables import (
    CANDIDATE_COLUMNS,
    CANDIDATES,
    CHANGE_COLUMNS,
    CHANGES,
    EVIDENCE,
    EVIDENCE_COLUMNS,
    FAMILIES,
    FAMILY_COLUMNS,
    HEADLINE_FLAG_PREFIX,
    OUTCOMES,
)
from identification.families import FamilySummary, form_families
from identification.framework import Framework
from identification.outcomes import write_outcomes_csv
from identification.report import write_report
from identification.scoring import ScoreSummary, score_families
from identification.settings import IdentificationSettings, Localities
from identification.workbook import has_table, write_candidates_workbook

Progress = Callable[[str, int, int], None]
Hook = Callable[[duckdb.DuckDBPyConnection], None]
OUTPUT_FILES = ("families.csv", "candidates.csv", "evidence.csv", "candidates.xlsx", "report.html")


@dataclass
class IdentifySummary:
    reference_date: dt.date
    framework_id: str
    framework_version: str
    families: FamilySummary
    scores: ScoreSummary
    outputs: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)
    status_counts: dict[str, int] = field(default_factory=dict)


def _copy_csv(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> Path:
    con.execute(f"COPY ({query}) TO '{path.as_posix()}' (HEADER, DELIMITER ',')")
    return path


def write_tables_csv(con: duckdb.DuckDBPyConnection, run_dir: Path, framework: Framework) -> dict[str, Path]:
    """families.csv, candidates.csv (headline flags after the contract columns), evidence.csv,
    and changes.csv / outcomes.csv when the run has them."""
    flags = ", ".join(f"{HEADLINE_FLAG_PREFIX}{h}" for h in framework.headline_ids)
    extra = {}
    if has_table(con, CHANGES):
        extra["changes.csv"] = _copy_csv(con, f"SELECT {', '.join(CHANGE_COLUMNS)} FROM {CHANGES} ORDER BY ALL",
                                         run_dir / "changes.csv")
    if has_table(con, OUTCOMES):
        write_outcomes_csv(con, run_dir / "outcomes.csv")
        extra["outcomes.csv"] = run_dir / "outcomes.csv"
    return extra | {
        "families.csv": _copy_csv(con, f"SELECT {', '.join(FAMILY_COLUMNS)} FROM {FAMILIES} "
                                       "ORDER BY family_id NULLS LAST, resident DESC, person_id",
                                  run_dir / "families.csv"),
        "candidates.csv": _copy_csv(con, f"SELECT {', '.join(CANDIDATE_COLUMNS)}, {flags} FROM {CANDIDATES} "
                                         "ORDER BY family_id", run_dir / "candidates.csv"),
        "evidence.csv": _copy_csv(con, f"SELECT {', '.join(EVIDENCE_COLUMNS)} FROM {EVIDENCE}",
                                  run_dir / "evidence.csv"),
    }


def identify(con: duckdb.DuckDBPyConnection, run_dir: Path, framework: Framework,
             settings: IdentificationSettings, localities: Localities, reference_date: dt.date, *,
             meta: dict[str, str] | None = None, progress: Progress | None = None,
             after_families: Hook | None = None, after_scoring: Hook | None = None) -> IdentifySummary:
    """Form families, score them against ``framework`` at ``reference_date``, write the outputs.

    ``after_families`` runs once ``families`` exists (the run store makes family ids stable
    there); ``after_scoring`` once ``candidates`` and ``evidence`` exist (the run store sets
    ``status`` and may write ``changes`` and ``outcomes``, which are then written too).
    """
    run_dir = Path(run_dir)
    seconds: dict[str, float] = {}
    steps = 4

    def step(name: str, done: int, started: float) -> float:
        seconds[name] = round(time.perf_counter() - started, 2)
        if progress:
            progress("identify", done, steps)
        return time.perf_counter()

    started = time.perf_counter()
    families = form_families(con, settings.family, reference_date)
    if after_families:
        after_families(con)
    started = step("families", 1, started)
    scores = score_families(con, framework, settings, localities, reference_date)
    if after_scoring:
        after_scoring(con)
    started = step("scoring", 2, started)
    outputs = write_tables_csv(con, run_dir, framework)
    headlines = [(h.id, h.title) for h in framework.headlines]
    meta = {"framework": f"{framework.id} (version {framework.version})", "framework title": framework.title,
            "reference date": reference_date.isoformat(), "minimum headlines": str(framework.minimum_headlines),
            **(meta or {})}
    write_candidates_workbook(con, run_dir / "candidates.xlsx", headlines=headlines, localities=localities.names,
                              meta=meta)
    outputs["candidates.xlsx"] = run_dir / "candidates.xlsx"
    started = step("workbook", 3, started)
    write_report(con, run_dir / "report.html", headlines=headlines, localities=localities.names, meta=meta,
                 suppress_below=settings.publication.suppress_below)
    outputs["report.html"] = run_dir / "report.html"
    step("report", 4, started)
    status = dict(con.execute(f"SELECT status, count(*) FROM {CANDIDATES} GROUP BY 1 ORDER BY 1").fetchall())
    return IdentifySummary(reference_date, framework.id, framework.version, families, scores, outputs, seconds,
                           status)
