"""Linkage at the product's defaults on data it was never tuned on, written the way a user would.

Usage (from the repository root):
    python benchmarks/bench_defaults.py [--datasets febrl3 febrl3_postcode febrl4 fake_1000 county]
        [--people 20000] [--key-seed N] [--keep DIR]

Every data set is written as raw extracts in the contract format, sealed with
``protocols.seal.pseudonymise`` under the shipped agreements (``config/agreements``), linked with
``matching.link.link_persons`` and the shipped linkage settings (no ``--linkage`` file), and
scored pairwise against its truth. Beside the true precision, recall and F1, the table shows the
run's own estimates (``model.json``'s ``accuracy``: computed from the trained model alone, no
truth), the prior and the threshold the run chose.

- ``febrl3``: FEBRL3 (5,000 records, 2,000 people) as one health extract: names, date of birth
  (``--date-format YYYYMMDD``), address; no postcode (FEBRL's are Australian).
- ``febrl3_postcode``: the same with FEBRL's postcodes rewritten one to one into a UK shape
  (``benchmarks/febrl/data.py``).
- ``febrl4``: FEBRL4 (two files of 5,000 records) as a police and a probation extract.
- ``fake_1000``: Splink's public example (``../shared/data/fake_1000.csv``): first name,
  surname, date of birth as one health extract; ``city`` and ``email`` have no contract column.
  Textbook plaintext Splink on the same three columns is run and scored in the same run.
- ``county``: the synthetic county (``familylink synth``, seed 7) sealed from all seven sources.
- ``county_noisy``: the same county with every recording error of ``CorruptionSettings`` three
  times as often (typos, nicknames, missing and wrong dates, stale addresses, blank identifiers).
- ``county_concentrated``: the county of shape ``concentrated-names`` (the commonest names
  commoner still: name weights raised to the power 1.25).
- ``county_no_ids``: the county with every national identifier and UPRN blanked in its raw extracts (names,
  dates of birth and addresses only, as another partnership's extracts may be).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from febrl.data import febrl_frames, write_raw_extract  # noqa: E402
from febrl.score import pairwise_scores  # noqa: E402

from matching.link import link_persons  # noqa: E402
from matching.settings import load_linkage_settings  # noqa: E402
from protocols.agreements import default_agreements_dir, load_agreements  # noqa: E402
from protocols.keys import PartnershipKey  # noqa: E402
from protocols.seal import pseudonymise  # noqa: E402

FAKE_1000 = HERE.parent.parent / "shared" / "data" / "fake_1000.csv"
COUNTIES = ("county", "county_noisy", "county_concentrated", "county_no_ids")
DATASETS = ("febrl3", "febrl3_postcode", "febrl4", "fake_1000", *COUNTIES, "febrl1", "febrl2")
FEBRL_EXTRACT_DATE = dt.date(2005, 1, 1)


def benchmark_key(seed: int) -> PartnershipKey:
    return PartnershipKey(hashlib.sha256(f"familylink/defaults-benchmark/{seed}".encode()).digest())


def _seal(raw: Path, sealed: Path, source: str, key: PartnershipKey, *, date_format: str | None,
          extract_date: dt.date) -> None:
    agreements = load_agreements(default_agreements_dir())
    report = pseudonymise(raw, sealed / f"{source}.sealed", source, key, agreements, date_format=date_format,
                          extract_date=extract_date)
    if not report.reconciled:
        raise RuntimeError(f"{raw}: counts do not reconcile")


def prepare(dataset: str, root: Path, key: PartnershipKey, people: int) -> pd.DataFrame:
    """Raw extracts under ``root/raw``, sealed files under ``root/extracts``; returns the truth
    (unique_id, entity)."""
    raw, sealed = root / "raw", root / "extracts"
    raw.mkdir(parents=True)
    sealed.mkdir()
    if dataset.startswith("febrl"):
        name = dataset if dataset in ("febrl1", "febrl2", "febrl4") else "febrl3"
        frames = febrl_frames(name, febrl3_files=1)
        sources = dict(zip(frames, ("police", "probation") if name == "febrl4" else ("health",), strict=True))
        truth = []
        for frame_name, frame in frames.items():
            source = sources[frame_name]
            write_raw_extract(frame, raw / f"{source}.csv", "mapped" if dataset == "febrl3_postcode" else "blank")
            _seal(raw / f"{source}.csv", sealed, source, key, date_format="YYYYMMDD",
                  extract_date=FEBRL_EXTRACT_DATE)
            truth.append(pd.DataFrame({"unique_id": source + "|" + frame["record_id"], "entity": frame["entity"]}))
        return pd.concat(truth, ignore_index=True)
    if dataset == "fake_1000":
        fake = pd.read_csv(FAKE_1000, dtype=str, keep_default_na=False)
        pd.DataFrame({"record_id": fake["unique_id"], "given_name": fake["first_name"],
                      "family_name": fake["surname"], "date_of_birth": fake["dob"],
                      "indicator": "", "event_date": ""}).to_csv(raw / "health.csv", index=False,
                                                                  lineterminator="\n")
        _seal(raw / "health.csv", sealed, "health", key, date_format=None, extract_date=dt.date(2024, 1, 1))
        return pd.DataFrame({"unique_id": "health|" + fake["unique_id"], "entity": fake["cluster"].astype(int)})
    if dataset in COUNTIES:
        from familylink.pipeline import seal_folder
        from familylink.synth import CorruptionSettings, generate_county

        corruption = shape = None
        if dataset == "county_noisy":  # every recording error three times as often
            default = CorruptionSettings()
            corruption = dataclasses.replace(default, **{
                f.name: min(1.0, 3 * getattr(default, f.name)) for f in dataclasses.fields(default)})
        if dataset == "county_concentrated":
            shape = "concentrated-names"
        generate_county(people, 7, dt.date(2026, 9, 30), root / "county", corruption=corruption, shape=shape)
        if dataset == "county_no_ids":  # no NHS number, NI number, UPN or UPRN anywhere
            from familylink.synth.blank import blank_columns

            blank_columns(root / "county" / "raw")
        seal_folder(root / "county" / "raw", sealed, key, load_agreements(default_agreements_dir()),
                    extract_date=dt.date(2026, 9, 30))
        records = pd.read_csv(root / "county" / "truth" / "records.csv", dtype=str)
        return pd.DataFrame({"unique_id": records["source"] + "|" + records["record_id"],
                             "entity": records["person_id"]})
    raise ValueError(f"unknown dataset {dataset!r}")


def link_and_score(root: Path, truth: pd.DataFrame) -> dict:
    run = root / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    con = duckdb.connect(str(run / "run.duckdb"))
    start = time.perf_counter()
    summary = link_persons(root / "extracts", run, load_linkage_settings(), con)
    seconds = time.perf_counter() - start
    clusters = con.execute("SELECT unique_id, person_id AS cluster_id FROM persons").df()
    con.close()
    scores = pairwise_scores(clusters, truth)
    model = json.loads((run / "model.json").read_text(encoding="utf-8"))
    return {"records": summary.records, "precision": scores.precision, "recall": scores.recall, "f1": scores.f1,
            "estimate": model.get("accuracy", {}), "calibration": model.get("calibration", {}),
            "seconds": round(seconds, 1)}


def textbook_splink_fake_1000() -> dict:
    """Splink's own example model for fake_1000 on the plaintext first name, surname and dob."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.clustering import cluster_pairwise_predictions_at_threshold  # noqa: F401

    fake = pd.read_csv(FAKE_1000, dtype=str, keep_default_na=False).replace("", None)
    frame = fake[["unique_id", "first_name", "surname", "dob"]].copy()
    db_api = DuckDBAPI(connection=duckdb.connect())
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on("first_name"), block_on("surname"), block_on("dob")],
        comparisons=[cl.NameComparison("first_name"), cl.NameComparison("surname"),
                     cl.DateOfBirthComparison("dob", input_is_string=True)],
    )
    linker = Linker(db_api.register(frame), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, 0.95).as_pandas_dataframe()
    truth = pd.DataFrame({"unique_id": fake["unique_id"], "entity": fake["cluster"].astype(int)})
    scores = pairwise_scores(clusters[["unique_id", "cluster_id"]].astype({"unique_id": str}), truth)
    return {"precision": scores.precision, "recall": scores.recall, "f1": scores.f1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--people", type=int, default=20_000, help="county size")
    parser.add_argument("--key-seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the work here (reused: sealed files are not redone)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per data set as well")
    args = parser.parse_args()
    key = benchmark_key(args.key_seed)
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-defaults-"))
    print("| data | records | P | R | F1 | est. P | est. R | est. F1 | est. R (rule count) | prior | threshold | link s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for dataset in args.datasets:
            root = base / (f"{dataset}-{args.people}" if dataset in COUNTIES else dataset)
            truth_file = root / "truth.parquet"
            if not truth_file.exists():
                shutil.rmtree(root, ignore_errors=True)
                truth = prepare(dataset, root, key, args.people)
                truth.to_parquet(truth_file)
            truth = pd.read_parquet(truth_file)
            r = link_and_score(root, truth)
            e, c = r["estimate"], r["calibration"]
            print(f"| {dataset} | {r['records']:,} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
                  f"{e.get('precision', float('nan')):.4f} | {e.get('recall', float('nan')):.4f} | "
                  f"{e.get('f1', float('nan')):.4f} | {e.get('recall_if_the_rule_count_is_right', float('nan')):.4f} | "
                  f"{c.get('probability_two_random_records_match', float('nan')):.3g} | "
                  f"{c.get('threshold_match_probability', float('nan')):.3f} | {r['seconds']} |", flush=True)
            if args.json:
                print(json.dumps({"dataset": dataset, **r}), flush=True)
            if dataset == "fake_1000":
                t = textbook_splink_fake_1000()
                print(f"| fake_1000, textbook plaintext Splink | 1,000 | {t['precision']:.4f} | {t['recall']:.4f} | "
                      f"{t['f1']:.4f} | | | | | | | |", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
