"""The whole chain on a synthetic county: eligible-family precision and recall against
truth, time per stage and peak memory.

Usage:
    python benchmarks/bench_identify.py 20000 200000 [--framework phase2-2015] [--seed 7]

Each size runs in a fresh process: synth, keygen, seal (as `familylink demo` does), then
`run_chain` (link + identify) on the sealed extracts, timed per stage. Peak memory is the
process's maximum resident set (sealing workers are reported separately). Eligibility is
scored with `familylink.synth.evaluate.score_families` against `truth/eligible.csv` (Phase 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHAIN = r"""
import datetime as dt, json, resource, sys, time
from pathlib import Path
from familylink.synth import generate_county
from familylink.synth.evaluate import score_families
from familylink.pipeline import ChainConfig, run_chain, seal_folder
from protocols.agreements import load_agreements, default_agreements_dir
from protocols.keys import generate_key
people, seed, framework, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
ref = dt.date(2026, 9, 30)
times = {}
start = time.perf_counter()
generate_county(people, seed, ref, root / "county")
times["synth"] = time.perf_counter() - start
start = time.perf_counter()
seal_folder(root / "county" / "raw", root / "extracts", generate_key(), load_agreements(default_agreements_dir()),
            extract_date=ref)
times["seal"] = time.perf_counter() - start
start = time.perf_counter()
summary = run_chain(root / "extracts", root / "run", ref, config=ChainConfig.load(framework=framework))
times["run"] = time.perf_counter() - start
times.update({f"run.{k}": v for k, v in summary.seconds.items()})
score = score_families(root / "run", root / "county" / "truth")
print(json.dumps({
    "people": people, "framework": framework,
    "seconds": {k: round(v, 1) for k, v in times.items()},
    "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "peak_mb_seal_workers": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    "persons": summary.link.persons, "families": summary.identify.scores.families,
    "hub_eligible": score.hub_eligible, "truth_eligible": score.truth_eligible,
    "precision": round(score.precision, 4), "recall": round(score.recall, 4),
    "headline_agreement": round(score.headline_agreement, 4),
    "for_review": summary.identify.scores.for_review,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--framework", default="phase2-2015")
    args = parser.parse_args()
    rows = []
    for people in args.sizes:
        root = Path(tempfile.mkdtemp(prefix=f"bench-identify-{people}-"))
        try:
            done = subprocess.run([sys.executable, "-c", CHAIN, str(people), str(args.seed), args.framework,
                                   str(root)], check=True, capture_output=True, text=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| people | synth s | seal s | link s | identify s | peak MB | eligible (hub / truth) | precision | recall |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        s = r["seconds"]
        print(f"| {r['people']:,} | {s['synth']} | {s['seal']} | {s['run.link']} | {s['run.identify']} | "
              f"{r['peak_mb']:,} | {r['hub_eligible']:,} / {r['truth_eligible']:,} | {r['precision']:.4f} | "
              f"{r['recall']:.4f} |")


if __name__ == "__main__":
    main()
