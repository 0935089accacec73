"""Read a spreadsheet as marketers really make them into a table of text, one record per input row.

Every cell stays text ("0123", "NA" and "+1…" are kept as written). Encoding and delimiter are
detected, the header row is found, and problems with single rows (too many cells, a huge cell) are
kept as per-row reasons instead of failing the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import posixpath
import re
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import IntEnum
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from runner.arrays import blank, byte_lengths, records, text_array
from runner.campaign import Columns
from runner.errors import InputError
from runner.text import comparison_key

TEXT_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
BOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
DELIMITERS = (",", ";", "\t", "|")
# Longer than any real cell; a bigger one is a broken export and its row is set aside.
MAX_CELL_CHARS = 10_000
# A quoted cell over more lines than this is a stray quote swallowing rows, not an address.
MAX_CELL_LINES = 10
# More control characters than this in a text file's first 4 KB: it is not text. Fewer are cells'
# stray characters, left out of what is sent (docs/input.md: "Control characters").
BINARY_CONTROLS = 8
# The header may sit below a title block; look this far down for it.
HEADER_SEARCH_ROWS = 20
_HIDDEN_ROW = re.compile(rb'<(?:\w+:)?row\b[^>]*\bhidden="(?:1|true)"[^>]*>')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
# Arrow reads every column as text when told so by name (its names are f0, f1, …).
_ALL_TEXT = {f"f{index}": pa.string() for index in range(2048)}

# Header spellings of the phone number column, compared by comparison_key: the header row is the
# first that names one (planning.roles maps every role, this one included).
NUMBER_SPELLINGS: tuple[str, ...] = (
    "number",
    "phone",
    "phonenumber",
    "phoneno",
    "phonenum",
    "mobile",
    "mobilenumber",
    "mobilephone",
    "cell",
    "cellphone",
    "cellnumber",
    "tel",
    "telephone",
    "telephonenumber",
    "contactnumber",
    "customernumber",
    "msisdn",
    "phone1",
    "primaryphone",
    "telefon",
    "telefonnummer",
    "telefono",
    "numero",
)


@dataclass
class Sheet:
    """A loaded spreadsheet: text cells, the spreadsheet row number of each record, and what was found.

    `table` holds one string column per header, every cell text ("" where empty), in input order."""

    path: Path
    table: pa.Table
    row_numbers: npt.NDArray[np.int64]  # each record's row number in the file, as a person counts
    content_hash: str
    roles: dict[str, str] = field(default_factory=dict)  # role -> header: planning.roles finds them
    row_problems: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    hidden: list[int] = field(default_factory=list)  # positions of rows the workbook hides
    # The headers as the file writes them (repeats and blanks too): `table` names its columns
    # apart ("Phone (2)", "Column C"), the results sheet shows them as written. Empty: the same.
    written: list[str] = field(default_factory=list)
    # Per column, what every filled cell of a workbook's column held: "number", "date", "datetime",
    # "flag", or "" (text, a mix, or a text file). The results sheet gives the cells that type again.
    kinds: list[str] = field(default_factory=list)

    def as_written(self) -> pa.Table:
        """The table under the headers as the file writes them: the input's part of the results,
        each typed column marked with its kind (a phone number column stays text)."""
        table = self.table.rename_columns(self.written) if self.written else self.table
        if not any(self.kinds):
            return table
        numbers = {self.roles.get("number")}
        fields = [
            field.with_metadata({KIND_KEY: kind}) if kind and header not in numbers else field
            for field, kind, header in zip(table.schema, self.kinds, self.table.column_names, strict=True)
        ]
        return table.cast(pa.schema(fields))


def load_sheet(path: str | Path, columns: Columns | None = None, sheet: str | None = None) -> Sheet:
    """Load a CSV/TSV/TXT/XLSX/XLSM/ODS file; raises InputError when the file as a whole is unusable."""
    path = Path(path)
    columns = columns or Columns()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not data or data.isspace():
        raise InputError(f"{path}: the file is empty")
    warnings: list[str] = []
    # The file's hash names the run; hashlib lets go of the GIL, so it is worked out while reading.
    hashing = ThreadPoolExecutor(max_workers=1)
    content_hash = hashing.submit(lambda: hashlib.sha256(data).hexdigest())
    hashing.shutdown(wait=False)
    table, hidden_rows = _read_table(path, data, sheet, warnings, columns)  # columns given: a sheet to plan
    head = list(records(table.slice(0, HEADER_SEARCH_ROWS)))
    header_index = _find_header([[cell or "" for cell in record] for record in head], columns)
    if header_index is None:
        raise InputError(f"{path}: no header row found (the file has no filled row)")
    if header_index:
        above = "row 1 above the header was" if header_index == 1 else f"rows 1-{header_index} above the header were"
        warnings.append(f"{path}: {above} skipped")
    # The header record's own cells: a short record ends at its last cell (missing cells are null).
    header_cells = head[header_index]
    header_cells = header_cells[: max(i for i, cell in enumerate(header_cells) if cell is not None) + 1]
    rest = [text_array(pc.fill_null(column, "")) for column in table.slice(header_index + 1).columns]
    filled = [~blank(column) for column in rest]
    header = _trim_header([cell or "" for cell in header_cells], filled)
    headers = _clean_headers(header, path, warnings)
    width = len(headers)
    keep = np.logical_or.reduce(filled) if filled else np.zeros(0, dtype=bool)
    blank_rows = int((~keep).sum())
    if blank_rows:
        warnings.append(f"{path}: {blank_rows} blank row(s) skipped")
        rest = [column.filter(pa.array(keep)) for column in rest]
        filled = [column[keep] for column in filled]
    body = pa.table(rest[:width], names=headers)
    kinds = column_kinds(table, header_index + 1, keep, width)
    row_numbers = np.flatnonzero(keep) + header_index + 2
    hidden = np.flatnonzero(np.isin(row_numbers, list(hidden_rows))).tolist() if hidden_rows else []
    if hidden:
        shown = ", ".join(str(row_numbers[i]) for i in hidden[:10]) + (", …" if len(hidden) > 10 else "")
        warnings.append(
            f"{path}: {len(hidden)} row(s) hidden in the workbook (rows {shown}) are not called: "
            "each is suppressed with that reason; unhide them to call them"
        )
    return Sheet(
        path=path,
        table=body,
        row_numbers=row_numbers.astype(np.int64),
        written=[cell.strip() for cell in header] if headers != [cell.strip() for cell in header] else [],
        content_hash=content_hash.result(),
        row_problems=_row_problems(body, filled[width:]),
        kinds=kinds,
        warnings=warnings,
        hidden=hidden,
    )


def read_cells(path: Path) -> list[list[str]]:
    """Every cell of a file, header or not: for lists such as do-not-call files."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not data or data.isspace():
        return []
    return [[cell or "" for cell in record] for record in records(_read_table(path, data, None, [])[0])]


