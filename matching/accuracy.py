"""The run's estimate of its own accuracy, from the calibrated model alone (no truth).

Each scored pair's match probability is the model's belief that the two records are one
person. What the pairwise probabilities cannot see is added from the run's own links and
blocking (``benchmarks/README.md`` measures each against truth):

- **Which sources the two records come from.** The model's prior is one probability for any
  two records; two records of one source match far more rarely where a source holds a person
  once (the county's), and two of different sources more often. Each pair's odds are moved by
  the ratio of its source pair's link rate (links over pairs of records) to the overall one
  (``_acc_stratum``; one source alone: no change).
- **Links made through a third record.** Clustering links two records that were never
  compared, or that scored low, through records they both match. Such a link is true when
  both steps of a path are: it counts at the chance that one of its two-step paths through
  its person holds, the paths taken as separate evidence (1 - product over z of
  (1 - p(x, z) x p(z, y))), or its own probability where that is higher. (The best path
  alone undercounted where a person has many records: fake_1000 est. P 0.79 for 0.87; now
  0.83.) A link no
  blocking rule paired is weighed once more: blocking misses a match with probability
  1 - its blocking recall (below) and a non-match almost surely, so the path's odds are
  multiplied by that. Where blocking reaches nearly every match (the county: 0.997) a link
  never compared is most likely two people joined through a false link (measured: 217 true
  of 2,603 on the 1M county); where it often misses (FEBRL3, fake_1000) it is mostly true.
- **What the persons already hold (per-record constraints).** A pair left unlinked is a
  missed link only if its two records are one person, and the persons the run formed say
  how often a person has two records in one source. A pair across two sources whose record
  is already in a person holding a record of the other's source is a match only if that
  person has two records there (probability d, per source) rather than because most persons
  of its source hold one there (``cover``); a pair within one source, only if the merged
  person would have three or more records there (e) rather than two (1 - (1 - d)^2). The
  pair's probability is updated by that Bayes factor (``_COMPOSITION``). A dedupe of one
  source with many records per person gets factors near or above 1; the county's sources,
  with one record a person, make pairs between two persons that already hold each other's
  sources near-certain non-matches (measured: 84 true pairs among 73,000 on the 1M county).
  The pairs below the kept probability (summed by ``model.predict``) are scaled by the same
  update measured on the lowest kept band.
- **Matches blocking never paired.** Blocking rules that need one date of birth and the
  rules that do not are two independent ways to catch a match (Lincoln-Petersen, weighted
  by the probabilities above, among pairs where both records carry a date): the expected
  matches that neither catches enter the recall's denominator. Pairs with a date missing on
  one side are caught by the dateless rules alone, at the rate the dated pairs show. The
  links made through a third record that blocking never paired are matches it missed, so
  the count is at least theirs.

Then: expected true links = the sum over links of their probabilities; expected matches = the
sum over every pair blocking made (kept and left out) over the blocking recall, and at least
that plus the links never compared; precision = expected true links / links; recall = expected true links / expected matches.
The same per source pair (``health|police``). A second, blocking-blind count of all true pairs
(pairs agreeing exactly on first given name, family name and date of birth over the share of
matches that would: the product of their exact-match m) is reported beside it.
fastLink (R) reports false discovery and false negative rates from its mixture model in the
same way.
"""

from __future__ import annotations

import duckdb

from familylink.core.tables import LINKAGE_RECORDS, PERSONS
from matching.blocking_capture import any_rule_sql, matches_reached_and_all, split_by_date
from matching.source_prior import link_rates_sql

#: the band of kept pairs whose update scales the pairs left out (below the kept probability)
_LOWEST_BAND = 0.05


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4) if denominator else 1.0


def _sum(expression: str, condition: str = "true") -> str:
    """A deterministic sum: of integers (nano-units), since a parallel sum of doubles varies in
    its last bits."""
    return f"coalesce(sum((({expression}) * 1e9)::HUGEINT) FILTER ({condition}), 0)::DOUBLE / 1e9"


