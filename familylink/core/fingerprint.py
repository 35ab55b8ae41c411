"""Fingerprints of documents: SHA-256 over canonical JSON, so they survive reformatting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(document: Any) -> bytes:
    """Serialise ``document`` deterministically (sorted keys, no whitespace, UTF-8)."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def fingerprint(document: Any, length: int = 16) -> str:
    """A short hex fingerprint of a JSON-serialisable document."""
    return hashlib.sha256(canonical_json(document)).hexdigest()[:length]


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """The full SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: str | Path, document: Any) -> None:
    """Write JSON deterministically (sorted keys, indented, trailing newline)."""
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, default=str)
    Path(path).write_text(text + "\n", encoding="utf-8")