def _find_header(records: list[list[str]], columns: Columns) -> int | None:
    """The first row that names a number column; else the first filled row."""
    wanted = _number_headers(columns)
    first_filled = None
    for index, record in enumerate(records[:HEADER_SEARCH_ROWS]):
        if not any(cell.strip() for cell in record):
            continue
        if first_filled is None:
            first_filled = index
        if any(comparison_key(cell) in wanted for cell in record):
            return index
    return first_filled


def _table(records: list[list[str]]) -> pa.Table:
    """Records as a table of string columns; a short record's missing cells are null (not empty text)."""
    width = max((len(record) for record in records), default=0)
    if not width:
        return pa.table({"0": pa.array([], pa.string())})
    padded = [record + [None] * (width - len(record)) if len(record) < width else record for record in records]
    return pa.table(
        [pa.array(cells, pa.string()) for cells in zip(*padded, strict=True)], names=list(map(str, range(width)))
    )


def _trim_header(header: list[str], filled: list[npt.NDArray[np.bool_]]) -> list[str]:
    """Drop trailing blank header cells over columns that hold nothing (Excel's stray empty columns)."""
    width = len(header)
    while width and not header[width - 1].strip() and not filled[width - 1].any():
        width -= 1
    return header[:width]


def _row_problems(body: pa.Table, extra: list[npt.NDArray[np.bool_]]) -> dict[int, str]:
    """Rows to set aside (by position): cells past the header's width, or a cell far too long.
    `extra` tells, per column past the header's width, which rows have something in it."""
    problems: dict[int, str] = {}
    width = body.num_columns
    if extra:
        last = np.zeros(body.num_rows, dtype=np.int64)  # the last filled column past the header, from 1
        for index, filled in enumerate(extra, start=1):
            last[filled] = index
        for position in np.flatnonzero(last).tolist():
            problems[position] = (
                f"row has {width + int(last[position])} cells but the header has {width}: "
                "a cell with an unquoted delimiter may have shifted the columns"
            )
    for position in _repeated_headers(body).tolist():
        problems.setdefault(position, "the header row again, not a customer (two exports pasted together?)")
    for column, cells in zip(body.column_names, body.columns, strict=True):
        for position in np.flatnonzero(byte_lengths(cells.chunk(0)) > MAX_CELL_CHARS).tolist():
            length = len(cells[position].as_py())
            if length > MAX_CELL_CHARS:
                problems.setdefault(position, f"column {column!r}: cell of {length:,} characters is too long")
    return dict(sorted(problems.items()))


