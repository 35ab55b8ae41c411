"""Reading a raw extract: encoding, header and row shape, streamed in chunks.

Rows are numbered as a person opening the file in a spreadsheet counts them: the header is
row 1 and the first data row is row 2 (a quoted value spanning lines still counts as one
row). Messages say so, and never contain a value from the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from familylink.core.contract import ALWAYS_SHARED, RAW_COLUMNS, REQUIRED_RAW_COLUMNS
from familylink.core.errors import ExtractError, Problem
from protocols.agreements import Agreement

ROW_CONVENTION = "the header is row 1"
csv.field_size_limit(1 << 20)


@dataclass(frozen=True)
class RawBlock:
    """Whole records of a raw file as text; the first one is spreadsheet row ``first_row``."""

    file_name: str
    first_row: int
    text: str


@dataclass(frozen=True)
class RawChunk:
    """Consecutive data rows: ``rows[i]`` is spreadsheet row ``row_numbers[i]``."""

    row_numbers: list[int]
    rows: list[list[str]]
    blank_rows: int = 0  # lines with nothing on them: not data rows, counted and reported


def where(path: Path | str, row: int | None = None, column: str | None = None) -> str:
    """A location string: ``file row N (the header is row 1), column C``."""
    text = Path(path).name
    if row is not None:
        text += f" row {row} ({ROW_CONVENTION})"
    if column:
        text += f", column {column}"
    return text


class RawExtract:
    """A raw CSV extract opened for streaming. Checks the header against the agreement."""

    def __init__(self, path: str | Path, agreement: Agreement) -> None:
        self.path = Path(path)
        self.agreement = agreement
        if not self.path.is_file():
            raise ExtractError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise ExtractError(
                f"{self.path.name} is empty: it has no header row",
                [Problem(where(self.path), "empty file", "export the extract again with its header row")],
            )
        self.header = self._read_header()

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

    def _read_header(self) -> list[str]:
        try:
            with self._open() as handle:
                header = next(csv.reader(handle), None)
        except UnicodeDecodeError:
            raise self._decode_error() from None
        except csv.Error as error:
            raise ExtractError(f"{self.path.name}: the header row is not valid CSV ({error})") from None
        if not header or all(not h.strip() for h in header):
            raise ExtractError(
                f"{self.path.name} has no header row",
                [Problem(where(self.path, 1), "empty header", "the first row must name the columns")],
            )
        header = [h.strip().lower() for h in header]
        self._check_header(header)
        return header

    def _check_header(self, header: list[str]) -> None:
        problems: list[Problem] = []
        seen: set[str] = set()
        allowed = set(ALWAYS_SHARED) | {"record_id"} | set(self.agreement.fields)
        for name in header:
            if name in seen:
                problems.append(Problem(where(self.path, 1, name), "column appears twice", "remove one of them"))
            seen.add(name)
            if name not in RAW_COLUMNS:
                problems.append(Problem(where(self.path, 1, name or "(blank)"), "unknown column: not in the data contract",
                                        f"remove it; contract columns are {', '.join(RAW_COLUMNS)}"))
            elif name not in allowed:
                problems.append(Problem(where(self.path, 1, name),
                                        f"column not shared under the {self.agreement.source} agreement",
                                        "remove it from the extract, or add it to the agreement's fields with a reason"))
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

    def blocks(self, size: int = 50_000) -> Iterator[RawBlock]:
        """Yield the data as text blocks of whole records, ``size`` records at most.

        Only splits lines (a record continues while its quotes are unbalanced), so the
        heavier CSV parsing can run wherever the block goes (see ``parse_block``).
        """
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
                        yield RawBlock(self.path.name, first, "".join(buffer))
                        first, buffer, records = first + records, [], 0
                if buffer:
                    yield RawBlock(self.path.name, first, "".join(buffer))
        except UnicodeDecodeError:
            raise self._decode_error() from None


def parse_block(block: RawBlock) -> RawChunk:
    """Parse a block's records; blank lines keep their row number but hold no record."""
    numbers: list[int] = []
    rows: list[list[str]] = []
    row = block.first_row - 1
    blank = 0
    try:
        for record in csv.reader(io.StringIO(block.text, newline="")):
            row += 1
            if not record:
                blank += 1
                continue
            numbers.append(row)
            rows.append(record)
    except csv.Error as error:
        raise ExtractError(
            f"{block.file_name} row {row + 1} ({ROW_CONVENTION}) is not valid CSV ({error})",
            [Problem(where(block.file_name, row + 1), "broken CSV quoting", "check the quotes on that row")],
        ) from None
    return RawChunk(numbers, rows, blank)
