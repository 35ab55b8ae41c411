"""``generate_quarters``: the same synthetic county over consecutive quarters.

Quarter 1 is exactly what ``generate_county`` writes for the same arguments. Each later
quarter is the same county three months on (``evolve.quarter_after``): the same people keep
their person_id, household_id and family_id and each source keeps each person's record_id
and recorded identity; babies are born into existing households (a household's first baby
makes it a new family), some households move (sources pick up the new address, some lag),
open spells close, new events happen inside the quarter at the rates of the first extract,
and events older than two years drop out (``quarter_events``, ``quarter_records``).

Files: ``out_dir/q<k>/raw/<source>.csv`` and ``out_dir/q<k>/truth/`` as ``generate_county``
writes them (eligibility at that quarter's reference date), plus
``out_dir/truth_changes.csv`` (from_quarter, to_quarter, family_id, change, headlines_before,
headlines_after; change is entered, left, headlines_changed or continuing, for every family
eligible in either quarter of each consecutive pair) and ``out_dir/truth_moves.csv`` (the
households that moved in each quarter, with old and new UPRN and postcode).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from familylink.core.errors import OutputExistsError, Problem
from familylink.synth.dates import day
from familylink.synth.events import ProviderView, World
from familylink.synth.evolve import evolve_population, first_family_state, quarter_after
from familylink.synth.generator import Progress, _check_arguments, _generate, provider_views
from familylink.synth.population import Population
from familylink.synth.quarter_events import next_view
from familylink.synth.quarter_records import next_extract
from familylink.synth.records import Extract
from familylink.synth.settings import CorruptionSettings, SynthError, SynthSummary, stage_rng
from familylink.synth.truth_rules import HEADLINES, evaluate_truth_dir
from familylink.synth.writer import (
    TRUTH_README,
    truth_events,
    truth_persons,
    truth_records,
    write_csv,
    write_raw,
)

MAX_QUARTERS = 40
CHANGES_FILE = "truth_changes.csv"
MOVES_FILE = "truth_moves.csv"
CHANGE_COLUMNS = (
    "from_quarter",
    "to_quarter",
    "family_id",
    "change",
    "headlines_before",
    "headlines_after",
)
MOVE_COLUMNS = (
    "from_quarter",
    "to_quarter",
    "household_id",
    "move_date",
    "from_uprn",
    "to_uprn",
    "from_postcode",
    "to_postcode",
)
QUARTER_NOTE = """
Quarter {quarter} of a quarterly series that starts at {first} (folder q1): the same county
{months} months on. Since the previous quarter: {births} babies born, {moves} households
moved, {closed} spells closed, {new_events} new events. Families keep their family_id;
../{changes} lists the families that entered, left or changed headlines.
"""


@dataclass
class _State:
    reference_date: dt.date
    population: Population
    views: list[ProviderView]
    extracts: list[Extract]
    family_ref: np.ndarray
    next_family: int


def _quarter_dates(first: dt.date, quarters: int) -> list[dt.date]:
    dates = [first]
    for _ in range(quarters - 1):
        dates.append(quarter_after(dates[-1]))
    return dates


def _check(people, seed, first, out_dir: Path, quarters) -> list[dt.date]:
    if isinstance(quarters, bool) or not isinstance(quarters, int):
        quarters = -1
    if not 1 <= quarters <= MAX_QUARTERS:
        raise SynthError(
            "Cannot generate the quarters.",
            [Problem("quarters", f"is not a whole number from 1 to {MAX_QUARTERS}")],
        )
    _check_arguments(people, seed, first, out_dir)
    dates = _quarter_dates(first, quarters)
    for k, when in enumerate(dates, start=1):
        _check_arguments(people, seed, when, out_dir / f"q{k}")
    for name in (CHANGES_FILE, MOVES_FILE):
        if (out_dir / name).exists():
            raise OutputExistsError(
                f"{out_dir / name} already exists.",
                [Problem(str(out_dir / name), "would be overwritten", "choose another --out")],
            )
    return dates


def generate_quarters(
    people: int,
    seed: int,
    first_reference_date: dt.date,
    out_dir: Path,
    quarters: int = 2,
    progress: Progress | None = None,
    corruption: CorruptionSettings | None = None,
) -> list[SynthSummary]:
    """Write ``quarters`` consecutive quarters of one synthetic county under ``out_dir``.

    ``out_dir/q1`` is byte-identical to ``generate_county(people, seed,
    first_reference_date, out_dir/q1, corruption)``; ``q2``... follow three months apart.
    Returns one summary per quarter. ``progress(stage, done, total)`` gets the first
    quarter's stages, then ``quarters`` (done = quarters written). The same arguments always
    give the same bytes. Raises ``SynthError`` for bad arguments and ``OutputExistsError``
    when a quarter's folders or the change files exist and are not empty.
    """
    if isinstance(first_reference_date, dt.datetime):
        first_reference_date = first_reference_date.date()
    out_dir = Path(out_dir)
    dates = _check(people, seed, first_reference_date, out_dir, quarters)
    settings = corruption or CorruptionSettings()
    report = progress or (lambda stage, done, total: None)
    summary, county = _generate(
        people, seed, first_reference_date, out_dir / "q1", settings, progress, keep=True
    )
    assert county is not None
    report("quarters", 1, quarters)
    family_ref, next_family = first_family_state(county.population)
    state = _State(
        first_reference_date,
        county.population,
        county.views,
        county.extracts,
        family_ref,
        next_family,
    )
    summaries = [summary]
    eligible = [_read(out_dir / "q1" / "truth" / "eligible.csv")]
    moves = []
    for k in range(2, quarters + 1):
        state, summary, moved = _advance(state, seed, k, dates, out_dir / f"q{k}", settings)
        summaries.append(summary)
        eligible.append(_read(out_dir / f"q{k}" / "truth" / "eligible.csv"))
        moves.append(moved.assign(from_quarter=f"q{k - 1}", to_quarter=f"q{k}"))
        report("quarters", k, quarters)
    changes = [
        truth_changes(eligible[i], eligible[i + 1], f"q{i + 1}", f"q{i + 2}")
        for i in range(quarters - 1)
    ]
    frame = pd.concat(changes, ignore_index=True) if changes else _empty_changes()
    write_csv(frame, out_dir / CHANGES_FILE)
    move_columns = list(MOVE_COLUMNS)
    write_csv(
        pd.concat(moves, ignore_index=True)[move_columns]
        if moves
        else pd.DataFrame(columns=move_columns),
        out_dir / MOVES_FILE,
    )
    return summaries


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _empty_changes() -> pd.DataFrame:
    return pd.DataFrame(columns=list(CHANGE_COLUMNS))


def truth_changes(
    before: pd.DataFrame, after: pd.DataFrame, from_quarter: str, to_quarter: str
) -> pd.DataFrame:
    """Families eligible in either of two eligible.csv tables and how they changed."""
    was = before[before["eligible"] == "true"].set_index("family_id")["headlines"]
    now = after[after["eligible"] == "true"].set_index("family_id")["headlines"]
    ids = sorted(set(was.index) | set(now.index))
    old = was.reindex(ids).fillna("").to_numpy(dtype=object)
    new = now.reindex(ids).fillna("").to_numpy(dtype=object)
    in_old = np.isin(ids, was.index.to_numpy())
    in_new = np.isin(ids, now.index.to_numpy())
    change = np.select(
        [in_old & in_new & (old == new), in_old & in_new, in_new],
        ["continuing", "headlines_changed", "entered"],
        default="left",
    )
    frame = pd.DataFrame(
        {
            "from_quarter": from_quarter,
            "to_quarter": to_quarter,
            "family_id": np.array(ids, dtype=object),
            "change": change,
            "headlines_before": old,
            "headlines_after": new,
        },
        columns=list(CHANGE_COLUMNS),
    )
    return frame


def _fresh_views(seed: int, quarter: int, world: World) -> dict[str, ProviderView]:
    """The providers' generators run afresh at the quarter's reference date."""
    return provider_views(seed, f"quarter{quarter}:events", world)


def _advance(
    state: _State,
    seed: int,
    quarter: int,
    dates: list[dt.date],
    out_dir: Path,
    settings: CorruptionSettings,
) -> tuple[_State, SynthSummary, pd.DataFrame]:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    clock = started

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = round(timings.get(stage, 0.0) + now - since, 3)
        return now

    reference_date = dates[quarter - 1]
    ref1, ref2 = day(state.reference_date), day(reference_date)
    evolution = evolve_population(
        stage_rng(seed, f"quarter{quarter}:population"),
        state.population,
        state.family_ref,
        state.next_family,
        ref1,
        ref2,
    )
    population = evolution.population
    newborn = np.arange(state.population.persons.shape[0], population.persons.shape[0])
    clock = lap("population", clock)

    fresh = _fresh_views(seed, quarter, World(ref2, population))
    views, changes = [], []
    for previous in state.views:
        view, change = next_view(
            stage_rng(seed, f"quarter{quarter}:changes:{previous.source}"),
            previous,
            fresh[previous.source],
            population,
            ref1,
            ref2,
            newborn if previous.source == "health" else np.empty(0, dtype=np.int64),
        )
        views.append(view)
        changes.append(change)
    clock = lap("events", clock)

    raw_dir, truth_dir = out_dir / "raw", out_dir / "truth"
    raw_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    extracts = []
    for previous, view in zip(state.extracts, views, strict=True):
        extract = next_extract(
            stage_rng(seed, f"quarter{quarter}:records:{view.source}"),
            previous,
            view,
            population,
            settings,
            ref2,
        )
        clock = lap("extracts", clock)
        write_raw(raw_dir, extract)
        clock = lap("writing", clock)
        extracts.append(extract)

    write_csv(truth_records(extracts, population), truth_dir / "records.csv")
    write_csv(_persons(population, ref2), truth_dir / "persons.csv")
    write_csv(truth_events(views, population), truth_dir / "events.csv")
    readme = TRUTH_README.format(
        reference_date=reference_date.isoformat(), people=population.persons.shape[0], seed=seed
    ) + QUARTER_NOTE.format(
        quarter=quarter,
        first=dates[0].isoformat(),
        months=3 * (quarter - 1),
        births=evolution.births,
        moves=evolution.moves.shape[0],
        closed=sum(c.closed for c in changes),
        new_events=sum(c.new_events for c in changes),
        changes=CHANGES_FILE,
    )
    (truth_dir / "README.txt").write_text(readme, encoding="utf-8", newline="\n")
    clock = lap("writing", clock)
    eligible = evaluate_truth_dir(truth_dir, reference_date)
    output = eligible[["family_id", "eligible", "headline_count", "headlines", "rules"]].copy()
    output["eligible"] = output["eligible"].map({True: "true", False: "false"})
    write_csv(output, truth_dir / "eligible.csv")
    lap("eligibility", clock)

    counts = eligible["headline_count"].value_counts()
    summary = SynthSummary(
        people=int(population.persons.shape[0]),
        households=int(population.households.shape[0]),
        families=int(eligible.shape[0]),
        eligible_families=int(eligible["eligible"].sum()),
        records={e.source: int(e.records.shape[0]) for e in extracts},
        rows={e.source: int(e.rows.shape[0]) for e in extracts},
        event_rows={e.source: int((e.rows["indicator"] != "").sum()) for e in extracts},
        headline_counts={k: int(counts.get(k, 0)) for k in range(len(HEADLINES) + 1)},
        out_dir=out_dir,
        seed=seed,
        reference_date=reference_date,
        seconds=round(time.perf_counter() - started, 3),
        stage_seconds=timings,
    )
    new_state = _State(
        reference_date, population, views, extracts, evolution.family_ref, evolution.next_family
    )
    return new_state, summary, evolution.moves


def _persons(population: Population, ref: np.datetime64) -> pd.DataFrame:
    """truth/persons.csv: ``moved`` means moved in the two years before this reference date."""
    frame = truth_persons(population)
    households = population.households
    h = population.persons["household"].to_numpy()
    move_date = households["move_date"].to_numpy().astype("datetime64[D]")[h]
    recent = (households["prev_dwelling"].to_numpy()[h] >= 0) & (move_date > ref - 730)
    frame["moved"] = np.where(recent, "true", "false")
    return frame
