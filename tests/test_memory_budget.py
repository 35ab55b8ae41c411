"""The memory budget: one setting for every DuckDB connection, shown in the manifest; a stage
that needs more stops with one sentence naming the stage and the setting, leaving nothing."""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from familylink import database
from familylink.cli import cli
from familylink.core.errors import ConfigError
from familylink.core.resources import (
    ENV_MEMORY_LIMIT,
    MemoryBudget,
    machine_memory,
    memory_budget,
    parse_memory_limit,
    resolve_budget,
    use_memory_limit,
)
from familylink.pipeline import seal_folder
from familylink.synth import generate_county
from tests.conftest import EXTRACT_DATE


@pytest.fixture(autouse=True)
def default_budget(monkeypatch):
    """Each test starts from the default budget and leaves it so for the next."""
    monkeypatch.delenv(ENV_MEMORY_LIMIT, raising=False)
    use_memory_limit(None)
    yield
    use_memory_limit(None)


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, key, agreements):
    root = tmp_path_factory.mktemp("budget")
    generate_county(600, 3, EXTRACT_DATE, root / "county")
    seal_folder(root / "county" / "raw", root / "sealed", key, agreements, extract_date=EXTRACT_DATE)
    return root / "sealed"


def test_limits_are_read_as_sizes_or_shares_and_checked():
    assert parse_memory_limit("8GB", "x") == 8 * 1000**3
    assert parse_memory_limit("6 GiB", "x") == 6 * 1024**3
    assert parse_memory_limit("512mb", "x") == 512 * 1000**2
    assert parse_memory_limit("1.5G", "x") == int(1.5 * 1024**3)
    assert parse_memory_limit("50%", "x", machine=8 * 1024**3) == 4 * 1024**3
    for bad in ("lots", "8 parsecs", "0%", "120%", "1MB", "-2GB"):
        with pytest.raises(ConfigError) as error:
            parse_memory_limit(bad, "--memory-limit")
        assert error.value.summary.startswith("--memory-limit: ")


def test_option_beats_environment_beats_half_the_machine():
    env = {ENV_MEMORY_LIMIT: "3GB"}
    assert resolve_budget("2GB", env) == MemoryBudget(2 * 1000**3, "--memory-limit")
    assert resolve_budget(None, env) == MemoryBudget(3 * 1000**3, ENV_MEMORY_LIMIT)
    default = resolve_budget(None, {})
    assert default.limit_bytes == machine_memory() // 2 and default.origin.startswith("the default, 50%")
    assert use_memory_limit("1GB") == memory_budget() == MemoryBudget(1000**3, "--memory-limit")
    assert use_memory_limit(None) == default


def test_every_connection_gets_the_limit_and_a_temp_directory(tmp_path):
    use_memory_limit("300MB")
    con = database.connect(tmp_path / "x.duckdb")
    limit, temp, threshold = con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
                                         "current_setting('nested_loop_join_threshold')").fetchone()
    con.close()
    assert limit == "286.1 MiB" and temp == str(tmp_path / "x.duckdb.tmp") and threshold == 0
    con = database.connect()
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    con.close()


def test_out_of_memory_is_found_under_splinks_wrapping():
    class SplinkLike(Exception):
        pass

    with pytest.raises(Exception) as caught:
        try:
            raise duckdb.OutOfMemoryException("could not allocate block")
        except duckdb.Error as error:
            raise SplinkLike("Error executing the following sql") from error
    assert database.out_of_memory(caught.value)
    assert not database.out_of_memory(ValueError("no"))
    with pytest.raises(Exception) as guarded, database.memory_guard("link: train", MemoryBudget(64 * 1024**2, "x")):
        raise caught.value
    assert guarded.value.summary.startswith("The link: train stage needed more memory than the run may use "
                                            "(memory_limit 64.0 MiB from x)")


def _run(sealed, tmp_path, *extra, env=None):
    return CliRunner().invoke(cli, ["run", "--extracts", str(sealed), "--out", str(tmp_path / "run"), "--store",
                                    str(tmp_path / "store.duckdb"), "--reference-date", "2026-09-30", "--quiet",
                                    *extra], env=env)


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_run_below_what_a_stage_needs_fails_in_one_sentence_leaving_nothing(sealed, tmp_path, how):
    if how == "option":
        result = _run(sealed, tmp_path, "--memory-limit", "20MB")
        setting = "from --memory-limit"
    else:
        result = _run(sealed, tmp_path, env={ENV_MEMORY_LIMIT: "20MB"})
        setting = f"from {ENV_MEMORY_LIMIT}"
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: The link: "), result.stderr
    assert " stage needed more memory than the run may use (memory_limit 19.1 MiB " + setting in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run, no partial run, no store, no temp files


def test_a_run_within_its_budget_records_it_in_the_manifest(sealed, tmp_path):
    result = _run(sealed, tmp_path, "--memory-limit", "2GB")
    assert result.exit_code == 0, result.output
    resources = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))["resources"]
    assert resources["memory_limit_bytes"] == 2 * 1000**3 and resources["memory_limit_from"] == "--memory-limit"
    assert resources["memory_limit"] == "1.9 GiB"
    assert not list(tmp_path.rglob("*.tmp"))
