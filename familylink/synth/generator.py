"""``generate_county``: the whole synthetic county, from population to files on disk."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from familylink.core.contract import SOURCES
from familylink.core.errors import OutputExistsError, Problem
from familylink.synth import care, education, justice, welfare
from familylink.synth.dates import day
from familylink.synth.events import ProviderView, World
from familylink.synth.population import Population, build_population
from familylink.synth.records import Extract, build_extract
from familylink.synth.settings import CorruptionSettings, SynthError, SynthSummary, stage_rng
from familylink.synth.shape import CountyShape, county_shape, reshape_views
from familylink.synth.truth_rules import HEADLINES, evaluate_truth_dir
from familylink.synth.writer import (
    TRUTH_README,
    truth_events,
    truth_persons,
    truth_records,
    write_csv,
    write_raw,
)

Progress = Callable[[str, int, int], None]
MIN_PEOPLE = 10
MAX_PEOPLE = 20_000_000


#: Each provider's event generator (police and probation come from one justice generator).
PROVIDER_MAKERS = {
    "schools": education.schools,
    "dwp": welfare.dwp,
    "housing": welfare.housing,
    "health": care.health,
    "social_care": care.social_care,
}


def provider_views(seed: int, stream: str, world: World,
                   report: Callable[[str, int, int], None] | None = None) -> dict[str, ProviderView]:
    """Every provider's view of ``world``, each from its own random stream ``<stream>:<source>``."""
    police, probation = justice.police_and_probation(stage_rng(seed, f"{stream}:justice"), world)
    views: dict[str, ProviderView] = {"police": police, "probation": probation}
    for source, make in PROVIDER_MAKERS.items():
        views[source] = make(stage_rng(seed, f"{stream}:{source}"), world)
        if report:
            report("events", len(views), len(SOURCES))
    return views


