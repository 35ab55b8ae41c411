"""Synthetic county benchmark: seconds and peak memory of `generate_county`.

Usage:
    python benchmarks/bench_synth.py 100000 1000000

Each size runs in a fresh child process (its own peak RSS). Prints a Markdown table.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, datetime as dt
from pathlib import Path
from familylink.synth import generate_county
people, out = int(sys.argv[1]), Path(sys.argv[2])
start = time.perf_counter()
summary = generate_county(people, 7, dt.date(2026, 9, 30), out)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": sum(summary.rows.values()), "families": summary.families,
                  "eligible": summary.eligible_families}))
"""


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000]
    print("| people | seconds | peak MB | raw rows | families | eligible |")
    print("|---:|---:|---:|---:|---:|---:|")
    for people in sizes:
        out = Path(tempfile.mkdtemp(prefix="bench-synth-"))
        try:
            done = subprocess.run([sys.executable, "-c", CHILD, str(people), str(out / "county")],
                                  check=True, capture_output=True, text=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {people:,} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {r['rows']:,} | "
                  f"{r['families']:,} | {r['eligible']:,} |")
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
