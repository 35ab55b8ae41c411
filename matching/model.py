"""The one wrapper around Splink 5: train, predict, cluster, save and load the model.

The rest of the code never sees a Splink object: methods take and return DuckDB table
names. The backend is chosen here (DuckDB embedded; Spark is the path to national scale).
Models are saved as JSON with the fingerprints of their inputs, never pickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from pathlib import Path

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.exceptions import EMTrainingException

from familylink.core.errors import ConfigError, LinkageError, Problem
from familylink.core.fingerprint import fingerprint, write_json
from familylink.core.tables import LINKAGE_RECORDS
from matching.calibration import (
    NON_CONTEXT_SQL,
    LevelSpec,
    PatternLevel,
    SampledLevel,
    at_level_sql,
    calibrate,
    household_correction,
    logit2,
    pairs_sharing,
    sampled_levels,
)
from matching.comparisons import (
    CONTEXT_COLUMNS,
    HOUSEHOLD_ADDRESS_LEVEL,
    PARENT_CHILD_LEVEL,
    TWIN_LEVEL,
    person_comparisons,
)
from matching.settings import LinkageSettings, equality_columns

MODEL_FORMAT = "familylink-linkage-model"
PAIRS_TABLE = "person_pairs"
COMPONENTS_TABLE = "_components"

logging.getLogger("splink").setLevel(logging.WARNING)


class LinkageModel:
    """A Fellegi-Sunter person model over the linkage records of every source."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: LinkageSettings,
                 sources: list[str], trained: dict | None = None, calibration: dict | None = None) -> None:
        if settings.backend != "duckdb":
            raise ConfigError(f"linkage backend {settings.backend!r} is not available in this build",
                              [Problem("config/linkage", "backend", "use backend: duckdb")])
        self.con = con
        self.settings = settings
        self.sources = sorted(sources)
        self.db_api = DuckDBAPI(connection=con)
        self.records = con.execute(f"SELECT count(*) FROM {LINKAGE_RECORDS}").fetchone()[0]
        #: the household correction measured before EM (a training run only)
        self.household: PatternLevel | None = None
        frames = [self.db_api.register(self._input_view(source), dataset_display_name=source)
                  for source in self.sources]
        splink_settings = trained if trained is not None else SettingsCreator(
            link_type="link_and_dedupe",
            unique_id_column_name="unique_id",
            source_dataset_column_name="source",
            comparisons=person_comparisons(settings),
            blocking_rules_to_generate_predictions=self._blocking_rules(),
            # each comparison's weight (mw_*): calibration finds the pattern levels' pairs by it
            retain_intermediate_calculation_columns=True,
            retain_matching_columns=False,
        )
        if trained is not None:
            self.blocking_rules = [r["blocking_rule"] if isinstance(r, dict) else r
                                   for r in trained.get("blocking_rules_to_generate_predictions", [])]
            self.blocking = {"reused": True}
        self.linker = Linker(frames, splink_settings, log_level=logging.WARNING)
        self.trained = trained is not None
        #: set by a training run's calibration; a reused model keeps the calibration it was saved with
        self.calibration: dict | None = calibration
        #: what each EM session could learn from (a training run only): ``em_session_report``
        self.em_sessions: list[dict] = []

    def _input_view(self, source: str) -> str:
        """The source's linkage records with the context copies the calibrated levels read."""
        view = f"linkage_records_{source}"
        copies = ", ".join(f"{original} AS {copy}" for copy, original in CONTEXT_COLUMNS.items())
        # a view's SQL cannot take parameters; source names are checked to be plain identifiers
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS "
                         f"SELECT *, {copies} FROM {LINKAGE_RECORDS} WHERE source = '{_safe(source)}'")
        return view

    def _blocking_rules(self) -> list[str]:
        """The settings' rules, plus each broader rule whose pairs fit the budget (counted
        exactly from group sizes over the linkage records)."""
        self.blocking = {"budget_pairs": 0, "rules_within_budget": {}}
        rules = list(self.settings.blocking_rules)
        budget = min(self.settings.comparison_budget_per_record * self.records, self.settings.comparison_budget_max)
        self.blocking["budget_pairs"] = int(budget)
        spent = 0
        for rule in self.settings.blocking_rules_within_budget:
            pairs = pairs_sharing(self.con, equality_columns(rule))
            used = spent + pairs <= budget and rule not in rules
            self.blocking["rules_within_budget"][rule] = {"pairs": int(pairs), "used": used}
            if used:
                spent += pairs
                rules.append(rule)
        self.blocking_rules = rules
        return rules

    # --- training ---------------------------------------------------------------------
    def train(self) -> None:
        """Unsupervised: deterministic-rule prior, random-sampling u, EM over several passes."""
        training = self.settings.training
        if self.records < 2:
            raise LinkageError(f"{self.records} record{'' if self.records == 1 else 's'} in the sealed extracts: "
                               "linking needs two or more")
        self._starting_prior()
        self.linker.training.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs,
                                                              seed=training.seed, num_chunks=training.u_chunks)
        self._household_before_em()
        carried = comparisons_carried(self.con)
        with _em_estimates_floored():
            sessions = [self._em_session(rule, carried) for rule in training.em_blocking_rules]
            self.em_sessions = [report for report, _ in sessions]
            failed = {i: label for i, (report, label) in enumerate(sessions) if "warning" in report}
            if failed and training.em_fallback_blocking_rule != "off":
                self._learn_again(training.em_fallback_blocking_rule, failed, carried)
        if not any(report["comparisons"] for report in self.em_sessions if report.get("used", True)):
            raise LinkageError(
                "no two records agree on what training needs (a date of birth, or both names), so there is "
                "nothing to learn a model from",
                [Problem(report["blocking_rule"], "no pair of records", "check that the extracts carry dates of "
                         "birth and names, and that more than one record describes some person")
                 for report in self.em_sessions])
        self._round_parameters()
        self.trained = True

    def _starting_prior(self) -> None:
        """The prior EM starts from: the deterministic rules' pairs over their recall. Where more
        pairs meet the rules than that recall allows (tiny or duplicated data) it is estimated at
        recall 1; where none does (no identifier, and no family name or no date of birth anywhere)
        or every pair does, one match per record (at most an even chance). EM and the calibration
        move it."""
        training, settings = self.settings.training, self.linker._settings_obj
        try:
            self.linker.training.estimate_probability_two_random_records_match(
                list(training.deterministic_rules), recall=training.deterministic_recall)
        except ValueError:  # Splink: "recall must be at least ..."
            self.linker.training.estimate_probability_two_random_records_match(
                list(training.deterministic_rules), recall=1.0)
        prior = settings._probability_two_random_records_match
        if not 0 < prior < 1:
            settings._probability_two_random_records_match = min(0.5, 1.0 / self.records) if prior <= 0 else 0.5

    def _em_session(self, rule: str, carried: dict[str, float]) -> tuple[dict, str | None]:
        """One EM session blocked on ``rule``: its report (:func:`em_session_report`) and the label
        Splink gives its estimates on each level, or no label where no two records agree on the
        rule (the session is skipped and the report says so)."""
        try:
            session = self.linker.training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=self.settings.training.em_max_pairs)  # Splink samples by a hash of the ids
        except EMTrainingException:
            return {"blocking_rule": rule, "comparisons": [], "informative": [],
                    "warning": f"no two records agree on {_rule_in_words(rule)}: nothing was learnt in this "
                               f"session (EM blocking rule: {rule})"}, None
        trained = [c.output_column_name for c in session.core_model_settings.comparisons]
        return (em_session_report(rule, trained, carried),
                f"EM, blocked on: {session._blocking_rule_for_training.blocking_rule_sql}")

    def _round_parameters(self) -> None:
        """Every trained m and u to ``PARAMETER_DIGITS`` significant digits.

        Splink's EM gives m values that differ in their last one or two digits between two
        runs of the same pairs (measured on the 20k county, the same process and one DuckDB
        thread: 0.925114874637515 and 0.9251148746375147): the order in which the pairs'
        probabilities are summed is not fixed. Rounded, the model (and so every probability,
        the threshold, model.json and its fingerprint) is the same run after run, unless a value
        falls within that noise (a few units in the 16th digit) of a rounding boundary: at 12
        digits that happened in 2 runs of 6 (0.0510300099929 and 0.051030009993), at 9 it is
        about one run in a million. Nine digits are far finer than any m or u is known."""
        for comparison in self.linker._settings_obj.comparisons:
            for level in comparison._comparison_levels_excluding_null:
                for name in ("m_probability", "u_probability"):
                    value = getattr(level, name)
                    if isinstance(value, float):
                        setattr(level, name, float(f"{value:.{PARAMETER_DIGITS}g}"))

    def _learn_again(self, rule: str, failed: dict[int, str | None], carried: dict[str, float]) -> None:
        """An EM session blocked on the looser ``rule`` learns again what the ``failed``
        sessions (index in ``em_sessions`` -> Splink's label of their estimates) could not
        (their one field left), and their m estimates of every comparison it
        learns are dropped: Splink takes each level's median over the sessions, and half of a
        wrong estimate is still wrong. Measured on fake_1000 (names and dates of birth only):
        m("dates far apart") 0.001 -> 0.18 against 0.21 true, F1 0.7584 -> 0.7900; data whose
        sessions all have two fields or more never come here."""
        report, label = self._em_session(rule, carried)
        if label is None or "warning" in report:  # no better: keep what the failed sessions learnt
            self.em_sessions.append({**report, "fallback": True, "used": False})
            return
        replaced = set(report["comparisons"])
        for comparison in self.linker._settings_obj.comparisons:
            if comparison.output_column_name not in replaced:
                continue
            for level in comparison.comparison_levels:
                level._trained_m_probabilities = [estimate for estimate in level._trained_m_probabilities
                                                  if estimate["description"] not in failed.values()]
        self.linker._populate_m_u_from_trained_values()
        for failed_report in (self.em_sessions[i] for i in failed):
            relearnt = sorted(set(failed_report["informative"]) & replaced)
            failed_report["relearnt_in"] = rule
            failed_report["warning"] += (f"; so {' and '.join(c.replace('_', ' ') for c in relearnt) or 'its fields'} "
                                         f"learnt again from pairs that agree on {_rule_in_words(rule)} only "
                                         f"(EM blocking rule: {rule})")
        self.em_sessions.append({**report, "fallback": True, "used": True})

    def _household_before_em(self) -> None:
        """Set the household correction (exact counts, no model) so EM sees it: same-name
        parents and children at one address then do not teach EM that dates far apart are
        common among matches."""
        for comparison in self.linker._settings_obj.comparisons:
            for level in comparison.comparison_levels:
                if level.label_for_charts == HOUSEHOLD_ADDRESS_LEVEL:
                    self.household = household_correction(self.con, self.records, comparison.output_column_name,
                                                          level.label_for_charts)
                    bayes = 2.0 ** self.household.weight
                    level.m_probability, level.u_probability = bayes / (1.0 + bayes), 1.0 / (1.0 + bayes)

    # --- inference --------------------------------------------------------------------
    def predict(self, keep_from_probability: float = 0.01) -> tuple[str, dict[int, int], dict]:
        """Score every blocked pair; a freshly trained model is calibrated on them first
        (``matching.calibration``: pattern levels, prior, threshold).

        Returns the table of pairs scoring at least ``keep_from_probability``, the number of
        comparisons made by each blocking rule (index of the first rule that generated the
        pair), and the expected matches among the pairs left out, per source pair.
        """
        pairs = self.linker.inference.predict()
        comparisons = dict(self.con.execute(
            f"SELECT match_key::INTEGER, count(*) FROM {pairs.physical_name} GROUP BY 1 ORDER BY 1").fetchall())
        if self.calibration is None:
            weight = self._calibrate(pairs.physical_name)
        else:
            # the exact-name levels' correction is not in the saved u (see _set_corrected_u)
            shifts = [_shift_sql(entry) for entry in self.calibration.get("u_without_matches", [])
                      if entry.get("term_frequency") and entry["bits"] != 0]
            weight = _pattern_weights_sql(self.calibration.get("patterns", []), _sum_sql("match_weight", *shifts))
        probability = f"(1.0 / (1.0 + pow(2.0, -({weight}))))"
        self.con.execute(f"""CREATE OR REPLACE TABLE {PAIRS_TABLE} AS
            SELECT unique_id_l AS left_id, unique_id_r AS right_id, {weight} AS match_weight,
                   {probability} AS match_probability, match_key::INTEGER AS blocking_rule
            FROM {pairs.physical_name} ORDER BY left_id, right_id""")
        left_out = {f"{a}|{b}": total for a, b, total in self.con.execute(f"""
            SELECT split_part(left_id, '|', 1) AS a, split_part(right_id, '|', 1) AS b, sum(match_probability)
            FROM {PAIRS_TABLE} WHERE match_probability < ? GROUP BY ALL ORDER BY ALL""",
            [keep_from_probability]).fetchall()}
        self.con.execute(f"DELETE FROM {PAIRS_TABLE} WHERE match_probability < ?", [keep_from_probability])
        pairs.drop_table_from_database_and_remove_from_cache()
        return PAIRS_TABLE, comparisons, left_out

    def matches_from_exact_rule(self) -> float | None:
        """A second estimate of all true pairs, blind to blocking: the pairs agreeing exactly
        on first given name, family name and date of birth, divided by the share of true
        pairs that would (the product of the three exact-match m, times the chance that both
        records carry all three). None where a field has no trained m."""
        m = {}
        for comparison in self.linker._settings_obj.comparisons:
            for level in comparison.comparison_levels:
                if level.label_for_charts.startswith("Exact match on") and not level.is_null_level:
                    m[comparison.output_column_name] = level.m_probability
        if not all(isinstance(m.get(c), float) and m[c] > 0 for c in ("given_name", "family_name", "date_of_birth")):
            return None
        columns = ("tok_dob", "tok_given_first", "tok_family")
        agreeing = pairs_sharing(self.con, columns)
        share = self.con.execute(f"SELECT avg(({' AND '.join(f'{c} IS NOT NULL' for c in columns)})::INTEGER) "
                                 f"FROM {LINKAGE_RECORDS}").fetchone()[0]
        recall = m["given_name"] * m["family_name"] * m["date_of_birth"] * float(share or 0) ** 2
        return float(agreeing) / recall if recall > 0 else None

    @property
    def threshold(self) -> float:
        if self.settings.clustering.threshold_match_probability != "auto":
            return float(self.settings.clustering.threshold_match_probability)
        return float((self.calibration or {}).get("threshold_match_probability", 0.5))

    def _calibrate(self, pairs: str) -> str:
        """Calibrate on the scored pairs, set the results on the model, and return the SQL of
        each pair's calibrated match weight."""
        obj = self.linker._settings_obj
        start_prior = obj._probability_two_random_records_match
        specs, levels, others = [], {}, {}
        sex_m_u = _sex_differ_m_u(obj.comparisons)
        household_pairs = self.household.context_matches if self.household is not None else float("nan")
        for comparison in obj.comparisons:
            for level in comparison.comparison_levels:
                if level.label_for_charts not in (TWIN_LEVEL, PARENT_CHILD_LEVEL):
                    continue
                weight = math.log2(level.m_probability / level.u_probability)
                others[level.label_for_charts] = [math.log2(x.m_probability / x.u_probability)
                                                  for x in comparison.comparison_levels
                                                  if x is not level and not x.is_null_level]
                if any(abs(w - weight) < 1e-6 for w in others[level.label_for_charts]):
                    # never seen: trained weights are not this round value; its pairs are found by it
                    raise ConfigError(f"comparison {comparison.output_column_name}: another level has the "
                                      f"weight of the calibrated level {level.label_for_charts!r}",
                                      [Problem("config/linkage", "training.seed",
                                               "train again with another training.seed")])
                specs.append(LevelSpec(comparison.output_column_name, level.label_for_charts, weight,
                                       _differ_m(comparison), *sex_m_u, household_pairs))
                levels[level.label_for_charts] = level
        clustering, training = self.settings.clustering, self.settings.training
        sampled = sampled_levels(obj.comparisons)
        result = calibrate(self.con, pairs, records=self.records, start_prior=start_prior, prior=training.prior,
                           threshold=clustering.threshold_match_probability,
                           precision_target=clustering.precision_target, levels=specs, rules=self.blocking_rules,
                           sampled=sampled)
        shifts = self._set_corrected_u(sampled, result.u_corrected, specs, others)
        if self.household is not None:
            result.patterns.append(self.household)
        document = result.as_document()
        detect = []
        for spec, learnt in zip(specs, document["patterns"], strict=False):  # the household entry comes last
            # saved at a weight that tells its pairs apart (its effect is its share: see predict)
            new = spec.weight if learnt["weight"] is None else _distinct_weight(learnt["weight"], others[spec.label])
            detect.append({**learnt, "level_weight": spec.weight})
            learnt["level_weight"] = new
            bayes = 2.0 ** new
            levels[spec.label].m_probability = max(bayes / (1.0 + bayes), MIN_PROBABILITY)
            levels[spec.label].u_probability = max(1.0 / (1.0 + bayes), MIN_PROBABILITY)
        obj._probability_two_random_records_match = result.prior
        if self.em_sessions:
            document["em_sessions"] = self.em_sessions
        self.calibration = document
        prior_shift = logit2(result.prior) - logit2(start_prior)
        return _pattern_weights_sql(detect, _sum_sql("match_weight", repr(prior_shift), *shifts))

    def _set_corrected_u(self, sampled: list[SampledLevel], corrected: list[dict], specs: list[LevelSpec],
                         others: dict[str, list[float]]) -> list[str]:
        """Set each sampled level's corrected u on the model (so a reused model scores with it)
        and return the SQL terms adding its shift to this run's pairs; the calibrated levels of
        its comparison keep a weight apart from its new one (``others``).

        A term-frequency level keeps its sampled u: Splink weighs a value there by m over the
        value's frequency, adding log2(u / frequency) to the level's log2(m / u), so a new u
        would cancel out on reuse. Its shift is added to the pairs' weight instead, here and by
        a reused model (``predict``, from ``calibration.u_without_matches``)."""
        shifts = []
        for level, entry in zip(sampled, corrected, strict=True):
            if entry["bits"] == 0:
                continue
            shifts.append(_shift_sql(entry))
            if level.term_frequency:
                continue
            comparison = next(c for c in self.linker._settings_obj.comparisons
                              if c.output_column_name == level.comparison)
            splink_level = next(x for x in comparison.comparison_levels if x.label_for_charts == level.label)
            splink_level.u_probability = entry["u"]
            for spec in specs:
                if spec.comparison == level.comparison:
                    others[spec.label].append(level.weight + entry["bits"])
        return shifts

    # --- clustering -------------------------------------------------------------------
    def connected_components(self, nodes: str, edges: str) -> str:
        """Splink's connected components of ``edges`` (columns left_id, right_id) over
        ``nodes`` (column unique_id); returns a table (unique_id, cluster_id). A cluster id
        is the id of one of its members."""
        clusters = cluster_pairwise_predictions_at_threshold(nodes, edges, self.db_api, "unique_id",
                                                             "left_id", "right_id")
        self.con.execute(f"CREATE OR REPLACE TABLE {COMPONENTS_TABLE} AS "
                         f"SELECT unique_id, cluster_id FROM {clusters.physical_name}")
        clusters.drop_table_from_database_and_remove_from_cache()
        return COMPONENTS_TABLE

    # --- persistence ------------------------------------------------------------------
    def save(self, path: str | Path, inputs: dict, accuracy: dict | None = None) -> dict:
        """Save the trained model as JSON with the fingerprints of its inputs, its
        calibration and the run's estimate of its own accuracy."""
        model = _floored(self.linker.misc.save_model_to_json())
        # Splink names every Linker with a random id: not part of the model, and it would make
        # model.json (and its fingerprint) differ between two runs of the same inputs
        model.pop("linker_uid", None)
        document = {
            "format": MODEL_FORMAT,
            "version": 2,
            "linkage_settings": self.settings.model_dump(mode="json", by_alias=True),
            "linkage_settings_fingerprint": self.settings.fingerprint,
            "inputs": inputs,
            "calibration": self.calibration,
            "blocking": {**self.blocking, "rules": self.blocking_rules},
            "accuracy": accuracy,
            "splink_model": model,
            "model_fingerprint": fingerprint(model),
        }
        write_json(path, document)
        return document

    def save_charts(self, directory: Path) -> list[Path]:
        """Match-weight and m/u charts as self-contained HTML (no CDN: works offline).

        The charting library names each chart's element with a random id; it is replaced by one
        derived from the file's name, so the same model gives the same bytes."""
        written = []
        for name, chart in (("match_weights.html", self.linker.visualisations.match_weights_chart()),
                            ("m_u_parameters.html", self.linker.visualisations.m_u_parameters_chart())):
            path = directory / name
            chart.save_offline_chart(str(path), overwrite=True, print_msg=False)
            html = path.read_text(encoding="utf-8")
            for number, random_id in enumerate(dict.fromkeys(_CHART_ID.findall(html))):
                html = html.replace(random_id, f"splink-chart-{Path(name).stem.replace('_', '-')}-{number}")
            path.write_text(html, encoding="utf-8")
            written.append(path)
        return written


