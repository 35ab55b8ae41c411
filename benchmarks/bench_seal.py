"""Sealing benchmark: rows per second and peak memory of `pseudonymise`.

Usage:
    python benchmarks/bench_seal.py --people 100000   # seal every source of a county
    python benchmarks/bench_seal.py --people 650000   # schools.csv then has about 1M rows

Each sealing runs in a fresh child process so that its peak resident memory (ru_maxrss)
is its own; the peak of its largest worker process is reported beside it (total peak is
at most main + workers x per-worker). Results are printed as a Markdown table to paste into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REFERENCE = dt.date(2026, 9, 30)
CHILD = r"""
import json, resource, sys, time, datetime as dt
from protocols.agreements import default_agreements_dir, load_agreements
from protocols.keys import PartnershipKey
from protocols.seal import pseudonymise
raw, out, source, secret, workers = sys.argv[1:6]
agreements = load_agreements(default_agreements_dir())
start = time.perf_counter()
report = pseudonymise(raw, out, source, PartnershipKey(bytes.fromhex(secret)), agreements,
                      extract_date=dt.date(2026, 9, 30), overwrite=True,
                      workers=int(workers) or None)
seconds = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rows": report.rows_in, "seconds": seconds, "main_mb": own, "worker_mb": workers}))
"""

SYNTH = r"""
import json, resource, sys, time, datetime as dt
from pathlib import Path
from familylink.synth import generate_county
people, seed, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
start = time.perf_counter()
generate_county(people, seed, dt.date(2026, 9, 30), out)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def seal_in_child(raw: Path, out: Path, source: str, secret: str, workers: int | None) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(raw), str(out), source, secret, str(workers or 0)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("benchmarks/work"))
    parser.add_argument("--workers", type=int, default=None, help="processes per sealing [default: auto]")
    args = parser.parse_args()

    work = args.work / f"seal-{args.people}"
    shutil.rmtree(work, ignore_errors=True)
    # synth in its own process too: on Linux a forked child inherits its parent's peak RSS
    synth = subprocess.run([sys.executable, "-c", SYNTH, str(args.people), str(args.seed), str(work / "county")],
                           check=True, capture_output=True, text=True)
    measured = json.loads(synth.stdout.strip().splitlines()[-1])
    synth_seconds, synth_peak = measured["seconds"], measured["peak_mb"]
    secret = os.urandom(32).hex()
    print(f"synth {args.people:,} people: {synth_seconds:.1f} s, peak {synth_peak:.0f} MB")
    print("| file | rows | seconds | rows/s | peak MB main | peak MB per worker |")
    print("|---|---:|---:|---:|---:|---:|")
    total_rows = total_seconds = 0.0
    raw_dir = work / "county" / "raw"
    for raw in sorted(raw_dir.glob("*.csv")):
        result = seal_in_child(raw, work / "sealed" / f"{raw.stem}.sealed", raw.stem, secret, args.workers)
        total_rows += result["rows"]
        total_seconds += result["seconds"]
        print(f"| {raw.name} | {result['rows']:,} | {result['seconds']:.1f} | "
              f"{result['rows'] / result['seconds']:,.0f} | {result['main_mb']:.0f} | "
              f"{result['worker_mb']:.0f} |")
    print(f"| **all sources** | {total_rows:,.0f} | {total_seconds:.1f} | {total_rows / total_seconds:,.0f} | | |")


if __name__ == "__main__":
    main()