def _source_pair(x: str, y: str) -> str:
    return (f"least(split_part({x}, '|', 1), split_part({y}, '|', 1)) || '|' || "
            f"greatest(split_part({x}, '|', 1), split_part({y}, '|', 1))")


def composition_sql(members: str, prefix: str) -> str:
    """SQL (statements separated by ``;``) of what the persons of ``members`` (columns
    person_id, source: one row per record) hold per source, as three temp tables:
    ``{prefix}held`` (person_id, source, n), ``{prefix}repeat`` (per source: d = P(a person
    has 2+ records there | 1+), e = P(3+ | 2+)) and ``{prefix}cover`` (per source pair sa, sb:
    P(a person with a record in sa has one in sb)). Smoothed (+0.5, +1) so that no factor is 0
    or infinite. Read by the estimate here and by ``matching.partners``."""
    return f"""
    CREATE OR REPLACE TEMP TABLE {prefix}held AS
        SELECT person_id, source, count(*) AS n FROM {members} GROUP BY ALL;
    CREATE OR REPLACE TEMP TABLE {prefix}repeat AS
        SELECT source, (count(*) FILTER (n >= 2) + 0.5) / (count(*) + 1) AS d,
               (count(*) FILTER (n >= 3) + 0.5) / (count(*) FILTER (n >= 2) + 1) AS e
        FROM {prefix}held GROUP BY source;
    CREATE OR REPLACE TEMP TABLE {prefix}cover AS
        SELECT s.source AS sa, o.source AS sb,
               (count(h.person_id) + 0.5) / (count(*) + 1) AS cover
        FROM {prefix}held s CROSS JOIN (SELECT DISTINCT source FROM {prefix}held) o
        LEFT JOIN {prefix}held h ON h.person_id = s.person_id AND h.source = o.source
        WHERE o.source <> s.source GROUP BY ALL;
"""


_COMPOSITION = composition_sql(PERSONS, "_acc_")


def _side_factor(me: str) -> str:
    """SQL: for a pair across two sources, the Bayes factor of what record ``me``'s person holds
    of the other record's source: one already (a clash) with probability d (the person has two
    there) under a match, and ``cover`` (the share of persons of ``me``'s source holding one
    there) under no match; the two records' sides are independent."""
    a, b = f"r{me}.d", f"coalesce(c{me}.cover, 0.5)"
    return f"CASE WHEN coalesce(h{me}.n, 0) >= 1 THEN {a} / {b} ELSE (1 - {a}) / (1 - {b}) END"


#: for a pair within one source: either person holding another record there (a clash) means
#: three or more under a match (e), and one of two persons holding two or more under no match
_SAME_SOURCE_FACTOR = """CASE WHEN coalesce(hx.n, 0) >= 2 OR coalesce(hy.n, 0) >= 2
    THEN rx.e / (1 - (1 - rx.d) * (1 - rx.d)) ELSE (1 - rx.e) / ((1 - rx.d) * (1 - rx.d)) END"""


