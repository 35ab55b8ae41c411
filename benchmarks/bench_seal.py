"""Sealing benchmark: rows per second and peak memory of `pseudonymise`.

Usage:
    python benchmarks/bench_seal.py --people 100000            # seal every source of a county
    python benchmarks/bench_seal.py --people 400000 --big-file # also one >= 1M-row file

Each sealing runs in a fresh child process so that its peak resident memory (ru_maxrss)
is its own. Results are printed as a Markdown table to paste into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = dt.date(2026, 9, 30)
CHILD = r"""
import json, resource, sys, time, datetime as dt
from protocols.agreements import default_agreements_dir, load_agreements
from protocols.keys import PartnershipKey
from protocols.seal import pseudonymise
raw, out, source, secret = sys.argv[1:5]
agreements = load_agreements(default_agreements_dir())
start = time.perf_counter()
report = pseudonymise(raw, out, source, PartnershipKey(bytes.fromhex(secret)), agreements,
                      extract_date=dt.date(2026, 9, 30), overwrite=True)
seconds = time.perf_counter() - start
print(json.dumps({"rows": report.rows_in, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def seal_in_child(raw: Path, out: Path, source: str, secret: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(raw), str(out), source, secret],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def concatenate_to(raw_dir: Path, source: str, rows_wanted: int, target: Path) -> int:
    """A big single-source file: the county's rows for one source, re-keyed copies appended."""
    with open(raw_dir / f"{source}.csv", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    written = 0
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        copy = 0
        while written < rows_wanted:
            for row in rows:
                row = list(row)
                row[0] = f"{row[0]}-{copy}" if copy else row[0]
                writer.writerow(row)
                written += 1
            copy += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("benchmarks/work"))
    parser.add_argument("--big-file", action="store_true", help="also seal one file of >= 1M rows")
    args = parser.parse_args()

    from familylink.synth import generate_county

    work = args.work / f"seal-{args.people}"
    shutil.rmtree(work, ignore_errors=True)
    start = time.perf_counter()
    generate_county(args.people, args.seed, REFERENCE, work / "county")
    synth_seconds = time.perf_counter() - start
    synth_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    secret = os.urandom(32).hex()
    print(f"synth {args.people:,} people: {synth_seconds:.1f} s, peak {synth_peak:.0f} MB")
    print("| file | rows | seconds | rows/s | peak MB |")
    print("|---|---:|---:|---:|---:|")
    total_rows = total_seconds = 0.0
    raw_dir = work / "county" / "raw"
    for raw in sorted(raw_dir.glob("*.csv")):
        result = seal_in_child(raw, work / "sealed" / f"{raw.stem}.sealed", raw.stem, secret)
        total_rows += result["rows"]
        total_seconds += result["seconds"]
        print(f"| {raw.name} | {result['rows']:,} | {result['seconds']:.1f} | "
              f"{result['rows'] / result['seconds']:,.0f} | {result['peak_mb']:.0f} |")
    print(f"| **all sources** | {total_rows:,.0f} | {total_seconds:.1f} | {total_rows / total_seconds:,.0f} | |")
    if args.big_file:
        biggest = max(raw_dir.glob("*.csv"), key=lambda p: p.stat().st_size)
        big = work / f"{biggest.stem}-1M.csv"
        rows = concatenate_to(raw_dir, biggest.stem, 1_000_000, big)
        result = seal_in_child(big, work / "sealed" / "big.sealed", biggest.stem, secret)
        print(f"| {big.name} (re-keyed copies) | {rows:,} | {result['seconds']:.1f} | "
              f"{rows / result['seconds']:,.0f} | {result['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
