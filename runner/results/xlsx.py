"""The results workbook: every cell typed text (nothing becomes a formula, E.164 keeps its +), a
styled and filterable Results sheet, and a Summary sheet with counts, reach rate and a chart."""

from __future__ import annotations

import io
import re
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import isal_zlib
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.properties import PageSetupProperties

from runner.arrays import is_text, map_distinct, string_buffers, strip, text_array
from runner.results.report import Rates
from runner.results.summary import Summary
from runner.sheets.read import KIND_KEY

XLSX_MAX_CELL = 32_767
RESULTS_PART = "xl/worksheets/sheet1.xml"  # the Results sheet: the workbook's first
EXCEL_EPOCH_DAYS = 25_569  # 1970-01-01 as Excel's serial day (1900 date system)
NUMBER_FORMATS = {
    "datetime": "yyyy-mm-dd hh:mm",
    "date": "yyyy-mm-dd",
    "money": '"$"#,##0.00##',
    "percent": "0.0%",
}
MONEY_COLUMNS = frozenset({"total_cost", "cost"})
REPEATS = 4  # a column with at most a quarter as many distinct cells as rows is written by index
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
TITLE_FONT = Font(bold=True, size=14)
# XML cannot hold these; OOXML writes them as _xHHHH_ (ECMA-376 ST_Xstring), which Excel shows as
# the character. A literal "_xHHHH_" in a cell is escaped the same way so that it stays as written.
_NOT_XML_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]|_x[0-9A-Fa-f]{4}_"  # _NOT_XML, found by Arrow
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def write_workbook(table: pa.Table, path: Path, summary: Summary, attempts: pa.Table | None = None) -> None:
    """Results sheet (styled header, frozen, autofilter, fitted widths, set up to print), a
    Summary sheet, and (after a run) an Attempts sheet: one row per call.

    openpyxl writes the workbook around the data (styles, the headers, the Summary sheet and its
    chart); the data rows are spliced into each data sheet's XML as Arrow builds them, a block at
    a time, in the form openpyxl gives them (tests/test_xlsx.py compares the bytes)."""
    book = Workbook(write_only=True)
    data = {"Results": table, **({"Attempts": attempts} if attempts is not None else {})}
    parts: dict[str, pa.Table] = {}
    styles = None
    for index, (name, rows) in enumerate(data.items()):
        sheet = book.create_sheet(name)
        _set_up(sheet, rows)  # the header's style first: it keeps the index openpyxl gives it alone
        styles = styles or _Styles(sheet)
        parts[f"xl/worksheets/sheet{index + 1 + (index > 0)}.xml"] = rows
        if index == 0:
            _write_summary(book.create_sheet("Summary"), summary)
    frame = io.BytesIO()
    book.save(frame)
    with zipfile.ZipFile(frame) as written, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in written.infolist():
            xml = written.read(info)
            rows = parts.get(info.filename)
            if rows is None:
                out.writestr(info, xml)
                continue
            head, tail = xml.split(b"</sheetData>")
            # Opened by name, the part takes the archive's compresslevel (a ZipInfo of its own would be deflated at 6).
            with out.open(info.filename, "w", force_zip64=True) as handle:
                # zipfile deflates with zlib and has no hook for another deflater: its writer holds one
                # compressor object, swapped before the first write for ISA-L's (the same raw deflate,
                # faster: bench/README.md). Were the attribute renamed, zlib would still write it right.
                handle._compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)  # type: ignore[attr-defined]
                handle.write(head)
                for block in row_blocks(rows, styles=styles):  # styles: set by the first sheet
                    handle.write(block)
                handle.write(b"</sheetData>" + tail)


