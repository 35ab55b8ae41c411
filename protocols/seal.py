"""``validate`` and ``pseudonymise``: raw extract in, reports and one sealed file out.

Streaming: the raw file is read in blocks of whole records, each validated, normalised and
encoded (in worker processes for larger files, see ``protocols.chunk_pool``) and written as
one Parquet row group, so memory stays bounded whatever the file's size.
Outputs are written to temporary files and renamed at the end: a whole-file problem or an
interruption leaves no partial output.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

import familylink
from familylink.core.contract import (
    SCHEMA_VERSION,
    SEALED_COLUMNS,
    SEALED_DATA_MEMBER,
    SEALED_FORMAT,
)
from familylink.core.errors import ExtractError, OutputExistsError, Problem
from familylink.core.fingerprint import canonical_json
from protocols.agreements import AgreementSet
from protocols.chunk_pool import ProcessorSpec, process_chunks
from protocols.dateformats import DateFormatOptions, declared_formats, resolve_date_formats
from protocols.encoding import sealed_schema
from protocols.keys import PartnershipKey
from protocols.rawfile import RawExtract, delimiter_option, where
from protocols.sealed import write_container
from protocols.tally import DEFAULT_QUARANTINE_WARNING_SHARE, ExtractTally
from protocols.validation import RowIssue

Progress = Callable[[str, int, int], None]
MAX_BLOCK_ROWS = 25_000
MIN_BLOCK_ROWS = 5_000
PARALLEL_FROM_ROWS = 60_000


@dataclass
class ExtractReport:
    """What validating or sealing one raw extract found. Counts reconcile: rows_in = accepted + quarantined."""

    path: Path
    source: str
    extract_date: dt.date
    date_formats: dict[str, str] = field(default_factory=dict)  # date column -> the format read
    date_notes: list[str] = field(default_factory=list)  # formats detected, one sentence each
    date_detected: list[str] = field(default_factory=list)  # the columns whose format was detected
    dropped_columns: list[str] = field(default_factory=list)  # --drop-unshared: names only
    quarantine_warning: str | None = None  # more than the warning share of rows quarantined
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    blank_rows: int = 0
    records: int = 0
    fields_blanked: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    quarantine_path: Path | None = None
    problems_path: Path | None = None
    sealed_path: Path | None = None
    manifest: dict | None = None

    @property
    def reconciled(self) -> bool:
        return self.rows_in == self.accepted + self.quarantined

    def located_messages(self, limit: int = 20) -> list[str]:
        """The first problems as sentences naming file, row and column (never a value)."""
        return [f"{where(self.path, issue.row, issue.column)}: {issue.reason} [{issue.kind}]"
                for issue in self.issues[:limit]]


def file_date(path: Path) -> dt.date:
    """The extract date a file implies when none is given: its modification date."""
    return dt.date.fromtimestamp(path.stat().st_mtime)


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.{suffix}.csv")


class _Sidecars:
    """Quarantine and problems CSVs beside the raw file (provider side), written atomically."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.targets = (_sidecar(path, "quarantine"), _sidecar(path, "problems"))
        self.temps = [self._temp(t) for t in self.targets]
        # kept open across chunks and closed in commit()/abort()
        self.handles = [open(t, "w", encoding="utf-8", newline="") for t in self.temps]  # noqa: SIM115
        self.quarantine = csv.writer(self.handles[0], lineterminator="\n")
        self.problems = csv.writer(self.handles[1], lineterminator="\n")
        self.quarantine.writerow(["_row", "_column", "_reason", *header])
        self.problems.writerow(["row", "column", "kind", "reason"])
        self.counts = [0, 0]

    @staticmethod
    def _temp(target: Path) -> Path:
        descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(descriptor)
        return Path(name)

    def write(self, result) -> None:
        for row, record, column, reason in result.quarantined:
            self.quarantine.writerow([row, column, reason, *record])
        for issue in result.issues:
            self.problems.writerow([issue.row, issue.column, issue.kind, issue.reason])
        self.counts[0] += len(result.quarantined)
        self.counts[1] += len(result.issues)

    def commit(self) -> tuple[Path | None, Path | None]:
        """Keep a sidecar when it has rows or replaces an older one; otherwise drop it."""
        kept: list[Path | None] = []
        for handle, temp, target, count in zip(self.handles, self.temps, self.targets, self.counts, strict=True):
            handle.close()
            if count or target.exists():
                os.replace(temp, target)
                kept.append(target)
            else:
                temp.unlink()
                kept.append(None)
        return kept[0], kept[1]

    def abort(self) -> None:
        for handle, temp in zip(self.handles, self.temps, strict=True):
            handle.close()
            temp.unlink(missing_ok=True)


