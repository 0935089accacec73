"""Cross-run memory in the campaign folder: whom this campaign called, when, through which API and
from which run folder, so no other run calls a number again too soon or too often.

A request's numbers are written before it leaves (the intent), so even a run killed mid-request is
remembered; rows are removed when the request provably never reached Vapi, or Vapi refused that
customer, or the call was cancelled. One row per request (its numbers as a JSON object, row ->
number): a batch of 100 customers costs one small write, not 100. Runs are told apart by their
folder's resolved path: resuming a folder never suppresses its own rows, while any other folder,
under any file name or working directory, sees them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import orjson
import polars as pl

from runner.errors import unwritable
from runner.sending.sql_frames import paged_frame, query_frame

HISTORY_FILE = "history.sqlite"
# The call history as the screen reads it: one row per call placed (or scheduled), in no order.
RECENT_CALLS: dict[str, pl.DataType] = {"e164": pl.String(), "at": pl.Datetime("us", "UTC")}
# `at` as SQLite's strftime writes it (milliseconds, Z), parsed by polars.
_AS_TEXT: dict[str, pl.DataType] = {"e164": pl.String(), "at": pl.String()}
_AT = "strftime('%Y-%m-%dT%H:%M:%fZ', called_at)"

# `calls` and `contacts` are the tables of earlier versions (one row per call, per contact): kept
# readable and forgotten from, never written.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    api TEXT NOT NULL,
    run_id TEXT NOT NULL,
    called_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    run_dir TEXT NOT NULL,
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    number TEXT NOT NULL,
    api TEXT NOT NULL,
    called_at TEXT NOT NULL,
    call_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_dir, request_id, row)
);
CREATE INDEX IF NOT EXISTS contacts_by_api_time ON contacts (api, called_at);
CREATE TABLE IF NOT EXISTS sends (
    run_dir TEXT NOT NULL,
    request_id TEXT NOT NULL,
    api TEXT NOT NULL,
    called_at TEXT NOT NULL,
    numbers TEXT NOT NULL,
    PRIMARY KEY (run_dir, request_id)
);
CREATE INDEX IF NOT EXISTS sends_by_api_time ON sends (api, called_at);
"""


class History:
    """Calls are kept per API (base URL, or the in-process sandbox): a sandbox drill never blocks a
    real call. Safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / HISTORY_FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
            except sqlite3.Error as exc:
                raise unwritable(self.path.parent, f"the call history {self.path.name}", exc) from None
            self._db = db
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise unwritable(self.path.parent, f"the call history {self.path.name}", exc) from None
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def calls_since(self, api: str, since: datetime, run_dir: Path | None = None) -> pl.DataFrame:
        """Every call placed (or scheduled) through `api` since `since` by any run but the one in
        `run_dir`: a frame of `e164` and `at` (UTC), as the screen reads it (plan_file's recent_calls)."""
        if not self.path.exists():
            return pl.DataFrame(schema=RECENT_CALLS)
        this_run = str(run_dir.resolve()) if run_dir is not None else ""
        after = since.isoformat()
        with self._lock:
            db = self._connect()
            sent = paged_frame(
                db,
                "sends",
                f"SELECT numbers.value AS e164, {_AT} AS at FROM sends, json_each(sends.numbers) AS numbers "
                "WHERE sends.api = ? AND sends.called_at >= ? AND sends.run_dir != ?",
                (api, after, this_run),
                _AS_TEXT,
                page=5_000,  # requests: up to 5,000,000 numbers a page
            )
            older = query_frame(
                db,
                f"SELECT number AS e164, {_AT} AS at FROM contacts WHERE api = ? AND called_at >= ? AND run_dir != ? "
                f"UNION ALL SELECT number, {_AT} FROM calls WHERE api = ? AND called_at >= ?",
                (api, after, this_run, api, after),
                _AS_TEXT,
            )
        both = pl.concat([sent, older])
        return both.with_columns(
            at=pl.col("at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="us", time_zone="UTC")
        )

    def sending(self, api: str, run_dir: str, request_id: str, called_at: datetime, numbers: Mapping[int, str]) -> None:
        """Remember a request's numbers (row -> E.164) before it leaves; `run_dir` resolved."""
        if not numbers:
            return
        text = orjson.dumps(numbers, option=orjson.OPT_NON_STR_KEYS).decode()
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sends (run_dir, request_id, api, called_at, numbers) VALUES (?, ?, ?, ?, ?)",
                (run_dir, request_id, api, called_at.isoformat(), text),
            )

    def forget(self, run_dir: str, request_id: str, rows: Iterable[int] | None = None) -> None:
        """Rows of a request that rang no one (never sent, refused by Vapi, cancelled); None: all of
        them. `run_dir` resolved."""
        keys = None if rows is None else [str(row) for row in rows]
        if keys == []:
            return
        where, request = "WHERE run_dir = ? AND request_id = ?", (run_dir, request_id)
        with self._transaction() as db:  # read and rewritten in one transaction: cancel forgets from many threads
            found = db.execute(f"SELECT numbers FROM sends {where}", request).fetchone()
            left = {} if found is None or keys is None else orjson.loads(found[0])
            for key in keys or ():
                left.pop(key, None)
            if left:
                db.execute(f"UPDATE sends SET numbers = ? {where}", (orjson.dumps(left).decode(), *request))
            else:
                db.execute(f"DELETE FROM sends {where}", request)
            if keys is None:
                db.execute(f"DELETE FROM contacts {where}", request)
            else:
                db.executemany(f"DELETE FROM contacts {where} AND row = ?", [(*request, int(key)) for key in keys])