def _pairs_sql(pairs: str) -> str:
    """Every scored pair and every link, with the probability the estimate gives it (q)."""
    return f"""
    CREATE OR REPLACE TEMP TABLE _acc_links AS
        SELECT a.unique_id AS x, b.unique_id AS y, a.person_id
        FROM {PERSONS} a JOIN {PERSONS} b ON a.person_id = b.person_id AND a.unique_id < b.unique_id;
    CREATE OR REPLACE TEMP TABLE _acc_stratum AS
        WITH counts AS ({link_rates_sql(PERSONS)})
        SELECT a || '|' || b AS sources,
               ((links + 0.5) / greatest(pairs, 1))
               / ((sum(links) OVER () + 0.5) / greatest(sum(pairs) OVER (), 1))
               / pow(2.0, coalesce(applied.bits, 0.0)) AS odds
        FROM counts LEFT JOIN _acc_applied applied ON applied.sources = a || '|' || b;
    CREATE OR REPLACE TEMP TABLE _acc_scored AS
        SELECT least(left_id, right_id) AS x, greatest(left_id, right_id) AS y,
               CASE WHEN match_probability >= 1 THEN 1.0 ELSE
                   match_probability * coalesce(t.odds, 1.0)
                   / (match_probability * coalesce(t.odds, 1.0) + 1.0 - match_probability) END AS p
        FROM {pairs} LEFT JOIN _acc_stratum t ON t.sources = {_source_pair('left_id', 'right_id')};
    CREATE OR REPLACE TEMP TABLE _acc_paths AS
        WITH steps AS (
            SELECT s.x AS a, s.y AS b, s.p FROM _acc_scored s UNION ALL SELECT s.y, s.x, s.p FROM _acc_scored s
        ), members AS (SELECT unique_id, person_id FROM {PERSONS})
        SELECT w.x, w.y, 1 - exp({_sum('ln(greatest(1 - one.p * two.p, 1e-12))')}) AS q
        FROM _acc_links w JOIN steps one ON one.a = w.x
        JOIN members z ON z.unique_id = one.b AND z.person_id = w.person_id
        JOIN steps two ON two.a = one.b AND two.b = w.y
        GROUP BY ALL;
    CREATE OR REPLACE TEMP TABLE _acc_pairs AS
        WITH joined AS (
            SELECT coalesce(s.x, k.x) AS x, coalesce(s.y, k.y) AS y, coalesce(s.p, 0.0) AS p,
                   k.x IS NOT NULL AS linked, s.x IS NOT NULL AS compared
            FROM _acc_scored s FULL OUTER JOIN _acc_links k ON s.x = k.x AND s.y = k.y
        ), sided AS (
            SELECT j.*, split_part(j.x, '|', 1) AS sx, split_part(j.y, '|', 1) AS sy,
                   px.person_id AS px, py.person_id AS py
            FROM joined j JOIN {PERSONS} px ON px.unique_id = j.x JOIN {PERSONS} py ON py.unique_id = j.y
        ), updated AS (
            SELECT d.*, CASE WHEN d.sx = d.sy THEN {_SAME_SOURCE_FACTOR}
                                ELSE ({_side_factor('x')}) * ({_side_factor('y')}) END AS factor
            FROM sided d
            LEFT JOIN _acc_held hx ON hx.person_id = d.px AND hx.source = d.sy
            LEFT JOIN _acc_held hy ON hy.person_id = d.py AND hy.source = d.sx
            LEFT JOIN _acc_repeat rx ON rx.source = d.sy
            LEFT JOIN _acc_repeat ry ON ry.source = d.sx
            LEFT JOIN _acc_cover cx ON cx.sa = d.sx AND cx.sb = d.sy
            LEFT JOIN _acc_cover cy ON cy.sa = d.sy AND cy.sb = d.sx
            WHERE NOT d.linked
        )
        SELECT j.x, j.y, {_source_pair('j.x', 'j.y')} AS sources, j.p, j.linked, j.compared,
               CASE WHEN j.linked THEN greatest(j.p, coalesce(w.q, 0.0))
                    ELSE j.p * u.factor / (j.p * u.factor + 1.0 - j.p) END AS q
        FROM joined j LEFT JOIN _acc_paths w ON w.x = j.x AND w.y = j.y
        LEFT JOIN updated u ON u.x = j.x AND u.y = j.y;
    """


