"""FEBRL3 and FEBRL4 at the product's defaults: sealed against plaintext, the same linkage code,
so the difference is exactly what the keys cost.

Usage (from the repository root):
    python benchmarks/bench_febrl.py [--datasets febrl3 febrl3_postcode febrl4] [--repeat 3]
        [--key-seed N] [--keep DIR]

For each data set the FEBRL frames are written as raw extracts the way a user would
(``benchmarks/febrl/data.py``: FEBRL3 one health extract, without postcodes or with them mapped;
FEBRL4 a police and a probation extract) for the shipped agreements, then:

1. Sealed (the product): ``protocols.seal.pseudonymise`` under a partnership key (``--key-seed N``
   derives it as ``benchmarks/bench_defaults.py`` does, so both report the same sealed figures;
   default: a fresh key), linked by ``matching.link.link_persons`` with the shipped
   ``config/linkage/default.yaml`` (no linkage file).
2. Plaintext (``benchmarks/febrl/plaintext.py``): the same sealing and the same link, with the
   keyed encoders replaced: every token is an unkeyed hash, its domain and the normalised
   value, every Bloom filter the exact set of its bigrams (a bit each, no collisions).
   Blocking, budget, training, calibration, guards and clustering are the product's, on
   equality-equivalent tokens and exact Dice.
3. Both are scored against the truth (pairwise precision, recall, F1 of the persons), and the
   links they disagree on are traced to their cause: a Dice level the Bloom filter's
   collisions moved, or only the trained model (m and u, prior, threshold).

Link seconds are ``link_persons`` end to end (load, train, predict, cluster, households);
sealing is timed separately. With ``--repeat N`` the two paths link in turn N times (spreading
any change in the machine's load over both) and the median time is shown; results are
identical between repeats.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from febrl.data import DATE_FORMAT, EXTRACT_DATE, USER_DATASETS, user_extracts  # noqa: E402
from febrl.plaintext import seal_plaintext  # noqa: E402
from febrl.score import Scores, blocking_recall, pairwise_scores, scored_recall, true_pairs_table  # noqa: E402

from familylink.core.tables import LINKAGE_RECORDS, PERSONS  # noqa: E402
from matching.link import link_persons  # noqa: E402
from matching.settings import LinkageSettings, load_linkage_settings  # noqa: E402
from protocols.agreements import default_agreements_dir, load_agreements  # noqa: E402
from protocols.keys import PartnershipKey, generate_key  # noqa: E402
from protocols.seal import pseudonymise  # noqa: E402

PATHS = ("sealed", "plaintext")
#: a differing link whose match probability is this close to the threshold in both paths was
#: decided by a small change in the trained model, not by a level
NEAR_THRESHOLD = 0.05


def benchmark_key(seed: int | None) -> PartnershipKey:
    """A fresh partnership key, or the one ``bench_defaults.py`` derives from ``seed``
    (benchmarks only: never a real key)."""
    if seed is None:
        return generate_key()
    return PartnershipKey(hashlib.sha256(f"familylink/defaults-benchmark/{seed}".encode()).digest())


@dataclass
class PathResult:
    path: str
    records: int
    pairs_scored: int
    scores: Scores
    link_seconds: list[float]
    phases: dict[str, float]
    sealing_seconds: float
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return statistics.median(self.link_seconds)


# --- sealing ------------------------------------------------------------------------------------

def seal_both(dataset: str, root: Path, key: PartnershipKey, sample_entities: int | None = None
              ) -> tuple[dict[str, Path], dict[str, float], dict[str, object], pd.DataFrame]:
    """Raw extracts under ``root/raw``, sealed files under ``root/<path>/extracts``; returns the
    extracts folder and sealing seconds of each path, facts of the plaintext sealing, the truth."""
    extracts, truth = user_extracts(dataset, root / "raw", sample_entities=sample_entities)
    agreements = load_agreements(default_agreements_dir())
    folders = {path: root / path / "extracts" for path in PATHS}
    folders["sealed"].mkdir(parents=True)
    start = time.perf_counter()
    for extract in extracts:
        report = pseudonymise(extract.path, folders["sealed"] / f"{extract.source}.sealed", extract.source, key,
                              agreements, date_format=DATE_FORMAT, extract_date=EXTRACT_DATE, workers=1)
        if not report.reconciled:
            raise RuntimeError(f"{extract.path}: counts do not reconcile")
    seconds = {"sealed": time.perf_counter() - start}
    plain = seal_plaintext(extracts, folders["plaintext"], key, agreements, date_format=DATE_FORMAT,
                           extract_date=EXTRACT_DATE)
    seconds["plaintext"] = plain.seconds
    facts = {"filter bits": plain.bits, "distinct bigrams": plain.bigrams, "attempts": plain.attempts}
    return folders, seconds, facts, truth


def link(extracts: Path, run_dir: Path, settings: LinkageSettings):
    """One product link in its own DuckDB file; returns the open connection, summary and seconds."""
    run_dir.mkdir(parents=True)
    con = duckdb.connect(str(run_dir / "run.duckdb"))
    start = time.perf_counter()
    summary = link_persons(extracts, run_dir, settings, con)
    return con, summary, time.perf_counter() - start


def path_result(path: str, con: duckdb.DuckDBPyConnection, summary, run_dir: Path, truth: pd.DataFrame,
                times: list[float], sealing_seconds: float) -> PathResult:
    clusters = con.execute(f"SELECT unique_id, person_id AS cluster_id FROM {PERSONS}").df()
    model = json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
    calibration = model.get("calibration") or {}
    threshold = float(calibration.get("threshold_match_probability", 0.5))
    true_pairs = true_pairs_table(con, truth)
    notes = {
        "prior": f"{calibration.get('probability_two_random_records_match', float('nan')):.4g}",
        "threshold": threshold,
        "blocking recall": blocking_recall(con, LINKAGE_RECORDS, model["blocking"]["rules"], true_pairs),
        "true pairs scored >= threshold": scored_recall(con, "person_pairs", true_pairs, threshold),
        "est. F1": (model.get("accuracy") or {}).get("f1", float("nan")),
    }
    return PathResult(path, summary.records, summary.pairs_scored, pairwise_scores(clusters, truth), times,
                      dict(summary.seconds), sealing_seconds, notes)


# --- where the paths differ ---------------------------------------------------------------------

def _linked_pairs(schema: str) -> str:
    return (f"SELECT a.unique_id AS left_id, b.unique_id AS right_id FROM {schema}.{PERSONS} a "
            f"JOIN {schema}.{PERSONS} b ON a.person_id = b.person_id AND a.unique_id < b.unique_id")


def _moved(left: str, right: str, thresholds: list[float]) -> str:
    """SQL: true where some threshold lies between the sealed Dice (records sl, sr) and the
    exact Dice (records pl, pr) of the ``left`` filter of one record and the ``right`` filter
    of the other: the Bloom filter's collisions moved the pair's level."""
    def side(one: str, other: str) -> str:
        return (f"(2.0 * bit_count({one}.{left} & {other}.{right})::INTEGER"
                f" / nullif({one}.{left}_bits + {other}.{right}_bits, 0))")

    sealed, exact = side("sl", "sr"), side("pl", "pr")
    return " OR ".join(f"coalesce(({sealed} >= {t}) <> ({exact} >= {t}), false)" for t in thresholds)


def _dice_flips(settings: LinkageSettings) -> dict[str, str]:
    """SQL per Dice comparison (``matching.comparisons``): the pair's level moved."""
    high = settings.dice.given_name[0]
    return {"given": _moved("bf_given", "bf_given", settings.dice.given_name),
            "family": _moved("bf_family", "bf_family", settings.dice.family_name),
            "address": _moved("bf_address", "bf_address", settings.dice.address),
            "names crossed": f"{_moved('bf_given', 'bf_family', [high])} OR {_moved('bf_family', 'bf_given', [high])}"}


