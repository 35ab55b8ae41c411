"""What the name signals buy and cost, pair by pair, before any model: on the synthetic county,
the true pairs (records of one person) and the hard non-pairs (records of different people with
one date of birth) that meet on each name signal; on FEBRL3, the true pairs whose given and
family names are transposed, which only the shared name Bloom key makes comparable when there
is a typo.

Usage (from the repository root):
    python benchmarks/bench_names.py [--people 20000] [--seed 7] [--work DIR]

Signals (plaintext, computed with the functions that make the sealed columns):
- ``first_eq`` / ``canon_eq``: first given-name part equal / canonical forms equal
  (``tok_given_first`` / ``tok_given_canon``);
- ``forms_meet``: the forms of the given names share a value (``tok_given_forms``);
- ``family_eq`` / ``family_parts_share``: family name equal / a family part shared
  (``tok_family`` / ``tok_family_parts``);
- ``name_parts_share``: any name part shared (``tok_name_parts``);
- ``swap``: the given name of one record and the family name of the other (and the other way)
  both have bigram Dice >= 0.7 while the given names do not (< 0.6): the cross-field Bloom
  comparison of ``bf_given`` against ``bf_family``, on the sealed filters for FEBRL3 and on
  the bigram sets for the county.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import sys
from collections import defaultdict
from pathlib import Path

from protocols.encoders import BloomEncoder, dice
from protocols.keys import generate_key
from protocols.normalise import bigrams, canonical_given_name, name_parts, normalise_name
from protocols.normalise.names import family_name_parts, given_name_forms_of_parts

HERE = Path(__file__).resolve().parent
SIGNALS = ("first_eq", "canon_eq", "forms_meet", "family_eq", "family_parts_share", "name_parts_share", "swap")


def _bigram_dice(a: str, b: str) -> float:
    x, y = set(bigrams(a)), set(bigrams(b))
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def _swapped(same: float, cross: float) -> bool:
    return same < 0.6 and cross >= 0.7


def county_signals(root: Path) -> dict[str, dict[str, int]]:
    """Pairs meeting on each signal: true pairs and same-date-of-birth non-pairs."""
    truth = {}
    with open(root / "truth" / "records.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            truth[row["source"], row["record_id"]] = row["person_id"]
    records = {}
    for path in sorted((root / "raw").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                records.setdefault((path.stem, row["record_id"]), (
                    name_parts(row.get("given_name") or ""), name_parts(row.get("middle_names") or ""),
                    name_parts(row.get("family_name") or ""), row.get("date_of_birth") or ""))

    def signals(a, b) -> set[str]:
        (ga, ma, fa, _), (gb, mb, fb, _) = records[a], records[b]
        met = set()
        if ga and gb:
            met |= {"first_eq"} if ga[0] == gb[0] else set()
            met |= {"canon_eq"} if canonical_given_name(ga[0]) == canonical_given_name(gb[0]) else set()
            met |= {"forms_meet"} if set(given_name_forms_of_parts(ga)) & set(given_name_forms_of_parts(gb)) else set()
        if fa and fb:
            met |= {"family_eq"} if fa == fb else set()
            met |= {"family_parts_share"} if set(family_name_parts(fa)) & set(family_name_parts(fb)) else set()
        if set(ga + ma + fa) & set(gb + mb + fb):
            met.add("name_parts_share")
        if ga and gb and fa and fb:
            g_a, f_a, g_b, f_b = (" ".join(p) for p in (ga, fa, gb, fb))
            if _swapped(_bigram_dice(g_a, g_b), min(_bigram_dice(g_a, f_b), _bigram_dice(f_a, g_b))):
                met.add("swap")
        return met

    by_person, by_dob = defaultdict(list), defaultdict(list)
    for key, (_, _, _, dob) in records.items():
        if key in truth:
            by_person[truth[key]].append(key)
        if dob:
            by_dob[dob].append(key)
    groups = {
        "true pairs": (p for keys in by_person.values() for p in itertools.combinations(sorted(keys), 2)),
        "same date of birth, different people": (
            p for keys in by_dob.values() for p in itertools.combinations(sorted(keys), 2)
            if truth.get(p[0]) != truth.get(p[1])),
    }
    out = {}
    for label, pairs in groups.items():
        counts = dict.fromkeys(("pairs", *SIGNALS), 0)
        for a, b in pairs:
            counts["pairs"] += 1
            for signal in signals(a, b):
                counts[signal] += 1
        out[label] = counts
    return out


def febrl3_swaps() -> dict[str, dict[str, int]]:
    """FEBRL3 pairs with four names: transposed exactly, transposed with a typo (seen only by the
    cross-field Dice of filters under one key), for true pairs and same-postcode non-pairs."""
    sys.path.insert(0, str(HERE))
    from febrl.data import febrl_frames

    frame = next(iter(febrl_frames("febrl3", 1).values()))
    bloom = BloomEncoder(generate_key().field_key("bloom/name"), 512, 15)
    rows = []
    for row in frame.itertuples():
        given, family = normalise_name(row.given_name or ""), normalise_name(row.surname or "")
        if given and family:
            rows.append((row.entity, bloom.encode(given), bloom.encode(family), row.postcode))
    by_entity, by_postcode = defaultdict(list), defaultdict(list)
    for row in rows:
        by_entity[row[0]].append(row)
        by_postcode[row[3]].append(row)
    groups = {
        "true pairs": [p for rs in by_entity.values() for p in itertools.combinations(rs, 2)],
        "same postcode, different people": [p for rs in by_postcode.values() for p in itertools.combinations(rs, 2)
                                            if p[0][0] != p[1][0]],
    }
    out = {}
    for label, pairs in groups.items():
        counts = {"pairs": len(pairs), "transposed exactly": 0, "transposed with a typo": 0}
        for (_, ga, fa, _), (_, gb, fb, _) in pairs:
            same, cross = min(dice(ga, gb), dice(fa, fb)), min(dice(ga, fb), dice(fa, gb))
            if _swapped(same, cross):
                counts["transposed exactly" if cross >= 0.99 else "transposed with a typo"] += 1
        out[label] = counts
    return out


def _table(results: dict[str, dict[str, int]]) -> str:
    columns = list(next(iter(results.values())))
    lines = ["| pairs | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(f"{counts[c]:,}" for c in columns) + " |" for label, counts in results.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=HERE / "work" / "names")
    args = parser.parse_args()
    from familylink.synth import generate_county

    root = args.work / f"county-{args.people}-{args.seed}"
    if not (root / "truth" / "records.csv").exists():
        generate_county(args.people, args.seed, dt.date(2026, 9, 30), root)
    print(f"Synthetic county, {args.people:,} people, seed {args.seed}\n")
    print(_table(county_signals(root)))
    print("\nFEBRL3 (pairs whose records both have a given and a family name)\n")
    print(_table(febrl3_swaps()))


if __name__ == "__main__":
    main()
