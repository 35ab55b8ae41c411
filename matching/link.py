"""Person linkage and households, end to end: sealed extracts in, tables and files out.

API only (the CLI presents the summary). Everything lives in one DuckDB database in the
run directory; the model, its charts and ``persons.csv`` are written beside it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from familylink.core.tables import LINKAGE_RECORDS, PERSONS
from matching.accuracy import estimate_accuracy
from matching.dependence import correct_name_dependence
from matching.guards import EDGES_TABLE, GuardSummary, conflicted_clusters_sql, guarded_edges
from matching.households import HouseholdSummary, form_households, write_households_csv
from matching.load import load_sealed_folder
from matching.model import LinkageModel, load_model_document
from matching.partners import raise_unpartnered_pairs
from matching.settings import LinkageSettings
from matching.source_prior import apply_source_pair_prior

Progress = Callable[[str, int, int], None]
CLUSTERS_TABLE = "person_clusters"
MAX_SPLIT_ROUNDS = 10


@dataclass
class LinkSummary:
    records: int
    rows: int
    persons: int
    pairs_scored: int  # every comparison made (pairs kept for review: probability >= 0.01)
    guards: GuardSummary
    conflicted_clusters_left: int
    split_rounds: int
    oversize_clusters: int
    largest_cluster: int
    key_fingerprint: str
    model_path: Path
    charts: list[Path]
    households: HouseholdSummary
    comparisons_by_rule: dict[str, int]  # comparisons each blocking rule added (first rule wins)
    seconds: dict[str, float] = field(default_factory=dict)
    extracts: tuple = ()  # the verified sealed extracts (protocols.sealed.SealedExtract)
    #: how the model was calibrated (prior, threshold, pattern levels: matching.calibration)
    calibration: dict = field(default_factory=dict)
    #: the run's estimate of its own accuracy (matching.accuracy)
    accuracy: dict = field(default_factory=dict)


def link_persons(extracts: Path, run_dir: Path, settings: LinkageSettings, con: duckdb.DuckDBPyConnection, *,
                 model_file: Path | None = None, progress: Progress | None = None) -> LinkSummary:
    """Link every record of the sealed extracts in ``extracts`` into persons and households.

    Splink's own messages (training warnings such as levels never observed) go to
    ``run_dir/splink.log`` rather than the console; they name comparison levels, never data.
    """
    with _splink_log(run_dir / "splink.log"):
        return _link_persons(extracts, run_dir, settings, con, model_file, progress)


class _UntrainedSummary(logging.Filter):
    """Splink's predict warning about parameters left at their defaults, shortened to the
    comparisons it names (levels never seen in a training sample, such as the pattern levels
    and rare name levels): its prose says nothing the log needs."""

    _COMPARISON = re.compile(r"Comparison: '(\w+)':\s*\n\s*([mu]) values not fully trained")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "You have called predict()" in message:
            named = sorted({f"{c} ({v})" for c, v in self._COMPARISON.findall(message)})
            record.msg, record.args = "predict: default m or u values used for " + ", ".join(named), ()
        return True


@contextlib.contextmanager
def _splink_log(path: Path):
    splink_logger = logging.getLogger("splink")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_UntrainedSummary())
    saved = splink_logger.handlers[:], splink_logger.propagate
    splink_logger.handlers, splink_logger.propagate = [handler], False
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            yield
    finally:
        splink_logger.handlers, splink_logger.propagate = saved
        handler.close()
        extra = printed.getvalue().strip()
        if extra:
            with open(path, "a", encoding="utf-8") as log:
                log.write(extra + "\n")


def _link_persons(extracts: Path, run_dir: Path, settings: LinkageSettings, con: duckdb.DuckDBPyConnection,
                  model_file: Path | None, progress: Progress | None) -> LinkSummary:
    seconds: dict[str, float] = {}
    step = _Stopwatch(seconds, progress)
    with step("load"):
        loaded = load_sealed_folder(extracts, con)
    sources = sorted({e.source for e in loaded.extracts})
    inputs = {e.path.name: e.content_sha256 for e in loaded.extracts}
    document = load_model_document(model_file) if model_file else None
    with step("train"):
        model = LinkageModel(con, settings, sources, trained=document["splink_model"] if document else None,
                             calibration=document.get("calibration") if document else None)
        if document is None:
            model.train()
    with step("predict"):
        pairs, by_rule, left_out = model.predict()
        comparisons_by_rule = {rule: by_rule.get(i, 0) for i, rule in enumerate(model.blocking_rules)}
        pairs_scored = sum(by_rule.values())
    with step("cluster"):
        guards, conflicted, split_rounds = _guard_and_cluster(con, pairs, settings, model)
        clustering = settings.clustering
        # the first clustering's persons measure what the pairs alone cannot: how given names
        # depend on family names, how often each source pair links, and which records still
        # lack a partner; each reweighs pairs and the run clusters again
        if clustering.name_dependence != "off":
            dependence = correct_name_dependence(con, pairs, CLUSTERS_TABLE, clustering.name_dependence)
            model.calibration = {**(model.calibration or {}), "name_dependence": dependence.as_document()}
            guards, conflicted, split_rounds = _guard_and_cluster(con, pairs, settings, model)
        applied_prior: dict[str, float] = {}
        if clustering.source_pair_prior != "off":
            prior = apply_source_pair_prior(con, pairs, CLUSTERS_TABLE, clustering.source_pair_prior)
            model.calibration = {**(model.calibration or {}), "source_pair_prior": prior.as_document()}
            applied_prior = prior.bits_by_source_pair
            if prior.pairs_moved:
                guards, conflicted, split_rounds = _guard_and_cluster(con, pairs, settings, model)
        if clustering.unpartnered_min_factor != "off":
            partners = raise_unpartnered_pairs(con, pairs, CLUSTERS_TABLE, model.threshold,
                                               clustering.unpartnered_min_factor)
            model.calibration = {**(model.calibration or {}), "unpartnered": partners.as_document()}
            if partners.pairs_raised:
                guards, conflicted, split_rounds = _guard_and_cluster(con, pairs, settings, model)
        _write_persons(con)
        accuracy = estimate_accuracy(con, pairs, left_out, model.matches_from_exact_rule(), model.blocking_rules,
                                     applied_prior)
        oversize, largest = con.execute(
            f"SELECT count(*) FILTER (n > ?), coalesce(max(n), 0) FROM "
            f"(SELECT count(*) AS n FROM {PERSONS} GROUP BY person_id)",
            [settings.clustering.oversize_cluster]).fetchone()
    model_path = run_dir / "model.json"
    model.save(model_path, {"extracts": inputs, "key_fingerprint": loaded.key_fingerprint,
                            "reused_from": str(model_file) if model_file else None}, accuracy)
    charts = model.save_charts(run_dir)
    persons = con.execute(f"SELECT count(DISTINCT person_id) FROM {PERSONS}").fetchone()[0]
    write_persons_csv(con, run_dir / "persons.csv")
    with step("households"):
        households = form_households(con)
        write_households_csv(con, run_dir / "households.csv")
    return LinkSummary(loaded.records, loaded.rows, persons, pairs_scored, guards, conflicted, split_rounds, oversize,
                       largest, loaded.key_fingerprint, model_path, charts, households, comparisons_by_rule, seconds,
                       loaded.extracts, model.calibration or {}, accuracy)


def _guard_and_cluster(con: duckdb.DuckDBPyConnection, pairs: str, settings: LinkageSettings,
                       model: LinkageModel) -> tuple[GuardSummary, int, int]:
    """Edges from the pairs at the threshold that no guard forbids, then clusters of them."""
    guards = guarded_edges(con, pairs, settings, model.threshold)
    return (guards, *_cluster(con, model))


def _cluster(con: duckdb.DuckDBPyConnection, model: LinkageModel) -> tuple[int, int]:
    """Connected components over guarded edges; split clusters holding two identifiers.

    Each split round drops the weakest internal edge of every cluster that holds two
    different identifiers and clusters again only those clusters' records (cluster ids are
    member ids, so they never collide with untouched clusters). Returns the clusters still
    holding two identifiers and the split rounds used.
    """
    con.execute(f"CREATE OR REPLACE TABLE {CLUSTERS_TABLE} AS SELECT * FROM "
                f"{model.connected_components(LINKAGE_RECORDS, EDGES_TABLE)}")
    for rounds in range(MAX_SPLIT_ROUNDS):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _conflicted AS {conflicted_clusters_sql(CLUSTERS_TABLE)}")
        conflicted = con.execute("SELECT count(*) FROM _conflicted").fetchone()[0]
        if conflicted == 0:
            return 0, rounds
        con.execute(f"""
            DELETE FROM {EDGES_TABLE} WHERE (left_id, right_id) IN (
                SELECT arg_min((e.left_id, e.right_id), (e.match_probability, e.left_id, e.right_id))
                FROM {EDGES_TABLE} e JOIN {CLUSTERS_TABLE} c ON c.unique_id = e.left_id
                WHERE c.cluster_id IN (SELECT cluster_id FROM _conflicted)
                GROUP BY c.cluster_id)""")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _split_nodes AS SELECT unique_id FROM {CLUSTERS_TABLE}
                        WHERE cluster_id IN (SELECT cluster_id FROM _conflicted)""")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _split_edges AS SELECT * FROM {EDGES_TABLE}
                        WHERE left_id IN (SELECT unique_id FROM _split_nodes)""")
        split = model.connected_components("_split_nodes", "_split_edges")
        con.execute(f"""UPDATE {CLUSTERS_TABLE} SET cluster_id = s.cluster_id FROM {split} s
                        WHERE {CLUSTERS_TABLE}.unique_id = s.unique_id""")
    return conflicted, MAX_SPLIT_ROUNDS


def _write_persons(con: duckdb.DuckDBPyConnection) -> None:
    """Deterministic person ids and each record's link confidence (its cluster's weakest link)."""
    con.execute(f"""
        CREATE OR REPLACE TABLE {PERSONS} AS
        WITH named AS (
            SELECT unique_id, cluster_id, min(unique_id) OVER (PARTITION BY cluster_id) AS first_id
            FROM {CLUSTERS_TABLE}
        ), numbered AS (
            SELECT *, 'P' || lpad(dense_rank() OVER (ORDER BY first_id)::VARCHAR, 7, '0') AS person_id FROM named
        ), weakest AS (
            SELECT c.cluster_id, min(e.match_probability) AS weakest
            FROM {EDGES_TABLE} e JOIN {CLUSTERS_TABLE} c ON c.unique_id = e.left_id
            GROUP BY c.cluster_id
        )
        SELECT r.source, r.record_id, n.unique_id, n.person_id,
               round(coalesce(w.weakest, 1.0), 4) AS link_confidence
        FROM numbered n JOIN {LINKAGE_RECORDS} r USING (unique_id)
        LEFT JOIN weakest w USING (cluster_id)
        ORDER BY r.source, r.record_id
    """)


def write_persons_csv(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``persons.csv`` per the contract: every input record, sorted, byte-stable."""
    con.execute(f"""COPY (SELECT source, record_id, person_id, link_confidence FROM {PERSONS}
                    ORDER BY source, record_id) TO '{_sql_path(path)}' (HEADER, DELIMITER ',')""")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


class _Stopwatch:
    """Times named steps into ``seconds`` and reports them as one "linking" progress bar."""

    steps = ("load", "train", "predict", "cluster", "households")

    def __init__(self, seconds: dict[str, float], progress: Progress | None) -> None:
        self.seconds, self.progress = seconds, progress

    @contextlib.contextmanager
    def __call__(self, name: str):
        index = self.steps.index(name)
        if self.progress:
            self.progress("linking", index, len(self.steps))
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        if self.progress:
            self.progress("linking", index + 1, len(self.steps))
