"""Issue 12, provider side: real extracts as they come, nothing lost, one sentence when refused.

Date formats per column (declared or detected), field problems that never cost a row,
nothing sealed when nothing is accepted, a loud warning above the quarantine share,
``--drop-unshared``, workbooks and other delimiters.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner

from familylink.cli.provider import pseudonymise as pseudonymise_command
from familylink.cli.provider import validate as validate_command
from familylink.core.errors import ExtractError
from protocols.keys import generate_key, write_key_file
from protocols.seal import ReadOptions, pseudonymise, validate_extract
from tests.conftest import EXTRACT_DATE, HEALTH_HEADER, health_row, write_csv

HOUSING_HEADER = ["record_id", "given_name", "family_name", "date_of_birth", "sex", "address", "postcode", "uprn",
                  "household_ref", "ni_number", "indicator", "event_date", "end_date", "value", "detail"]


def housing_row(number: int, dob: str, event_date: str = "2026-03-02") -> dict:
    return {"record_id": f"T{number}", "given_name": "Priya", "family_name": "Shah", "date_of_birth": dob,
            "sex": "F", "address": f"{number} Mill Lane, Loughborough", "postcode": "LE11 3AB",
            "uprn": str(100030000 + number), "household_ref": f"TEN{number}", "ni_number": "",
            "indicator": "rent_arrears", "event_date": event_date, "end_date": "", "value": "350", "detail": ""}


def housing_file(tmp_path, dobs, name="housing.csv"):
    return write_csv(tmp_path / name, [housing_row(i, dob) for i, dob in enumerate(dobs)], header=HOUSING_HEADER)


def sealed_manifest(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


@pytest.fixture()
def key_file(tmp_path):
    path = tmp_path / "keys" / "partnership.key"
    path.parent.mkdir(mode=0o700)
    write_key_file(path, generate_key())
    return path


def seal_cli(tmp_path, key_file, raw, *options, source="housing"):
    out = tmp_path / "out" / f"{source}.sealed"
    result = CliRunner().invoke(pseudonymise_command, ["--source", source, "--key", str(key_file), "--in", str(raw),
                                                       "--out", str(out), "--quiet", *options])
    return result, out


# --- 1. date formats per column --------------------------------------------------------


def test_housing_mixed_formats_seal_with_a_per_column_format(tmp_path, key_file):
    raw = housing_file(tmp_path, ["03/04/1990", "11/12/1985", "01/02/2001"])  # no day above 12
    result, out = seal_cli(tmp_path, key_file, raw)
    assert result.exit_code == 1 and not out.exists()
    assert "Error: housing.csv: the date format of column(s) date_of_birth cannot be told" in result.output
    assert "--date-format date_of_birth=DD/MM/YYYY" in result.output and "03/04/1990" not in result.output
    result, out = seal_cli(tmp_path, key_file, raw, "--date-format", "date_of_birth=DD/MM/YYYY")
    assert result.exit_code == 0, result.output
    manifest = sealed_manifest(out)
    assert manifest["counts"]["accepted"] == 3 and manifest["counts"]["fields_blanked"] == {}
    assert manifest["dates"]["formats"] == {"date_of_birth": "DD/MM/YYYY", "event_date": "YYYY-MM-DD",
                                            "end_date": "YYYY-MM-DD"}


def test_housing_mixed_formats_seal_without_options_when_unambiguous(tmp_path, key_file):
    raw = housing_file(tmp_path, ["23/04/1990", "11/12/1985", "01/02/2001"])  # 23 > 12: day first
    result, out = seal_cli(tmp_path, key_file, raw)
    assert result.exit_code == 0, result.output
    assert "Date format: housing.csv, column date_of_birth: dates read as DD/MM/YYYY (detected" in result.output
    manifest = sealed_manifest(out)
    assert manifest["dates"]["detected"] == ["date_of_birth"] and manifest["counts"]["accepted"] == 3
    assert manifest["counts"]["fields_blanked"] == {}


def test_agreement_date_formats_are_binding_and_small_files_that_all_fail_are_refused(tmp_path, agreements):
    from protocols.agreements import Agreement

    housing = Agreement.model_validate({**agreements["housing"].model_dump(by_alias=True),
                                        "date_formats": {"date_of_birth": "DD/MM/YYYY"}})
    assert housing.date_format_of("date_of_birth") == "DD/MM/YYYY" and housing.date_format_of("event_date") == \
        "YYYY-MM-DD"
    assert housing.fingerprint != agreements["housing"].fingerprint
    raw = housing_file(tmp_path, ["1990-04-23", "1985-12-11", "2001-02-01"])
    with pytest.raises(ExtractError) as caught:  # three rows, every date of birth fails the declared format
        validate_extract(raw, "housing", agreements, extract_date=EXTRACT_DATE, date_format={
            "date_of_birth": "DD/MM/YYYY"})
    assert "date_of_birth" in caught.value.summary and "pass --date-format date_of_birth=YYYY-MM-DD" in \
        caught.value.summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["housing.csv"]


def test_date_format_options_are_checked(tmp_path, agreements):
    raw = housing_file(tmp_path, ["1990-04-23"])
    for bad, expected in ((("birth=DD/MM/YYYY",), "not a date column"), (("DD/MM/YY",), "unsupported date pattern"),
                          (("DD/MM/YYYY", "YYYY-MM-DD"), "only one format for every column")):
        with pytest.raises(ExtractError, match=expected):
            validate_extract(raw, "housing", agreements, extract_date=EXTRACT_DATE, date_format=bad)


# --- 2. field problems never cost a row ------------------------------------------------


def test_health_codes_outside_the_agreement_are_blanked_and_every_row_kept(tmp_path, key_file):
    codes = ("DIABETES", "OBESITY", "MALNUTRITION")
    rows = [health_row(record_id=f"H{i}", indicator="health_concern", detail=codes[i % 3]) for i in range(138)]
    rows += [health_row(record_id=f"M{i}") for i in range(40)]
    raw = write_csv(tmp_path / "health.csv", rows)
    result, out = seal_cli(tmp_path, key_file, raw, source="health")
    assert result.exit_code == 0, result.output
    counts = sealed_manifest(out)["counts"]
    assert (counts["rows_in"], counts["accepted"], counts["quarantined"]) == (178, 178, 0)
    assert counts["fields_blanked"] == {"detail": 138}
    assert "blanked: detail" in result.output and "138" in result.output
    problems = (tmp_path / "health.problems.csv").read_text()
    assert problems.count("detail code not allowed for health_concern under the health agreement") == 138
    assert not any(code in problems or code in result.output for code in codes)


def test_a_trailing_delimiter_does_not_cost_the_row(tmp_path, agreements):
    path = write_csv(tmp_path / "health.csv", [health_row(), health_row(record_id="H2")])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1] + ",", lines[2] + ",x"]) + "\n")
    report = validate_extract(path, "health", agreements, extract_date=EXTRACT_DATE)
    assert (report.accepted, report.quarantined) == (1, 1) and report.reconciled


# --- 3. nothing accepted, nothing sealed; a loud warning above the share ---------------


def test_an_all_invalid_extract_writes_nothing_and_names_the_commonest_reason(tmp_path, key_file):
    rows = [health_row(record_id=f"H{i}", event_date="") for i in range(5)] + [health_row(record_id="")]
    raw = write_csv(tmp_path / "health.csv", rows)
    result, out = seal_cli(tmp_path, key_file, raw, source="health")
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith("Error: health.csv: no row can be used: all 6 rows were quarantined, most often (5 rows, "
                            "first at row 2")
    assert "column event_date: event_date is blank but an indicator is set" in first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["health.csv", "keys"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_more_than_the_share_quarantined_warns_in_summary_and_manifest(tmp_path, key_file):
    rows = [health_row(record_id=f"H{i}") for i in range(7)] + [health_row(record_id=f"Q{i}", indicator="burglar")
                                                                for i in range(3)]
    raw = write_csv(tmp_path / "health.csv", rows)
    result, out = seal_cli(tmp_path, key_file, raw, source="health")
    assert result.exit_code == 0, result.output
    assert "WARNING: health.csv: 30% of rows were quarantined (3 of 10; more than 20%)" in result.output
    assert "30% of rows were quarantined" in sealed_manifest(out)["quarantine_warning"]
    result, out = seal_cli(tmp_path, key_file, raw, "--warn-quarantined", "50", "--force", source="health")
    assert result.exit_code == 0 and "WARNING" not in result.output
    assert sealed_manifest(out)["quarantine_warning"] is None


# --- 4. --drop-unshared ------------------------------------------------------------------


def test_drop_unshared_seals_only_agreed_fields_and_lists_the_dropped_names(tmp_path, key_file):
    header = HEALTH_HEADER + ["ni_number", "religion"]
    rows = [health_row(record_id=f"H{i}", ni_number="QQ123456C", religion="SECRET-VALUE") for i in range(3)]
    rows.append({**health_row(record_id="H9"), "ni_number": "", "religion": ""})
    raw = write_csv(tmp_path / "health.csv", rows, header=header)
    lines = raw.read_text().splitlines()
    raw.write_text("\n".join(lines + [lines[-1] + ",SECRET-RAGGED"]) + "\n")  # a ragged row
    result, out = seal_cli(tmp_path, key_file, raw, source="health")
    assert result.exit_code == 1 and "--drop-unshared" in result.output and not out.exists()
    result, out = seal_cli(tmp_path, key_file, raw, "--drop-unshared", source="health")
    assert result.exit_code == 0, result.output
    assert "ni_number, religion" in result.output
    manifest = sealed_manifest(out)
    assert manifest["dropped_columns"] == ["ni_number", "religion"]
    assert (manifest["counts"]["accepted"], manifest["counts"]["quarantined"]) == (4, 1)
    quarantine = (tmp_path / "health.quarantine.csv").read_text()
    assert "SECRET" not in quarantine and "QQ123456C" not in quarantine and "religion" not in quarantine
    with zipfile.ZipFile(out) as archive:
        data = archive.read("data.parquet")
    assert b"SECRET" not in data and b"QQ123456C" not in data


# --- 5. workbooks and other delimiters --------------------------------------------------


def test_semicolon_and_tab_files_are_named_and_the_delimiter_option_reads_them(tmp_path, agreements):
    rows = [health_row(record_id=f"H{i}") for i in range(3)]
    for delimiter, name, option in ((";", "semicolon", "';'"), ("\t", "tab", "tab")):
        path = tmp_path / "health.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            import csv

            writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
            writer.writerow(HEALTH_HEADER)
            writer.writerows([[row[c] for c in HEALTH_HEADER] for row in rows])
        with pytest.raises(ExtractError) as caught:
            validate_extract(path, "health", agreements, extract_date=EXTRACT_DATE)
        assert caught.value.summary == f"health.csv: this file looks {name}-separated: pass --delimiter {option}"
        report = validate_extract(path, "health", agreements, extract_date=EXTRACT_DATE,
                                  options=ReadOptions(delimiter=delimiter))
        assert report.accepted == 3


def test_an_xlsx_extract_is_read_from_its_first_or_named_sheet(tmp_path, key_file, agreements):
    import datetime as dt

    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing here"])
    sheet = book.create_sheet("Extract")
    sheet.append(HEALTH_HEADER)
    for i in range(4):
        row = health_row(record_id=f"H{i}")
        values = [row[c] for c in HEALTH_HEADER]
        values[HEALTH_HEADER.index("date_of_birth")] = dt.datetime(1985, 3, 14)  # a real date cell
        values[HEALTH_HEADER.index("nhs_number")] = 9434765919  # a number cell
        sheet.append(values)
    sheet.append([None] * len(HEALTH_HEADER))  # an empty row: a blank line
    sheet.append([health_row()[c] for c in HEALTH_HEADER])
    path = tmp_path / "health.xlsx"
    book.save(path)
    with pytest.raises(ExtractError, match="the header does not fit"):
        validate_extract(path, "health", agreements, extract_date=EXTRACT_DATE)
    with pytest.raises(ExtractError, match="no sheet named 'Nope'"):
        validate_extract(path, "health", agreements, extract_date=EXTRACT_DATE, options=ReadOptions(sheet="Nope"))
    report = validate_extract(path, "health", agreements, extract_date=EXTRACT_DATE,
                              options=ReadOptions(sheet="Extract"))
    assert (report.rows_in, report.accepted, report.blank_rows, report.fields_blanked) == (5, 5, 1, {})
    assert report.records == 4  # H0 and the last row's H1 share an identity: no conflict warning
    result, out = seal_cli(tmp_path, key_file, path, "--sheet", "Extract", source="health")
    assert result.exit_code == 0, result.output
    assert sealed_manifest(out)["counts"]["accepted"] == 5


def test_xlsx_sealing_is_deterministic(tmp_path, key_file, agreements):
    from openpyxl import Workbook

    from protocols.keys import load_key

    book = Workbook()
    book.active.append(HEALTH_HEADER)
    for i in range(3):
        book.active.append([health_row(record_id=f"H{i}")[c] for c in HEALTH_HEADER])
    book.save(tmp_path / "health.xlsx")
    key = load_key(key_file)
    first = pseudonymise(tmp_path / "health.xlsx", tmp_path / "a.sealed", "health", key, agreements,
                         extract_date=EXTRACT_DATE)
    pseudonymise(tmp_path / "health.xlsx", tmp_path / "b.sealed", "health", key, agreements,
                 extract_date=EXTRACT_DATE)
    assert first.accepted == 3 and (tmp_path / "a.sealed").read_bytes() == (tmp_path / "b.sealed").read_bytes()


def test_validate_command_takes_the_same_options(tmp_path):
    raw = housing_file(tmp_path, ["23/04/1990", "11/12/1985"])
    result = CliRunner().invoke(validate_command, ["--source", "housing", "--in", str(raw), "--quiet",
                                                   "--extract-date", "2026-09-30"])
    assert result.exit_code == 0, result.output
    assert "dates read as DD/MM/YYYY" in result.output


def test_an_agreement_can_declare_a_format_per_column(tmp_path, agreements):
    import shutil

    from protocols.agreements import load_agreements

    folder = tmp_path / "agreements"
    shutil.copytree(agreements.directory, folder)
    text = (folder / "housing.yaml").read_text(encoding="utf-8")
    (folder / "housing.yaml").write_text(text.replace("date_format: YYYY-MM-DD\n", "date_format: YYYY-MM-DD\n"
                                                      "date_formats: {date_of_birth: DD/MM/YYYY}\n"),
                                         encoding="utf-8")
    declared = load_agreements(folder)
    raw = housing_file(tmp_path, ["03/04/1990", "11/12/1985"])  # ambiguous without the declaration
    report = validate_extract(raw, "housing", declared, extract_date=EXTRACT_DATE)
    assert report.accepted == 2 and not report.date_notes and report.date_formats["date_of_birth"] == "DD/MM/YYYY"
    assert declared["housing"].fingerprint != agreements["housing"].fingerprint
