"""The source-pair prior (matching/source_prior.py) on constructed tables."""

from __future__ import annotations

import math

import duckdb
import pytest

from familylink.core.tables import LINKAGE_RECORDS
from matching.source_prior import apply_source_pair_prior


def _database(records: dict[str, int], persons: list[list[str]],
              pairs: list[tuple[str, str, float]]) -> duckdb.DuckDBPyConnection:
    """``records``: source -> number of records (ids ``source|0`` ...); ``persons``: the
    first-pass persons holding two or more records; ``pairs``: (left, right, weight)."""
    con = duckdb.connect()
    ids = [f"{source}|{i}" for source, n in sorted(records.items()) for i in range(n)]
    con.execute(f"CREATE TABLE {LINKAGE_RECORDS} (unique_id VARCHAR, source VARCHAR)")
    con.executemany(f"INSERT INTO {LINKAGE_RECORDS} VALUES (?, ?)", [[u, u.split("|")[0]] for u in ids])
    cluster = {u: u for u in ids}
    for members in persons:
        for member in members:
            cluster[member] = members[0]
    con.execute("CREATE TABLE clusters (unique_id VARCHAR, cluster_id VARCHAR)")
    con.executemany("INSERT INTO clusters VALUES (?, ?)", sorted(cluster.items()))
    con.execute("CREATE TABLE pairs (left_id VARCHAR, right_id VARCHAR, match_weight DOUBLE, match_probability DOUBLE)")
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?, 1.0 / (1.0 + pow(2.0, -?)))",
                    [(a, b, w, w) for a, b, w in pairs])
    return con


def _weight(con, left: str, right: str) -> float:
    return con.execute("SELECT match_weight FROM pairs WHERE left_id = ? AND right_id = ?", [left, right]).fetchone()[0]


def _partnership() -> tuple[dict[str, int], list[list[str]]]:
    """Two sources of 100 records; 80 persons hold one record of each, and one school holds a
    duplicate: 80 cross-source links among 10,000 pairs, one within schools among 4,950."""
    persons = [[f"health|{i}", f"schools|{i}"] for i in range(80)]
    persons[0].append("schools|99")
    return {"health": 100, "schools": 100}, persons


def test_pairs_of_a_source_that_links_less_often_are_lowered_by_the_ratio_of_the_rates():
    records, persons = _partnership()
    con = _database(records, persons, [("schools|98", "schools|99", 8.0), ("health|90", "schools|90", 1.0)])
    summary = apply_source_pair_prior(con, "pairs", "clusters", pseudo_links=10.0)
    # links: health|schools 79 + 2 (health|0 person holds two school records), schools|schools 1
    links = {"health|schools": 81, "schools|schools": 1, "health|health": 0}
    n_pairs = {"health|schools": 100 * 100, "schools|schools": 100 * 99 // 2, "health|health": 100 * 99 // 2}
    rate = sum(links.values()) / sum(n_pairs.values())
    within = math.log2((links["schools|schools"] + 10) / (n_pairs["schools|schools"] + 10 / rate) / rate)
    assert within < 0
    assert summary.bits_by_source_pair["schools|schools"] == pytest.approx(within, abs=1e-6)
    assert _weight(con, "schools|98", "schools|99") == pytest.approx(8.0 + within, abs=1e-6)
    probability = con.execute("SELECT match_probability FROM pairs WHERE left_id = 'schools|98'").fetchone()[0]
    assert probability == pytest.approx(1 / (1 + 2 ** -(8.0 + within)), abs=1e-6)
    # the source pair that links more often than the whole is never raised
    assert summary.bits_by_source_pair["health|schools"] == 0.0
    assert _weight(con, "health|90", "schools|90") == 1.0
    assert summary.pairs_moved == 1


def test_one_source_moves_nothing_and_the_correction_is_bounded():
    con = _database({"health": 50}, [["health|0", "health|1"]], [("health|2", "health|3", 5.0)])
    summary = apply_source_pair_prior(con, "pairs", "clusters")
    assert summary.pairs_moved == 0 and summary.bits_by_source_pair == {}
    assert _weight(con, "health|2", "health|3") == 5.0
    # a source pair with no link at all among very many pairs: held at the bound
    records = {"police": 3000, "probation": 3000}
    persons = [[f"police|{i}", f"probation|{i}"] for i in range(2000)]
    con = _database(records, persons, [("police|2500", "police|2501", 20.0)])
    summary = apply_source_pair_prior(con, "pairs", "clusters", pseudo_links=0.5)
    assert summary.bits_by_source_pair["police|police"] >= -6.0
    assert _weight(con, "police|2500", "police|2501") == pytest.approx(20.0 + summary.bits_by_source_pair["police|police"])


def test_the_same_tables_give_the_same_result():
    records, persons = _partnership()
    pairs = [("schools|98", "schools|99", 8.0), ("health|5", "health|6", 3.0)]
    first, second = _database(records, persons, pairs), _database(records, persons, pairs)
    assert apply_source_pair_prior(first, "pairs", "clusters") == apply_source_pair_prior(second, "pairs", "clusters")
    assert first.execute("SELECT * FROM pairs ORDER BY ALL").fetchall() == \
        second.execute("SELECT * FROM pairs ORDER BY ALL").fetchall()
