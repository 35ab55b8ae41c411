"""FEBRL3 (dedupe, 5,000 records) and FEBRL4 (two files of 5,000 to link): sealed linkage with
the project's encoders against plaintext Splink with an equivalent model, in one run.

Usage (from the repository root):
    python benchmarks/bench_febrl.py [--datasets febrl3 febrl4] [--postcode mapped|blank]
        [--settings benchmarks/febrl/linkage.yaml] [--repeat 3] [--key-seed N] [--keep DIR]
        [--febrl3-files 2]

For each dataset:
1. Sealed (the product): each FEBRL frame is written as a raw extract in the contract format
   (see ``benchmarks/febrl/data.py`` for the field decisions), sealed with
   ``protocols.seal.pseudonymise`` under a fresh key (``--key-seed N``: a key derived from N,
   for byte-identical reruns; Bloom-filter collisions depend on the key, so sealed F1 moves
   by about 0.001 between fresh keys) and a temporary agreements folder, and linked with
   ``matching.link.link_persons`` and the FEBRL linkage settings. FEBRL3 is sealed as two
   files of alternate records: the product links every source with ``link_and_dedupe``, so
   two parts are deduplicated exactly like one file, and ``link_persons`` fails on a single
   source (Splink only adds ``source_dataset`` for two or more inputs; ``--febrl3-files 1``
   shows the failure).
2. Plaintext: Splink 5 on the plaintext values with the product's levels, rules and training
   recipe (``benchmarks/febrl/plaintext.py``), on its own DuckDB connection.
3. Both are scored against the truth (pairwise precision, recall, F1 of the clusters).

Link seconds are load + train + predict + cluster (the product's own phase timings; the same
phases timed around the plaintext calls). Sealing, and the plaintext path's normalisation,
are reported separately. With ``--repeat N`` each link runs N times and the
median time is shown (results are identical between repeats). Both paths use a DuckDB file in
their own run folder, as ``familylink link`` does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
from febrl.data import POSTCODE_MODES, febrl_frames, write_agreements, write_raw_extract
from febrl.plaintext import link_plaintext, plaintext_rule, prepare
from febrl.score import Scores, blocking_recall, pairwise_scores, scored_recall, true_pairs_table
from splink import DuckDBAPI
from splink.clustering import cluster_pairwise_predictions_at_threshold

from familylink.core.tables import LINKAGE_RECORDS, PERSONS
from matching.link import link_persons
from matching.settings import LinkageSettings, load_linkage_settings
from protocols.agreements import load_agreements
from protocols.keys import PartnershipKey, generate_key
from protocols.seal import pseudonymise

HERE = Path(__file__).resolve().parent
DEFAULT_SETTINGS = HERE / "febrl" / "linkage.yaml"
#: FEBRL's dates of birth run from 1900 to 1999; an extract date after the last and within
#: 120 years of the first keeps every valid date (the product blanks later or older ones).
EXTRACT_DATE = dt.date(2005, 1, 1)
PHASES = ("load", "train", "predict", "cluster")


@dataclass
class PathResult:
    path: str
    records: int
    pairs_scored: int
    scores: Scores
    link_seconds: list[float]
    phases: dict[str, float]
    prepare_seconds: float
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return statistics.median(self.link_seconds)


def _truth(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": source + "|" + f["record_id"], "entity": f["entity"]})
                      for source, f in frames.items()], ignore_index=True)


def _phase_seconds(seconds: dict[str, float]) -> float:
    return sum(seconds[p] for p in PHASES)


# --- the sealed path ------------------------------------------------------------------------------

def benchmark_key(seed: int | None) -> PartnershipKey:
    """A fresh partnership key, or one derived from ``seed`` (benchmarks only: never a real key)."""
    if seed is None:
        return generate_key()
    return PartnershipKey(hashlib.sha256(f"familylink/febrl-benchmark/{seed}".encode()).digest())


def seal(frames: dict[str, pd.DataFrame], root: Path, postcode_mode: str,
         key: PartnershipKey) -> tuple[Path, float, dict[str, int]]:
    """Raw extracts, agreements and sealed files under ``root``; returns the sealed folder,
    the seconds spent in ``pseudonymise`` (every file) and the fields it blanked."""
    agreements = load_agreements(write_agreements(root / "agreements", list(frames), postcode_mode))
    raw, sealed = root / "raw", root / "extracts"
    raw.mkdir(parents=True)
    sealed.mkdir()
    seconds, blanked = 0.0, {}
    for source, frame in frames.items():
        write_raw_extract(frame, raw / f"{source}.csv", postcode_mode)
        start = time.perf_counter()
        report = pseudonymise(raw / f"{source}.csv", sealed / f"{source}.sealed", source, key, agreements,
                              extract_date=EXTRACT_DATE)
        seconds += time.perf_counter() - start
        if report.quarantined or not report.reconciled:
            raise RuntimeError(f"{source}: {report.quarantined} rows quarantined: {report.located_messages(5)}")
        for column, count in report.fields_blanked.items():
            blanked[column] = blanked.get(column, 0) + count
    return sealed, seconds, blanked


def link_sealed(sealed: Path, run_dir: Path, settings: LinkageSettings):
    """One product link; returns the open connection and the product's summary."""
    run_dir.mkdir(parents=True)
    con = duckdb.connect(str(run_dir / "run.duckdb"))
    return con, link_persons(sealed, run_dir, settings, con)


