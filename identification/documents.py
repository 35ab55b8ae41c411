"""Loading a YAML configuration document into a pydantic model, every problem located."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from familylink.core.documents import validation_problems, yaml_syntax_problem
from familylink.core.errors import ConfigError, Problem

Model = TypeVar("Model", bound=BaseModel)


def load_yaml_document(model: type[Model], path: str | Path, what: str, *,
                       adjust: Callable[[Mapping], Mapping] | None = None) -> Model:
    """Read ``path`` and validate it as ``model``; a ``ConfigError`` names ``what`` and lists
    every problem (YAML syntax with line and column, each invalid key with its location).
    ``adjust`` may rewrite each pydantic error item (e.g. its location) before reporting."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, RecursionError) as error:  # syntax, characters YAML refuses, or nested too deeply
        raise ConfigError(f"the {what} {path} is not valid YAML", [yaml_syntax_problem(path, error)]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the {what} {path}", [Problem(str(path), str(error))]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the {what} {path} must be a YAML mapping", [Problem(str(path), "not a mapping")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        items = [adjust(item) if adjust else item for item in error.errors()]
        problems = validation_problems(path, items)
        raise ConfigError(f"the {what} {path} has {len(problems)} problem(s)", problems) from None
