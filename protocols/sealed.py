"""Sealed extract containers: written in one canonical layout, verified before use.

A sealed extract is one zip container holding ``manifest.json`` and ``data.parquet``,
stored (not compressed), with fixed member dates. ``write_container`` writes it and
``open_sealed`` verifies it on the hub:

- the members are exactly those two, each passing its zip CRC;
- the manifest is a familylink manifest of a known schema version, with the fields the hub
  reads, of the right types, and counts that reconcile;
- the SHA-256 of the data equals the manifest's;
- every other byte of the file is what ``write_container`` writes for that manifest and
  data, so a flipped byte anywhere (a member header, a date, the directory) is refused;
- the data is Parquet with every sealed column.

Any failure is a ``SealedExtractError`` naming the file, what is wrong and what to do: never
a zip or Parquet exception. A folder of extracts must share one key fingerprint and one
encoding fingerprint, or their tokens could never be compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_RESEND = "ask the provider to send the sealed extract again"
_SOURCE = re.compile(r"^[a-z][a-z0-9_]*$")


# --- writing ----------------------------------------------------------------------------


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
    info.create_system = 3  # the same bytes whatever system seals it
    info.external_attr = 0o600 << 16
    return info


def write_container(handle: BinaryIO, manifest_bytes: bytes, data_blocks: Iterable[bytes], *,
                    on_data=None) -> None:
    """Write the container to a seekable binary ``handle``: the manifest, then the data.

    ``on_data(True/False)`` is called around the data's bytes (used to locate them).
    """
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_member(SEALED_MANIFEST_MEMBER), manifest_bytes)
        with archive.open(_member(SEALED_DATA_MEMBER), "w", force_zip64=True) as member:
            if on_data:
                on_data(True)
            for block in data_blocks:
                member.write(block)
            if on_data:
                on_data(False)


class _LayoutSink:
    """A seekable sink keeping every byte ``write_container`` writes except the data's."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.pos = 0
        self.data_start: int | None = None
        self.data_length = 0
        self.in_data = False

    def on_data(self, starting: bool) -> None:
        self.in_data = starting
        if starting:
            self.data_start = self.pos

    def write(self, data: bytes) -> int:
        if self.in_data:
            self.data_length += len(data)
        elif self.data_start is None or self.pos < self.data_start:
            self.head[self.pos:self.pos + len(data)] = data
        else:
            at = self.pos - self.data_start - self.data_length
            self.tail[at:at + len(data)] = data
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    @property
    def size(self) -> int:
        return len(self.head) + self.data_length + len(self.tail)

    def seekable(self) -> bool:
        return True

    def flush(self) -> None:
        pass


# --- reading ----------------------------------------------------------------------------


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
        manifest, data, _ = _read_verified(self.path)
        if manifest != self.manifest:
            raise _refuse(self.path, "changed since it was opened", "run again on files that do not change")
        try:
            return pq.read_table(io.BytesIO(data), columns=columns)
        except Exception:  # pyarrow raises several types for bad Parquet
            raise _refuse(self.path, "its data is not readable Parquet", _RESEND) from None


def _refuse(path: Path, what: str, fix: str = "") -> SealedExtractError:
    return SealedExtractError(f"{path.name}: {what}" + (f" ({fix})" if fix else ""))


def _damaged(path: Path) -> SealedExtractError:
    return _refuse(path, "not a sealed extract as `familylink pseudonymise` writes it: the container is damaged "
                   "or was altered", _RESEND)