#: Splink refuses to load an m or u probability below this, yet EM can estimate exactly 0.0
#: for a level no match ever reaches (seen on a 3,000-person county)
MIN_PROBABILITY = 1e-300
#: significant digits kept of every trained m and u (``LinkageModel._round_parameters``)
PARAMETER_DIGITS = 9
#: the random element id the charting library gives each chart
_CHART_ID = re.compile(r"splink-chart-[0-9a-f]{32}")


@contextlib.contextmanager
def _em_estimates_floored():
    """Floor EM's m and u estimates at ``MIN_PROBABILITY`` while training.

    Splink 5's EM can estimate exactly 0.0 for a level whose pairs all have a match
    probability that underflows (seen for a rare level on a 3,000-person county), and its own
    setter then refuses the estimate with a ValueError. Splink clamps to the same minimum when
    it computes match weights, so flooring the estimate changes nothing else. This wraps the
    one Splink function that copies EM's estimates onto the levels; the 3,000-person demo
    test exercises it.
    """
    from splink.internals import expectation_maximisation as em

    original = em.populate_m_u_from_lookup

    def floored(fixed, level, column, lookup):
        for record in lookup.get(column, {}).values():
            for key in ("m_probability", "u_probability"):
                value = record.get(key)
                if isinstance(value, float | int) and value < MIN_PROBABILITY:
                    record[key] = MIN_PROBABILITY
        return original(fixed, level, column, lookup)

    em.populate_m_u_from_lookup = floored
    try:
        yield
    finally:
        em.populate_m_u_from_lookup = original


