"""Reading a raw extract: CSV (any delimiter) or an Excel workbook, streamed in blocks.

Rows are numbered as a person opening the file in a spreadsheet counts them: the header is
row 1 and the first data row is row 2 (a quoted value spanning lines still counts as one
row). Messages say so, and never contain a value from the file.

A CSV file must be UTF-8 (a byte-order mark and CRLF are fine); its delimiter is a comma
unless one is given, and a file that is clearly separated by semicolons or tabs is refused
with the option to pass. An ``.xlsx`` workbook is read from its first sheet (or a named one),
streamed read-only (see ``protocols.xlsxfile``).

With ``drop_unshared`` the columns the agreement does not share are dropped from the
header: their values are never kept, parsed, written to a report or sealed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from familylink.core.contract import ALWAYS_SHARED, RAW_COLUMNS, REQUIRED_RAW_COLUMNS
from familylink.core.errors import ExtractError, Problem
from protocols.agreements import Agreement

ROW_CONVENTION = "the header is row 1"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_DELIMITER_SPELLING = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
XLSX_SUFFIXES = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"
csv.field_size_limit(1 << 20)


@dataclass(frozen=True)
class RawBlock:
    """Whole records of a raw file as CSV text; the first one is spreadsheet row ``first_row``.

    ``keep`` (when columns are dropped) holds the indices of the columns kept; ``width`` is
    the number of columns in the file's header.
    """

    file_name: str
    first_row: int
    text: str
    delimiter: str = ","
    width: int = 0
    keep: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RawChunk:
    """Consecutive data rows: ``rows[i]`` is spreadsheet row ``row_numbers[i]``."""

    row_numbers: list[int]
    rows: list[list[str]]
    blank_rows: int = 0  # lines with nothing on them: not data rows, counted and reported
    #: index in ``rows`` -> (its number of values, the header's) for a row whose width differs
    #: from the header's (with dropped columns its values are not kept: the row holds nothing)
    ragged: Mapping[int, tuple[int, int]] | None = None


def where(path: Path | str, row: int | None = None, column: str | None = None) -> str:
    """A location string: ``file row N (the header is row 1), column C``."""
    text = Path(path).name
    if row is not None:
        text += f" row {row} ({ROW_CONVENTION})"
    if column:
        text += f", column {column}"
    return text


def delimiter_option(value: str | None) -> str | None:
    """The delimiter ``--delimiter`` names: a single character, or ``tab`` / ``\\t``."""
    if value is None:
        return None
    if value.lower() in ("tab", "\\t", "\t"):
        return "\t"
    if len(value) != 1 or value in ('"', "\r", "\n") or value.isalnum():
        raise ExtractError(f"--delimiter {value!r}: give one character such as ';' or ',' (or tab)")
    return value


class RawExtract:
    """A raw extract opened for streaming. Checks the header against the agreement."""

    def __init__(self, path: str | Path, agreement: Agreement, *, delimiter: str | None = None,
                 sheet: str | None = None, drop_unshared: bool = False,
                 date_render: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.agreement = agreement
        self.drop_unshared = drop_unshared
        if not self.path.is_file():
            raise ExtractError(f"{self.path}: no such file",
                               [Problem(str(self.path), "not found", "check the --in path")])
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as handle:
                start = handle.read(4)
        except OSError as error:
            raise ExtractError(f"{self.path.name}: cannot be read ({error.strerror or type(error).__name__})",
                               [Problem(str(self.path), "unreadable", "check the file's permissions")]) from None
        if size == 0:
            raise ExtractError(
                f"{self.path.name} is empty: it has no header row",
                [Problem(where(self.path), "empty file", "export the extract again with its header row")],
            )
        self.is_workbook = self.path.suffix.lower() in XLSX_SUFFIXES or start == ZIP_MAGIC
        if self.is_workbook:
            from protocols.xlsxfile import Workbook

            if delimiter is not None:
                raise ExtractError(f"{self.path.name} is a workbook: --delimiter applies to CSV files only")
            self.workbook = Workbook(self.path, sheet, date_render or {})
            self.delimiter = ","
            header = self.workbook.header()
        else:
            if sheet is not None:
                raise ExtractError(f"{self.path.name} is a CSV file: --sheet applies to .xlsx workbooks only")
            self.workbook = None
            self.delimiter = delimiter or ","
            header = self._read_csv_header()
        self.file_header = header
        self.dropped: list[str] = []
        self.read_whole_file = False
        self.keep: tuple[int, ...] | None = None
        self.header = self._check_header(header, explicit_delimiter=delimiter is not None)

    # --- CSV ------------------------------------------------------------------------

    def _open(self) -> io.TextIOWrapper:
        # utf-8-sig accepts a byte-order mark; newline="" lets csv handle CRLF and quoted newlines.
        return open(self.path, encoding="utf-8-sig", errors="strict", newline="")

    def _first_bad_line(self) -> int:
        """The 1-based line holding the first bytes that are not UTF-8 (the row, unless a
        quoted value spanning lines comes before it)."""
        with open(self.path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return number
        return 1

    def _decode_error(self) -> ExtractError:
        row = self._first_bad_line()
        return ExtractError(
            f"{self.path.name} is not UTF-8 text (first bad bytes on row {row}, {ROW_CONVENTION})",
            [Problem(where(self.path, row), "bytes that are not UTF-8 (the file may be Latin-1 or Windows-1252)",
                     "re-save the file as UTF-8 (CSV UTF-8 in Excel) and run again")],
        )

    def _read_csv_header(self) -> list[str]:
        try:
            with self._open() as handle:
                header = next(csv.reader(handle, delimiter=self.delimiter), None)
        except UnicodeDecodeError:
            raise self._decode_error() from None
        except csv.Error:
            raise ExtractError(f"{self.path.name}: the header row is not valid CSV",
                               [Problem(where(self.path, 1), "broken CSV quoting or a NUL byte",
                                        "export the extract again as CSV UTF-8")]) from None
        except OSError as error:
            raise ExtractError(f"{self.path.name}: cannot be read ({error.strerror or type(error).__name__})") \
                from None
        return header or []

    def _looks_delimited_by(self, header: list[str]) -> str | None:
        """Another delimiter that splits the header into contract columns, if one does."""
        joined = self.delimiter.join(header)
        for other in (";", "\t", "|", ","):
            if other == self.delimiter or other not in joined:
                continue
            names = [h.strip().lower() for h in joined.split(other)]
            if sum(name in RAW_COLUMNS for name in names) >= 2 and \
                    sum(name in RAW_COLUMNS for name in names) > sum(h.strip().lower() in RAW_COLUMNS for h in header):
                return other
        return None

    # --- header ---------------------------------------------------------------------

    def _check_header(self, header: list[str], explicit_delimiter: bool) -> list[str]:
        if not header or all(not (h or "").strip() for h in header):
            raise ExtractError(
                f"{self.path.name} has no header row",
                [Problem(where(self.path, 1), "empty header", "the first row must name the columns")],
            )
        header = [h.strip().lower() for h in header]
        if not self.is_workbook:
            other = self._looks_delimited_by(header)
            if other is not None:
                option = _DELIMITER_SPELLING[other]
                if explicit_delimiter:
                    hint = f"--delimiter {_DELIMITER_SPELLING[self.delimiter]} does not split its header"
                else:
                    hint = "commas do not split its header"
                raise ExtractError(
                    f"{self.path.name}: this file looks {DELIMITER_NAMES[other]}-separated: pass --delimiter {option}",
                    [Problem(where(self.path, 1), hint, f"pass --delimiter {option}")])
        problems: list[Problem] = []
        seen: set[str] = set()
        allowed = set(ALWAYS_SHARED) | {"record_id"} | set(self.agreement.fields)
        keep: list[int] = []
        for index, name in enumerate(header):
            if name in seen:
                problems.append(Problem(where(self.path, 1, name or "(blank)"), "column appears twice",
                                        "remove one of them"))
            seen.add(name)
            if name in RAW_COLUMNS and name in allowed:
                keep.append(index)
            elif self.drop_unshared:
                self.dropped.append(name or f"(blank column {index + 1})")
            elif name not in RAW_COLUMNS:
                problems.append(Problem(where(self.path, 1, name or "(blank)"),
                                        "unknown column: not in the data contract",
                                        "remove it, or pass --drop-unshared to leave it out; contract columns are "
                                        f"{', '.join(RAW_COLUMNS)}"))
            else:
                problems.append(Problem(where(self.path, 1, name),
                                        f"column not shared under the {self.agreement.source} agreement",
                                        "pass --drop-unshared to leave it out of the sealed file, remove it from "
                                        "the extract, or add it to the agreement's fields with a reason"))
        for name in REQUIRED_RAW_COLUMNS:
            if name in allowed and name not in seen:
                problems.append(Problem(where(self.path, 1, name), "required column missing",
                                        "add the column (values may be blank where the contract allows)"))
        if problems:
            raise ExtractError(
                f"{self.path.name}: the header does not fit the {self.agreement.source} agreement "
                f"({len(problems)} problem(s))",
                problems,
            )
        if self.dropped:
            self.keep = tuple(keep)
            return [header[i] for i in keep]
        return header

    # --- data -----------------------------------------------------------------------

    def approximate_rows(self) -> int:
        """About how many data rows the file holds (for progress and block sizes)."""
        if self.workbook is not None:
            return self.workbook.approximate_rows()
        lines = 0
        with open(self.path, "rb") as handle:
            while block := handle.read(1 << 22):
                lines += block.count(b"\n")
        return max(lines - 1, 1)

    def blocks(self, size: int = 50_000) -> Iterator[RawBlock]:
        """Yield the data as text blocks of whole records, ``size`` records at most.

        Only splits lines (a record continues while its quotes are unbalanced), so the
        heavier CSV parsing can run wherever the block goes (see ``parse_block``).
        """
        width = len(self.file_header)
        if self.workbook is not None:
            for first, text in self.workbook.csv_blocks(size, width):
                yield RawBlock(self.path.name, first, text, ",", width, self.keep)
            return
        try:
            with self._open() as handle:
                lines = iter(handle)
                quotes = 0
                for line in lines:  # the header record
                    quotes += line.count('"')
                    if quotes % 2 == 0:
                        break
                first, buffer, records, quotes = 2, [], 0, 0
                for line in lines:
                    buffer.append(line)
                    quotes += line.count('"')
                    if quotes % 2:
                        continue  # a quoted value runs on to the next line
                    quotes = 0
                    records += 1
                    if records >= size:
                        yield RawBlock(self.path.name, first, "".join(buffer), self.delimiter, width, self.keep)
                        first, buffer, records = first + records, [], 0
                if buffer:
                    yield RawBlock(self.path.name, first, "".join(buffer), self.delimiter, width, self.keep)
        except UnicodeDecodeError:
            raise self._decode_error() from None
        except OSError as error:
            raise ExtractError(f"{self.path.name}: cannot be read ({error.strerror or type(error).__name__})") \
                from None

    def column_values(self, columns: Iterable[str], max_rows: int | None = None) -> dict[str, set[str]]:
        """The distinct non-blank values of ``columns`` (kept columns), over the first
        ``max_rows`` data rows or the whole file (``self.read_whole_file`` says which it was).
        In memory only; used to detect date formats."""
        index = {c: self.header.index(c) for c in columns if c in self.header}
        found: dict[str, set[str]] = {c: set() for c in index}
        self.read_whole_file = False
        seen = 0
        for block in self.blocks(min(max_rows or 50_000, 50_000)):
            chunk = parse_block(block)
            for number, record in enumerate(chunk.rows):
                if chunk.ragged and number in chunk.ragged:
                    continue
                for column, i in index.items():
                    value = record[i].strip()
                    if value:
                        found[column].add(value)
                seen += 1
                if max_rows is not None and seen >= max_rows:
                    return found
        self.read_whole_file = True
        return found


def parse_block(block: RawBlock) -> RawChunk:
    """Parse a block's records; blank lines keep their row number but hold no record.

    A row with more values than the header whose extra values are all blank (a trailing
    delimiter) is read as the header's width. With dropped columns, only the kept values
    of each row are returned.
    """
    numbers: list[int] = []
    rows: list[list[str]] = []
    ragged: dict[int, tuple[int, int]] = {}
    row = block.first_row - 1
    blank = 0
    width, keep = block.width, block.keep
    try:
        for record in csv.reader(io.StringIO(block.text, newline=""), delimiter=block.delimiter):
            row += 1
            if not record:
                blank += 1
                continue
            if width and len(record) > width and not any(v.strip() for v in record[width:]):
                record = record[:width]
            if width and len(record) != width:
                ragged[len(rows)] = (len(record), width)
                if keep is not None:
                    record = []
            elif keep is not None:
                record = [record[i] for i in keep]
            numbers.append(row)
            rows.append(record)
    except csv.Error:
        raise ExtractError(
            f"{block.file_name} row {row + 1} ({ROW_CONVENTION}) is not valid CSV",
            [Problem(where(block.file_name, row + 1), "broken CSV quoting or a NUL byte",
                     "check the quotes on that row")],
        ) from None
    return RawChunk(numbers, rows, blank, ragged or None)