def _read_members(path: Path) -> tuple[bytes, bytes]:
    """The manifest's and the data's bytes, each checked against its zip CRC."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            if names != sorted([SEALED_MANIFEST_MEMBER, SEALED_DATA_MEMBER]):
                raise _refuse(path, "not a sealed extract (unexpected contents)",
                              "send only files written by `familylink pseudonymise`")
            return archive.read(SEALED_MANIFEST_MEMBER), archive.read(SEALED_DATA_MEMBER)
    except SealedExtractError:
        raise
    except OSError as error:
        raise _refuse(path, f"cannot be read ({error.strerror or type(error).__name__})",
                      "check the file and its permissions") from None
    except Exception:  # zipfile raises BadZipFile, zlib, struct, EOF, Unicode and other errors
        raise _damaged(path) from None


def _checked_manifest(path: Path, manifest_bytes: bytes) -> dict:
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _damaged(path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != SEALED_FORMAT:
        raise _refuse(path, "not a sealed extract (no familylink manifest)",
                      "send only files written by `familylink pseudonymise`")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise _refuse(path, f"sealed with schema version {str(manifest.get('schema_version'))[:20]!r}, this hub "
                      f"reads version {SCHEMA_VERSION}", "seal it again with this familylink version")
    columns = manifest.get("columns")
    missing = [c for c in SEALED_COLUMNS if not isinstance(columns, list) or c not in columns]
    if missing:
        raise _refuse(path, f"missing sealed column(s) {', '.join(missing)}",
                      "seal it again with this familylink version")
    partnership, content, counts = (manifest.get(k) for k in ("partnership", "content", "counts"))
    source, extract_date = manifest.get("source"), manifest.get("extract_date")
    numbers = ("rows_in", "accepted", "quarantined", "records")
    well_formed = (
        isinstance(source, str) and _SOURCE.match(source) and isinstance(manifest.get("key_fingerprint"), str)
        and isinstance(partnership, dict) and isinstance(partnership.get("encoding_fingerprint"), str)
        and isinstance(content, dict) and isinstance(content.get("sha256"), str)
        and isinstance(counts, dict) and all(type(counts.get(n)) is int and counts[n] >= 0 for n in numbers)
        and _iso_date(extract_date)
    )
    if not well_formed:
        raise _refuse(path, "its manifest lacks fields the hub needs or holds them in the wrong form",
                      "seal it again with this familylink version")
    if counts["rows_in"] != counts["accepted"] + counts["quarantined"]:
        raise _refuse(path, "its manifest's counts do not reconcile (rows in differ from accepted plus "
                      "quarantined)", _RESEND)
    return manifest


def _iso_date(value: object) -> bool:
    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _check_layout(path: Path, manifest_bytes: bytes, data: bytes) -> None:
    """Every byte outside the data is what ``write_container`` writes for these members."""
    sink = _LayoutSink()
    write_container(sink, manifest_bytes, [data], on_data=sink.on_data)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(0)
            head = handle.read(len(sink.head))
            handle.seek(len(sink.head) + sink.data_length)
            tail = handle.read(len(sink.tail) + 1)
    except OSError:
        raise _damaged(path) from None
    if size != sink.size or head != bytes(sink.head) or tail != bytes(sink.tail):
        raise _damaged(path)


def _read_verified(path: Path, *, layout: bool = True) -> tuple[dict, bytes, bytes]:
    """The manifest, the data and the manifest's bytes, verified (the layout too unless asked not to)."""
    manifest_bytes, data = _read_members(path)
    manifest = _checked_manifest(path, manifest_bytes)
    if hashlib.sha256(data).hexdigest() != manifest["content"]["sha256"]:
        raise _refuse(path, "the data does not match the manifest's content hash: the file was altered or damaged",
                      _RESEND)
    if layout:
        _check_layout(path, manifest_bytes, data)
    return manifest, data, manifest_bytes


def open_sealed(path: str | Path) -> SealedExtract:
    """Open and verify one sealed extract."""
    path = Path(path)
    if not path.is_file():
        raise _refuse(path, "no such file")
    manifest, data, manifest_bytes = _read_verified(path, layout=False)
    try:
        schema = pq.read_schema(io.BytesIO(data))
    except Exception:  # pyarrow raises several types for bad Parquet
        raise _refuse(path, "its data is not readable Parquet", _RESEND) from None
    absent = [c for c in SEALED_COLUMNS if c not in schema.names]
    if absent:
        raise _refuse(path, f"the data lacks column(s) {', '.join(absent)}", "seal it again with this familylink version")
    _check_layout(path, manifest_bytes, data)  # last: the reasons above say more when they apply
    return SealedExtract(path, manifest)


def open_sealed_folder(directory: str | Path) -> list[SealedExtract]:
    """Open every sealed extract in a folder; refuse mixed keys or encodings."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SealedExtractError(f"{directory}: no such folder",
                                 [Problem(str(directory), "not found", "check --extracts")])
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