def _repeated_headers(body: pa.Table) -> npt.NDArray[np.intp]:
    """Positions of rows whose every cell is its column's header (case and spaces aside)."""
    named = [(name, column) for name, column in zip(body.column_names, body.columns, strict=True) if name.strip()]
    if not named or body.num_rows == 0:
        return np.zeros(0, dtype=np.intp)
    candidates = np.arange(body.num_rows)
    for index, (name, column) in enumerate(named):  # each column looks only at the rows still in question
        cells = column if index == 0 else column.take(pa.array(candidates))
        equal = pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(cells)), name.strip().lower())
        candidates = candidates[pc.fill_null(equal, False).to_numpy(zero_copy_only=False)]
        if not len(candidates):
            break
    return candidates


def _clean_headers(record: list[str], path: Path, warnings: list[str]) -> list[str]:
    """Headers as written, trimmed; blank ones get their column letter, repeats get a number."""
    headers: list[str] = []
    for index, raw in enumerate(record):
        header = raw.strip() or f"Column {_column_letter(index)}"
        base, n = header, 1
        while header in headers:
            n += 1
            header = f"{base} ({n})"
        if header != raw.strip():
            warnings.append(f"{path}: header {raw.strip()!r} in column {_column_letter(index)} read as {header!r}")
        headers.append(header)
    return headers


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# --- reading -----------------------------------------------------------------------------------


def _read_table(
    path: Path, data: bytes, sheet: str | None, warnings: list[str], columns: Columns | None = None
) -> tuple[pa.Table, frozenset[int]]:
    """The file's records as string columns, in order (a short record's missing cells are null), and
    the row numbers the workbook hides."""
    is_zip = data[:4] == b"PK\x03\x04"
    is_ole = data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    suffix = path.suffix.lower()
    if is_zip or is_ole:
        return _read_book(path, data, sheet, columns, warnings)
    no_hidden_rows: frozenset[int] = frozenset()
    if suffix in BOOK_SUFFIXES:
        warnings.append(f"{path}: named {suffix} but is a text file: read as delimited text")
    elif suffix not in TEXT_SUFFIXES:
        warnings.append(f"{path}: unknown extension {suffix!r}: read as delimited text")
    text, encoding = decode(data, path, warnings)
    delimiter = "\t" if suffix in {".tsv", ".tab"} else sniff_delimiter(text)
    table = _parse_text(text, delimiter, data if encoding in ("utf-8", "utf-8-sig") else text.encode("utf-8"))
    if any(pc.any(pc.match_substring(column, "\n")).as_py() for column in table.columns):
        _check_multiline_cells(path, text, delimiter, warnings)
    return table, no_hidden_rows


def _check_multiline_cells(path: Path, text: str, delimiter: str, warnings: list[str]) -> None:
    """Quoted cells that run across lines: a few lines is a real cell (an address), said in a
    warning since the file then has fewer rows than lines; a long run, or a quote never closed, is
    a stray quote swallowing the rows after it, and the file is refused with the line to fix."""
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    spanning: list[str] = []
    start = 1
    try:
        for _ in reader:
            end = reader.line_num
            if end - start + 1 > MAX_CELL_LINES:
                raise InputError(_stray_quote(path, start, f"runs across {end - start + 1} lines, to line {end}"))
            if end > start:
                spanning.append(f"{start}-{end}")
            start = end + 1
    except csv.Error as exc:
        how = "is never closed" if "end of data" in str(exc) else f"breaks the quoting at line {reader.line_num}"
        raise InputError(_stray_quote(path, start, how)) from None
    if spanning:
        shown = ", ".join(spanning[:5]) + (f" and {len(spanning) - 5} more" if len(spanning) > 5 else "")
        warnings.append(
            f"{path}: {len(spanning)} row(s) have a quoted cell that runs across lines (lines {shown}); "
            "each is read as one row"
        )