def _blocking_recall(con: duckdb.DuckDBPyConnection, rules: list[str]) -> dict[str, float]:
    """Per source pair (and ``""`` overall): the expected share of matches some rule reaches;
    empty where it cannot be estimated (rules of one kind only, or too few matches caught by both).

    Rules needing one date (A) and the others (B) are two captures of a match; among pairs
    where both records carry a date, matches = n_A x n_B / n_AB (weighted by the estimate's
    probability). Pairs with a date missing on one side only B reaches, at the rate n_AB / n_A.
    A source pair with too few matches caught by both takes the overall figure."""
    dated, dateless = split_by_date(rules)
    if not dated or not dateless:
        return {}

    query = f"""
        WITH caught AS (
            SELECT p.sources, p.q, l.tok_dob IS NOT NULL AND r.tok_dob IS NOT NULL AS both_dated,
                   ({any_rule_sql(dated)}) AS a, ({any_rule_sql(dateless)}) AS b
            FROM _acc_pairs p JOIN {LINKAGE_RECORDS} l ON l.unique_id = p.x
            JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.y
            WHERE p.compared
        )
        SELECT sources, {_sum('q', 'both_dated AND a')}, {_sum('q', 'both_dated AND b')},
               {_sum('q', 'both_dated AND a AND b')}, {_sum('q', 'NOT both_dated')}
        FROM caught GROUP BY ALL ORDER BY ALL"""
    try:
        rows = con.execute(query).fetchall()
    except duckdb.Error:  # a rule over columns the linkage records lack (a settings file's own)
        return {}

    def recall(n_a: float, n_b: float, n_ab: float, undated: float) -> float | None:
        counts = matches_reached_and_all(n_a, n_b, n_ab, undated)
        return counts[0] / counts[1] if counts else None

    overall = recall(*(sum(row[i] for row in rows) for i in range(1, 5)))
    if overall is None:
        return {}
    result = {"": overall}
    for sources, *counts in rows:
        own = recall(*counts)
        result[sources] = own if own is not None else result[""]
    return result


def _matches(scored: float, left_out: float, blocking: float, through: float) -> float:
    """Expected matches: those blocking reached (scored and left out) over the blocking recall;
    at least those plus the links made through a third record (matches blocking never paired)."""
    reached = scored + left_out
    return max(reached / blocking if blocking > 0 else reached, reached + through)


def _figures(links: int, true_links: float, scored: float, left_out: float, blocking: float,
             unscored: int, through: float = 0.0) -> dict:
    matches = _matches(scored, left_out, blocking, through)
    return {
        "links": int(links),
        "expected_true_links": round(true_links, 1),
        "expected_matches": round(matches, 1),
        "expected_missed_links": round(max(matches - true_links, 0.0), 1),
        "expected_matches_blocking_missed": round(matches - scored - left_out, 1),
        "expected_matches_below_kept_probability": round(left_out, 1),
        "blocking_recall": round(blocking, 4),
        "links_never_compared": int(unscored),
        "precision": _ratio(true_links, links),
        "recall": _ratio(true_links, matches),
        "f1": round(2 * true_links / (links + matches), 4) if links + matches else 1.0,
    }


