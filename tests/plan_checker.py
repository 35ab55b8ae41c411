"""A connection that checks the plan of every statement before running it (a test helper).

``PlanChecker(con, modules)`` passes every call on to the DuckDB connection ``con``; before
each ``execute`` made from one of ``modules`` (``identification.families``, ``matching``...)
it asks DuckDB for the plan (``EXPLAIN (FORMAT JSON)``, same parameters) and records the
statement with every join that is not a hash join: a nested loop (``NESTED_LOOP_JOIN``,
``BLOCKWISE_NL_JOIN``), a range join (``PIECEWISE_MERGE_JOIN``, ``IE_JOIN``) or a
``CROSS_PRODUCT``. Such a join compares every row with every row, so on a county it is a
cliff. The one exception is a join with a side that is a single row by construction (an
ungrouped aggregate: ``SELECT (SELECT count(*) ...), ...``), which costs one pass.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

import duckdb

PAIRWISE = {"NESTED_LOOP_JOIN", "BLOCKWISE_NL_JOIN", "PIECEWISE_MERGE_JOIN", "IE_JOIN", "CROSS_PRODUCT"}
_PASS_THROUGH = {"PROJECTION", "FILTER"}
_PLANNED = re.compile(r"^\s*(WITH|SELECT|CREATE|INSERT|UPDATE|DELETE|COPY)\b", re.IGNORECASE)
_VIEW = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+)?VIEW\b", re.IGNORECASE)


def single_row(node: dict) -> bool:
    """Whether the plan below ``node`` yields one row whatever the data."""
    if node["name"] == "UNGROUPED_AGGREGATE":
        return True
    children = node.get("children", [])
    return node["name"] in _PASS_THROUGH and len(children) == 1 and single_row(children[0])


def pairwise_joins(plan: list[dict]) -> list[str]:
    """Every pairwise join in the plan without a single-row side, with its conditions."""
    found = []
    stack = list(plan)
    while stack:
        node = stack.pop()
        children = node.get("children", [])
        if node["name"] in PAIRWISE and not any(single_row(c) for c in children):
            info = node.get("extra_info", {})
            found.append(f"{node['name']} {info.get('Conditions', '')}".strip())
        stack.extend(children)
    return found


@dataclass
class Statement:
    module: str
    function: str
    sql: str
    bad: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        first = " ".join(self.sql.split())[:120]
        return f"{self.module}.{self.function}: {first} -> {self.bad}"


class PlanChecker:
    """A stand-in for a DuckDB connection that records the plan of every statement."""

    def __init__(self, con: duckdb.DuckDBPyConnection, modules: tuple[str, ...]) -> None:
        self._con = con
        self._modules = modules
        self.statements: list[Statement] = []

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql: str, parameters=None):
        caller = sys._getframe(1)
        module = caller.f_globals.get("__name__", "")
        if module.startswith(self._modules) and _PLANNED.match(sql) and not _VIEW.match(sql):
            rows = self._con.execute(f"EXPLAIN (FORMAT JSON) {sql}", parameters or []).fetchall()
            plan = [node for _, text in rows for node in json.loads(text)]
            self.statements.append(Statement(module, caller.f_code.co_name, sql, pairwise_joins(plan)))
        if parameters is None:
            return self._con.execute(sql)
        return self._con.execute(sql, parameters)

    def bad(self) -> list[Statement]:
        return [s for s in self.statements if s.bad]
