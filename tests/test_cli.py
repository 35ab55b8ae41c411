"""The CLI: every command has help; user mistakes give `Error: ...` and exit 1, never a traceback."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from familylink.cli import cli
from tests.conftest import health_row, write_csv


def commands():
    return sorted(cli.commands)


@pytest.mark.parametrize("name", commands())
def test_every_command_has_help(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert len(cli.commands[name].help or "") > 20
    for param in cli.commands[name].params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"{name} --{param.name} has no help"


def test_top_level_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("synth", "keygen", "validate", "pseudonymise", "demo"):
        assert name in result.output


def test_keygen_then_pseudonymise_then_errors(tmp_path):
    runner = CliRunner()
    key = tmp_path / "p.key"
    result = runner.invoke(cli, ["keygen", "--out", str(key)])
    assert result.exit_code == 0 and "fingerprint" in result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = runner.invoke(cli, ["keygen", "--out", str(key)])
    assert again.exit_code == 1 and again.output.startswith("Error: ") and "Traceback" not in again.output

    raw = write_csv(tmp_path / "health.csv", [health_row(), health_row(record_id="", given_name="Secretname")])
    out = tmp_path / "health.sealed"
    args = ["pseudonymise", "--source", "health", "--key", str(key), "--in", str(raw), "--out", str(out),
            "--extract-date", "2026-09-30", "--quiet"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert out.is_file() and "quarantined" in result.output and "row 3" in result.output
    assert "Secretname" not in result.output
    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "--force" in again.output
    assert runner.invoke(cli, [*args, "--force"]).exit_code == 0

    bad = runner.invoke(cli, ["validate", "--source", "health", "--in", str(tmp_path / "nope.csv")])
    assert bad.exit_code == 1 and bad.output.startswith("Error: ") and "Traceback" not in bad.output
    bad = runner.invoke(cli, ["pseudonymise", "--source", "nosuch", "--key", str(key), "--in", str(raw),
                              "--out", str(tmp_path / "x.sealed")])
    assert bad.exit_code == 1 and "no sharing agreement for source 'nosuch'" in bad.output
    bad = runner.invoke(cli, ["validate", "--source", "health", "--in", str(raw), "--date-format", "YY/MM/DD"])
    assert bad.exit_code == 1 and bad.output.startswith("Error: ")


def test_validate_prints_reconciled_counts_without_values(tmp_path):
    raw = write_csv(tmp_path / "health.csv", [health_row(), health_row(record_id="H2", nhs_number="9434765918")])
    result = CliRunner().invoke(cli, ["validate", "--source", "health", "--in", str(raw),
                                      "--extract-date", "2026-09-30"])
    assert result.exit_code == 0
    assert "reconciled" in result.output and "yes" in result.output
    assert "column nhs_number" in result.output and "9434765918" not in result.output


@pytest.mark.slow
def test_synth_command_writes_seven_sources_and_truth_byte_identically(tmp_path):
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(cli, ["synth", "--people", "20000", "--seed", "7", "--reference-date",
                                     "2026-09-30", "--out", str(tmp_path / name), "--quiet"])
        assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    raw = [f.name for f in files if f.parts[0] == "raw"]
    assert raw == sorted(f"{s}.csv" for s in ("schools", "police", "dwp", "housing", "health", "social_care",
                                              "probation"))
    assert {"records.csv", "persons.csv", "eligible.csv"} <= {f.name for f in files if f.parts[0] == "truth"}
    for relative in files:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative
    again = runner.invoke(cli, ["synth", "--people", "200", "--out", str(tmp_path / "a")])
    assert again.exit_code == 1 and again.output.startswith("Error: ")


def test_a_whole_file_problem_leaves_no_sealed_output(tmp_path):
    from protocols.keys import generate_key, write_key_file

    write_key_file(tmp_path / "k.key", generate_key())
    rows = [health_row(record_id=f"H{i}", date_of_birth="14/03/1985", event_date="01/05/2026") for i in range(8)]
    raw = write_csv(tmp_path / "health.csv", rows)
    result = CliRunner().invoke(cli, ["pseudonymise", "--source", "health", "--key", str(tmp_path / "k.key"),
                                      "--in", str(raw), "--out", str(tmp_path / "out" / "health.sealed")])
    assert result.exit_code == 1 and "--date-format event_date=DD/MM/YYYY" in result.output
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["health.csv", "k.key"]


def test_demo_runs_the_whole_chain(tmp_path):
    import openpyxl

    from identification.settings import load_localities

    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--people", "3000", "--reference-date",
                                      "2026-09-30", "--quiet"])
    assert result.exit_code == 0, result.output
    run = out / "hub" / "runs" / "2026-09-30"
    assert (out / "hub" / "runs" / "2026-06-30" / "candidates.csv").is_file()
    assert "eligible families" in result.output and str(run / "candidates.xlsx") in result.output
    assert "changes since R0001" in result.output and "kept their family_id" in result.output
    book = openpyxl.load_workbook(run / "candidates.xlsx")
    assert book.sheetnames == ["Summary", *load_localities().names, "Changes", "Outcomes"]
    for name in ("persons.csv", "households.csv", "families.csv", "candidates.csv", "evidence.csv",
                 "changes.csv", "outcomes.csv", "report.html", "manifest.json", "model.json"):
        assert (run / name).is_file(), name
    again = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--people", "3000", "--quiet"])
    assert again.exit_code == 1 and "was not made by `familylink demo`" in again.output