def _set_up(sheet: Any, table: pa.Table) -> None:  # Any: the stubs miss write-only column_dimensions
    """A data sheet's frame: fitted widths, the header frozen and filtered, and printed landscape,
    a page wide, the header on every page."""
    sheet.freeze_panes = "A2"
    for index, width in enumerate(_widths(table), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    if table.num_columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(table.num_columns)}{table.num_rows + 1}"
    _print_wide(sheet)
    sheet.print_title_rows = "1:1"
    _append_text(sheet, table.column_names, header=True)


def _print_wide(sheet: Any) -> None:
    """Landscape, fit to one page wide (as many pages tall as it takes)."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)


class _Styles:
    """The cell styles typed cells use, registered with the workbook once: a cell gives its
    style's index (the `s` attribute) in the XML spliced in."""

    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        self._ids: dict[str, int] = {}
        for name, number_format in NUMBER_FORMATS.items():
            cell = WriteOnlyCell(sheet, value=0)  # never appended: it only registers the style
            cell.number_format = number_format
            self._ids[name] = cell.style_id

    def of(self, name: str, column: pa.Array) -> str:
        """The ` s="N"` a column's cells carry ("" for none)."""
        kind = "money" if name in MONEY_COLUMNS else _kind(column.type)
        return f' s="{self._ids[kind]}"' if kind in self._ids else ""


def _kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "datetime"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_boolean(arrow_type):
        return "flag"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "number"
    return "text"


def row_blocks(
    table: pa.Table, rows_per_block: int = 20_000, ahead: int = 2, styles: _Styles | None = None
) -> Iterator[memoryview]:
    """The data rows of a data sheet as XML, a block of rows at a time (row 2 onwards), in
    order. `ahead` blocks are built on worker threads while the caller deflates the current one
    (Arrow's kernels and zlib both let go of the GIL)."""
    table = typed_inputs(table)
    letters = [get_column_letter(index) for index in range(1, table.num_columns + 1)]
    # A text column whose first block repeats its cells (a status, a reason, a campaign's assistant)
    # has each distinct cell's XML made once per block, then repeated by index.
    first = table.slice(0, rows_per_block)
    few = [
        _kind(column.type) == "text" and pc.count_distinct(column).as_py() * REPEATS <= first.num_rows
        for column in first.columns
    ]
    marks = [
        styles.of(name, column) if styles else ""
        for name, column in zip(table.column_names, first.columns, strict=True)
    ]
    starts = iter(range(0, table.num_rows, rows_per_block))

    def block(start: int) -> memoryview:
        return _row_block(table.slice(start, rows_per_block), start, letters, few, marks)

    with ThreadPoolExecutor(max_workers=ahead) as workers:
        pending = deque(workers.submit(block, start) for start in islice(starts, ahead))
        while pending:
            done = pending.popleft().result()
            for start in islice(starts, 1):
                pending.append(workers.submit(block, start))
            yield done


def _row_block(block: pa.Table, start: int, letters: list[str], few: list[bool], marks: list[str]) -> memoryview:
    """One block of rows, joined in a single pass: per cell its reference, then the cell's XML
    (its text's opening or the empty cell's end, the text, its closing; or its typed value)."""
    numbers = pc.cast(pa.array(np.arange(start + 2, start + 2 + block.num_rows)), pa.string())
    pieces: list[pa.Array | str] = ['<row r="', numbers, '">']
    for column, letter, repeats, mark in zip(block.columns, letters, few, marks, strict=True):
        if _kind(column.type) != "text":
            pieces += [f'<c r="{letter}', numbers, *_typed_parts(column.combine_chunks(), mark)]
            continue
        text = pc.fill_null(text_array(column), "")
        if repeats:
            encoded = pc.dictionary_encode(text)
            cells = pc.binary_join_element_wise(*_cell_parts(encoded.dictionary), "")
            pieces += [f'<c r="{letter}', numbers, cells.take(encoded.indices)]
        else:
            pieces += [f'<c r="{letter}', numbers, *_cell_parts(text)]
    rows = pc.binary_join_element_wise(*pieces, "</row>", "")
    offsets, data = string_buffers(rows)
    return data[offsets[0] : offsets[-1]].data