def _stray_quote(path: Path, line: int, how: str) -> str:
    return (
        f"{path}: line {line}: a quoted cell starting there {how}, which would swallow the rows after it; "
        'a stray " ? Remove it, or double it ("") to keep it, and run again (nothing was planned or sent)'
    )


def decode(data: bytes, path: Path, warnings: list[str]) -> tuple[str, str]:
    """The text and the encoding it was read with: BOM first (UTF-8, UTF-16), then strict UTF-8,
    then cp1252 with a warning."""
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise InputError(f"{path}: starts like UTF-16 but does not decode as it") from None
    head = data[:4096]
    if b"\x00" in head:
        # UTF-16 without a BOM puts a NUL beside every ASCII character.
        for encoding, nuls in (("utf-16-le", head[1::2]), ("utf-16-be", head[0::2])):
            if nuls.count(0) > len(head) // 4:
                return _decode_or_fail(data, encoding, path), encoding
        controls = sum(1 for byte in head if byte < 32 and byte not in b"\r\n\t")
        if controls > BINARY_CONTROLS:
            offset = head.index(b"\x00")
            line = head[:offset].count(b"\n") + 1
            raise InputError(
                f"{path}: binary content, not a spreadsheet or text export: {controls} control characters in "
                f"its first 4 KB, the first NUL byte at line {line} (byte {offset + 1})"
            )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    mixed = _mixed_lines(data, path, warnings)
    if mixed is not None:
        return mixed, "utf-8 and cp1252"
    text = data.decode("cp1252", errors="replace")
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t")
    if controls > BINARY_CONTROLS or text[:4096].count("\ufffd") > BINARY_CONTROLS:
        raise InputError(
            f"{path}: binary content, not a spreadsheet or text export: {controls} control characters and "
            f"{text[:4096].count(chr(0xFFFD))} undecodable bytes in its first 4 KB"
        )
    warnings.append(f"{path}: not UTF-8; read as Windows-1252 (cp1252). Check names with accents")
    return text, "cp1252"


def _mixed_lines(data: bytes, path: Path, warnings: list[str]) -> str | None:
    """A UTF-8 file with some lines in Windows-1252 (rows pasted from another export): each line
    read as it is written, and those lines named; None when no line is UTF-8 beyond ASCII (then
    the whole file is cp1252). Read whole as cp1252, every UTF-8 accent would become mojibake
    ("Müller" sent as "MÃ¼ller")."""
    lines = data.split(b"\n")
    texts, foreign, utf8 = [], [], False
    for number, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8")
            utf8 = utf8 or not line.isascii()
        except UnicodeDecodeError:
            text = line.decode("cp1252", errors="replace")
            foreign.append(number)
        texts.append(text)
    if not utf8:
        return None
    shown = ", ".join(map(str, foreign[:10])) + (", …" if len(foreign) > 10 else "")
    warnings.append(
        f"{path}: UTF-8, but {len(foreign)} line(s) are Windows-1252 (cp1252): line(s) {shown}; each line was read "
        "as it is written. Check names with accents on those lines"
    )
    return "\n".join(texts)


def _decode_or_fail(data: bytes, encoding: str, path: Path) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise InputError(f"{path}: binary content, not a spreadsheet or text export") from None


def sniff_delimiter(text: str) -> str:
    """The delimiter among , ; TAB | that splits the first lines most consistently into most cells."""
    lines = [line for line in text[:65536].splitlines() if line.strip()][:50]
    if len(lines) > 1 and len(text) > 65536:
        lines = lines[:-1]  # the last line may be cut in the middle
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _parse_text(text: str, delimiter: str, utf8: bytes) -> pa.Table:
    """Arrow's multi-threaded reader for rectangular files (the usual export); pandas' C parser when
    rows differ in length; the csv module when even that gives up. `utf8` is `text` encoded."""
    table = _parse_rectangular(utf8, delimiter)
    if table is not None:
        return table
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        return _table([])
    except pd.errors.ParserError:
        csv.field_size_limit(sys.maxsize)
        return _table([list(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter)])
    cells = [pa.array(frame[column].to_numpy(dtype=object), pa.string(), from_pandas=True) for column in frame]
    return pa.table(cells, names=list(map(str, range(len(cells)))))


