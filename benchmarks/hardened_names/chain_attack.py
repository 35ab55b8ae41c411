"""The chain attack on cross-salted name tokens.

A family-name token salted by the canonical given name (or a given-name token salted by the
family name) lets the hub see which records share both names: classes of (given, family).
The run's households join records across those classes. The intruder takes the connected
components of "same (given, family)" and "same household", and aligns them by size with a
public family-name list. Plaintext simulation on a generated county (the generator's
households, which the run's match at household F1 0.99).

With ``--rare TAU`` the hybrid encoding is attacked instead: no cross salts, and a family name
keeps a token comparable across all records only where it is rare in the record's source
(share below TAU); the components are then of "same rare family name" and "same household".

Usage: python benchmarks/hardened_names/chain_attack.py COUNTY PUBLIC_RAW [--rare TAU]
(COUNTY: a generated county folder with raw/ and truth/; PUBLIC_RAW: the raw folder of the
second, public county, as in benchmarks/bench_privacy.py's work folder)
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.bench_privacy import public_counts_from_raw, record_rows  # noqa: E402
from protocols.normalise import canonical_given_name, name_parts  # noqa: E402


def county_records(county: Path) -> list[tuple[str | None, str | None, str | None, str]]:
    """(canonical given name, family name, household, source) of each record (first row per record)."""
    with open(county / "truth" / "records.csv", encoding="utf-8") as handle:
        person_of = {(r["source"], r["record_id"]): r["person_id"] for r in csv.DictReader(handle)}
    with open(county / "truth" / "persons.csv", encoding="utf-8") as handle:
        household = {r["person_id"]: r["household_id"] for r in csv.DictReader(handle)}
    records = []
    for source, row in record_rows(county / "raw"):
        given = name_parts(row.get("given_name") or "")
        family = " ".join(name_parts(row.get("family_name") or "")) or None
        records.append((canonical_given_name(given[0]) if given else None, family,
                        household.get(person_of.get((source, row["record_id"]))), source))
    return records


def components(records: list, with_households: bool, rare: float | None = None) -> list[int]:
    """Union-find over the records: same (given, family) (or, with ``rare``, the same family
    name where it is rare in both records' sources), and (optionally) same household."""
    share = Counter((source, family) for _, family, _, source in records)
    size = Counter(source for *_, source in records)
    parent = list(range(len(records)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[tuple, int] = {}
    for i, (given, family, household, source) in enumerate(records):
        if rare is None:
            keys = [("name", given, family)] if given and family else []
        else:
            keys = [("name", family)] if family and share[source, family] / size[source] < rare else []
        if with_households and household:
            keys.append(("household", household))
        for key in keys:
            if key in first:
                a, b = find(i), find(first[key])
                if a != b:
                    parent[a] = b
            else:
                first[key] = i
    return [find(i) for i in range(len(records))]


def main() -> None:
    county, public_raw = Path(sys.argv[1]), Path(sys.argv[2])
    rare = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--rare" else None
    public = public_counts_from_raw(public_raw)["family"]
    records = county_records(county)
    for with_households in (False, True):
        component = components(records, with_households, rare)
        sizes = Counter(component)
        guess = dict(zip([c for c, _ in sizes.most_common()], [v for v, _ in public.most_common()], strict=False))
        hits = sum(1 for i, (_, family, *_) in enumerate(records) if family and guess.get(component[i]) == family)
        largest = sizes.most_common(1)[0][0]
        names = Counter(family for i, (_, family, *_) in enumerate(records) if component[i] == largest)
        print(f"households joined: {with_households}: {len(sizes):,} components, largest "
              f"{[n for _, n in sizes.most_common(5)]}, its commonest family names {names.most_common(2)}; "
              f"re-identified {hits:,} of {len(records):,} records = {hits / len(records):.2%}")


if __name__ == "__main__":
    main()