def block_rows(rows: int) -> int:
    """Rows per block for a file of about ``rows`` rows: enough blocks to keep every worker
    busy to the end, small enough to bound memory. Depends on the file only, never on the
    number of workers, so the sealed bytes are the same on any machine."""
    return max(MIN_BLOCK_ROWS, min(MAX_BLOCK_ROWS, rows // 8))


def default_workers(rows: int) -> int:
    """Worker processes for a file of about ``rows`` rows: one for small files (starting a
    process costs about a second), otherwise one per core, at most four."""
    if rows < PARALLEL_FROM_ROWS:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ReadOptions:
    """How to read a raw extract: date formats (``--date-format``), ``--delimiter``,
    ``--sheet``, ``--drop-unshared``, and the quarantined share above which to warn."""

    date_format: str | tuple[str, ...] | dict[str, str] | None = None
    delimiter: str | None = None
    sheet: str | None = None
    drop_unshared: bool = False
    warn_quarantined: float = DEFAULT_QUARANTINE_WARNING_SHARE


def _run(path: Path, source: str, agreements: AgreementSet, options: ReadOptions,
         extract_date: dt.date | None, key: PartnershipKey | None, on_table, progress: Progress | None,
         chunk_rows: int | None, workers: int | None) -> ExtractReport:
    path = Path(path)
    agreement = agreements[source]
    date_options = DateFormatOptions.parse(options.date_format)
    render = {c: f for c, (f, _) in declared_formats(agreement, date_options).items()}
    raw = RawExtract(path, agreement, delimiter=delimiter_option(options.delimiter), sheet=options.sheet,
                     drop_unshared=options.drop_unshared,
                     date_render={**{c: agreement.date_format for c in ("date_of_birth", "event_date", "end_date")},
                                  **render})
    extract_date = extract_date or file_date(path)
    if not 0 <= options.warn_quarantined <= 1:
        raise ExtractError(f"the quarantine warning share {options.warn_quarantined} is not between 0 and 1")
    dates = resolve_date_formats(raw, agreement, date_options)
    report = ExtractReport(path, source, extract_date, dict(dates.formats), list(dates.notes), dates.detected,
                           list(raw.dropped))
    total = raw.approximate_rows()
    spec = ProcessorSpec(path, tuple(raw.header), agreement, agreements.partnership, extract_date, dates.formats,
                         key.secret if key is not None else None)
    tally = ExtractTally(path, agreement, dates.formats)
    sidecars = _Sidecars(path, raw.header)
    try:
        blocks = raw.blocks(chunk_rows or block_rows(total))
        chunks = process_chunks(spec, blocks, workers or default_workers(total))
        for number, processed in enumerate(chunks):
            result = processed.result
            tally.add(result)
            if number == 0:
                tally.check_whole_file()
            sidecars.write(result)
            if len(report.issues) < 1000:
                report.issues.extend(result.issues[: 1000 - len(report.issues)])
            if processed.table is not None:
                on_table(processed.table)
            if progress:
                progress(path.name, tally.rows_in, max(total, tally.rows_in))
        if tally.rows_in == 0:
            raise ExtractError(
                f"{path.name} has a header but no data rows",
                [Problem(path.name, "no rows", "export the extract again; an empty extract cannot be sealed")],
            )
        tally.check_whole_file()
        tally.check_some_accepted(report.issues)
    except BaseException:
        sidecars.abort()
        raise
    report.quarantine_path, report.problems_path = sidecars.commit()
    report.rows_in = tally.rows_in
    report.accepted = tally.accepted
    report.quarantined = tally.quarantined
    report.blank_rows = tally.blank_rows
    report.records = tally.records
    report.fields_blanked = dict(sorted(tally.blanked.items()))
    report.warnings = tally.warnings
    report.quarantine_warning = tally.quarantine_warning(options.warn_quarantined)
    return report


def validate_extract(path: str | Path, source: str, agreements: AgreementSet, *,
                     date_format: str | tuple[str, ...] | dict[str, str] | None = None,
                     extract_date: dt.date | None = None, progress: Progress | None = None,
                     chunk_rows: int | None = None, workers: int | None = None,
                     options: ReadOptions | None = None) -> ExtractReport:
    """Check a raw extract against its agreement; write quarantine and problems CSVs beside it.

    ``date_format``: one format for every date column, ``COLUMN=FORMAT`` strings, or a
    mapping (see ``protocols.dateformats``); ``options`` the other reading options.
    """
    options = _options(options, date_format)
    return _run(Path(path), source, agreements, options, extract_date, None, lambda table: None,
                progress, chunk_rows, workers)


def _options(options: ReadOptions | None, date_format) -> ReadOptions:
    options = options or ReadOptions()
    if date_format is not None:
        options = ReadOptions(date_format, options.delimiter, options.sheet, options.drop_unshared,
                              options.warn_quarantined)
    return options


def pseudonymise(path: str | Path, out: str | Path, source: str, key: PartnershipKey,
                 agreements: AgreementSet, *, date_format: str | tuple[str, ...] | dict[str, str] | None = None,
                 extract_date: dt.date | None = None, overwrite: bool = False,
                 progress: Progress | None = None, chunk_rows: int | None = None,
                 workers: int | None = None, options: ReadOptions | None = None) -> ExtractReport:
    """Validate, normalise and encode a raw extract into ONE sealed file at ``out``.

    ``workers`` processes share the work (default: by file size); the output is the same
    bytes whatever the number of workers.
    """
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise ExtractError(f"{path}: no such file")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists", [Problem(str(out), "exists", "pass --force to replace it")])
    if out.resolve() == path.resolve():
        raise ExtractError(f"{out}: the sealed file cannot replace the raw extract")
    created = missing_folders(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    extract_date = extract_date or file_date(path)
    schema = sealed_schema(agreements.partnership)
    descriptor, data_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".parquet", dir=out.parent)
    os.close(descriptor)
    data_path = Path(data_name)
    writer = pq.ParquetWriter(data_path, schema, compression="zstd")
    try:
        report = _run(path, source, agreements, _options(options, date_format), extract_date, key,
                      writer.write_table, progress, chunk_rows, workers)
        writer.close()
        report.manifest = _manifest(report, agreements, key, data_path)
        _write_container(out, data_path, report.manifest)
        report.sealed_path = out
        created = []
        return report
    finally:
        if writer.is_open:
            writer.close()
        data_path.unlink(missing_ok=True)
        remove_empty_folders(created)


def missing_folders(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    missing = []
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove folders a failed command created (deepest first), if they are still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _manifest(report: ExtractReport, agreements: AgreementSet, key: PartnershipKey, data_path: Path) -> dict:
    agreement = agreements[report.source]
    partnership = agreements.partnership
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    return {
        "format": SEALED_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "source": report.source,
        "extract_date": report.extract_date.isoformat(),
        "date_precision": agreement.date_precision,
        "agreement": {"version": agreement.version, "fingerprint": agreement.fingerprint},
        "partnership": {
            "name": partnership.name,
            "version": partnership.version,
            "encoding_fingerprint": partnership.encoding_fingerprint,
            "encoding": partnership.encoding.model_dump(mode="json"),
        },
        "key_fingerprint": key.fingerprint,
        "counts": {
            "rows_in": report.rows_in,
            "accepted": report.accepted,
            "quarantined": report.quarantined,
            "blank_rows": report.blank_rows,
            "records": report.records,
            "fields_blanked": report.fields_blanked,
            "warnings": report.warnings,
        },
        "dates": {"formats": report.date_formats, "detected": report.date_detected},
        "dropped_columns": report.dropped_columns,
        "quarantine_warning": report.quarantine_warning,
        "columns": list(SEALED_COLUMNS),
        "content": {"member": SEALED_DATA_MEMBER, "sha256": digest, "bytes": data_path.stat().st_size},
        "tool": {"name": "familylink", "version": familylink.__version__},
    }


def _write_container(out: Path, data_path: Path, manifest: dict) -> None:
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(descriptor)
    temp = Path(temp_name)
    try:
        with open(temp, "wb") as handle, open(data_path, "rb") as data:
            write_container(handle, canonical_json(manifest) + b"\n", iter(lambda: data.read(1 << 20), b""))
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