def _floored(model: dict) -> dict:
    """``model`` with every m and u probability at least ``MIN_PROBABILITY``, so it reloads."""
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            for key in ("m_probability", "u_probability"):
                if isinstance(level.get(key), float | int) and level[key] < MIN_PROBABILITY:
                    level[key] = MIN_PROBABILITY
    return model


def _pattern_weights_sql(patterns: list[dict], otherwise: str) -> str:
    """SQL of a pair's calibrated log2 odds: a pair at a pattern level (found by the level's
    weight in ``level_weight``) has its level's log2 odds (``weight``: the share E/T of its
    pairs that match) moved by the comparisons outside the pattern's context only; every other
    pair has ``otherwise``."""
    cases = [f"WHEN {at_level_sql(p['comparison'], p['level_weight'])} THEN ({p['weight']!r} + {NON_CONTEXT_SQL})"
             for p in patterns if "level_weight" in p and p.get("weight") is not None]
    return f"(CASE {' '.join(cases)} ELSE {otherwise} END)" if cases else otherwise


def _sum_sql(*terms: str) -> str:
    return f"({' + '.join(terms)})"


def _shift_sql(entry: dict) -> str:
    """SQL: the bits of a corrected u (``calibration.u_without_matches`` entry) for a pair at
    its level, found by the level's weight as scored (``level_weight``)."""
    return f"CASE WHEN {at_level_sql(entry['comparison'], entry['level_weight'])} THEN {entry['bits']!r} ELSE 0 END"