def _typed_parts(column: pa.Array, mark: str) -> list[pa.Array | str]:
    """A number, flag or time cell after its reference: `t="n"` (or `b`) and its value; an empty
    cell where there is none. Times are Excel's serial days (1900 system) of the wall-clock time."""
    kind = _kind(column.type)
    if kind == "flag":
        value, tag = pc.if_else(column, "1", "0"), "b"
    elif kind == "datetime":
        micros = pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())
        days = pc.divide(pc.cast(micros, pa.float64()), 86_400_000_000.0)
        value, tag = pc.cast(pc.add(days, float(EXCEL_EPOCH_DAYS)), pa.string()), "n"
    elif kind == "date":
        days = pc.cast(pc.cast(column, pa.date32()), pa.int32())
        value, tag = pc.cast(pc.add(pc.cast(days, pa.int64()), EXCEL_EPOCH_DAYS), pa.string()), "n"
    else:
        value, tag = pc.cast(column, pa.string()), "n"
    opening = f'"{mark} t="{tag}"><v>'
    if column.null_count:
        missing = pc.is_null(column)
        return [pc.if_else(missing, f'"{mark} t="{tag}" />', opening), pc.fill_null(value, ""),
                pc.if_else(missing, "", "</v></c>")]  # fmt: skip
    return [opening, value, "</v></c>"]


def typed_inputs(table: pa.Table) -> pa.Table:
    """The input's columns that held numbers, dates, times or TRUE/FALSE in every filled cell of
    an XLSX input (sheets.read marks them) as those types again: their text as the reader wrote it
    back into the value (blank cells stay empty)."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = (field.metadata or {}).get(KIND_KEY, b"").decode()
        if kind and is_text(column):
            blank = pc.equal(pc.fill_null(column, ""), "")
            with suppress(pa.ArrowInvalid):  # text the reader wrote otherwise than expected: kept as text
                column = _parsed(pc.if_else(blank, pa.scalar(None, pa.string()), column), kind)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _parsed(column: pa.ChunkedArray | pa.Array, kind: str) -> pa.ChunkedArray | pa.Array:
    """The reader's text of a typed cell (sheets.read.cell_text) as the value again."""
    if kind == "number":
        return pc.cast(column, pa.float64())
    if kind == "flag":
        return pc.equal(column, "TRUE")
    if kind == "date":
        return pc.cast(pc.strptime(column, "%Y-%m-%d", "s"), pa.date32())
    return pc.cast(column, pa.timestamp("us"))  # ISO 8601, with or without a fraction of a second


def _cell_parts(cells: pa.Array) -> list[pa.Array | str]:
    """What follows each cell's reference: the opening (or the empty cell's end), the escaped
    text, the closing."""
    text = _escaped(cells)
    opening = pc.if_else(_preserve(text), '" t="inlineStr"><is><t xml:space="preserve">', '" t="inlineStr"><is><t>')
    closing: pa.Array | str = "</t></is></c>"
    empty = pc.equal(text, "")
    if pc.any(empty).as_py():
        opening = pc.if_else(empty, '" t="inlineStr" />', opening)
        closing = pc.if_else(empty, "", closing)
    return [opening, text, closing]


def _preserve(text: pa.Array) -> pa.Array:
    """Where openpyxl marks a cell xml:space="preserve": text that is not blank but has blank ends.
    Only cells whose first or last byte may be whitespace (ASCII space and below, or non-ASCII)
    are stripped to find out."""
    offsets, data = string_buffers(text)
    filled = offsets[1:] > offsets[:-1]
    if not len(data):
        return pa.array(np.zeros(len(text), dtype=bool))
    first = np.where(filled, data[np.where(filled, offsets[:-1], 0)], 0x41)
    last = np.where(filled, data[np.where(filled, offsets[1:] - 1, 0)], 0x41)
    unsure = np.flatnonzero((first <= 0x20) | (first >= 0x7F) | (last <= 0x20) | (last >= 0x7F))
    preserve = np.zeros(len(text), dtype=bool)
    if len(unsure):
        cells = text.take(pa.array(unsure, pa.int64()))
        stripped = strip(cells)
        found = pc.and_(pc.not_equal(stripped, ""), pc.not_equal(cells, stripped))
        preserve[unsure] = found.to_numpy(zero_copy_only=False)
    return pa.array(preserve)


