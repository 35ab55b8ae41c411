"""Malformed inputs: each gives the documented behaviour, located messages and reconciled counts."""

import csv

import pytest

from familylink.core.errors import ExtractError
from protocols.seal import validate_extract
from tests.conftest import EXTRACT_DATE, HEALTH_HEADER, health_row, write_csv


def run(path, agreements, **kwargs):
    kwargs.setdefault("extract_date", EXTRACT_DATE)
    return validate_extract(path, "health", agreements, **kwargs)


def read(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_clean_file_with_bom_and_crlf_is_accepted(tmp_path, agreements):
    rows = [health_row(record_id=f"H{i}") for i in range(5)]
    report = run(write_csv(tmp_path / "health.csv", rows, bom=True, crlf=True), agreements)
    assert (report.rows_in, report.accepted, report.quarantined) == (5, 5, 0)
    assert report.reconciled and report.quarantine_path is None and not report.issues


def test_row_and_field_problems_are_located_quarantined_or_blanked(tmp_path, agreements):
    rows = [
        health_row(record_id="H1"),                                   # row 2: fine
        health_row(record_id=""),                                     # row 3: no record_id
        health_row(record_id="H3", indicator="burglary"),             # row 4: unknown indicator
        health_row(record_id="H4", event_date="2026-02-30"),          # row 5: impossible event date
        health_row(record_id="H5", date_of_birth="2027-01-01"),       # row 6: DOB in future -> blanked
        health_row(record_id="H6", nhs_number="9434765918"),          # row 7: bad check digit -> blanked
        health_row(record_id="H7", postcode="LE11 3A"),               # row 8: malformed postcode -> blanked
        health_row(record_id="H8", event_date="1980-01-01"),          # row 9: event before birth
        health_row(record_id="H9", indicator="", event_date=""),      # row 10: person with no event
        health_row(record_id="H10", date_of_birth="14/03/1985"),      # row 11: wrong format -> blanked
    ]
    path = write_csv(tmp_path / "health.csv", rows)
    report = run(path, agreements)
    assert report.rows_in == 10 and report.reconciled
    assert report.quarantined == 4 and report.accepted == 6
    assert report.fields_blanked == {"date_of_birth": 2, "nhs_number": 1, "postcode": 1}
    by_row = {(i.row, i.column): i for i in report.issues}
    assert by_row[(3, "record_id")].kind == "quarantined"
    assert by_row[(4, "indicator")].kind == "quarantined"
    assert by_row[(5, "event_date")].kind == "quarantined"
    assert by_row[(9, "event_date")].reason.startswith("the event is dated before")
    assert by_row[(6, "date_of_birth")].kind == "blanked"
    assert by_row[(7, "nhs_number")].kind == "blanked"
    quarantine = read(report.quarantine_path)
    assert [q["_row"] for q in quarantine] == ["3", "4", "5", "9"]
    assert quarantine[1]["_column"] == "indicator" and quarantine[1]["indicator"] == "burglary"
    problems = read(report.problems_path)
    assert {(p["row"], p["column"], p["kind"]) for p in problems} >= {("7", "nhs_number", "blanked")}
    messages = "\n".join(report.located_messages(50))
    assert "health.csv row 7 (the header is row 1), column nhs_number" in messages
    for personal in ("9434765918", "LE11 3A", "2027-01-01", "O'Brien", "Zoë", "14/03/1985", "Mill Lane"):
        assert personal not in messages


@pytest.mark.parametrize(
    "header, expected",
    [
        ([c for c in HEALTH_HEADER if c != "family_name"], "family_name: required column missing"),
        (HEALTH_HEADER + ["religion"], "religion: unknown column"),
        (HEALTH_HEADER + ["ni_number"], "ni_number: column not shared under the health agreement"),
    ],
)
def test_header_problems_stop_the_file_with_one_clear_sentence(tmp_path, agreements, header, expected):
    path = write_csv(tmp_path / "health.csv", [health_row()], header=header)
    with pytest.raises(ExtractError) as caught:
        run(path, agreements)
    assert expected in caught.value.render()
    assert not (tmp_path / "health.quarantine.csv").exists()


def test_empty_and_header_only_files(tmp_path, agreements):
    empty = tmp_path / "health.csv"
    empty.write_bytes(b"")
    with pytest.raises(ExtractError, match="empty"):
        run(empty, agreements)
    header_only = write_csv(tmp_path / "health2.csv", [], header=HEALTH_HEADER)
    with pytest.raises(ExtractError, match="no data rows"):
        run(header_only, agreements)
    assert list(tmp_path.iterdir()) == sorted([empty, header_only]) or len(list(tmp_path.iterdir())) == 2


def test_latin1_file_is_refused_naming_the_row(tmp_path, agreements):
    rows = [health_row(record_id=f"H{i}", given_name="Zoe") for i in range(3)] + [health_row(record_id="H9")]
    path = write_csv(tmp_path / "health.csv", rows, encoding="latin-1")
    with pytest.raises(ExtractError) as caught:
        run(path, agreements)
    assert "not UTF-8" in caught.value.summary and "row 5" in caught.value.summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["health.csv"]


def test_dates_in_the_wrong_format_stop_the_file_and_the_override_fixes_it(tmp_path, agreements):
    rows = [health_row(record_id=f"H{i}", date_of_birth="14/03/1985", event_date="01/05/2026") for i in range(8)]
    path = write_csv(tmp_path / "health.csv", rows)
    with pytest.raises(ExtractError) as caught:  # a declared format is binding
        run(path, agreements, date_format="YYYY-MM-DD")
    summary = caught.value.summary
    assert "date_of_birth" in summary and "event_date" in summary and "YYYY-MM-DD" in summary
    assert "pass --date-format date_of_birth=DD/MM/YYYY" in caught.value.render()
    assert "14/03/1985" not in caught.value.render()
    with pytest.raises(ExtractError) as caught:  # undeclared: event_date's day never exceeds 12
        run(path, agreements)
    assert "event_date" in caught.value.summary and "date_of_birth" not in caught.value.summary
    assert "--date-format event_date=DD/MM/YYYY or --date-format event_date=MM/DD/YYYY" in caught.value.summary
    report = run(path, agreements, date_format="DD/MM/YYYY")
    assert report.accepted == 8 and not report.fields_blanked


def test_a_file_from_another_source_is_named(tmp_path, agreements):
    rows = [health_row(record_id=f"P{i}", indicator="proven_offence") for i in range(6)]
    path = write_csv(tmp_path / "health.csv", rows)
    with pytest.raises(ExtractError, match="looks like a police extract"):
        run(path, agreements)


def test_conflicting_identities_under_one_record_id_are_warned_not_dropped(tmp_path, agreements):
    rows = [health_row(record_id="H1"), health_row(record_id="H1", date_of_birth="1986-03-14")]
    report = run(write_csv(tmp_path / "health.csv", rows), agreements)
    assert report.accepted == 2 and report.warnings == 1
    assert report.issues[0].column == "record_id" and "row 2" in report.issues[0].reason


def test_ragged_rows_are_quarantined(tmp_path, agreements):
    path = write_csv(tmp_path / "health.csv", [health_row(), health_row(record_id="H2")])
    text = path.read_text().splitlines()
    text[2] += ",extra"
    path.write_text("\n".join(text) + "\n")
    report = run(path, agreements)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert "15 values but the header has 14" in report.issues[0].reason


def test_value_and_detail_rules(tmp_path, agreements):
    header = ["record_id", "given_name", "family_name", "date_of_birth", "indicator", "event_date",
              "end_date", "value", "detail"]
    base = {"given_name": "Ann", "family_name": "Lee", "date_of_birth": "1990-01-01"}
    rows = [
        {**base, "record_id": "D1", "indicator": "out_of_work_benefit", "event_date": "2025-01-01", "detail": "jsa"},
        {**base, "record_id": "D2", "indicator": "out_of_work_benefit", "event_date": "2025-01-01", "detail": "PIP"},
        {**base, "record_id": "D3", "indicator": "out_of_work_benefit", "event_date": "2025-01-01",
         "end_date": "2024-01-01"},
    ]
    report = validate_extract(write_csv(tmp_path / "dwp.csv", rows, header=header), "dwp", agreements,
                              extract_date=EXTRACT_DATE)
    assert (report.accepted, report.quarantined) == (2, 1)  # a disallowed detail code is blanked, the row kept
    assert report.fields_blanked == {"detail": 1}
    reasons = {i.row: (i.kind, i.reason) for i in report.issues}
    assert reasons[3][0] == "blanked" and "detail code not allowed" in reasons[3][1]
    assert "end_date is before" in reasons[4][1]
    school = [{**base, "record_id": "S1", "indicator": "attendance_term", "event_date": "2025-07-20"},
              {**base, "record_id": "S2", "indicator": "", "event_date": ""}]
    header_s = [c for c in header if c != "detail"]
    report = validate_extract(write_csv(tmp_path / "schools.csv", school, header=header_s), "schools",
                              agreements, extract_date=EXTRACT_DATE)
    assert report.quarantined == 1 and "value is required" in report.issues[0].reason
