"""Where the run's own estimate of its accuracy goes wrong, against truth (benchmarks only).

Usage (from the repository root, on a data set kept by ``bench_defaults.py --keep DIR``):
    python benchmarks/estimate_diagnosis.py DIR/fake_1000

Prints three tables for the kept run (``run/run.duckdb``, ``run/model.json``, ``truth.parquet``):

1. the estimate's expected true matches (``matching.accuracy``) against the true ones, for the
   links that were scored, the links made through a third record and the scored pairs left
   unlinked;
2. Lincoln-Petersen over the two kinds of blocking rule (``matching.blocking_capture``) with the
   *true* pairs: whether the count of matches blocking missed is right when the probabilities
   are;
3. each trained level's m against its share among all true pairs (every true pair scored by the
   saved model through a Splink prediction blocked on the true entity).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.accuracy import estimate_accuracy  # noqa: E402
from matching.blocking_capture import (  # noqa: E402
    any_rule_sql,
    matches_reached_and_all,
    split_by_date,
)
from matching.comparisons import CONTEXT_COLUMNS  # noqa: E402

TRUE_PAIRS = """SELECT a.unique_id AS x, b.unique_id AS y FROM truth a JOIN truth b
                ON a.entity = b.entity AND a.unique_id < b.unique_id"""


def estimate_against_truth(con: duckdb.DuckDBPyConnection, model: dict) -> pd.DataFrame:
    applied = (model["calibration"].get("source_pair_prior") or {}).get("bits_by_source_pair") or {}
    left_out = {k: v["probability_sum_below_kept"] for k, v in model["accuracy"]["by_source_pair"].items()}
    estimate_accuracy(con, "person_pairs", left_out, None, model["blocking"]["rules"], applied, keep_work=True)
    return con.execute(f"""
        SELECT CASE WHEN p.linked AND p.compared THEN 'linked, scored'
                    WHEN p.linked THEN 'linked through a third record, never scored'
                    ELSE 'scored, not linked' END AS pairs,
               count(*) AS count, round(sum(p.q), 1) AS estimated_matches, count(t.x) AS true_matches
        FROM _acc_pairs p LEFT JOIN ({TRUE_PAIRS}) t ON t.x = p.x AND t.y = p.y GROUP BY 1 ORDER BY 1""").df()


def lincoln_petersen_with_truth(con: duckdb.DuckDBPyConnection, rules: list[str]) -> dict:
    dated, dateless = split_by_date(rules)
    n_a, n_b, n_ab, undated, dated_true = con.execute(f"""
        WITH caught AS (
            SELECT l.tok_dob IS NOT NULL AND r.tok_dob IS NOT NULL AS both_dated,
                   ({any_rule_sql(dated)}) AS a, ({any_rule_sql(dateless)}) AS b
            FROM ({TRUE_PAIRS}) t JOIN linkage_records l ON l.unique_id = t.x JOIN linkage_records r ON r.unique_id = t.y)
        SELECT count(*) FILTER (both_dated AND a), count(*) FILTER (both_dated AND b),
               count(*) FILTER (both_dated AND a AND b), count(*) FILTER (NOT both_dated AND b),
               count(*) FILTER (both_dated)
        FROM caught""").fetchone()
    counts = matches_reached_and_all(n_a, n_b, n_ab, 0.0)
    return {"true pairs with both dates": dated_true, "reached by dated rules": n_a, "by dateless": n_b,
            "by both": n_ab, "reached with a date missing": undated,
            "Lincoln-Petersen dated matches": round(counts[1], 1) if counts else None}


def true_m(con: duckdb.DuckDBPyConnection, model: dict) -> pd.DataFrame:
    from splink import DuckDBAPI, Linker

    copies = ", ".join(f"{original} AS {copy}" for copy, original in CONTEXT_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TABLE _records_with_truth AS SELECT l.*, {copies}, t.entity::VARCHAR AS entity "
                f"FROM linkage_records l JOIN truth t USING (unique_id)")
    settings = {**model["splink_model"], "link_type": "dedupe_only", "retain_intermediate_calculation_columns": True,
                "blocking_rules_to_generate_predictions": [{"blocking_rule": "l.entity = r.entity",
                                                            "sql_dialect": "duckdb"}]}
    api = DuckDBAPI(connection=con)
    scored = Linker(api.register("_records_with_truth"), settings).inference.predict().as_pandas_dataframe()
    rows = []
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        weights = scored[f"mw_{name}"].round(6)
        known = int((weights != 0).sum())
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or not m or not u or not known:
                continue
            at = int((weights == round(math.log2(m / u), 6)).sum())
            rows.append({"comparison": name, "level": level["label_for_charts"][:60], "model m": round(m, 4),
                         "true share": round(at / known, 4), "true pairs": at})
    return pd.DataFrame(rows)


def main() -> None:
    root = Path(sys.argv[1])
    model = json.loads((root / "run" / "model.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as work:
        copy = Path(work) / "run.duckdb"
        shutil.copy(root / "run" / "run.duckdb", copy)
        con = duckdb.connect(str(copy))
        con.register("truth", pd.read_parquet(root / "truth.parquet"))
        pd.set_option("display.width", 200)
        print(estimate_against_truth(con, model).to_string(index=False), end="\n\n")
        print(lincoln_petersen_with_truth(con, model["blocking"]["rules"]), end="\n\n")
        print(true_m(con, model).to_string(index=False))
        con.close()


if __name__ == "__main__":
    main()