def _patterns(run_dir: Path) -> tuple[float, dict[str, tuple[float, float]]]:
    """The run's threshold, and each calibrated pattern level's (weight, share of matches)."""
    calibration = json.loads((run_dir / "model.json").read_text(encoding="utf-8")).get("calibration") or {}
    return (float(calibration.get("threshold_match_probability", 0.5)),
            {p["label"]: (p["weight"], p["share_matching"]) for p in calibration.get("patterns", [])
             if "level_weight" in p and p.get("weight") is not None})


def disagreements(con: duckdb.DuckDBPyConnection, run_dirs: dict[str, Path], truth: pd.DataFrame,
                  settings: LinkageSettings) -> dict[str, object]:
    """The links one path made and the other did not (true and false), and why: a pair whose
    Dice level differs between the keyed filters and the exact bigram sets; a pair at a
    calibrated pattern level (``matching.calibration``) whose weight, learnt from the data,
    differs between the paths; or the rest of the trained model (m, u, prior, threshold)."""
    con.execute(f"ATTACH '{run_dirs['plaintext'] / 'run.duckdb'}' AS plain (READ_ONLY)")
    try:
        con.register("febrl_truth_frame", truth[["unique_id", "entity"]])
        flips = _dice_flips(settings)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE febrl_differ AS
            WITH s AS ({_linked_pairs('main')}), p AS ({_linked_pairs('plain')}),
            d AS (SELECT *, 'sealed' AS only_in FROM (SELECT * FROM s EXCEPT SELECT * FROM p)
                  UNION ALL SELECT *, 'plaintext' FROM (SELECT * FROM p EXCEPT SELECT * FROM s))
            SELECT d.only_in, tl.entity = tr.entity AS true_link, qs.match_weight AS sealed_weight,
                   qp.match_weight AS plaintext_weight,
                   {', '.join(f'({sql}) AS "{name}"' for name, sql in flips.items())}
            FROM d
            JOIN febrl_truth_frame tl ON tl.unique_id = d.left_id
            JOIN febrl_truth_frame tr ON tr.unique_id = d.right_id
            JOIN main.{LINKAGE_RECORDS} sl ON sl.unique_id = d.left_id
            JOIN main.{LINKAGE_RECORDS} sr ON sr.unique_id = d.right_id
            JOIN plain.{LINKAGE_RECORDS} pl ON pl.unique_id = d.left_id
            JOIN plain.{LINKAGE_RECORDS} pr ON pr.unique_id = d.right_id
            LEFT JOIN main.person_pairs qs ON qs.left_id = d.left_id AND qs.right_id = d.right_id
            LEFT JOIN plain.person_pairs qp ON qp.left_id = d.left_id AND qp.right_id = d.right_id""")
        out: dict[str, object] = {}
        for only_in in PATHS:
            true, false = con.execute("SELECT count(*) FILTER (true_link), count(*) FILTER (NOT true_link) "
                                      "FROM febrl_differ WHERE only_in = ?", [only_in]).fetchone()
            out[f"links only {only_in} (true/false)"] = f"{true}/{false}"
        names = list(flips)
        any_flip = " OR ".join(f'"{n}"' for n in names)
        counts = con.execute(f"SELECT count(*), count(*) FILTER ({any_flip}), "
                             + ", ".join(f'count(*) FILTER ("{n}")' for n in names)
                             + " FROM febrl_differ").fetchone()
        out["of them with a Dice level moved by the filter"] = (
            f"{counts[1]} (" + ", ".join(f"{n} {c}" for n, c in zip(names, counts[2:], strict=True)) + ")")
        (sealed_threshold, sealed), (plain_threshold, plain) = _patterns(run_dirs["sealed"]), _patterns(run_dirs["plaintext"])
        near = con.execute(f"""SELECT count(*) FROM febrl_differ WHERE NOT ({any_flip})
            AND abs(1.0 / (1.0 + pow(2.0, -sealed_weight)) - ?) < {NEAR_THRESHOLD}
            AND abs(1.0 / (1.0 + pow(2.0, -plaintext_weight)) - ?) < {NEAR_THRESHOLD}""",
                           [sealed_threshold, plain_threshold]).fetchone()[0]
        out[f"of the others, within {NEAR_THRESHOLD} of the threshold in both paths"] = (
            f"{near} (thresholds {sealed_threshold:.3f} / {plain_threshold:.3f}"
            + "".join(f"; pattern level '{label}': share of matches {sealed[label][1]:.3f} / {plain[label][1]:.3f}"
                      for label in sorted(set(sealed) & set(plain)))
            + ")")
        scored = con.execute(f"""SELECT count(*) FILTER ({' OR '.join(f'({sql})' for sql in flips.values())}),
                   count(*)
            FROM main.person_pairs q
            JOIN main.{LINKAGE_RECORDS} sl ON sl.unique_id = q.left_id
            JOIN main.{LINKAGE_RECORDS} sr ON sr.unique_id = q.right_id
            JOIN plain.{LINKAGE_RECORDS} pl ON pl.unique_id = q.left_id
            JOIN plain.{LINKAGE_RECORDS} pr ON pr.unique_id = q.right_id""").fetchone()
        out["kept sealed pairs (p >= 0.01) with a Dice level moved"] = f"{scored[0]} of {scored[1]}"
        con.unregister("febrl_truth_frame")
        return out
    finally:
        con.execute("DETACH plain")


# --- the run ------------------------------------------------------------------------------------

def run_dataset(dataset: str, args, settings: LinkageSettings, base: Path):
    root = base / dataset
    folders, sealing, facts, truth = seal_both(dataset, root, benchmark_key(args.key_seed))
    times: dict[str, list[float]] = {p: [] for p in PATHS}
    for attempt in range(args.repeat):
        last = attempt == args.repeat - 1
        runs = {}
        for path in PATHS:
            con, summary, seconds = link(folders[path], root / path / f"run{attempt}", settings)
            times[path].append(seconds)
            runs[path] = (con, summary)
            if not last:
                con.close()
    results = {path: path_result(path, con, summary, root / path / f"run{args.repeat - 1}", truth, times[path],
                                 sealing[path])
               for path, (con, summary) in runs.items()}
    runs["plaintext"][0].close()
    results["plaintext"].notes.update(facts)
    sealed_con = runs["sealed"][0]
    differ = disagreements(sealed_con, {p: root / p / f"run{args.repeat - 1}" for p in PATHS}, truth, settings)
    sealed_con.close()
    return results["sealed"], results["plaintext"], differ


def print_table(results) -> None:
    print("| dataset | path | records | pairs scored | prior | threshold | P | R | F1 | F1 gap | link s | "
          "time ratio sealed/plaintext | sealing s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dataset, sealed, plain, _ in results:
        for r in (sealed, plain):
            s = r.scores
            gap = f"{sealed.scores.f1 - plain.scores.f1:+.4f}" if r is sealed else ""
            ratio = f"{sealed.seconds / plain.seconds:.2f}" if r is sealed else ""
            print(f"| {dataset} | {r.path} | {r.records:,} | {r.pairs_scored:,} | {r.notes['prior']} | "
                  f"{r.notes['threshold']:.3f} | {s.precision:.4f} | {s.recall:.4f} | {s.f1:.4f} | {gap} | "
                  f"{r.seconds:.2f} | {ratio} | {r.sealing_seconds:.2f} |")
    print()
    for dataset, sealed, plain, differ in results:
        for r in (sealed, plain):
            phases = " / ".join(f"{p} {v:.2f}" for p, v in r.phases.items())
            notes = "; ".join(f"{k} {_fmt(v)}" for k, v in r.notes.items() if k not in ("prior", "threshold"))
            print(f"- {dataset} {r.path}: {phases} s (runs: {', '.join(f'{t:.2f}' for t in r.link_seconds)}); "
                  f"true pairs {r.scores.true_pairs:,}, predicted {r.scores.predicted_pairs:,}; {notes}")
        print(f"- {dataset} differences: " + "; ".join(f"{k} {v}" for k, v in differ.items()))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=USER_DATASETS, default=list(USER_DATASETS))
    parser.add_argument("--repeat", type=int, default=3, help="link runs per path (median time)")
    parser.add_argument("--key-seed", type=int, help="derive the partnership key from this number (default: fresh)")
    parser.add_argument("--keep", type=Path, help="keep the working files in this (new) folder")
    args = parser.parse_args(argv)
    settings = load_linkage_settings()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-febrl-") as scratch:
        base = args.keep or Path(scratch)
        for dataset in args.datasets:
            results.append((dataset, *run_dataset(dataset, args, settings, base)))
            print(f"{dataset} done", file=sys.stderr, flush=True)
    key = "fresh key" if args.key_seed is None else f"key seed {args.key_seed}"
    print(f"Shipped linkage settings {settings.version}, extract date {EXTRACT_DATE}, {key}, repeat {args.repeat}\n")
    print_table(results)


if __name__ == "__main__":
    main()
