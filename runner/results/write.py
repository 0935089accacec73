"""The results sheet: every input row, its own columns unchanged, then one status and its reason.

Safe to open in Excel: XLSX cells are typed text (E.164 stays "+1…", nothing is a formula), and CSV
cells that a spreadsheet would evaluate are neutralized with a leading apostrophe.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from runner.arrays import Objects, first_bytes, text_array
from runner.errors import unwritable
from runner.files import atomic_write
from runner.planning.plan import RESULT_COLUMNS
from runner.results.summary import Summary

# After a run: what became of each call (from GET /call/{id}).
OUTCOME_COLUMNS = (
    "attempts", "ended_reason", "started_at", "ended_at", "duration_s", "cost", "summary", "success_evaluation",
)  # fmt: skip
XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, less the header
XLSX_MAX_COLUMNS = 16_384  # a sheet's columns (A to XFD)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_BYTES = np.frombuffer("".join(_FORMULA_START).encode(), dtype=np.uint8)
_SIGNS = np.frombuffer(b"+-", dtype=np.uint8)
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9.]*")  # whole cell: a spreadsheet reads it as a number


def result_headers(input_headers: Sequence[str], names: Sequence[str] = RESULT_COLUMNS) -> list[str]:
    """Our columns after the input's; renamed `vapi_<name>` where the input already has that name
    (then `vapi_<name>_2`, … until the name is free: every header of the sheet is unique)."""
    taken = set(input_headers)
    headers = []
    for name in names:
        header, n = name if name not in taken else f"vapi_{name}", 1
        while header in taken:
            n += 1
            header = f"vapi_{name}_{n}"
        taken.add(header)
        headers.append(header)
    return headers


def results_table(inputs: pa.Table, columns: Mapping[str, Sequence[str] | Objects | pa.Array]) -> pa.Table:
    """The input's columns, unchanged and in input order, then the result (and outcome) columns."""
    headers = [*inputs.column_names, *result_headers(inputs.column_names, list(columns))]
    arrays = [*map(text_array, inputs.columns), *map(text_array, columns.values())]
    return pa.table([pc.fill_null(array, "") for array in arrays], names=headers)


def default_format(row_count: int, input_columns: int = 0) -> str:
    """xlsx, unless the sheet would not fit Excel's grid (our columns come after the input's)."""
    columns = input_columns + len(RESULT_COLUMNS) + len(OUTCOME_COLUMNS)
    return "xlsx" if row_count <= XLSX_MAX_ROWS and columns <= XLSX_MAX_COLUMNS else "csv"


def write_results(table: pa.Table, path: Path, summary: Summary) -> Path:
    """Write atomically (temp file, then rename): XLSX with a Summary sheet, or CSV + summary.json."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(path.parent, f"the results sheet {path.name}", exc) from None
    with atomic_write(path, f"the results sheet {path.name}") as temporary:
        if path.suffix == ".xlsx":
            from runner.results.xlsx import write_workbook  # openpyxl loads only when a workbook is written

            write_workbook(table, temporary, summary)
        else:
            _write_csv(table, temporary)
            (path.parent / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    return path


def neutralize(value: str) -> str:
    """A CSV cell no spreadsheet evaluates: formula-looking text gets a leading apostrophe."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _write_csv(table: pa.Table, path: Path) -> None:
    """Column by column (vectorized, a thread per core), then Arrow's C++ writer. A UTF-8 BOM first:
    Excel reads a BOM-less CSV as the local code page and garbles accents."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        columns = list(pool.map(neutralize_column, table.columns))
    safe = pa.table(columns, names=list(map(neutralize, table.column_names)))
    with pa.OSFile(str(path), "wb") as handle:  # Arrow's own file: writing never waits for the GIL
        handle.write(codecs.BOM_UTF8)
        pa_csv.write_csv(safe, handle, pa_csv.WriteOptions(eol="\r\n"))


def neutralize_column(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """`neutralize` on a whole column. The first byte of each cell decides whether to look closer,
    so a column of names costs one pass over its offsets, not a regex."""
    column = text_array(column)
    first = first_bytes(column)
    starts = np.isin(first, _FORMULA_BYTES)
    if not starts.any():
        return column
    if starts.mean() > 0.5:  # a column of E.164 numbers, say: one pass settles a sign and digits
        digits = pc.fill_null(pc.ascii_is_decimal(pc.utf8_slice_codeunits(column, 1)), False)
        starts &= ~(np.isin(first, _SIGNS) & digits.to_numpy(zero_copy_only=False))
    positions = np.flatnonzero(starts)
    formula = np.zeros(len(column), dtype=bool)
    formula[positions[~_plain_numbers(column.take(positions))]] = True
    if not formula.any():
        return column
    mask = pa.array(formula)
    return pc.replace_with_mask(column, mask, pc.binary_join_element_wise("'", column.filter(mask), ""))


def _plain_numbers(cells: pa.Array) -> npt.NDArray[np.bool_]:
    """`_PLAIN_NUMBER` matched whole, without a regex: a sign, a digit, then digits and dots."""
    signed = pc.or_(pc.starts_with(cells, "+"), pc.starts_with(cells, "-"))
    body = pc.utf8_slice_codeunits(cells, 1)
    number = pc.and_(
        pc.ascii_is_decimal(pc.utf8_slice_codeunits(body, 0, 1)),
        pc.ascii_is_decimal(pc.replace_substring(body, ".", "")),
    )
    return np.asarray(pc.and_(signed, number).to_numpy(zero_copy_only=False), dtype=bool)
