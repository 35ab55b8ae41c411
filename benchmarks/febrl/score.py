"""Scoring against FEBRL's truth: pairwise precision, recall and F1 of clusters, and where the
missed pairs were lost (blocking or scoring).

Pairs are counted over all records: a predicted pair is two records in one cluster, a true
pair two records of one entity. For FEBRL3 that is the usual pairwise measure of a dedupe.
For FEBRL4 every true pair links A to B (neither file has duplicates), so this is the
measure of the linked pairs, with any pair the product put together inside one file
counted as a false link.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd


@dataclass(frozen=True)
class Scores:
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(clusters: pd.DataFrame, truth: pd.DataFrame) -> Scores:
    """``clusters``: unique_id, cluster_id (every record); ``truth``: unique_id, entity."""
    joined = truth.merge(clusters, on="unique_id", how="left", validate="one_to_one")
    if joined["cluster_id"].isna().any():
        raise ValueError(f"{int(joined['cluster_id'].isna().sum())} records have no cluster")
    return Scores(
        true_pairs=_pairs(joined.groupby("entity").size()),
        predicted_pairs=_pairs(joined.groupby("cluster_id").size()),
        correct_pairs=_pairs(joined.groupby(["cluster_id", "entity"]).size()),
    )


def true_pairs_table(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame, name: str = "febrl_true_pairs") -> str:
    """Write every true pair (left_id < right_id) to ``name`` in ``con``."""
    con.register("febrl_truth_frame", truth[["unique_id", "entity"]])
    con.execute(f"""CREATE OR REPLACE TABLE {name} AS
        SELECT a.unique_id AS left_id, b.unique_id AS right_id
        FROM febrl_truth_frame a JOIN febrl_truth_frame b ON a.entity = b.entity AND a.unique_id < b.unique_id""")
    con.unregister("febrl_truth_frame")
    return name


def blocking_recall(con: duckdb.DuckDBPyConnection, records: str, rules: list[str], true_pairs: str) -> float:
    """Share of true pairs that at least one blocking rule makes a candidate."""
    union = " OR ".join(f"({rule})" for rule in rules)
    found, total = con.execute(f"""
        SELECT count(*) FILTER ({union}), count(*) FROM {true_pairs} t
        JOIN {records} l ON l.unique_id = least(t.left_id, t.right_id)
        JOIN {records} r ON r.unique_id = greatest(t.left_id, t.right_id)""").fetchone()
    return found / total if total else 1.0


def scored_recall(con: duckdb.DuckDBPyConnection, pairs: str, true_pairs: str, threshold: float,
                  left: str = "left_id", right: str = "right_id") -> float:
    """Share of true pairs scored at or above ``threshold`` (before clustering)."""
    found, total = con.execute(f"""
        SELECT count(p.{left}), count(*) FROM {true_pairs} t
        LEFT JOIN (SELECT least({left}, {right}) AS {left}, greatest({left}, {right}) AS {right}
                   FROM {pairs} WHERE match_probability >= {threshold}) p
          ON p.{left} = t.left_id AND p.{right} = t.right_id""").fetchone()
    return found / total if total else 1.0
