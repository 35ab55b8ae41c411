"""Turning a configuration document's problems into located ``Problem`` objects.

Standard library only: the YAML parser's marked error and pydantic's error items are read
by duck typing, so every package that loads a document reports problems the same way
(``file: key.path: what is wrong``), all at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from familylink.core.errors import Problem


def location(path: Path | str, loc: Iterable[object]) -> str:
    """``file: a.b.0.c`` from a pydantic location tuple (validator names dropped)."""
    dotted = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
    return f"{path}: {dotted}" if dotted else str(path)


def yaml_syntax_problem(path: Path | str, error: Exception) -> Problem:
    """A YAML syntax error (``yaml.MarkedYAMLError``) as a problem with line and column."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}: line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
    return Problem(where, f"not valid YAML ({getattr(error, 'problem', error)})", "fix the YAML syntax")


def validation_problems(path: Path | str, items: Iterable[Mapping]) -> list[Problem]:
    """pydantic ``ValidationError.errors()`` items as problems, one per item."""
    problems = []
    for item in items:
        message = re.sub(r"^Value error, ", "", str(item["msg"]))
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against the documented keys)"
        problems.append(Problem(location(path, item["loc"]), message))
    return problems
