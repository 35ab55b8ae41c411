"""The plaintext path: Splink 5 directly on the FEBRL values, with a model equivalent to the
product's (``matching.comparisons``) and the same settings document.

Equivalence, concept by concept:

* Columns are the plaintext counterparts of the sealed tokens, named as the token columns
  without ``tok_`` (``tok_family_nysiis`` -> ``family_nysiis``), so every blocking and
  training rule of the linkage settings applies unchanged once ``tok_`` is removed. They are
  derived with the project's own normalisers (name parts, nicknames, NYSIIS, metaphone,
  address parser, date checks), exactly as sealing does before it encodes; the preparation
  is timed separately, like sealing.
* Levels: the same order and meaning as the product's, with exact matches on values instead
  of tokens, and Splink's Jaro-Winkler levels where the product uses Bloom-filter Dice
  (one fuzzy level per Dice threshold: ``JARO_WINKLER`` below).
* Date of birth: its last level is fixed or trained as ``training.dob_far_apart_m`` says.
* National identifiers, sex and middle names are absent from FEBRL: their comparisons are
  null for every pair (weight 0) in the product, and are left out here.
* Training: deterministic-rule prior, u by random sampling with the same seed, maximum and chunks,
  EM over the same rules; predict every blocked pair, keep those at 0.01 or above, and
  cluster at the settings' threshold (connected components). The product's guards (twins,
  conflicting identifiers) have no counterpart here: the benchmark reports their effect on
  the sealed path separately.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import duckdb
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator

from matching.settings import LinkageSettings
from protocols.normalise import (
    age_in_months,
    canonical_given_name,
    metaphone,
    name_parts,
    normalise_address,
    nysiis,
    parse_date,
    swap_day_month,
)

#: Jaro-Winkler thresholds standing in for the product's Dice thresholds (high, low).
JARO_WINKLER = {"given_name": (0.92, 0.8), "family_name": (0.92, 0.8), "address": (0.92, 0.8)}
PREDICT_KEEP_FROM = 0.01

logging.getLogger("splink").setLevel(logging.WARNING)


def _or_none(value: str) -> str | None:
    return value or None


def prepare(frame: pd.DataFrame, extract_date: dt.date, with_postcode: bool) -> pd.DataFrame:
    """The plaintext counterparts of the sealed identity columns, one row per record."""
    rows = []
    for r in frame.itertuples(index=False):
        given = name_parts(r.given_name or "")
        family = name_parts(r.surname or "")
        try:
            dob = parse_date(r.date_of_birth, "YYYYMMDD")
        except ValueError:
            dob = None  # sealing blanks a date that is not a date
        if dob is not None and dob > extract_date:
            dob = None
        swapped = swap_day_month(dob) if dob else None
        street = " ".join(p for p in (r.street_number, r.address_1) if p)
        address = normalise_address(", ".join(p for p in (street, r.address_2, r.suburb) if p))
        postcode = r.postcode if with_postcode else None
        first = given[0] if given else ""
        rows.append({
            "unique_id": r.unique_id,
            "given": _or_none(" ".join(given)),
            "given_first": _or_none(first),
            "given_canon": _or_none(canonical_given_name(first)) if first else None,
            "given_nysiis": _or_none(nysiis(first)) if first else None,
            "given_metaphone": _or_none(metaphone(first)) if first else None,
            "family": _or_none(" ".join(family)),
            "family_nysiis": _or_none(nysiis("".join(family))) if family else None,
            "family_metaphone": _or_none(metaphone("".join(family))) if family else None,
            "family_parts": sorted(set(family)) or None,
            "name_parts": sorted(set(given) | set(family)) or None,
            "dob": dob.isoformat() if dob else None,
            "dob_swapped": swapped.isoformat() if swapped else None,
            "dob_year": f"{dob.year:04d}" if dob else None,
            "dob_month": f"{dob.month:02d}" if dob else None,
            "dob_day": f"{dob.day:02d}" if dob else None,
            "age_months": age_in_months(dob, extract_date) if dob else None,
            "postcode": postcode,
            "postcode_sector": postcode[:3] if postcode else None,
            "postcode_district": postcode[:2] if postcode else None,
            "address": _or_none(address.key),
            "building": _or_none(address.building),
        })
    out = pd.DataFrame(rows)
    out["age_months"] = out["age_months"].astype("Int64")
    return out


# --- comparisons: the product's levels on plaintext --------------------------------------------

def _null(*columns: str) -> str:
    return " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in columns)


def _names_swapped() -> str:
    a, b = "name_parts_l", "name_parts_r"
    return f"(len(list_intersect({a}, {b})) >= 2 AND len(list_intersect({a}, {b})) = least(len({a}), len({b})))"


def _jw(column: str, threshold: float) -> str:
    return f"jaro_winkler_similarity({column}_l, {column}_r) >= {threshold}"


def given_name() -> cl.CustomComparison:
    high, low = JARO_WINKLER["given_name"]
    return cl.CustomComparison([
        cll.CustomLevel(_null("given_first"), "given name missing").configure(is_null_level=True),
        cll.ExactMatchLevel("given_first", term_frequency_adjustments=True),
        cll.CustomLevel("given_canon_l = given_canon_r", "same canonical name (nickname)"),
        cll.CustomLevel(_jw("given", high), f"Jaro-Winkler >= {high}"),
        cll.CustomLevel("given_nysiis_l = given_nysiis_r OR given_metaphone_l = given_metaphone_r", "sounds alike"),
        cll.CustomLevel(_jw("given", low), f"Jaro-Winkler >= {low}"),
        cll.CustomLevel(_names_swapped(), "all name parts shared (given and family swapped)"),
        cll.CustomLevel("NOT list_has_any(family_parts_l, family_parts_r) AND list_has_any(name_parts_l, name_parts_r)",
                        "a name part shared in another position"),
        cll.ElseLevel(),
    ], "given_name", "given name")


def family_name() -> cl.CustomComparison:
    high, low = JARO_WINKLER["family_name"]
    return cl.CustomComparison([
        cll.CustomLevel(_null("family"), "family name missing").configure(is_null_level=True),
        cll.ExactMatchLevel("family", term_frequency_adjustments=True),
        cll.CustomLevel("list_has_any(family_parts_l, family_parts_r)", "a part of a multi-part name shared"),
        cll.CustomLevel(_jw("family", high), f"Jaro-Winkler >= {high}"),
        cll.CustomLevel("family_nysiis_l = family_nysiis_r OR family_metaphone_l = family_metaphone_r",
                        "sounds alike"),
        cll.CustomLevel(_jw("family", low), f"Jaro-Winkler >= {low}"),
        cll.CustomLevel(_names_swapped(), "all name parts shared (given and family swapped)"),
        cll.CustomLevel("given_first_l <> given_first_r AND list_has_any(name_parts_l, name_parts_r)",
                        "a name part shared in another position"),
        cll.ElseLevel(),
    ], "family_name", "family name")


def date_of_birth(settings: LinkageSettings) -> cl.CustomComparison:
    two_of_three = ("(dob_year_l = dob_year_r)::INTEGER + (dob_month_l = dob_month_r)::INTEGER"
                    " + (dob_day_l = dob_day_r)::INTEGER >= 2")
    far_apart = cll.ElseLevel()
    if settings.training.dob_far_apart_m != "train":
        far_apart = far_apart.configure(m_probability=settings.training.dob_far_apart_m, fix_m_probability=True)
    return cl.CustomComparison([
        cll.CustomLevel(_null("dob"), "date of birth missing").configure(is_null_level=True),
        cll.ExactMatchLevel("dob"),
        cll.CustomLevel("dob_swapped_l = dob_r OR dob_l = dob_swapped_r", "day and month swapped"),
        cll.CustomLevel(two_of_three, "two of year, month, day equal"),
        cll.CustomLevel("abs(age_months_l - age_months_r) <= 14", "different dates, ages within a year"),
        far_apart,
    ], "date_of_birth", "date of birth")


def location() -> cl.CustomComparison:
    high, low = JARO_WINKLER["address"]
    none = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in ("address", "postcode"))
    return cl.CustomComparison([
        cll.CustomLevel(none, "no location on one side").configure(is_null_level=True),
        cll.CustomLevel("address_l = address_r AND postcode_l = postcode_r", "same address"),
        cll.CustomLevel(f"postcode_l = postcode_r AND {_jw('address', high)}",
                        f"same postcode, address Jaro-Winkler >= {high}"),
        cll.CustomLevel("address_l = address_r", "same address line, postcode differs"),
        cll.CustomLevel(f"postcode_district_l = postcode_district_r AND {_jw('address', high)}",
                        f"same postcode district, address Jaro-Winkler >= {high}"),
        cll.CustomLevel(f"postcode_l = postcode_r AND {_jw('address', low)}",
                        f"same postcode, address Jaro-Winkler >= {low}"),
        cll.CustomLevel("postcode_l = postcode_r", "same postcode unit"),
        cll.CustomLevel("postcode_sector_l = postcode_sector_r", "same postcode sector"),
        cll.ElseLevel(),
    ], "location", "address and postcode as one location")


def plaintext_rule(rule: str) -> str:
    """A rule over sealed columns, over the plaintext columns (``tok_x`` -> ``x``)."""
    return rule.replace("tok_", "")


# --- the run -------------------------------------------------------------------------------------

def link_plaintext(frames: dict[str, pd.DataFrame], settings: LinkageSettings,
                   con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, dict]:
    """Train, predict and cluster; returns (unique_id, cluster_id) and run facts with phase
    seconds (load = register the frames, train, predict, cluster)."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    db_api = DuckDBAPI(connection=con)
    inputs = []
    for source, frame in sorted(frames.items()):
        con.register("incoming_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE plain_{source} AS SELECT * FROM incoming_frame")
        con.unregister("incoming_frame")
        inputs.append(db_api.register(f"plain_{source}", dataset_display_name=source))
    link_type = "dedupe_only" if len(inputs) == 1 else "link_and_dedupe"
    linker = Linker(inputs, SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=[given_name(), family_name(), date_of_birth(settings), location()],
        blocking_rules_to_generate_predictions=[plaintext_rule(r) for r in settings.blocking_rules],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    ), log_level=logging.WARNING)
    seconds["load"] = time.perf_counter() - start

    start = time.perf_counter()
    training = settings.training
    linker.training.estimate_probability_two_random_records_match(
        [plaintext_rule(r) for r in training.deterministic_rules], recall=training.deterministic_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs, seed=training.seed,
                                                     num_chunks=training.u_chunks)
    for rule in training.em_blocking_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            plaintext_rule(rule), record_sample_proportion=1.0)
    seconds["train"] = time.perf_counter() - start

    start = time.perf_counter()
    predictions = linker.inference.predict()
    comparisons = con.execute(f"SELECT count(*) FROM {predictions.physical_name}").fetchone()[0]
    con.execute(f"""CREATE OR REPLACE TABLE plain_pairs AS
        SELECT * FROM {predictions.physical_name} WHERE match_probability >= {PREDICT_KEEP_FROM}""")
    predictions.drop_table_from_database_and_remove_from_cache()
    kept = db_api.register("plain_pairs")
    seconds["predict"] = time.perf_counter() - start

    start = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        kept, threshold_match_probability=settings.clustering.threshold_match_probability)
    result = con.execute(f"SELECT unique_id, cluster_id FROM {clusters.physical_name} ORDER BY unique_id").df()
    seconds["cluster"] = time.perf_counter() - start
    return result, {"seconds": seconds, "pairs_scored": comparisons, "model": linker.misc.save_model_to_json()}
