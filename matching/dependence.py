"""The name-dependence correction: given names are not independent of family names.

Fellegi-Sunter scores a pair that shares given and family name with the product of two
chances, ``P(given) x P(family)``. In a community whose given names come from a smaller pool
(a Gujarati family name with Gujarati given names), a stranger who shares the family name
shares the given name far more often than ``P(given)`` says: the model is over-confident
exactly where names are most concentrated, and more so the larger the county (two different
PATEL AARAVs born on one day are rare at 20,000 people and common at a million).

The run measures the dependence on its own persons: after a first clustering, for each
(given, family) pair of tokens it counts the OTHER persons with that family name who carry
that given name, and compares it with the given name's share of all persons::

    P(given | family) = (n(given, family) - own + alpha * P(given)) / (n(family) - own + alpha)
    correction (bits) = log2(P(given | family) / P(given))

``own`` is the number of the pair's own first-pass persons (1 when both records are already
one person, 2 when the pair would join two), so a person never counts as evidence against
their own link, and ``alpha`` shrinks small families to the marginal (a rare family name
says nothing about given names). The correction is subtracted from the match weight of every
pair whose given and family name tokens are equal; then the run clusters again. Counting
persons and not records keeps a person's own duplicate records from passing for dependence.
It works on tokens only (no plaintext), in SQL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb

from familylink.core.tables import LINKAGE_RECORDS

#: pseudo-persons of the marginal given-name distribution added to every family name: a family
#: name shared by fewer persons than this is mostly judged by the marginal (measured flat from
#: 20 to 200 on the 1M county, FEBRL3/4 and the 20k county)
ALPHA = 50.0


@dataclass(frozen=True)
class DependenceSummary:
    alpha: float
    persons: int
    pairs_corrected: int
    pairs_lowered: int
    pairs_raised: int
    largest_correction_bits: float

    def as_document(self) -> dict:
        return asdict(self)


def correct_name_dependence(con: duckdb.DuckDBPyConnection, pairs: str, clusters: str,
                            alpha: float = ALPHA) -> DependenceSummary:
    """Lower (or raise) the match weight of the pairs in ``pairs`` (left_id, right_id,
    match_weight, match_probability) that share given and family name tokens, by the
    dependence measured over the persons of ``clusters`` (unique_id, cluster_id)."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _names_of_persons AS
        SELECT DISTINCT c.cluster_id, r.tok_given_first AS g, r.tok_family AS f
        FROM {LINKAGE_RECORDS} r JOIN {clusters} c USING (unique_id)
        WHERE r.tok_given_first IS NOT NULL AND r.tok_family IS NOT NULL""")
    persons = con.execute("SELECT count(DISTINCT cluster_id) FROM _names_of_persons").fetchone()[0]
    if persons < 2:
        return DependenceSummary(alpha, persons, 0, 0, 0, 0.0)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _name_counts AS
        WITH given AS (SELECT g, count(DISTINCT cluster_id) AS n_g FROM _names_of_persons GROUP BY g),
             family AS (SELECT f, count(DISTINCT cluster_id) AS n_f FROM _names_of_persons GROUP BY f),
             pair AS (SELECT g, f, count(DISTINCT cluster_id) AS n_gf FROM _names_of_persons GROUP BY g, f)
        SELECT g, f, n_gf, n_f, n_g::DOUBLE / {int(persons)} AS p_g FROM pair JOIN family USING (f) JOIN given USING (g)""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _name_corrections AS
        WITH shared AS (
            SELECT p.left_id, p.right_id, n.n_gf, n.n_f, n.p_g,
                   CASE WHEN cl.cluster_id = cr.cluster_id THEN 1 ELSE 2 END AS own
            FROM {pairs} p
            JOIN {LINKAGE_RECORDS} l ON l.unique_id = p.left_id
            JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.right_id
            JOIN {clusters} cl ON cl.unique_id = p.left_id
            JOIN {clusters} cr ON cr.unique_id = p.right_id
            JOIN _name_counts n ON n.g = l.tok_given_first AND n.f = l.tok_family
            WHERE l.tok_given_first = r.tok_given_first AND l.tok_family = r.tok_family)
        SELECT left_id, right_id,
               log2((greatest(n_gf - own, 0) + ? * p_g) / (greatest(n_f - own, 0) + ?) / p_g) AS bits
        FROM shared""", [alpha, alpha])
    lowered, raised, largest = con.execute(
        "SELECT count(*) FILTER (bits > 0), count(*) FILTER (bits < 0), coalesce(max(abs(bits)), 0) "
        "FROM _name_corrections").fetchone()
    con.execute(f"""UPDATE {pairs} SET match_weight = {pairs}.match_weight - c.bits,
                        match_probability = 1.0 / (1.0 + pow(2.0, -({pairs}.match_weight - c.bits)))
                    FROM _name_corrections c
                    WHERE {pairs}.left_id = c.left_id AND {pairs}.right_id = c.right_id""")
    for table in ("_names_of_persons", "_name_counts", "_name_corrections"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return DependenceSummary(alpha, int(persons), int(lowered + raised), int(lowered), int(raised),
                             round(float(largest), 3))
