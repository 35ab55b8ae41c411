"""Where the shipped configuration lives."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def config_dir() -> Path:
    """``$FAMILYLINK_CONFIG``, else ``./config`` when it has agreements, else the shipped one."""
    override = os.environ.get("FAMILYLINK_CONFIG")
    if override:
        return Path(override)
    local = Path.cwd() / "config"
    if (local / "agreements" / "partnership.yaml").is_file():
        return local
    return _REPO_CONFIG
