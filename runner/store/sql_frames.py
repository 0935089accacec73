"""A SQLite query's rows as a polars frame, with no Python object per row.

`cursor.fetchall()` builds a tuple per row; instead SQLite writes the rows as one NDJSON text
(`group_concat(json_object(...))`), which polars parses in parallel against a declared schema.
The ledger and the call history read their tables this way."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from typing import Any

import polars as pl


def query_frame(db: sqlite3.Connection, select: str, params: Sequence[object], schema: dict[str, Any]) -> pl.DataFrame:
    """The rows of `select`, whose result columns are named as `schema`'s keys."""
    fields = ", ".join(f"'{name}', \"{name}\"" for name in schema)
    (text,) = db.execute(
        f"SELECT group_concat(json_object({fields}), char(10)) FROM ({select})", tuple(params)
    ).fetchone()
    if not text:
        return pl.DataFrame(schema=schema)
    return pl.read_ndjson(io.BytesIO(text.encode()), schema=schema)


def paged_frame(
    db: sqlite3.Connection,
    table: str,
    select: str,
    params: Sequence[object],
    schema: dict[str, Any],
    page: int = 200_000,
) -> pl.DataFrame:
    """query_frame of `select` (which ends in a WHERE clause over `table`) a range of `table`'s
    rowids at a time: one text of a few tens of megabytes at most, however long the table."""
    # Two statements' worth: SQLite finds min() or max() alone in the index, both at once by a scan.
    low, high = db.execute(f"SELECT (SELECT min(rowid) FROM {table}), (SELECT max(rowid) FROM {table})").fetchone()
    frames = [
        query_frame(db, f"{select} AND {table}.rowid BETWEEN ? AND ?", (*params, start, start + page - 1), schema)
        for start in range(low or 0, (high or -1) + 1, page)
    ]
    frames = [frame for frame in frames if frame.height]
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)