def sealed_result(con: duckdb.DuckDBPyConnection, summary, truth: pd.DataFrame, settings: LinkageSettings,
                  times: list[float], seal_seconds: float, blanked: dict[str, int]) -> PathResult:
    clusters = con.execute(f"SELECT unique_id, person_id AS cluster_id FROM {PERSONS}").df()
    threshold = settings.clustering.threshold_match_probability
    true_pairs = true_pairs_table(con, truth)
    notes = {
        "blocking recall": blocking_recall(con, LINKAGE_RECORDS, list(settings.blocking_rules), true_pairs),
        "true pairs scored >= threshold": scored_recall(con, "person_pairs", true_pairs, threshold),
        "twin-guard edges dropped": summary.guards.dropped_twins,
        "clustered with no twin guard": pairwise_scores(_cluster_without_guards(con, threshold), truth),
        "fields blanked by sealing": ", ".join(f"{c} {n}" for c, n in sorted(blanked.items())) or "none",
    }
    return PathResult("sealed", summary.records, summary.pairs_scored, pairwise_scores(clusters, truth), times,
                      {p: summary.seconds[p] for p in PHASES}, seal_seconds, notes)


def _cluster_without_guards(con: duckdb.DuckDBPyConnection, threshold: float) -> pd.DataFrame:
    """The product's scored pairs clustered at the threshold with no guard (a diagnostic)."""
    con.execute("CREATE OR REPLACE TABLE febrl_unguarded_edges AS "
                f"SELECT left_id, right_id, match_probability FROM person_pairs WHERE match_probability >= {threshold}")
    clusters = cluster_pairwise_predictions_at_threshold(
        LINKAGE_RECORDS, "febrl_unguarded_edges", DuckDBAPI(connection=con), "unique_id", "left_id", "right_id")
    out = con.execute(f"SELECT unique_id, cluster_id FROM {clusters.physical_name}").df()
    clusters.drop_table_from_database_and_remove_from_cache()
    return out


# --- the plaintext path ---------------------------------------------------------------------------

def prepare_plaintext(frames: dict[str, pd.DataFrame], postcode_mode: str) -> tuple[dict[str, pd.DataFrame], float]:
    start = time.perf_counter()
    prepared = {source: prepare(frame.assign(unique_id=source + "|" + frame["record_id"]), EXTRACT_DATE,
                                with_postcode=postcode_mode == "mapped")
                for source, frame in frames.items()}
    return prepared, time.perf_counter() - start


def link_plain(prepared: dict[str, pd.DataFrame], run_dir: Path, settings: LinkageSettings):
    run_dir.mkdir(parents=True)
    con = duckdb.connect(str(run_dir / "run.duckdb"))
    clusters, facts = link_plaintext(prepared, settings, con)
    return con, clusters, facts


def plaintext_result(con: duckdb.DuckDBPyConnection, clusters: pd.DataFrame, facts: dict, prepared, truth,
                     settings: LinkageSettings, times: list[float], prepare_seconds: float) -> PathResult:
    true_pairs = true_pairs_table(con, truth)
    con.execute("CREATE OR REPLACE TABLE febrl_plain_records AS "
                + " UNION ALL ".join(f"SELECT * FROM plain_{source}" for source in sorted(prepared)))
    rules = [plaintext_rule(r) for r in settings.blocking_rules]
    notes = {
        "blocking recall": blocking_recall(con, "febrl_plain_records", rules, true_pairs),
        "true pairs scored >= threshold": scored_recall(con, "plain_pairs", true_pairs,
                                                        settings.clustering.threshold_match_probability,
                                                        "unique_id_l", "unique_id_r"),
    }
    records = sum(len(f) for f in prepared.values())
    return PathResult("plaintext", records, facts["pairs_scored"], pairwise_scores(clusters, truth), times,
                      {p: facts["seconds"][p] for p in PHASES}, prepare_seconds, notes)


