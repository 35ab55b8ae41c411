"""Opening sealed extracts on the hub: verify before use, refuse what does not fit.

A sealed extract is one zip container holding ``manifest.json`` and ``data.parquet``. It
is verified on open: the members are exactly those two, the manifest is a familylink
manifest of a known schema version, and the SHA-256 of the data equals the manifest's.
A folder of extracts must share one key fingerprint and one encoding fingerprint, or
their tokens could never be compared.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from familylink.core.contract import (
    SCHEMA_VERSION,
    SEALED_COLUMNS,
    SEALED_DATA_MEMBER,
    SEALED_FORMAT,
    SEALED_MANIFEST_MEMBER,
)
from familylink.core.errors import Problem, SealedExtractError

SEALED_SUFFIX = ".sealed"


@dataclass(frozen=True)
class SealedExtract:
    """A verified sealed extract: its manifest and a way to read its data."""

    path: Path
    manifest: dict

    @property
    def source(self) -> str:
        return self.manifest["source"]

    @property
    def key_fingerprint(self) -> str:
        return self.manifest["key_fingerprint"]

    @property
    def encoding_fingerprint(self) -> str:
        return self.manifest["partnership"]["encoding_fingerprint"]

    @property
    def content_sha256(self) -> str:
        return self.manifest["content"]["sha256"]

    def read_table(self, columns: list[str] | None = None) -> pa.Table:
        """The data as an Arrow table (verified again while reading)."""
        data = _read_data(self.path, self.manifest)
        return pq.read_table(io.BytesIO(data), columns=columns)


def _refuse(path: Path, what: str, fix: str = "") -> SealedExtractError:
    return SealedExtractError(f"{path.name}: {what}", [Problem(str(path), what, fix)])


def _read_data(path: Path, manifest: dict) -> bytes:
    with zipfile.ZipFile(path) as archive:
        data = archive.read(SEALED_DATA_MEMBER)
    if hashlib.sha256(data).hexdigest() != manifest["content"]["sha256"]:
        raise _refuse(path, "the data does not match the manifest's content hash: the file was altered or damaged",
                      "ask the provider to send the sealed extract again")
    return data


def open_sealed(path: str | Path) -> SealedExtract:
    """Open and verify one sealed extract."""
    path = Path(path)
    if not path.is_file():
        raise _refuse(path, "no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            if names != sorted([SEALED_MANIFEST_MEMBER, SEALED_DATA_MEMBER]):
                raise _refuse(path, "not a sealed extract (unexpected contents)",
                              "send only files written by `familylink pseudonymise`")
            manifest = json.loads(archive.read(SEALED_MANIFEST_MEMBER))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise _refuse(path, "not a sealed extract (the container cannot be read)",
                      "send only files written by `familylink pseudonymise`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != SEALED_FORMAT:
        raise _refuse(path, "not a sealed extract (no familylink manifest)")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise _refuse(path, f"sealed with schema version {manifest.get('schema_version')!r}, "
                      f"this hub reads version {SCHEMA_VERSION}", "seal it again with this familylink version")
    missing = [c for c in SEALED_COLUMNS if c not in manifest.get("columns", [])]
    if missing:
        raise _refuse(path, f"missing sealed column(s) {', '.join(missing)}", "seal it again with this familylink version")
    extract = SealedExtract(path, manifest)
    schema = pq.read_schema(io.BytesIO(_read_data(path, manifest)))
    absent = [c for c in SEALED_COLUMNS if c not in schema.names]
    if absent:
        raise _refuse(path, f"the data lacks column(s) {', '.join(absent)}", "seal it again with this familylink version")
    return extract


def open_sealed_folder(directory: str | Path) -> list[SealedExtract]:
    """Open every sealed extract in a folder; refuse mixed keys or encodings."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SealedExtractError(f"{directory}: no such folder")
    paths = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(SEALED_SUFFIX))
    if not paths:
        raise SealedExtractError(f"{directory}: no sealed extracts (*{SEALED_SUFFIX}) in the folder")
    extracts = [open_sealed(p) for p in paths]
    problems: list[Problem] = []
    first = extracts[0]
    for extract in extracts[1:]:
        if extract.key_fingerprint != first.key_fingerprint:
            problems.append(Problem(extract.path.name, f"sealed with key {extract.key_fingerprint}, "
                                    f"but {first.path.name} with key {first.key_fingerprint}",
                                    "every provider must seal with the same partnership key"))
        if extract.encoding_fingerprint != first.encoding_fingerprint:
            problems.append(Problem(extract.path.name, "sealed with different encoding settings",
                                    "every provider must use the same partnership.yaml"))
    if problems:
        raise SealedExtractError(
            f"the sealed extracts in {directory} were not made with one key and one encoding", problems)
    return extracts
