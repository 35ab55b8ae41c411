"""Linkage quality by group (name origin, age band, sex, source pair) on a synthetic county,
at the product's defaults.

Usage (from the repository root):
    python benchmarks/bench_groups.py [--people 20000] [--seed 7] [--keep DIR]

Synth, seal (all seven sources), link with the shipped settings, then score every group
pairwise against the truth (``benchmarks/linkage_groups.py``). Groups with fewer than 100 true
pairs are listed but flagged: their F1 moves by several points with one pair.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from linkage_groups import group_scores, person_groups  # noqa: E402

from familylink.pipeline import seal_folder  # noqa: E402
from familylink.synth import generate_county  # noqa: E402
from matching.link import link_persons  # noqa: E402
from matching.settings import load_linkage_settings  # noqa: E402
from protocols.agreements import default_agreements_dir, load_agreements  # noqa: E402
from protocols.keys import PartnershipKey  # noqa: E402

REFERENCE = dt.date(2026, 9, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-groups-"))
    try:
        county, extracts, run = root / "county", root / "extracts", root / "run"
        if not (run / "run.duckdb").exists():
            generate_county(args.people, args.seed, REFERENCE, county)
            key = PartnershipKey(hashlib.sha256(f"familylink/groups/{args.seed}".encode()).digest())
            seal_folder(county / "raw", extracts, key, load_agreements(default_agreements_dir()),
                        extract_date=REFERENCE)
            run.mkdir(parents=True)
            con = duckdb.connect(str(run / "run.duckdb"))
            link_persons(extracts, run, load_linkage_settings(), con)
            con.close()
        con = duckdb.connect(str(run / "run.duckdb"), read_only=True)
        linked = {(s, r): p for s, r, p in con.execute("SELECT source, record_id, person_id FROM persons").fetchall()}
        con.close()
        truth = pd.read_csv(county / "truth" / "records.csv", dtype=str)
        records = {(s, r): p for s, r, p in truth[["source", "record_id", "person_id"]].itertuples(index=False)}
        scores = group_scores(records, linked, person_groups(county / "truth", args.people, args.seed, REFERENCE))
        overall = next(s for s in scores if s.dimension == "all")
        print("| dimension | group | true pairs | P | R | F1 | F1 - all |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for s in scores:
            flag = " (few pairs)" if s.true_pairs < 100 else ""
            print(f"| {s.dimension} | {s.group}{flag} | {s.true_pairs:,} | {s.precision:.4f} | {s.recall:.4f} | "
                  f"{s.f1:.4f} | {s.f1 - overall.f1:+.4f} |")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