def _never_compared(con: duckdb.DuckDBPyConnection, blocking: dict[str, float]) -> None:
    """A link between two records no blocking rule paired: its path's odds times the odds that
    blocking misses a match (1 - its source pair's blocking recall) against a non-match (about 1)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _acc_missed (sources VARCHAR, missed DOUBLE)")
    con.executemany("INSERT INTO _acc_missed VALUES (?, ?)",
                    [(sources, max(1.0 - recall, 1e-6)) for sources, recall in sorted(blocking.items())])
    con.execute("""
        UPDATE _acc_pairs SET q = q * m.missed / (q * m.missed + 1 - q)
        FROM (SELECT s.sources, coalesce(own.missed, everywhere.missed) AS missed
              FROM (SELECT DISTINCT sources FROM _acc_pairs) s LEFT JOIN _acc_missed own USING (sources)
              CROSS JOIN (SELECT missed FROM _acc_missed WHERE sources = '') everywhere) m
        WHERE m.sources = _acc_pairs.sources AND _acc_pairs.linked AND NOT _acc_pairs.compared""")


def estimate_accuracy(con: duckdb.DuckDBPyConnection, pairs: str, left_out: dict[str, float],
                      matches_from_rule: float | None = None, blocking_rules: list[str] | None = None,
                      applied_prior: dict[str, float] | None = None, keep_work: bool = False) -> dict:
    """Expected precision, recall and F1 of the person links, overall and per source pair.

    ``pairs``: the kept scored pairs (left_id, right_id, match_probability); ``left_out``:
    the sum of match probabilities of the pairs not kept, per "source|source";
    ``blocking_rules``: the rules that made the pairs (SQL over ``l.``/``r.``), for the
    matches blocking never reached (none given, or no estimate: blocking is taken to reach
    every match, and a link never compared counts at its path); ``applied_prior``: the bits
    ``matching.source_prior`` already added per "source|source" (the estimate's own source-pair
    odds take them back out, so no pair is moved twice); ``keep_work``: leave the work tables
    (``_acc_pairs``: every pair with its estimated probability q) for a benchmark to read.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _acc_applied (sources VARCHAR, bits DOUBLE)")
    if applied_prior:
        con.executemany("INSERT INTO _acc_applied VALUES (?, ?)", [[k, v] for k, v in sorted(applied_prior.items())])
    for statement in (_COMPOSITION + _pairs_sql(pairs)).split(";"):
        if statement.strip():
            con.execute(statement)
    blocking = _blocking_recall(con, list(blocking_rules or []))
    if blocking:
        _never_compared(con, blocking)
    else:  # no estimate: blocking is taken to reach every match
        blocking = {"": 1.0}
    rows = con.execute(f"""
        SELECT sources, count(*) FILTER (linked), {_sum('q', 'linked')}, {_sum('q', 'compared')},
               {_sum('q', 'linked AND NOT compared')},
               {_sum('q', f'NOT linked AND p < {_LOWEST_BAND}')}, {_sum('p', f'NOT linked AND p < {_LOWEST_BAND}')},
               count(*) FILTER (linked AND NOT compared)
        FROM _acc_pairs GROUP BY 1 ORDER BY 1""").fetchall()
    by_pair: dict[str, list] = {}
    for sources, links, true_links, scored, through, low_q, low_p, unscored in rows:
        by_pair[sources] = [links, true_links, scored, 0.0, unscored, low_q / low_p if low_p > 0 else 1.0, through, 0.0]
    for sources, total in left_out.items():
        a, b = sorted(sources.split("|"))
        entry = by_pair.setdefault(f"{a}|{b}", [0, 0.0, 0.0, 0.0, 0, 1.0, 0.0, 0.0])
        entry[3] += total * entry[5]  # scaled as the lowest kept band was
        entry[7] += total
    figures = {sources: {**_figures(v[0], v[1], v[2], v[3], blocking.get(sources, blocking[""]), v[4], v[6]),
                         "probability_sum_below_kept": round(v[7], 3)}
               for sources, v in sorted(by_pair.items())}
    links, true_links = sum(v[0] for v in by_pair.values()), sum(v[1] for v in by_pair.values())
    scored, left = sum(v[2] for v in by_pair.values()), sum(v[3] for v in by_pair.values())
    matches = sum(_matches(v[2], v[3], blocking.get(sources, blocking[""]), v[6]) for sources, v in by_pair.items())
    overall = _figures(links, true_links, scored, left, (scored + left) / matches if matches else 1.0,
                       sum(v[4] for v in by_pair.values()))
    low = {}
    if matches_from_rule is not None:
        # blocking and scoring see only the matches they reach; the exact-rule count does not
        low = {"expected_matches_from_exact_rule": round(matches_from_rule, 1),
               "recall_if_the_rule_count_is_right": _ratio(true_links, max(matches_from_rule, overall["expected_matches"]))}
    for table in () if keep_work else ("_acc_held", "_acc_repeat", "_acc_cover", "_acc_scored", "_acc_stratum",
                                         "_acc_links", "_acc_paths", "_acc_pairs", "_acc_missed", "_acc_applied"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return {
        **overall,
        **low,
        "method": "expected from the calibrated match probabilities of the scored pairs, links through a "
                  "third record, what the persons hold per source and the blocking rules' overlap (no truth)",
        "by_source_pair": figures,
    }
