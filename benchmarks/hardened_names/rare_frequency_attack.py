"""The frequency attack on a hybrid name encoding.

A name keeps a token comparable across all records only where it is rare in the record's own
source (a share of its records below tau); a common name is salted (comparable only within one
date of birth or one address). Plaintext simulation: for each name kind, the counts of the
names that keep a global token are rank-aligned with the public list (restricted to names
below tau, and not restricted; the better of the two), and the records whose name the
alignment gets right are counted.

Usage: python benchmarks/hardened_names/rare_frequency_attack.py COUNTY_RAW PUBLIC_RAW 0.002,0.005
(the raw folders of the attacked county and of the second, public county)
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.bench_privacy import public_counts_from_raw, record_rows  # noqa: E402
from protocols.normalise import canonical_given_name, name_parts, nysiis  # noqa: E402

KINDS = ("family", "given_first", "given_canon", "family_nysiis", "given_nysiis")


def records(raw: Path) -> list[tuple[str, dict]]:
    out = []
    for source, row in record_rows(raw):
        given = name_parts(row.get("given_name") or "")
        family = name_parts(row.get("family_name") or "")
        out.append((source, {
            "family": " ".join(family) or None,
            "given_first": given[0] if given else None,
            "given_canon": canonical_given_name(given[0]) if given else None,
            "family_nysiis": nysiis("".join(family)) if family else None,
            "given_nysiis": nysiis(given[0]) if given else None}))
    return out


def main() -> None:
    county = records(Path(sys.argv[1]))
    public_counts = public_counts_from_raw(Path(sys.argv[2]))
    total = len(county)
    for tau in (float(t) for t in sys.argv[3].split(",")):
        for kind in KINDS:
            by_source: dict[str, Counter] = defaultdict(Counter)
            for source, names in county:
                if names[kind]:
                    by_source[source][names[kind]] += 1
            size = {source: sum(counts.values()) for source, counts in by_source.items()}
            kept = Counter(names[kind] for source, names in county
                           if names[kind] and by_source[source][names[kind]] / size[source] < tau)
            public = public_counts[kind]
            public_total = sum(public.values())
            best = 0
            for restricted in (True, False):
                listed = [v for v, c in public.most_common() if not restricted or c / public_total < tau]
                guess = dict(zip([v for v, _ in kept.most_common()], listed, strict=False))
                best = max(best, sum(c for v, c in kept.items() if guess.get(v) == v))
            print(f"tau {tau:.4f} {kind:14s} records with a global token {sum(kept.values()) / total:6.1%}, "
                  f"re-identified {best / total:6.2%}")


if __name__ == "__main__":
    main()
