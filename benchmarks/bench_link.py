"""Person linkage benchmark on a synthetic county: accuracy against truth, blocking
recall, comparisons, time per phase and peak memory.

Usage:
    python benchmarks/bench_link.py 20000 200000

Each size: synth, keygen, seal (not timed here: see bench_seal.py), then `link_persons`
in a fresh process whose peak resident memory is reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PREPARE = r"""
import sys, datetime as dt
from pathlib import Path
from familylink.synth import generate_county
from familylink.pipeline import seal_folder
from protocols.agreements import load_agreements, default_agreements_dir
from protocols.keys import generate_key
people, root = int(sys.argv[1]), Path(sys.argv[2])
generate_county(people, 7, dt.date(2026, 9, 30), root / "county")
seal_folder(root / "county" / "raw", root / "extracts", generate_key(), load_agreements(default_agreements_dir()),
            extract_date=dt.date(2026, 9, 30))
"""

LINK = r"""
import json, resource, sys, time
from pathlib import Path
import duckdb
from matching.link import link_persons
from matching.settings import load_linkage_settings
root = Path(sys.argv[1]); run = root / "run"; run.mkdir()
con = duckdb.connect(str(run / "run.duckdb"))
start = time.perf_counter()
summary = link_persons(root / "extracts", run, load_linkage_settings(), con)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
con.execute(f"CREATE TABLE truth AS SELECT source || '|' || record_id AS unique_id, person_id AS true_id "
            f"FROM read_csv('{root}/county/truth/records.csv', all_varchar=true)")
true_pairs = con.execute("SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM truth GROUP BY true_id)").fetchone()[0]
predicted, correct = con.execute('''
    SELECT count(*), count(*) FILTER (ta.true_id = tb.true_id)
    FROM persons a JOIN persons b ON a.person_id = b.person_id AND a.unique_id < b.unique_id
    JOIN truth ta ON ta.unique_id = a.unique_id JOIN truth tb ON tb.unique_id = b.unique_id''').fetchone()
reachable = con.execute('''
    SELECT count(*) FROM person_pairs p JOIN truth ta ON ta.unique_id = p.left_id
    JOIN truth tb ON tb.unique_id = p.right_id WHERE ta.true_id = tb.true_id''').fetchone()[0]
precision, recall = correct / predicted, correct / true_pairs
con.execute(f"CREATE TABLE true_households AS SELECT person_id AS true_id, household_id AS true_household "
            f"FROM read_csv('{root}/county/truth/persons.csv', all_varchar=true)")
con.execute('''CREATE TABLE record_households AS
    SELECT p.unique_id, h.household_id AS ours, th.true_household AS theirs
    FROM persons p JOIN households h USING (person_id) JOIN truth t USING (unique_id)
    JOIN true_households th USING (true_id)''')
hh_true = con.execute("SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM record_households GROUP BY theirs)").fetchone()[0]
hh_pred, hh_correct = con.execute('''
    SELECT count(*), count(*) FILTER (a.theirs = b.theirs) FROM record_households a
    JOIN record_households b ON a.ours = b.ours AND a.unique_id < b.unique_id''').fetchone()
hp, hr = hh_correct / hh_pred, hh_correct / hh_true
con.execute(f"CREATE TABLE twins AS SELECT person_id AS a, twin_of AS b FROM read_csv('{root}/county/truth/persons.csv', all_varchar=true) WHERE twin_of IS NOT NULL AND twin_of <> ''")
twins, twins_merged = con.execute('''
    SELECT count(DISTINCT (w.a, w.b)), count(DISTINCT (w.a, w.b)) FILTER (pa.person_id = pb.person_id)
    FROM twins w JOIN truth ta ON ta.true_id = w.a JOIN truth tb ON tb.true_id = w.b
    JOIN persons pa ON pa.unique_id = ta.unique_id JOIN persons pb ON pb.unique_id = tb.unique_id''').fetchone()
model = json.loads((run / "model.json").read_text())
print(json.dumps({"records": summary.records, "persons": summary.persons, "pairs_scored": summary.pairs_scored,
                  "precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall),
                  "blocking_recall": reachable / true_pairs,
                  "household_f1": 2 * hp * hr / (hp + hr), "household_precision": hp, "household_recall": hr, "seconds": seconds, "phases": summary.seconds,
                  "peak_mb": peak, "twins_refused": summary.guards.dropped_twins,
                  "identifier_conflicts_refused": summary.guards.dropped_conflicting_identifier,
                  "twin_pairs": twins, "twin_pairs_merged": twins_merged,
                  "estimated_f1": model["accuracy"]["f1"], "estimated_recall": model["accuracy"]["recall"],
                  "threshold": model["calibration"]["threshold_match_probability"]}))
"""


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [20_000]
    print("| people | records | comparisons | blocking recall | person P | person R | person F1 | est. F1 (R) | "
          "twins merged | household F1 (P/R) | seconds (load/train/predict/cluster/households) | peak MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|")
    for people in sizes:
        root = Path(tempfile.mkdtemp(prefix="bench-link-"))
        try:
            subprocess.run([sys.executable, "-c", PREPARE, str(people), str(root)], check=True)
            done = subprocess.run([sys.executable, "-c", LINK, str(root)], check=True, capture_output=True, text=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            phases = "/".join(f"{r['phases'][k]:.1f}" for k in ("load", "train", "predict", "cluster", "households"))
            print(f"| {people:,} | {r['records']:,} | {r['pairs_scored']:,} | {r['blocking_recall']:.4f} | "
                  f"{r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['estimated_f1']:.4f} "
                  f"({r['estimated_recall']:.4f}) | {r['twin_pairs_merged']} of {r['twin_pairs']} | {r['household_f1']:.4f} "
                  f"({r['household_precision']:.3f}/{r['household_recall']:.3f}) | {r['seconds']:.1f} ({phases}) | "
                  f"{r['peak_mb']:.0f} |", flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
