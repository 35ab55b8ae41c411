"""Scaling benchmark: the whole chain on counties of several sizes, seeds and shapes, looking
for cliffs (a stage whose time or memory grows faster than the county).

Usage:
    python benchmarks/bench_scaling.py --sizes 20000 50000 200000 --shapes all --seeds 7 \
        --results scaling.jsonl
    python benchmarks/bench_scaling.py --report scaling.jsonl      # the tables and the findings

Each county is made and worked in fresh processes, one per stage: ``synth`` (with
``--shape``, ``familylink.synth.shape.SHAPES``), ``seal`` (every source, one after another,
as ``familylink demo`` does; its workers' peak reported apart) and ``run`` (``run_chain``:
link + identify, with the memory budget's default). Inside ``run`` a sampler thread reads
the process's resident set every 20 ms and keeps the peak of each step (the steps the run
reports: link load, train, predict, cluster, households; identify families, scoring,
workbook, report; record). Each county appends one JSON line to ``--results``.

The report compares, for each shape and seed, every step at every size with the smallest:
**a cliff** is a step whose time per person at a larger size is more than 3 times its time
per person at the smallest (steps under 1 s at the larger size are noise and skipped), or
whose peak memory grows faster than the population (for the run's steps: the peak above the
run process's resident set once imported, 50 MB at least at the smallest size).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REFERENCE_DATE = "2026-09-30"
CLIFF_RATIO = 3.0
NOISE_SECONDS = 1.0


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_mb() -> tuple[int, int]:
    import resource

    return (round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))


class StagePeaks:
    """Peak resident memory per stage, sampled by a thread while the stage runs."""

    def __init__(self) -> None:
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            used = rss_bytes()
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0), used)
            time.sleep(0.02)

    def set(self, stage: str) -> None:
        self.peaks[self.stage] = max(self.peaks.get(self.stage, 0), rss_bytes())
        self.stage = stage

    def stop(self) -> dict[str, int]:
        self.running = False
        self.thread.join()
        return {k: round(v / 1024**2) for k, v in self.peaks.items()}


def one_stage(stage: str, people: int, shape: str, seed: int, root: Path) -> dict:
    """Run one stage in this process and return its measures."""
    import datetime as dt

    ref = dt.date.fromisoformat(REFERENCE_DATE)
    started = time.perf_counter()
    if stage == "synth":
        from familylink.synth import generate_county

        summary = generate_county(people, seed, ref, root / "county", shape=shape)
        extra = {"raw_rows": sum(summary.rows.values()), "households_truth": summary.households}
    elif stage == "seal":
        from familylink.pipeline import seal_folder
        from protocols.agreements import default_agreements_dir, load_agreements
        from protocols.keys import generate_key

        reports = seal_folder(root / "county" / "raw", root / "extracts", generate_key(),
                              load_agreements(default_agreements_dir()), extract_date=ref)
        extra = {"sealed_rows": sum(r.accepted for r in reports), "sources": len(reports)}
    else:
        from familylink.pipeline import StageTracker, run_chain

        peaks = StagePeaks()
        tracker = StageTracker(None)

        def progress(name: str, done: int, total: int) -> None:
            tracker(name, done, total)
            if tracker.name() != peaks.stage:
                peaks.set(tracker.name())

        peaks.set("link: load")
        summary = run_chain(root / "extracts", root / "run", ref, progress=progress)
        stage_peaks = peaks.stop()
        steps = {f"link: {k}": v for k, v in summary.link.seconds.items()}
        steps.update({f"identify: {k}": v for k, v in summary.identify.seconds.items()})
        extra = {"steps_seconds": steps, "steps_peak_mb": stage_peaks, "records": summary.link.records,
                 "rows": summary.link.rows, "persons": summary.link.persons,
                 "households": summary.link.households.households,
                 "communal_addresses": summary.link.households.communal_addresses,
                 "families": summary.identify.families.families,
                 "non_resident_members": summary.identify.families.non_resident_members,
                 "eligible": summary.identify.scores.eligible}
    own, children = peak_mb()
    return {"stage": stage, "seconds": round(time.perf_counter() - started, 2), "peak_mb": own,
            "peak_mb_workers": children, **extra}


def run_county(people: int, shape: str, seed: int, python: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"bench-scaling-{people}-{shape}-"))
    row: dict = {"people": people, "shape": shape, "seed": seed}
    try:
        for stage in ("synth", "seal", "run"):
            done = subprocess.run([python, __file__, "--one", stage, str(people), shape, str(seed), str(root)],
                                  check=True, capture_output=True, text=True)
            row[stage] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return row


def stage_table(rows: list[dict]) -> list[tuple[str, str, int, str, float, int]]:
    """(shape, seed, people, step, seconds, peak MB above the process's start) for every step
    of every county (a run's start is its resident set once imported, before linking)."""
    out = []
    for r in rows:
        for stage in ("synth", "seal"):
            out.append((r["shape"], r["seed"], r["people"], stage, r[stage]["seconds"],
                        max(r[stage]["peak_mb"], r[stage]["peak_mb_workers"])))
        run = r["run"]
        start = run["steps_peak_mb"].get("start", 0)
        for step, seconds in run["steps_seconds"].items():
            out.append((r["shape"], r["seed"], r["people"], step, seconds,
                        max(run["steps_peak_mb"].get(step, start) - start, 0)))
    return out


def findings(rows: list[dict]) -> list[str]:
    """Cliffs: per shape and seed, each step against the smallest size."""
    table = stage_table(rows)
    found = []
    groups: dict[tuple, list] = {}
    for shape, seed, people, step, seconds, peak in table:
        groups.setdefault((shape, seed, step), []).append((people, seconds, peak))
    for (shape, seed, step), points in sorted(groups.items()):
        points.sort()
        small_people, small_seconds, small_peak = points[0]
        for people, seconds, peak in points[1:]:
            grow = people / small_people
            if seconds >= NOISE_SECONDS and seconds / grow > CLIFF_RATIO * max(small_seconds, 0.01):
                found.append(f"{shape} seed {seed} {step}: {small_seconds} s at {small_people:,} -> {seconds} s "
                             f"at {people:,} ({seconds / grow / max(small_seconds, 0.01):.1f}x per person)")
            if peak > grow * max(small_peak, 50):
                found.append(f"{shape} seed {seed} {step}: peak {small_peak} MB at {small_people:,} -> {peak} MB "
                             f"at {people:,} above the start (faster than the population)")
    return found


def report(rows: list[dict]) -> str:
    lines = ["| shape | seed | people | sealed rows | persons | families (non-resident members) | synth s | seal s | "
             "link s | identify s | families s | run peak MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["shape"] != "default", r["shape"], r["seed"], r["people"])):
        run, steps = r["run"], r["run"]["steps_seconds"]
        link = round(sum(v for k, v in steps.items() if k.startswith("link")), 1)
        ident = round(sum(v for k, v in steps.items() if k.startswith("identify")), 1)
        lines.append(f"| {r['shape']} | {r['seed']} | {r['people']:,} | {r['seal']['sealed_rows']:,} | "
                     f"{run['persons']:,} | {run['families']:,} ({run['non_resident_members']:,}) | "
                     f"{r['synth']['seconds']} | {r['seal']['seconds']} | {link} | {ident} | "
                     f"{steps.get('identify: families', 0)} | {run['peak_mb']:,} |")
    steps = sorted({s for r in rows for s in r["run"]["steps_seconds"]}, key=lambda s: (not s.startswith("link"), s))
    lines += ["", "Seconds (peak MB) of each step:", "",
              "| shape | seed | people | " + " | ".join(steps) + " |", "|---|---:|---:|" + "---:|" * len(steps)]
    for r in sorted(rows, key=lambda r: (r["shape"] != "default", r["shape"], r["seed"], r["people"])):
        run = r["run"]
        cells = [f"{run['steps_seconds'].get(s, '')} ({run['steps_peak_mb'].get(s, '')})" for s in steps]
        lines.append(f"| {r['shape']} | {r['seed']} | {r['people']:,} | " + " | ".join(cells) + " |")
    found = findings(rows)
    lines += ["", f"Cliffs (> {CLIFF_RATIO:g}x time per person, or memory faster than the population): "
              + ("none" if not found else "")]
    lines += [f"- {f}" for f in found]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[20_000, 50_000, 200_000])
    parser.add_argument("--shapes", nargs="+", default=["all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    parser.add_argument("--results", type=Path, default=Path("scaling.jsonl"))
    parser.add_argument("--report", type=Path, default=None, help="Only print the report of a results file.")
    parser.add_argument("--one", nargs=5, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        stage, people, shape, seed, root = args.one
        print(json.dumps(one_stage(stage, int(people), shape, int(seed), Path(root))), flush=True)
        return
    if args.report:
        rows = [json.loads(line) for line in args.report.read_text(encoding="utf-8").splitlines() if line.strip()]
        latest = {(r["shape"], r["seed"], r["people"]): r for r in rows}  # a county measured again: the last
        print(report(list(latest.values())))
        return
    from familylink.synth.shape import SHAPES

    shapes = list(SHAPES) if args.shapes == ["all"] else args.shapes
    rows = []
    for shape in shapes:
        for seed in args.seeds:
            for people in args.sizes:
                row = run_county(people, shape, seed, sys.executable)
                rows.append(row)
                with open(args.results, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(json.dumps({k: row[k] for k in ("people", "shape", "seed")} |
                                 {s: row[s]["seconds"] for s in ("synth", "seal", "run")}), flush=True)
    print(report(rows))


if __name__ == "__main__":
    main()
