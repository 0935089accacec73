"""The results sheet: every input row, its own columns unchanged, then one status and its reason.

Safe to open in Excel: XLSX cells are typed text (E.164 stays "+1…", nothing is a formula), and CSV
cells that a spreadsheet would evaluate are neutralized with a leading apostrophe.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

RESULT_COLUMNS = ("row", "e164", "status", "reason", "call_id", "request_id", "earliest_at", "latest_at")
XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, less the header
XLSX_MAX_CELL = 32_767
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d.]*$")


@dataclass(frozen=True, slots=True)
class RowResult:
    """What happened to one input row."""

    row: int
    e164: str
    status: str
    reason: str
    call_id: str = ""
    request_id: str = ""
    earliest_at: str = ""
    latest_at: str = ""


def result_headers(input_headers: Sequence[str]) -> list[str]:
    """Our columns after the input's; renamed `vapi_<name>` where the input already has that name."""
    taken = set(input_headers)
    return [f"vapi_{name}" if name in taken else name for name in RESULT_COLUMNS]


def results_frame(inputs: pd.DataFrame, results: Sequence[RowResult]) -> pd.DataFrame:
    """The input's columns, unchanged and in input order, then the result columns."""
    frame = inputs.reset_index(drop=True).copy()
    for header, name in zip(result_headers(list(inputs.columns)), RESULT_COLUMNS, strict=True):
        frame[header] = [str(getattr(result, name)) for result in results]
    return frame


def default_format(row_count: int) -> str:
    return "xlsx" if row_count <= XLSX_MAX_ROWS else "csv"


def write_results(frame: pd.DataFrame, path: Path, counts: dict[str, int]) -> Path:
    """Write atomically (temp file, then rename) as XLSX or CSV by the path's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".xlsx":
        _write_xlsx(frame, temporary, counts)
    else:
        _write_csv(frame, temporary)
    os.replace(temporary, path)
    return path


def neutralize(value: str) -> str:
    """A CSV cell no spreadsheet evaluates: formula-looking text gets a leading apostrophe."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    # utf-8-sig: Excel reads a BOM-less CSV as the local code page and garbles accents.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralize(str(h)) for h in frame.columns])
        for record in frame.itertuples(index=False, name=None):
            writer.writerow([neutralize(str(cell)) for cell in record])


def _write_xlsx(frame: pd.DataFrame, path: Path, counts: dict[str, int]) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Results")
    sheet.freeze_panes = "A2"
    _append_text(sheet, frame.columns)
    for record in frame.itertuples(index=False, name=None):
        _append_text(sheet, record)
    summary = book.create_sheet("Summary")
    _append_text(summary, ["status", "rows"])
    for status, count in sorted(counts.items()):
        summary.append([status, count])
    book.save(path)


def _append_text(sheet: WriteOnlyWorksheet, values: Iterable[object]) -> None:
    """Every cell a typed string: openpyxl would otherwise make '=…' a live formula."""
    cells = []
    for value in values:
        text = ILLEGAL_CHARACTERS_RE.sub("", str(value))[:XLSX_MAX_CELL]
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        cells.append(cell)
    sheet.append(cells)