def _escaped(column: pa.Array) -> pa.Array:
    """ooxml_text, the 32,767-character cap, then XML's &, < and > escapes, over a whole column.
    Columns holding a control character or a literal _xHHHH_ (rare) go through ooxml_text itself."""
    if pc.any(pc.match_substring_regex(column, _NOT_XML_RE2)).as_py():
        column = pa.array(map_distinct(column, lambda cell: ooxml_text(cell or "")[:XLSX_MAX_CELL]), pa.string())
    elif pc.max(pc.utf8_length(column)).as_py() or XLSX_MAX_CELL < 0:
        column = pc.utf8_slice_codeunits(column, 0, XLSX_MAX_CELL)
    for character, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if pc.any(pc.match_substring(column, character)).as_py():
            column = pc.replace_substring(column, character, entity)
    return column


def _widths(table: pa.Table, sample: int = 500) -> list[float]:
    """Wide enough for the header and the first rows' values, within reason."""
    widths = []
    for name, column in zip(table.column_names, table.slice(0, sample).columns, strict=True):
        longest = max([len(name), *(_shown_length(value) for value in column.to_pylist())])
        widths.append(float(min(max(longest + 2, 8), 60)))
    return widths


def _shown_length(value: object) -> int:
    """About how many characters a cell shows (a time as yyyy-mm-dd hh:mm)."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    return len(str(value))


def _write_summary(sheet: Any, summary: Summary) -> None:  # Any: the stubs miss write-only charts
    """The title, the figures to report from (people by outcome, cost, call length, rates by local
    hour, assistant and segment), then the detail counts (by status, rule, problem, ended reason,
    assistant) and the reach rate; a bar chart of people by outcome."""
    for column, width in zip("ABCDE", (38, 12, 16, 16, 16), strict=True):
        sheet.column_dimensions[column].width = width
    _print_wide(sheet)
    writer = _SummaryRows(sheet)
    if summary.heading:
        writer.title(*summary.heading)
    chart_rows = None
    figures = summary.report
    if figures is not None:
        first = writer.row + 2  # below the table's header
        writer.table(
            ["outcome", "people", "of people called", "of unique people"],
            [[name, n, figures.share(name, figures.called), figures.share(name, figures.unique_people)]
             for name, n in figures.by_outcome.items()],
            formats=("", "", "percent", "percent"),
        )  # fmt: skip
        chart_rows = (first, first + len(figures.by_outcome) - 1)
        writer.table(
            ["calls and cost", ""],
            [
                ["people in the sheet", figures.people],
                ["unique people (less invalid rows and duplicates)", figures.unique_people],
                ["people called", figures.called],
                ["calls made (every attempt)", figures.calls],
                ["people reached", figures.reached],
                ["total cost", figures.total_cost],
                ["cost per person reached", figures.cost_per_reached],
                ["average call length (s), answered calls", figures.average_call_s],
                ["median call length (s), answered calls", figures.median_call_s],
            ],
            formats=("", ""),
            money_rows=(5, 6),
        )
        rate_header = ["calls", "reached", "reach rate", "voicemail rate"]
        for title, groups in (("local hour of the call", figures.by_hour), ("assistant", figures.by_assistant)):
            if groups:
                writer.table([title, *rate_header], _rate_rows(groups), formats=("", "", "", "percent", "percent"))
        if figures.by_segment:
            writer.table(
                [figures.segment, "people", "reached", "reach rate", "voicemail rate"],
                _rate_rows(figures.by_segment),
                formats=("", "", "", "percent", "percent"),
            )
    details: list[tuple[str, dict[str, int]]] = [
        ("status", summary.by_status),
        ("suppressed, by rule", summary.by_rule),
        ("invalid, by reason", summary.by_problem),
        ("ended reason", summary.by_ended_reason),
        ("assistant", summary.by_assistant),
    ]
    for title, counts in details:
        if chart_rows is None and title == "status":
            chart_rows = (writer.row + 2, writer.row + 1 + len(counts))
        if not counts and title != "status":
            continue
        writer.table([title, "rows"], [[key, count] for key, count in counts.items()], formats=("", ""))
    rate = summary.reach_rate
    writer.table(
        ["calls that ended", ""],
        [["ended calls", summary.ended], ["reached a person", summary.reached],
         ["reach rate", round(rate, 4) if rate is not None else None]],
        formats=("", ""),
        percent_rows=(2,),
    )  # fmt: skip
    if chart_rows is not None and chart_rows[1] >= chart_rows[0]:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "People by outcome" if figures is not None else "Rows by status"
        chart.legend = None
        data = Reference(sheet, min_col=2, min_row=chart_rows[0] - 1, max_row=chart_rows[1])
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=chart_rows[0], max_row=chart_rows[1]))
        chart.width, chart.height = 16, 8
        sheet.add_chart(chart, "G2")


def _rate_rows(groups: list[Rates]) -> list[list[object]]:
    return [[group.label, group.count, group.reached, group.reach_rate, group.voicemail_rate] for group in groups]


class _SummaryRows:
    """Appends the Summary sheet's rows (write-only: in order), counting them for the chart."""

    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        self._sheet = sheet
        self.row = 0  # the last row written

    def title(self, title: str, *lines: str) -> None:
        cell = _text_cell(self._sheet, title)
        cell.font = TITLE_FONT
        self._append([cell])
        for line in lines:
            self._append([_text_cell(self._sheet, line)])
        self._append([])

    def table(
        self,
        header: list[str],
        rows: list[list[object]],
        formats: tuple[str, ...],
        money_rows: tuple[int, ...] = (),
        percent_rows: tuple[int, ...] = (),
    ) -> None:
        """A header, its rows (text cells typed as text, numbers as numbers in `formats`' number
        format per column, or per row for `money_rows` and `percent_rows`), then a blank row."""
        self._append([_text_cell(self._sheet, value, header=True) for value in header])
        for index, values in enumerate(rows):
            cells: list[object] = []
            for column, value in enumerate(values):
                if isinstance(value, str):
                    cells.append(_text_cell(self._sheet, value))
                    continue
                cell = WriteOnlyCell(self._sheet, value=value)  # type: ignore[arg-type]  # a number or None
                kind = "money" if index in money_rows else "percent" if index in percent_rows else formats[column]
                if kind and value is not None:
                    cell.number_format = NUMBER_FORMATS[kind]
                cells.append(cell)
            self._append(cells)
        self._append([])

    def _append(self, cells: list[object]) -> None:
        self._sheet.append(cells)
        self.row += 1


def _text_cell(sheet: WriteOnlyWorksheet, value: object, header: bool = False) -> Cell:
    """A typed string cell: openpyxl would otherwise make '=…' a live formula."""
    cell = WriteOnlyCell(sheet, value=ooxml_text(str(value))[:XLSX_MAX_CELL])
    cell.data_type = "s"
    if header:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    return cell


def ooxml_text(text: str) -> str:
    """The text as an XLSX cell holds it: characters XML forbids as _xHHHH_ escapes."""
    return _NOT_XML.sub(lambda match: f"_x{ord(match.group()):04X}_", text)


def _append_text(sheet: WriteOnlyWorksheet, values: Iterable[object], header: bool = False) -> None:
    sheet.append([_text_cell(sheet, value, header) for value in values])
