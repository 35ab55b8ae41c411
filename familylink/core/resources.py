"""The one memory setting every DuckDB connection of the product is opened with.

A run on a large or oddly shaped county must spill to disk or stop with one sentence, never
take the council's machine down. So every connection (the run database, the run store,
Splink's, which is the run's) gets ``memory_limit`` from one budget, resolved in this order:

1. ``--memory-limit`` on a hub command (``use_memory_limit``, process-wide);
2. the environment variable ``FAMILYLINK_MEMORY_LIMIT``;
3. the default: half of the machine's memory (or of the container's limit, when smaller).

A limit is a size (``8GB``, ``512MB``, ``6GiB``, ``1.5 GB``; decimal units are powers of
1000, ``KiB``/``MiB``/``GiB``/``TiB`` powers of 1024) or a share of the machine (``60%``).
``familylink.database`` opens the connections; this module only decides the numbers (the
kernel never imports DuckDB).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from familylink.core.errors import ConfigError, FamilylinkError, Problem

ENV_MEMORY_LIMIT = "FAMILYLINK_MEMORY_LIMIT"
OPTION = "--memory-limit"
#: Share of the machine's memory a run may use by default.
DEFAULT_SHARE = 0.5
#: Below this DuckDB cannot open a database reliably; smaller limits are refused.
MINIMUM_BYTES = 16 * 1024**2

_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class MemoryLimitError(FamilylinkError):
    """A stage needed more memory than the memory limit allows."""


@dataclass(frozen=True)
class MemoryBudget:
    """How much memory DuckDB may use, and where the value came from."""

    limit_bytes: int
    #: ``--memory-limit``, ``FAMILYLINK_MEMORY_LIMIT`` or ``the default, 50% of the machine's 23.4 GiB``
    origin: str

    @property
    def duckdb_value(self) -> str:
        """The limit as DuckDB's ``memory_limit`` setting takes it."""
        return f"{self.limit_bytes}B"

    def describe(self) -> str:
        return f"memory_limit {human_bytes(self.limit_bytes)} from {self.origin}"

    def manifest(self) -> dict:
        """What a run's manifest.json records."""
        return {"memory_limit": human_bytes(self.limit_bytes), "memory_limit_bytes": self.limit_bytes,
                "memory_limit_from": self.origin, "temp_directory": "run.duckdb.tmp beside the run database "
                                                                    "while it runs (removed at the end)"}


def human_bytes(count: int) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def machine_memory() -> int:
    """Physical memory in bytes, or the container's (cgroup) limit when that is smaller."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = limit_file.read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def parse_memory_limit(text: str, where: str, *, machine: int | None = None) -> int:
    """Bytes from ``8GB``, ``512MiB``, ``60%``...; ``ConfigError`` naming ``where`` otherwise."""
    value = str(text)
    share = _SHARE.match(value)
    size = _SIZE.match(value)
    if share:
        percent = float(share.group(1))
        if not 0 < percent <= 100:
            raise ConfigError(f"{where}: {value!r} is not a share of the machine's memory between 0 and 100%",
                              [Problem(where, "share out of range", "give e.g. 60% or a size such as 8GB")])
        count = int((machine or machine_memory()) * percent / 100)
    elif size and size.group(2).upper() in _UNITS:
        count = int(float(size.group(1)) * _UNITS[size.group(2).upper()])
    else:
        raise ConfigError(f"{where}: {value!r} is not a memory size such as 8GB, 512MB or 60%",
                          [Problem(where, "not a memory size", "give e.g. 8GB, 6GiB, 512MB or 60%")])
    if count < MINIMUM_BYTES:
        raise ConfigError(f"{where}: {value!r} is below the smallest memory limit, {human_bytes(MINIMUM_BYTES)}",
                          [Problem(where, "too small", f"give at least {human_bytes(MINIMUM_BYTES)}")])
    return count


def resolve_budget(option: str | None = None, environ: Mapping[str, str] | None = None) -> MemoryBudget:
    """The budget from ``--memory-limit`` (``option``), else the environment, else the default."""
    environ = os.environ if environ is None else environ
    if option is not None:
        return MemoryBudget(parse_memory_limit(option, OPTION), OPTION)
    if environ.get(ENV_MEMORY_LIMIT, "").strip():
        return MemoryBudget(parse_memory_limit(environ[ENV_MEMORY_LIMIT], ENV_MEMORY_LIMIT), ENV_MEMORY_LIMIT)
    machine = machine_memory()
    return MemoryBudget(int(machine * DEFAULT_SHARE),
                        f"the default, {DEFAULT_SHARE:.0%} of the machine's {human_bytes(machine)}")


_chosen: MemoryBudget | None = None


def use_memory_limit(option: str | None) -> MemoryBudget:
    """Set the process's budget from a ``--memory-limit`` value (``None``: environment or
    default) and return it. Every connection opened afterwards uses it."""
    global _chosen
    _chosen = resolve_budget(option) if option is not None else None
    return memory_budget()


def memory_budget() -> MemoryBudget:
    """The budget connections are opened with now."""
    return _chosen if _chosen is not None else resolve_budget()