def _check_arguments(people: int, seed: int, reference_date: dt.date, out_dir: Path) -> None:
    problems = []
    if (
        isinstance(people, bool)
        or not isinstance(people, int)
        or not MIN_PEOPLE <= people <= MAX_PEOPLE
    ):
        problems.append(
            Problem(
                "people", f"{people!r} is not a whole number from {MIN_PEOPLE} to {MAX_PEOPLE:,}"
            )
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(Problem("seed", f"{seed!r} is not a whole number >= 0"))
    if not isinstance(reference_date, dt.date) or not 1990 <= reference_date.year <= 2100:
        problems.append(
            Problem("reference_date", f"{reference_date!r} is not a date between 1990 and 2100")
        )
    if problems:
        raise SynthError("Cannot generate the county.", problems)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(
            f"{out_dir} exists and is not a folder.",
            [Problem(str(out_dir), "is a file", "choose another --out")],
        )
    for sub in ("raw", "truth"):
        folder = out_dir / sub
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise OutputExistsError(
                f"{folder} already exists and is not empty.",
                [Problem(str(folder), "would be overwritten", "choose another --out or remove it")],
            )


def generate_county(
    people: int,
    seed: int,
    reference_date: dt.date,
    out_dir: Path,
    corruption: CorruptionSettings | None = None,
    progress: Progress | None = None,
    shape: CountyShape | str | None = None,
) -> SynthSummary:
    """Generate a synthetic county of ``people`` people and write its extracts and truth.

    ``shape`` (a ``familylink.synth.shape.CountyShape`` or the name of one in ``SHAPES``)
    bends the county towards a hard case: many non-resident parents, large communal
    addresses, big households, many shared references, a source missing. The default shape
    gives the same bytes as no shape.

    Writes ``out_dir/raw/<source>.csv`` for every source and ``out_dir/truth/`` (records,
    persons, events, eligible, README.txt). The same arguments always give byte-identical
    files. ``progress(stage, done, total)`` is called as work proceeds, with the stages
    ``population`` (0..1), ``events`` (0..7 sources), ``extracts`` (0..7, building and
    writing each raw file) and ``truth`` (0..4). Raises ``SynthError`` for bad arguments and
    ``OutputExistsError`` when ``out_dir/raw`` or ``out_dir/truth`` exists and is not empty.
    """
    return _generate(people, seed, reference_date, out_dir, corruption, progress, shape=shape)[0]


@dataclass
class County:
    """A generated county kept in memory (for later quarters): the true population, each
    provider's view of it and its extract (rows kept, with each record's identity)."""

    population: Population
    views: list[ProviderView]
    extracts: list[Extract]


def _generate(
    people: int,
    seed: int,
    reference_date: dt.date,
    out_dir: Path,
    corruption: CorruptionSettings | None = None,
    progress: Progress | None = None,
    keep: bool = False,
    shape: CountyShape | str | None = None,
) -> tuple[SynthSummary, County | None]:
    """``generate_county``; with ``keep``, also the county in memory (extract rows kept)."""
    if isinstance(reference_date, dt.datetime):
        reference_date = reference_date.date()
    out_dir = Path(out_dir)
    _check_arguments(people, seed, reference_date, out_dir)
    shape = county_shape(shape)
    settings = corruption or CorruptionSettings()
    report = progress or (lambda stage, done, total: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    ref = day(reference_date)

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = round(timings.get(stage, 0.0) + now - since, 3)
        return now

    clock = time.perf_counter()
    report("population", 0, 1)
    population = build_population(stage_rng(seed, "population"), people, reference_date, shape,
                                  stage_rng(seed, "shape:population"))
    report("population", 1, 1)
    clock = lap("population", clock)

    world = World(ref, population)
    report("events", 0, len(SOURCES))
    by_source = provider_views(seed, "events", world, report)
    if not shape.is_default:
        by_source = reshape_views(shape, stage_rng(seed, "shape:views"), by_source, population.persons)
    views = [by_source[s] for s in SOURCES if s not in shape.missing_sources]
    clock = lap("events", clock)

    raw_dir, truth_dir = out_dir / "raw", out_dir / "truth"
    raw_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    extracts = []
    rows: dict[str, int] = {}
    event_rows: dict[str, int] = {}
    for done, view in enumerate(views):
        report("extracts", done, len(views))
        extract = build_extract(
            stage_rng(seed, f"records:{view.source}"), view, population, settings, ref
        )
        clock = lap("extracts", clock)
        write_raw(raw_dir, extract)
        clock = lap("writing", clock)
        rows[view.source] = int(extract.rows.shape[0])
        event_rows[view.source] = int((extract.rows["indicator"] != "").sum())
        if not keep:
            extract.rows = extract.rows.iloc[0:0]  # written: keep only the record list
        extracts.append(extract)
    report("extracts", len(views), len(views))

    report("truth", 0, 4)
    write_csv(truth_records(extracts, population), truth_dir / "records.csv")
    write_csv(truth_persons(population), truth_dir / "persons.csv")
    report("truth", 1, 4)
    write_csv(truth_events(views, population), truth_dir / "events.csv")
    (truth_dir / "README.txt").write_text(
        TRUTH_README.format(reference_date=reference_date.isoformat(), people=people, seed=seed),
        encoding="utf-8",
        newline="\n",
    )
    report("truth", 2, 4)
    clock = lap("writing", clock)
    eligible = evaluate_truth_dir(truth_dir, reference_date)
    report("truth", 3, 4)
    output = eligible[["family_id", "eligible", "headline_count", "headlines", "rules"]].copy()
    output["eligible"] = output["eligible"].map({True: "true", False: "false"})
    write_csv(output, truth_dir / "eligible.csv")
    report("truth", 4, 4)
    lap("eligibility", clock)

    counts = eligible["headline_count"].value_counts()
    summary = SynthSummary(
        people=people,
        households=int(population.households.shape[0]),
        families=int(eligible.shape[0]),
        eligible_families=int(eligible["eligible"].sum()),
        records={e.source: int(e.records.shape[0]) for e in extracts},
        rows=rows,
        event_rows=event_rows,
        headline_counts={k: int(counts.get(k, 0)) for k in range(len(HEADLINES) + 1)},
        out_dir=out_dir,
        seed=seed,
        reference_date=reference_date,
        seconds=round(time.perf_counter() - started, 3),
        stage_seconds=timings,
    )
    return summary, County(population, views, extracts) if keep else None
