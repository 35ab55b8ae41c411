"""Person linkage end to end on a generated county: accuracy against truth, guards, errors."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from familylink.cli import cli
from familylink.pipeline import seal_folder
from familylink.synth import generate_county
from matching.link import link_persons
from matching.settings import load_linkage_settings
from protocols.keys import generate_key
from tests.conftest import EXTRACT_DATE

pytestmark = pytest.mark.slow

#: One person recorded five ways, plus a twin and a same-name son at the same address.
BASE = {"given_name": "William", "family_name": "Ashworth-Pike", "date_of_birth": "1984-03-07",
        "sex": "M", "address": "14 Quenby Mill Lane, Loughborough", "postcode": "LE11 3QX"}
VARIANTS = {
    "police": [("POL-T1", BASE)],
    "probation": [
        ("PRB-NICK", {**BASE, "given_name": "Bill"}),
        ("PRB-TYPO", {**BASE, "given_name": "Wiliam", "family_name": "Ashworth-Pyke"}),
        ("PRB-SWAP", {**BASE, "given_name": "Ashworth-Pike", "family_name": "William"}),
        ("PRB-DMSWAP", {**BASE, "date_of_birth": "1984-07-03"}),
        ("PRB-TWIN", {**BASE, "given_name": "Harold"}),
        ("PRB-SON", {**BASE, "date_of_birth": "2008-11-23"}),
    ],
}


def append_rows(path, rows):
    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    with open(path, "a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for record_id, values in rows:
            writer.writerow([{"record_id": record_id, **values}.get(c, "") for c in header])


@pytest.fixture(scope="module")
def county(tmp_path_factory, agreements):
    root = tmp_path_factory.mktemp("linkage")
    generate_county(20_000, 7, EXTRACT_DATE, root / "county")
    for source, rows in VARIANTS.items():
        append_rows(root / "county" / "raw" / f"{source}.csv", rows)
    key = generate_key()
    seal_folder(root / "county" / "raw", root / "extracts", key, agreements, extract_date=EXTRACT_DATE)
    return root, key


@pytest.fixture(scope="module")
def linked(county):
    root, _ = county
    run = root / "run"
    run.mkdir()
    con = duckdb.connect(str(run / "run.duckdb"))
    summary = link_persons(root / "extracts", run, load_linkage_settings(), con)
    persons = {(s, r): p for s, r, p in con.execute("SELECT source, record_id, person_id FROM persons").fetchall()}
    con.close()
    return root, run, summary, persons


def truth_records(root) -> dict[tuple[str, str], str]:
    with open(root / "county" / "truth" / "records.csv", encoding="utf-8") as handle:
        return {(r["source"], r["record_id"]): r["person_id"] for r in csv.DictReader(handle)}


def pairwise(groups: dict) -> set[tuple]:
    by_group: dict[str, list] = {}
    for record, group in groups.items():
        by_group.setdefault(group, []).append(record)
    return {(a, b) for members in by_group.values() for a in members for b in members if a < b}


def test_person_clusters_match_truth(linked):
    root, _, summary, persons = linked
    truth = truth_records(root)
    predicted = pairwise({k: v for k, v in persons.items() if k in truth})
    actual = pairwise(truth)
    precision = len(predicted & actual) / len(predicted)
    recall = len(predicted & actual) / len(actual)
    f1 = 2 * precision * recall / (precision + recall)
    assert f1 >= 0.98, (precision, recall, f1)
    assert summary.conflicted_clusters_left == 0


def test_households_from_linked_persons_match_truth(linked):
    root, run, summary, persons = linked
    truth = truth_records(root)
    with open(root / "county" / "truth" / "persons.csv", encoding="utf-8") as handle:
        true_household = {r["person_id"]: r["household_id"] for r in csv.DictReader(handle)}
    with open(run / "households.csv", encoding="utf-8") as handle:
        our_household = {r["person_id"]: r["household_id"] for r in csv.DictReader(handle)}
    assert set(our_household) == set(persons.values())
    # compare over records: two records share a household in truth and in ours
    ours = {record: our_household[person] for record, person in persons.items() if record in truth}
    theirs = {record: true_household[person] for record, person in truth.items()}
    predicted, actual = pairwise(ours), pairwise(theirs)
    precision = len(predicted & actual) / len(predicted)
    recall = len(predicted & actual) / len(actual)
    assert 2 * precision * recall / (precision + recall) >= 0.95, (precision, recall)
    assert summary.households.communal_addresses > 0


def test_every_record_appears_once_in_persons_csv(linked, county):
    root, run, _, persons = linked
    with open(run / "persons.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["source", "record_id", "person_id", "link_confidence"]
    keys = [(r["source"], r["record_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(truth_records(root)) + sum(len(v) for v in VARIANTS.values())
    assert all(0.0 < float(r["link_confidence"]) <= 1.0 for r in rows)
    assert (run / "model.json").is_file() and (run / "match_weights.html").is_file()
    assert "cdn" not in (run / "match_weights.html").read_text(encoding="utf-8").lower()


def test_variants_of_one_person_merge_and_relatives_do_not(linked):
    _, _, _, persons = linked
    base = persons[("police", "POL-T1")]
    for record_id in ("PRB-NICK", "PRB-TYPO", "PRB-SWAP", "PRB-DMSWAP"):
        assert persons[("probation", record_id)] == base, record_id
    assert persons[("probation", "PRB-TWIN")] != base
    assert persons[("probation", "PRB-SON")] != base


def test_generated_twins_are_never_merged(linked):
    root, _, _, persons = linked
    truth = truth_records(root)
    with open(root / "county" / "truth" / "persons.csv", encoding="utf-8") as handle:
        twins = {(r["person_id"], r["twin_of"]) for r in csv.DictReader(handle) if r["twin_of"]}
    assert twins
    ours = {}
    for record, person in truth.items():
        ours.setdefault(person, set()).add(persons[record])
    merged = [(a, b) for a, b in twins if a in ours and b in ours and ours[a] & ours[b]]
    assert len(merged) <= max(1, len(twins) // 100), merged


def test_identical_inputs_give_identical_outputs_and_a_reused_model_agrees(linked, tmp_path):
    root, run, _, _ = linked
    result = CliRunner().invoke(cli, ["link", "--extracts", str(root / "extracts"), "--out", str(tmp_path / "a"),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    # the summary names the prior the run settled on and the agreement u no longer undersold
    assert "prior (two random records" in result.output and "agreement weighed up" in result.output
    # the model and its charts too: Splink's EM differs between runs in the last digits, names
    # every Linker with a random id and every chart element with another; the run rounds the
    # first and replaces the others (matching/model.py)
    for name in ("persons.csv", "households.csv", "model.json", "match_weights.html", "m_u_parameters.html"):
        assert (tmp_path / "a" / name).read_bytes() == (run / name).read_bytes(), name
    result = CliRunner().invoke(cli, ["link", "--extracts", str(root / "extracts"), "--out", str(tmp_path / "b"),
                                      "--model", str(run / "model.json"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "persons.csv").read_bytes() == (run / "persons.csv").read_bytes()
    # the reused model scores every pair as the training run did: the corrected u it carries,
    # and the exact-name levels' shift it adds to the weight (matching/model.py)
    query = "SELECT left_id, right_id, match_probability FROM person_pairs ORDER BY left_id, right_id"
    with duckdb.connect(str(run / "run.duckdb"), read_only=True) as trained, \
            duckdb.connect(str(tmp_path / "b" / "run.duckdb"), read_only=True) as reused:
        first, again = trained.execute(query).fetchall(), reused.execute(query).fetchall()
    assert [pair[:2] for pair in first] == [pair[:2] for pair in again]
    assert max(abs(a[2] - b[2]) for a, b in zip(first, again, strict=True)) < 1e-9


def _rewrite(source_path, target_path, data: bytes, manifest: dict):
    with zipfile.ZipFile(target_path, "w") as target:
        target.writestr("manifest.json", json.dumps(manifest))
        target.writestr("data.parquet", data)


@pytest.mark.parametrize("damage", ["mixed key", "tampered", "missing token column", "sealed by an older version"])
def test_bad_extract_folders_stop_the_run_with_one_sentence(county, agreements, tmp_path, damage):
    import hashlib

    root, _ = county
    folder = tmp_path / "extracts"
    folder.mkdir()
    for path in (root / "extracts").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    police = next(folder.glob("police-*"))
    with zipfile.ZipFile(police) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        data = archive.read("data.parquet")
    if damage == "mixed key":
        other = tmp_path / "other"
        seal_folder(root / "county" / "raw", other, generate_key(), agreements, extract_date=EXTRACT_DATE)
        police.write_bytes(next(other.glob("police-*")).read_bytes())
        expected = "not made with one key"
    elif damage == "tampered":
        flipped = bytearray(data)
        flipped[len(flipped) // 3] ^= 0x04
        _rewrite(police, police, bytes(flipped), manifest)
        expected = "content hash"
    else:  # a column dropped from the data only, or (an older version) from both data and manifest
        dropped = "tok_given_first" if damage == "missing token column" else "tok_given_forms"
        table = pq.read_table(io.BytesIO(data)).drop_columns([dropped])
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        manifest["content"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
        if damage == "sealed by an older version":
            manifest["columns"] = [c for c in manifest["columns"] if c != dropped]
        _rewrite(police, police, buffer.getvalue(), manifest)
        expected = ("lacks column(s) tok_given_first" if damage == "missing token column"
                    else "missing sealed column(s) tok_given_forms")
    result = CliRunner().invoke(cli, ["link", "--extracts", str(folder), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and expected in result.output.splitlines()[0] + result.output
    assert "Traceback" not in result.output


def test_a_single_source_links_and_splink_messages_go_to_the_run_log(county, tmp_path):
    root, _ = county
    folder = tmp_path / "one"
    folder.mkdir()
    police = next((root / "extracts").glob("police-*"))
    (folder / police.name).write_bytes(police.read_bytes())
    result = CliRunner().invoke(cli, ["link", "--extracts", str(folder), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output
    assert (tmp_path / "run" / "splink.log").is_file()
    with open(tmp_path / "run" / "persons.csv", encoding="utf-8") as handle:
        assert {r["source"] for r in csv.DictReader(handle)} == {"police"}


def test_no_hub_side_artefact_holds_a_personal_value(linked):
    from tests.test_sealing import leaks, personal_values

    root, run, _, _ = linked
    dobs, values = personal_values(root / "county" / "raw")
    dashed_dobs = {d for d in dobs if "-" in d}  # compact dates are valid hex: tokens match them by chance
    for path in sorted(run.iterdir()):
        if path.suffix == ".duckdb":
            continue
        text = path.read_text(encoding="utf-8")
        checked = values
        if path.suffix == ".html":  # scan the chart's own spec, not the inlined Vega libraries
            text = re.sub(r"<script[^>]*>\s*!function.*?</script>", "", text, flags=re.S)
            assert "vegaEmbed" in text
            # the Vega-Lite spec's own words ("mark", colour names) equal some short surnames
            checked = {v for v in values if len(v) >= 6 or " " in v}
        assert not leaks(checked, text), path.name
        if path.suffix != ".html":  # charts hold numbers that can look like dates
            assert not leaks(dashed_dobs, text), path.name
    # the run database: every distinct text value of every table (dates are DATE columns)
    con = duckdb.connect(str(run / "run.duckdb"), read_only=True)
    cells: set[str] = set()
    for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' OR data_type LIKE 'VARCHAR[]'").fetchall():
        cells.update(str(v).upper() for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall()
                     if v is not None)
    con.close()
    words = {w for cell in cells for w in re.findall(r"[A-Z0-9-]+", cell)}
    found = [v for v in values | dashed_dobs if (v.upper() in words if " " not in v else v.upper() in cells)]
    assert not found, f"run.duckdb holds {len(found)} personal values"


def _settings_with(tmp_path, **changes):
    import yaml

    from matching.settings import default_linkage_file

    document = yaml.safe_load(default_linkage_file().read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = tmp_path / "linkage.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_linkage_settings(path)


def test_patterns_are_evidence_and_far_apart_dob_m_is_trained_by_default(tmp_path):
    from matching.comparisons import PARENT_CHILD_LEVEL, TWIN_LEVEL, date_of_birth, given_name

    default = load_linkage_settings()
    assert default.guards.twins == "evidence" and default.training.dob_far_apart_m == "train"
    assert default.training.prior == "auto" and default.clustering.threshold_match_probability == "auto"
    dob_levels = date_of_birth(default).get_comparison("duckdb").comparison_levels
    assert not dob_levels[-1]._fix_m_probability
    assert PARENT_CHILD_LEVEL in [x.label_for_charts for x in dob_levels]
    assert TWIN_LEVEL in [x.label_for_charts for x in given_name(default).get_comparison("duckdb").comparison_levels]
    fixed = _settings_with(tmp_path, **{"training.dob_far_apart_m": 0.0005, "guards.twins": False})
    assert fixed.guards.twins == "off"  # settings files before 2026.2: false meant off, true veto
    levels = date_of_birth(fixed).get_comparison("duckdb").comparison_levels
    assert levels[-1]._fix_m_probability and levels[-1].m_probability == 0.0005
    assert PARENT_CHILD_LEVEL not in [x.label_for_charts for x in levels]


@pytest.mark.parametrize("key,value", [("training.dob_far_apart_m", "often"), ("guards.twins", "maybe"),
                                       ("training.u_chunks", 0)])
def test_bad_linkage_settings_name_the_key(tmp_path, key, value):
    from familylink.core.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        _settings_with(tmp_path, **{key: value})
    assert any(key in str(problem) for problem in raised.value.problems), raised.value.problems


def test_the_twin_guard_can_be_turned_off(county, tmp_path):
    root, _ = county
    settings = _settings_with(tmp_path, **{"guards.twins": False})
    run = tmp_path / "run"
    run.mkdir()
    con = duckdb.connect(str(run / "run.duckdb"))
    summary = link_persons(root / "extracts", run, settings, con)
    con.close()
    assert summary.guards.dropped_twins == 0


def test_the_run_calibrates_itself_and_estimates_its_own_accuracy(linked):
    root, run, summary, persons = linked
    truth = truth_records(root)
    model = json.loads((run / "model.json").read_text(encoding="utf-8"))
    calibration, accuracy = model["calibration"], model["accuracy"]
    assert calibration["prior_method"].startswith("auto") and 0 < calibration["probability_two_random_records_match"] < 1
    assert calibration["threshold_method"] == "maximum expected F1" and 0.5 <= calibration["threshold_match_probability"] < 1
    assert accuracy == summary.accuracy and set(accuracy["by_source_pair"]) >= {"police|probation"}
    # u without the matches among random pairs: names, date of birth and place only, never a
    # term-frequency level or a calibrated pattern level; the saved model carries the new u
    corrected = calibration["u_without_matches"]
    assert {x["comparison"] for x in corrected} == {"given_name", "family_name", "date_of_birth", "location"}
    labels = {x["label"] for x in corrected}
    assert not any(x.startswith(("clearly different given names", "dates far apart")) for x in labels)
    saved = {(c["output_column_name"], level["label_for_charts"]): level.get("u_probability")
             for c in model["splink_model"]["comparisons"] for level in c["comparison_levels"]}
    # the exact-name levels are weighed by term frequency: they keep the sampled u, and their
    # shift is applied to the pairs' weight
    weighed = {x["label"] for x in corrected if x.get("term_frequency")}
    assert weighed == {"Exact match on tok_given_first", "Exact match on tok_family"}
    assert all(saved[(x["comparison"], x["label"])] == (x["u_sampled"] if x.get("term_frequency") else x["u"])
               for x in corrected)
    exact_dob = next(x for x in corrected if x["label"] == "Exact match on tok_dob")
    assert exact_dob["bits"] > 0.2  # the county's people have several records: many same-date pairs match
    by_person: dict[str, list] = {}
    for record, person in persons.items():
        by_person.setdefault(person, []).append(truth.get(record))
    predicted = sum(len(m) * (len(m) - 1) // 2 for m in by_person.values())
    correct = sum(sum(1 for i, a in enumerate(m) for b in m[i + 1:] if a is not None and a == b)
                  for m in by_person.values())
    sizes: dict[str, int] = {}
    for person in truth.values():
        sizes[person] = sizes.get(person, 0) + 1
    true_pairs = sum(n * (n - 1) // 2 for n in sizes.values())
    precision, recall = correct / predicted, correct / true_pairs
    f1 = 2 * precision * recall / (precision + recall)
    assert f1 >= 0.985, (precision, recall)
    assert abs(accuracy["f1"] - f1) <= 0.01, (accuracy, f1)
    assert abs(accuracy["recall"] - recall) <= 0.02, (accuracy, recall)


def test_no_group_links_much_worse_than_the_county(linked):
    """Name origin, age band, sex and source pair (groups with at least 100 true pairs): no
    group's F1 more than 0.02 below the whole county's (benchmarks/bench_groups.py)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from linkage_groups import group_scores, person_groups

    root, _, _, persons = linked
    scores = group_scores(truth_records(root), persons,
                          person_groups(root / "county" / "truth", 20_000, 7, EXTRACT_DATE))
    overall = next(s for s in scores if s.dimension == "all")
    assert {s.dimension for s in scores} >= {"name origin", "age band", "sex", "source pair"}
    behind = [(s.dimension, s.group, round(s.f1, 4)) for s in scores
              if s.true_pairs >= 100 and s.f1 < overall.f1 - 0.02]
    assert not behind, (round(overall.f1, 4), behind)
