"""A prior per pair of sources: two records of one source are far less often one person.

Splink scores every pair with one prior, the chance that two random records match. Across a
partnership that chance differs by source pair: a source that holds each person once
(a school census, a housing register) pairs two of its own records only where it holds a
duplicate, while two sources covering one cohort (police and probation) pair their records
far more often than two random records. The Fellegi-Sunter posterior with the prior of the
pair's own sources is

    odds(match | pair) = odds(prior of the source pair) x Bayes factor of the comparisons

so a pair's weight moves by ``log2(rate(a, b) / rate)``: the link rate of its source pair
(links among the pairs of records of sources a and b) over the overall link rate, both read
from the first clustering's persons. Rates are shrunk towards the overall rate by
``PSEUDO_LINKS`` links' worth of pairs (a source pair with few pairs, or few links, keeps
nearly the overall rate). With one source nothing moves. Counts only, in SQL, on tokens.

Only source pairs that link *less* often than the whole are moved (lowered). Raising the
others was measured and dropped: the model's probabilities for pairs of different people
across two sources are over-confident already (``matching.partners`` measured the same), so
raising them added false links (FEBRL4, police and probation: F1 0.9914 -> 0.9903; county
200k: precision 0.9937 -> 0.9933) where lowering alone gave county F1 +0.0001 to +0.0003 at
20k, 200k and 1M and halved the twins merged at 200k (benchmarks/README.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import duckdb

from familylink.core.tables import LINKAGE_RECORDS

#: links of the overall rate added to every source pair's count (and the pairs they imply)
PSEUDO_LINKS = 10.0
#: the correction is held within this many bits
MAX_BITS = 6.0


@dataclass(frozen=True)
class SourcePriorSummary:
    pseudo_links: float
    #: "a|b" (sorted) -> bits added to the weight of that source pair's pairs (0 or below)
    bits_by_source_pair: dict[str, float]
    pairs_moved: int

    def as_document(self) -> dict:
        return asdict(self)


def link_rates_sql(members: str) -> str:
    """SQL: per pair of sources (a <= b), the links of ``members`` (a table or subquery with
    person_id, source: one row per record) and the pairs of records, from per-person counts (no
    pair is enumerated). Read here and by the run's estimate (``matching.accuracy``)."""
    return f"""
        WITH held AS (SELECT person_id, source, count(*) AS n FROM {members} GROUP BY ALL),
        sizes AS (SELECT source, sum(n) AS n FROM held GROUP BY source),
        pairs AS (SELECT x.source AS a, y.source AS b,
                         CASE WHEN x.source = y.source THEN x.n * (x.n - 1) // 2 ELSE x.n * y.n END AS pairs
                  FROM sizes x JOIN sizes y ON x.source <= y.source),
        links AS (SELECT x.source AS a, y.source AS b,
                         sum(CASE WHEN x.source = y.source THEN x.n * (x.n - 1) // 2 ELSE x.n * y.n END) AS links
                  FROM held x JOIN held y ON x.person_id = y.person_id AND x.source <= y.source GROUP BY ALL)
        SELECT a, b, coalesce(links.links, 0)::BIGINT AS links, pairs.pairs::BIGINT AS pairs
        FROM pairs LEFT JOIN links USING (a, b)"""


def apply_source_pair_prior(con: duckdb.DuckDBPyConnection, pairs: str, clusters: str,
                            pseudo_links: float = PSEUDO_LINKS) -> SourcePriorSummary:
    """Lower the weight of every pair in ``pairs`` (left_id, right_id, match_weight,
    match_probability) whose source pair links less often than the whole, by the ratio of the
    two rates measured on the persons of ``clusters`` (unique_id, cluster_id)."""
    members = f"(SELECT c.cluster_id AS person_id, r.source FROM {clusters} c JOIN {LINKAGE_RECORDS} r USING (unique_id))"
    rows = con.execute(link_rates_sql(members) + " ORDER BY a, b").fetchall()
    if len({a for a, _, _, _ in rows}) < 2:
        return SourcePriorSummary(pseudo_links, {}, 0)
    total_links, total_pairs = sum(r[2] for r in rows), sum(r[3] for r in rows)
    if total_links == 0 or total_pairs == 0:
        return SourcePriorSummary(pseudo_links, {}, 0)
    rate = total_links / total_pairs
    bits = {}
    for a, b, links, n_pairs in rows:
        shrunk = (links + pseudo_links) / (n_pairs + pseudo_links / rate)
        bits[f"{a}|{b}"] = round(max(-MAX_BITS, min(0.0, math.log2(shrunk / rate))), 6)
    con.execute("CREATE OR REPLACE TEMP TABLE _source_pair_bits (a VARCHAR, b VARCHAR, bits DOUBLE)")
    con.executemany("INSERT INTO _source_pair_bits VALUES (?, ?, ?)",
                    [[*key.split("|"), value] for key, value in sorted(bits.items())])
    moved = con.execute(f"""UPDATE {pairs} SET match_weight = {pairs}.match_weight + s.bits,
            match_probability = 1.0 / (1.0 + pow(2.0, -({pairs}.match_weight + s.bits)))
        FROM _source_pair_bits s
        WHERE s.a = least(split_part({pairs}.left_id, '|', 1), split_part({pairs}.right_id, '|', 1))
          AND s.b = greatest(split_part({pairs}.left_id, '|', 1), split_part({pairs}.right_id, '|', 1))
          AND s.bits <> 0""").fetchone()[0]
    con.execute("DROP TABLE IF EXISTS _source_pair_bits")
    return SourcePriorSummary(pseudo_links, bits, int(moved))
