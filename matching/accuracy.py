"""The run's estimate of its own accuracy, from the calibrated model alone (no truth).

Each scored pair's match probability is the model's belief that the two records are one
person. Over the person links the run made (every two records given one person id):

- expected true links = the sum of their match probabilities (a link between two records
  that were never compared directly, made through a third record, counts as 0: unscored);
- expected matches = the sum of the match probabilities of every scored pair (including
  the ones too unlikely to be kept); blocking is assumed to reach every match;
- expected precision = expected true links / links; expected recall = expected true links /
  expected matches; expected missed links = expected matches - expected true links;
- a second count of all true pairs, blind to blocking and scoring: pairs agreeing exactly on
  first given name, family name and date of birth over the share of true pairs that would
  (the product of their exact-match m). Where it is higher, matches neither blocking nor the
  model saw are likely, and the lower recall it implies is reported beside the first.

The same per source pair (``health|police``), so a pair of systems that link badly shows.
fastLink (R) reports false discovery and false negative rates from its mixture model in the
same way; ``benchmarks/README.md`` compares these estimates with the truth.
"""

from __future__ import annotations

import duckdb

from familylink.core.tables import PERSONS


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4) if denominator else 1.0


def _figures(links: int, true_links: float, matches: float, unscored: int) -> dict:
    precision, recall = _ratio(true_links, links), _ratio(true_links, matches)
    return {
        "links": int(links),
        "expected_true_links": round(true_links, 1),
        "expected_matches": round(matches, 1),
        "expected_missed_links": round(max(matches - true_links, 0.0), 1),
        "links_never_compared": int(unscored),
        "precision": precision,
        "recall": recall,
        "f1": round(2 * true_links / (links + matches), 4) if links + matches else 1.0,
    }


def estimate_accuracy(con: duckdb.DuckDBPyConnection, pairs: str, left_out: dict[str, float],
                      matches_from_rule: float | None = None) -> dict:
    """Expected precision, recall and F1 of the person links, overall and per source pair.

    ``pairs``: the kept scored pairs (left_id, right_id, match_probability); ``left_out``:
    the sum of match probabilities of the pairs not kept, per "source|source".
    """
    rows = con.execute(f"""
        WITH scored AS (
            SELECT least(left_id, right_id) AS x, greatest(left_id, right_id) AS y, match_probability AS p
            FROM {pairs}
        ), links AS (
            SELECT a.unique_id AS x, b.unique_id AS y
            FROM {PERSONS} a JOIN {PERSONS} b ON a.person_id = b.person_id AND a.unique_id < b.unique_id
        ), everything AS (
            SELECT coalesce(s.x, k.x) AS x, coalesce(s.y, k.y) AS y, coalesce(s.p, 0.0) AS p,
                   k.x IS NOT NULL AS linked, s.x IS NOT NULL AS compared
            FROM scored s FULL OUTER JOIN links k ON s.x = k.x AND s.y = k.y
        )
        SELECT least(split_part(x, '|', 1), split_part(y, '|', 1)) || '|'
                   || greatest(split_part(x, '|', 1), split_part(y, '|', 1)) AS sources,
               count(*) FILTER (linked),
               -- sums of integers (nano-probabilities): a parallel sum of doubles varies in its last bits
               coalesce(sum((p * 1e9)::HUGEINT) FILTER (linked), 0)::DOUBLE / 1e9,
               coalesce(sum((p * 1e9)::HUGEINT), 0)::DOUBLE / 1e9,
               count(*) FILTER (linked AND NOT compared)
        FROM everything GROUP BY 1 ORDER BY 1""").fetchall()
    by_pair: dict[str, list] = {sources: [links, true_links, matches, unscored]
                                for sources, links, true_links, matches, unscored in rows}
    for sources, total in left_out.items():
        a, b = sorted(sources.split("|"))
        by_pair.setdefault(f"{a}|{b}", [0, 0.0, 0.0, 0])[2] += total
    overall = [sum(v[i] for v in by_pair.values()) for i in range(4)]
    low = {}
    if matches_from_rule is not None:
        # blocking and scoring see only the matches they reach; the exact-rule count does not
        low = {"expected_matches_from_exact_rule": round(matches_from_rule, 1),
               "recall_if_the_rule_count_is_right": _ratio(overall[1], max(matches_from_rule, overall[2]))}
    return {
        **_figures(*overall),
        **low,
        "method": "expected from the calibrated match probabilities of the scored pairs (no truth)",
        "by_source_pair": {sources: _figures(*values) for sources, values in sorted(by_pair.items())},
    }
