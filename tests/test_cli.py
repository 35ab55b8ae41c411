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
