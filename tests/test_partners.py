"""Records without a partner where their sources pair nearly everyone (matching/partners.py)."""

from __future__ import annotations

import duckdb
import pytest

from familylink.core.tables import LINKAGE_RECORDS
from matching.partners import raise_unpartnered_pairs


def _database(paired: int, free: list[str], pairs: list[tuple[str, str, float]]):
    """``paired`` persons each with one police and one probation record (one cluster each);
    ``free``: records alone in their cluster (``police|...`` or ``probation|...``)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {LINKAGE_RECORDS} (unique_id VARCHAR, source VARCHAR)")
    con.execute("CREATE TABLE clusters (unique_id VARCHAR, cluster_id VARCHAR)")
    for i in range(paired):
        for source in ("police", "probation"):
            con.execute(f"INSERT INTO {LINKAGE_RECORDS} VALUES (?, ?)", [f"{source}|{i}", source])
            con.execute("INSERT INTO clusters VALUES (?, ?)", [f"{source}|{i}", f"c{i}"])
    for record in free:
        con.execute(f"INSERT INTO {LINKAGE_RECORDS} VALUES (?, ?)", [record, record.split("|")[0]])
        con.execute("INSERT INTO clusters VALUES (?, ?)", [record, record])
    con.execute("CREATE TABLE pairs (left_id VARCHAR, right_id VARCHAR, match_weight DOUBLE, match_probability DOUBLE)")
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?, 1.0 / (1.0 + pow(2.0, -?)))",
                    [(a, b, w, w) for a, b, w in pairs])
    return con


def _probability(con, left: str, right: str) -> float:
    return con.execute("SELECT match_probability FROM pairs WHERE left_id = ? AND right_id = ?",
                       [left, right]).fetchone()[0]


def test_two_free_records_of_sources_that_pair_everyone_are_raised_best_candidate_only():
    con = _database(100, ["police|x", "probation|x", "probation|y"],
                    [("police|x", "probation|x", -1.0), ("police|x", "probation|y", -3.0),
                     ("police|0", "probation|x", -2.0)])  # police|0 has its partner already
    summary = raise_unpartnered_pairs(con, "pairs", "clusters", 0.5)
    assert summary.pairs_raised == 1
    # cover 100.5/102 on each side, d 0.5/102: factor about 4,500 (12 bits)
    assert _probability(con, "police|x", "probation|x") > 0.99
    assert _probability(con, "police|x", "probation|y") == pytest.approx(1 / (1 + 2 ** 3))
    assert _probability(con, "police|0", "probation|x") == pytest.approx(1 / (1 + 2 ** 2))


def test_sources_that_cover_different_people_raise_nothing():
    # 4 paired persons, 40 free on each side: cover about 0.1, factor about 1.2
    free = [f"police|f{i}" for i in range(40)] + [f"probation|f{i}" for i in range(40)]
    con = _database(4, free, [("police|f0", "probation|f0", -1.0)])
    assert raise_unpartnered_pairs(con, "pairs", "clusters", 0.5).pairs_raised == 0
    assert _probability(con, "police|f0", "probation|f0") == pytest.approx(1 / (1 + 2 ** 1))
