"""Import rules and module size, checked statically (see pyproject's import-linter contracts)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("familylink", "protocols", "matching", "identification")


def imports_of(package: str) -> dict[Path, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}"
            for path, names in imports_of(package).items()
            for name in names if name.split(".")[0] in forbidden or name in forbidden]


def test_protocols_never_imports_duckdb_splink_or_the_hub():
    assert not offenders("protocols", ("duckdb", "splink", "matching", "identification"))


def test_matching_and_identification_are_independent():
    assert not offenders("matching", ("identification",))
    assert not offenders("identification", ("matching", "splink"))


def test_core_is_standard_library_only():
    third_party = ("protocols", "matching", "identification", "duckdb", "splink", "pandas", "numpy",
                   "pyarrow", "pydantic", "click", "rich", "yaml")
    found = [o for o in offenders("familylink", third_party) if "familylink/core/" in o]
    assert not found


def test_only_the_cli_prints_or_exits():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "cli" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    assert node.func.id not in ("print", "exit"), f"{path} calls {node.func.id}"
                if isinstance(node, ast.Attribute) and node.attr == "exit" and getattr(node.value, "id", "") == "sys":
                    raise AssertionError(f"{path} calls sys.exit")


def test_modules_stay_small():
    large = [f"{p.relative_to(ROOT)}: {n}" for package in PACKAGES for p in (ROOT / package).rglob("*.py")
             if (n := len(p.read_text(encoding="utf-8").splitlines())) > 650]
    assert not large


def test_splink_is_called_only_through_the_model_wrapper():
    users = sorted(str(path.relative_to(ROOT)) for package in PACKAGES
                   for path, names in imports_of(package).items()
                   if any(name.split(".")[0] == "splink" for name in names))
    assert users == ["matching/comparisons.py", "matching/model.py"]