def run_dataset(dataset: str, args, settings: LinkageSettings, base: Path) -> tuple[PathResult, PathResult]:
    """Seal and prepare once, then link sealed and plaintext in turn ``repeat`` times (turns
    spread any change in the machine's load over both paths); score the last runs."""
    frames = febrl_frames(dataset, args.febrl3_files)
    truth = _truth(frames)
    root = base / dataset
    sealed, seal_seconds, blanked = seal(frames, root / "sealed", args.postcode, benchmark_key(args.key_seed))
    prepared, prepare_seconds = prepare_plaintext(frames, args.postcode)
    sealed_times, plain_times = [], []
    for attempt in range(args.repeat):
        last = attempt == args.repeat - 1
        sealed_con, summary = link_sealed(sealed, root / "sealed" / f"run{attempt}", settings)
        sealed_times.append(_phase_seconds(summary.seconds))
        plain_con, clusters, facts = link_plain(prepared, root / "plaintext" / f"run{attempt}", settings)
        plain_times.append(_phase_seconds(facts["seconds"]))
        if not last:
            sealed_con.close()
            plain_con.close()
    results = (sealed_result(sealed_con, summary, truth, settings, sealed_times, seal_seconds, blanked),
               plaintext_result(plain_con, clusters, facts, prepared, truth, settings, plain_times, prepare_seconds))
    sealed_con.close()
    plain_con.close()
    return results


# --- report ------------------------------------------------------------------------------------------

def print_table(results: list[tuple[str, PathResult, PathResult]]) -> None:
    print("| dataset | path | records | pairs scored | precision | recall | F1 | link seconds | "
          "time ratio sealed/plaintext | sealing / normalising seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dataset, sealed, plain in results:
        for r in (sealed, plain):
            ratio = f"{sealed.seconds / plain.seconds:.2f}" if r is sealed else ""
            s = r.scores
            print(f"| {dataset} | {r.path} | {r.records:,} | {r.pairs_scored:,} | {s.precision:.4f} | "
                  f"{s.recall:.4f} | {s.f1:.4f} | {r.seconds:.2f} | {ratio} | {r.prepare_seconds:.2f} |")
    print()
    for dataset, sealed, plain in results:
        for r in (sealed, plain):
            phases = " / ".join(f"{p} {r.phases[p]:.2f}" for p in PHASES)
            notes = "; ".join(f"{k} {_fmt(v)}" for k, v in r.notes.items())
            print(f"- {dataset} {r.path}: {phases} s (runs: {', '.join(f'{t:.2f}' for t in r.link_seconds)}); "
                  f"true pairs {r.scores.true_pairs:,}, predicted {r.scores.predicted_pairs:,}; {notes}")


def _fmt(value) -> str:
    if isinstance(value, Scores):
        return f"P {value.precision:.4f} R {value.recall:.4f} F1 {value.f1:.4f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=("febrl3", "febrl4"), default=["febrl3", "febrl4"])
    parser.add_argument("--postcode", choices=POSTCODE_MODES, default="mapped")
    parser.add_argument("--settings", type=Path, default=DEFAULT_SETTINGS)
    parser.add_argument("--repeat", type=int, default=3, help="link runs per path (median time)")
    parser.add_argument("--febrl3-files", type=int, choices=(1, 2), default=2,
                        help="seal FEBRL3 as one file or two parts (the product fails on one source)")
    parser.add_argument("--key-seed", type=int, help="derive the partnership key from this number (default: fresh)")
    parser.add_argument("--keep", type=Path, help="keep the working files in this (new) folder")
    args = parser.parse_args(argv)
    settings = load_linkage_settings(args.settings)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-febrl-") as scratch:
        base = args.keep or Path(scratch)
        for dataset in args.datasets:
            results.append((dataset, *run_dataset(dataset, args, settings, base)))
            print(f"{dataset} done", file=sys.stderr, flush=True)
    key = "fresh key" if args.key_seed is None else f"key seed {args.key_seed}"
    print(f"Settings {args.settings.name}, postcode {args.postcode}, FEBRL3 in {args.febrl3_files} file(s), "
          f"extract date {EXTRACT_DATE}, {key}, repeat {args.repeat}\n")
    print_table(results)


if __name__ == "__main__":
    main()
