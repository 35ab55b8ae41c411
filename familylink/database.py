"""Every DuckDB connection the product opens, opened one way: within the memory budget.

``connect`` gives DuckDB the process's ``memory_limit`` (``familylink.core.resources``) and a
``temp_directory`` beside the database (``<file>.tmp``; for an in-memory database, one in the
system's temporary folder), so a statement that needs more than the budget spills to disk,
or stops with ``MemoryLimitError`` (``memory_guard``) instead of taking the machine down.
DuckDB creates the folder only when it spills and removes it when the connection closes.
Splink runs on the run's connection (``matching.model`` passes it to ``DuckDBAPI``), so the
same limit covers it.

``nested_loop_join_threshold`` is 0: an equality join is a hash join even when DuckDB
estimates one side at a handful of rows (a wrong estimate must not turn into a nested loop).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from familylink.core.resources import (
    ENV_MEMORY_LIMIT,
    OPTION,
    MemoryBudget,
    MemoryLimitError,
    memory_budget,
)

MEMORY = ":memory:"
_IN_MEMORY = itertools.count(1)


def temp_directory_for(database: str | Path) -> Path:
    """Where DuckDB spills for ``database``: ``<file>.tmp``, or for an in-memory database a
    folder of its own in the system's temporary folder (each connection removes its folder
    when it closes, so two never share one)."""
    if str(database) == MEMORY:
        return Path(tempfile.gettempdir()) / f"familylink-duckdb-{os.getpid()}-{next(_IN_MEMORY)}.tmp"
    return Path(f"{Path(database).absolute()}.tmp")


def connect(database: str | Path = MEMORY, *, read_only: bool = False,
            budget: MemoryBudget | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to ``database`` with the memory limit and temporary folder set."""
    budget = budget or memory_budget()
    config = {"memory_limit": budget.duckdb_value, "temp_directory": str(temp_directory_for(database))}
    con = duckdb.connect(str(database), read_only=read_only, config=config)
    try:
        con.execute("SET nested_loop_join_threshold = 0")
    except duckdb.Error:
        con.close()
        raise
    return con


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` or anything it was raised from is DuckDB running out of its budget
    (Splink wraps DuckDB's errors in its own)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, duckdb.OutOfMemoryException):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def memory_guard(stage: str | Callable[[], str], budget: MemoryBudget | None = None) -> Iterator[None]:
    """Turn DuckDB running out of memory inside the block into one ``MemoryLimitError``
    sentence naming the stage (a name, or a callable giving the stage under way) and the
    setting."""
    try:
        yield
    except Exception as error:
        if not out_of_memory(error):
            raise
        raise memory_error(stage() if callable(stage) else stage, budget) from error


def memory_error(stage: str, budget: MemoryBudget | None = None) -> MemoryLimitError:
    """The one sentence for a stage that ran out of its memory budget."""
    budget = budget or memory_budget()
    return MemoryLimitError(
        f"The {stage} stage needed more memory than the run may use ({budget.describe()}); "
        f"nothing was kept: raise {OPTION} (or {ENV_MEMORY_LIMIT}) or use a machine with more memory.")
