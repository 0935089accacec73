"""The calls a run has fetched, every call of every spreadsheet row (each attempt, each placement
that never rang): calls.parquet in the run folder, beside the ledger.

It is a copy of what Vapi said, which Vapi keeps: unlike the ledger's intents and outcomes, losing
it can never ring anyone twice, only make the next `status` fetch the calls again. So it is a
columnar file rewritten whole once per look (a million calls in a fraction of a second, written
to a temporary file and renamed, so a reader sees the old file or the new one), not rows in
SQLite inserted one tuple at a time."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import orjson
import polars as pl

from runner.errors import damaged
from runner.files import atomic_write
from runner.vapi.call_fields import CALL_SCHEMA, calls_of

CALLS_FILE = "calls.parquet"
STORE_SCHEMA: dict[str, pl.DataType] = {"row": pl.Int64(), **CALL_SCHEMA}


class CallStore:
    """The fetched calls of the run in `folder`; safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / CALLS_FILE
        self._lock = threading.Lock()
        self._frame: pl.DataFrame | None = None  # read once, then kept as stored

    def frame(self) -> pl.DataFrame:
        """STORE_SCHEMA, one row per fetched call (a spreadsheet row has one per attempt)."""
        with self._lock:
            if self._frame is None:
                self._frame = read_calls(self.path)
            return self._frame

    def store(self, calls: pl.DataFrame) -> None:
        """Keep these calls (STORE_SCHEMA): a call fetched again replaces what was kept of it; a
        follow-up's call joins the earlier attempts' (the results count every attempt's cost)."""
        if calls.is_empty():
            return
        merged = (
            pl.concat([self.frame(), calls.select(*STORE_SCHEMA)])
            .unique(["row", "call_id"], keep="last")
            .sort("row", "created_at", maintain_order=True)
        )
        with self._lock:
            write_calls(merged, self.path)
            self._frame = merged


def read_calls(path: Path) -> pl.DataFrame:
    """The calls kept at `path` (none when there is no file yet)."""
    if not path.exists():
        return pl.DataFrame(schema=STORE_SCHEMA)
    try:
        kept = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        # Only a copy of what Vapi holds: fetched again in full once it is gone.
        raise damaged(path, exc, "delete it and run `status` again: the calls are fetched from Vapi anew") from None
    # A file of an earlier version lacks the fields added since: empty, as Vapi sent none.
    missing = {name: pl.lit("", pl.String) for name in STORE_SCHEMA if name not in kept.columns}
    return kept.with_columns(**missing).select(*STORE_SCHEMA) if missing else kept


def write_calls(calls: pl.DataFrame, path: Path) -> None:
    """Replace the file at `path` with these calls: whole, or not at all."""
    with atomic_write(path, f"the fetched calls {path.name}") as partial:
        calls.write_parquet(partial)


def migrate_calls(db: sqlite3.Connection, folder: Path, opt_out_field: str) -> None:
    """Ledgers of earlier versions kept the calls in SQLite: as each call's whole JSON, keyed by
    call id, or (later) as its fields, one row per spreadsheet row. Those become calls.parquet,
    once; the table is dropped after the file is written, so a migration cut short is made again."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(calls)")}
    if not columns:
        return
    path = folder / CALLS_FILE
    if not path.exists():
        if "data" in columns:
            rows = db.execute("SELECT row, data FROM calls ORDER BY fetched_at").fetchall()
            fetched = calls_of([orjson.loads(data) for _, data in rows], opt_out_field)
            fetched = fetched.with_columns(row=pl.Series([row for row, _ in rows], dtype=pl.Int64))
        else:
            kept = [name for name in STORE_SCHEMA if name in columns]
            fetched = pl.DataFrame(
                db.execute(
                    f"SELECT {', '.join(kept)}, coalesce(json_extract(structured_data, ?) = 1, 0) FROM calls",
                    (f'$."{opt_out_field}"',),
                ).fetchall(),
                schema={**{name: STORE_SCHEMA[name] for name in kept}, "opted_out": pl.Boolean()},
                orient="row",
            )
        missing = {name: pl.lit("", pl.String) for name in STORE_SCHEMA if name not in fetched.columns}
        write_calls(fetched.with_columns(**missing).unique(["row", "call_id"], keep="last").select(*STORE_SCHEMA), path)
    db.execute("DROP TABLE calls")