def _parse_rectangular(utf8: bytes, delimiter: str) -> pa.Table | None:
    """Every record as text cells when all records have the same number of cells; else None."""
    try:
        table = pa_csv.read_csv(
            io.BytesIO(utf8),
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=_ALL_TEXT, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if any(column.type != pa.string() for column in table.columns):
        return None  # wider than _ALL_TEXT: leave it to pandas
    return table


def _read_book(
    path: Path, data: bytes, sheet: str | None, columns: Columns | None, warnings: list[str]
) -> tuple[pa.Table, frozenset[int]]:
    """The sheet to plan: the one `sheet` names, else the first visible sheet with a phone number
    column, and its hidden rows. Hidden sheets are read only when named; other sheets that hold data
    are warned about. Without `columns` (a list, such as a do-not-call file), every sheet's cells."""
    from python_calamine import CalamineError

    try:
        return _read_sheets(path, data, sheet, columns, warnings)
    except (CalamineError, ValueError, OSError) as exc:
        # A damaged workbook (a shared string that is not there, a broken zip): calamine says where.
        raise InputError(
            f"{path}: not a readable workbook ({exc}); open it in Excel or LibreOffice and save it again"
        ) from None


def _read_sheets(
    path: Path, data: bytes, sheet: str | None, columns: Columns | None, warnings: list[str]
) -> tuple[pa.Table, frozenset[int]]:
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    names: list[str] = list(book.sheet_names)
    if not names:
        raise InputError(f"{path}: the workbook has no sheets")
    listed = ", ".join(map(repr, names))
    if columns is None:
        return _sheet_table(book, *names), frozenset()
    if sheet is not None:
        if sheet not in names:
            raise InputError(f"{path}: no sheet named {sheet!r}; its sheets are: {listed}")
        _warn_unsaved_formulas(path, data, sheet, warnings)
        return _sheet_table(book, sheet), hidden_rows(data, sheet)
    hidden = {m.name for m in book.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
    visible = [name for name in names if name not in hidden]
    chosen, table = None, None
    for name in visible:
        candidate = _sheet_table(book, name)
        if _names_a_number_column(candidate, columns):
            chosen, table = name, candidate
            break
    if chosen is None or table is None:
        hint = f" (hidden: {', '.join(map(repr, sorted(hidden)))})" if hidden else ""
        raise InputError(
            f"{path}: no sheet has a phone number column; its sheets are: {listed}{hint}. Name the column "
            "'number' or 'phone', or choose the sheet with sheet = \"<name>\" in the campaign file"
        )
    if len(names) > 1:
        passed = [name for name in names if name != chosen]
        warnings.append(f"{path}: read sheet {chosen!r} (passed over: {', '.join(map(repr, passed))})")
    for name in visible:
        if name != chosen and book.get_sheet_by_name(name).height > 1:
            warnings.append(
                f"{path}: sheet {name!r} also holds data and was not read; to plan it, "
                f'set sheet = "{name}" in the campaign file'
            )
    _warn_unsaved_formulas(path, data, chosen, warnings)
    return table, hidden_rows(data, chosen)


_CELL = re.compile(rb'<c r="([A-Z]+[0-9]+)"[^>]*?(?<!/)>(.*?)</c>', re.S)
_VALUE = re.compile(rb"<v>[^<]+</v>")  # a saved value (openpyxl writes <v /> for none)


def _warn_unsaved_formulas(path: Path, data: bytes, sheet: str, warnings: list[str]) -> None:
    """Cells holding a formula but no saved value (a file written by a program that does not
    calculate): calamine reads them as empty, so a formula-built phone column reads as empty rows."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            part = _sheet_part(book, sheet)
            xml = book.read(part) if part is not None else b""
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        return
    if b"<f" not in xml:
        return
    refs = [m[1].decode() for m in _CELL.finditer(xml) if b"<f" in m[2] and not _VALUE.search(m[2])]
    if refs:
        shown = ", ".join(refs[:10]) + (", …" if len(refs) > 10 else "")
        warnings.append(
            f"{path}: {len(refs)} cell(s) hold a formula with no saved value ({shown}): they read as empty; open "
            "the file in Excel or LibreOffice and save it, so their values are saved"
        )


def hidden_rows(data: bytes, sheet: str) -> frozenset[int]:
    """The row numbers an XLSX sheet hides (by hand or by a filter); calamine does not say, so the
    sheet's XML is read for its `<row r="N" hidden="1">` elements. Other formats: none."""
    if data[:4] != b"PK\x03\x04":
        return frozenset()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            part = _sheet_part(book, sheet)
            if part is None:
                return frozenset()
            xml = book.read(part)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        return frozenset()
    if b"hidden=" not in xml:
        return frozenset()
    found = (_ROW_NUMBER.search(match[0]) for match in _HIDDEN_ROW.finditer(xml))
    return frozenset(int(number[1]) for number in found if number)


def _sheet_part(book: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding the sheet's cells, through the workbook's relationships."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    ids = {node.get("name"): node.get(rel) for node in workbook.iter(f"{main}sheet")}
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {node.get("Id"): node.get("Target", "") for node in rels}
    target = targets.get(ids.get(sheet))
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")


def _sheet_table(book: Any, *names: str) -> pa.Table:
    """The cells of these sheets, one after the other, as text; what each cell held (CellKind, a
    byte per cell, row after row) rides in the table's metadata for load_sheet (KINDS)."""
    rows = [row for name in names for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False)]
    table = _table([[cell_text(cell) for cell in row] for row in rows])
    kinds = np.zeros((len(rows), table.num_columns), dtype=np.uint8)
    for index, row in enumerate(rows):
        kinds[index, : len(row)] = [cell_kind(cell) for cell in row]
    return table.replace_schema_metadata({KINDS: kinds.tobytes()})


def cell_kind(value: object) -> int:
    """What a workbook cell held: CellKind's code."""
    if value is None or value == "":
        return CellKind.EMPTY
    if isinstance(value, bool):
        return CellKind.FLAG
    if isinstance(value, int | float):
        return CellKind.NUMBER
    if isinstance(value, datetime):
        return CellKind.DATETIME if value.time() != time(0) else CellKind.DATE
    if isinstance(value, date):
        return CellKind.DATE
    return CellKind.TEXT


def column_kinds(table: pa.Table, first: int, keep: npt.NDArray[np.bool_], width: int) -> list[str]:
    """Per column of the body (the records from `first` on that `keep` keeps): the kind every
    filled cell shares (number, date, datetime, flag), or "" for text or a mix. Only workbooks
    have kinds (a text file: all "")."""
    found = (table.schema.metadata or {}).get(KINDS)
    if found is None:
        return [""] * width
    kinds = np.frombuffer(found, dtype=np.uint8).reshape(table.num_rows, -1)[first:][keep]
    shared = []
    for column in range(width):
        seen = set(np.unique(kinds[:, column]).tolist()) - {CellKind.EMPTY} if column < kinds.shape[1] else set()
        shared.append(CellKind(seen.pop()).name.lower() if len(seen) == 1 and seen != {CellKind.TEXT} else "")
    return shared


def _number_headers(columns: Columns) -> set[str]:
    """The header keys that name the number column: the campaign's, else the usual spellings."""
    if columns.number:
        return {comparison_key(columns.number)}
    return {comparison_key(spelling) for spelling in NUMBER_SPELLINGS}


def _names_a_number_column(table: pa.Table, columns: Columns) -> bool:
    wanted = _number_headers(columns)
    return any(
        comparison_key(cell or "") in wanted
        for record in records(table.slice(0, HEADER_SEARCH_ROWS))
        for cell in record
    )


class CellKind(IntEnum):
    """What a workbook cell held, as a byte."""

    EMPTY = 0
    TEXT = 1
    NUMBER = 2
    DATE = 3
    DATETIME = 4
    FLAG = 5


KINDS = b"cell kinds"  # a workbook table's metadata: CellKind per cell
KIND_KEY = b"kind"  # an input column's field metadata in the results: what its cells held


def cell_text(value: object) -> str:
    """A workbook cell as the text a person sees: 12025550123.0 is '12025550123', not a float."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