def _distinct_weight(weight: float, others: list[float]) -> float:
    """``weight``, nudged until no other level of the comparison is within 1e-3 of it."""
    while any(abs(weight - other) < 1e-3 for other in others):
        weight -= 0.01
    return weight


#: what a record must carry for a comparison to tell matches apart in an EM session
CARRIED_SQL = {
    "given_name": "tok_given_first IS NOT NULL",
    "family_name": "tok_family IS NOT NULL",
    "date_of_birth": "tok_dob IS NOT NULL",
    "location": "coalesce(tok_uprn, tok_address, tok_postcode) IS NOT NULL",
    "national_id": "coalesce(tok_nhs, tok_ni, tok_upn) IS NOT NULL",
    "sex": "sex IN ('M', 'F')",
    "middle_names": "tok_middle IS NOT NULL",
}
#: a comparison whose field fewer records than this share carry tells EM nothing
MIN_CARRIED_SHARE = 0.1


def comparisons_carried(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """The share of linkage records carrying each comparison's field."""
    shares = con.execute("SELECT " + ", ".join(f"avg(coalesce(({sql}), false)::INTEGER)" for sql in CARRIED_SQL.values())
                         + f" FROM {LINKAGE_RECORDS}").fetchone()
    return {name: float(share or 0.0) for name, share in zip(CARRIED_SQL, shares, strict=True)}


#: the words for a blocking rule's columns, in messages
_COLUMN_WORDS = {"tok_dob": "date of birth", "tok_dob_swapped": "date of birth", "tok_given_first": "given name",
                 "tok_given_canon": "given name", "tok_given_nysiis": "given name", "tok_family": "family name",
                 "tok_family_nysiis": "family name", "tok_postcode": "postcode", "tok_address": "address",
                 "tok_uprn": "UPRN", "tok_nhs": "NHS number", "tok_ni": "NI number", "tok_upn": "UPN"}


def _rule_in_words(rule: str) -> str:
    """``l.tok_given_canon = r.tok_given_canon AND l.tok_family = r.tok_family`` -> "given name
    and family name"."""
    words = list(dict.fromkeys(_COLUMN_WORDS.get(c, c) for c in re.findall(r"\bl\.(\w+)", rule)))
    return " and ".join(words) if words else rule


def em_session_report(rule: str, trained: list[str], carried: dict[str, float]) -> dict:
    """Which comparisons an EM session blocked on ``rule`` could learn from (``trained``: the
    comparisons Splink kept in it; ``carried``: :func:`comparisons_carried`). With one field or
    none left to tell matches from non-matches, EM cannot separate them: the m it learns for that
    field is unreliable (fake_1000, names and dates only: in the session blocked on both names it
    learnt m("dates far apart") = 0.001 where 49 of 286 same-name matches have them), and so are
    the run's match probabilities and its estimate of its own accuracy."""
    informative = sorted(c for c in trained if carried.get(c, 0.0) >= MIN_CARRIED_SHARE)
    report = {"blocking_rule": rule, "comparisons": sorted(trained), "informative": informative}
    if len(informative) <= 1:
        held = ", ".join(sorted(c.replace("_", " ") for c in CARRIED_SQL if c not in trained)) or "the blocking rule"
        field = informative[0].replace("_", " ") if informative else "no field"
        report["warning"] = (f"training on pairs that agree on {held} left only {field} to tell one person "
                             "from two: the model learnt from it may be wrong, and the estimate of accuracy "
                             "optimistic; if the sources hold an address, postcode or sex, send it "
                             f"(EM blocking rule: {rule})")
    return report


def _sex_differ_m_u(comparisons) -> tuple[float, float]:
    """EM's m and u of "recorded sexes differ" (the sex comparison's else level), or NaNs."""
    for comparison in comparisons:
        if comparison.output_column_name == "sex":
            level = next(x for x in comparison.comparison_levels if x._is_else_level)
            m, u = level.m_probability, level.u_probability
            if isinstance(m, float) and isinstance(u, float):
                return m, u
    return float("nan"), float("nan")


def _differ_m(comparison) -> float:
    """P(the field clearly differs | match) for a pattern level's calibration: EM's m of the
    else level (learnt without the pattern's own pairs)."""
    levels = [x for x in comparison.comparison_levels if not x.is_null_level]
    return float(next(x for x in levels if x._is_else_level).m_probability)


def load_model_document(path: str | Path) -> dict:
    """Read a saved model, refusing anything that is not one."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not a readable linkage model ({error.__class__.__name__})") from None
    if document.get("format") != MODEL_FORMAT or "splink_model" not in document:
        raise ConfigError(f"{path}: not a familylink linkage model",
                          [Problem(str(path), "format", "pass a model.json written by `familylink link`")])
    if fingerprint(document["splink_model"]) != document.get("model_fingerprint"):
        raise ConfigError(f"{path}: the model was altered after it was saved (fingerprint mismatch)")
    return document


def _safe(source: str) -> str:
    if not source.replace("_", "").isalnum():
        raise ConfigError(f"source name {source!r} is not a plain identifier")
    return source
