"""Cross-run memory in the campaign folder: whom this campaign called, when, through which API and
from which run folder, so no other run calls a number again too soon or too often.

A contact is written before its request leaves (the intent), so even a run killed mid-request is
remembered; it gets its call id once Vapi answers, and is removed when the request provably never
reached Vapi or Vapi refused that customer. Runs are told apart by their folder's resolved path:
resuming a folder never suppresses its own rows, while any other folder, under any file name or
working directory, sees them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runner.errors import unwritable

HISTORY_FILE = "history.sqlite"

# `calls` is the table written before run folders were recorded (kept readable, never written).
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
"""


@dataclass(frozen=True, slots=True)
class Contact:
    """One row of one request: the number it rings, and when the call may start."""

    request_id: str
    row: int
    number: str
    called_at: datetime
    call_id: str = ""


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

    def _write(self, statement: str, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(statement, rows)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise unwritable(self.path.parent, f"the call history {self.path.name}", exc) from None

    def calls_since(self, api: str, since: datetime, run_dir: Path | None = None) -> dict[str, list[datetime]]:
        """number -> times it was called (or is scheduled) through `api` since `since`, by any run
        but the one in `run_dir`."""
        if not self.path.exists():
            return {}
        this_run = str(run_dir.resolve()) if run_dir is not None else ""
        found: dict[str, list[datetime]] = {}
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT number, called_at FROM contacts WHERE api = ? AND called_at >= ? AND run_dir != ? "
                    "UNION ALL SELECT number, called_at FROM calls WHERE api = ? AND called_at >= ?",
                    (api, since.isoformat(), this_run, api, since.isoformat()),
                )
                .fetchall()
            )
        for number, called_at in rows:
            found.setdefault(number, []).append(datetime.fromisoformat(called_at))
        return found

    def record(self, api: str, run_dir: Path, contacts: Iterable[Contact]) -> None:
        """Remember contacts (an intent, or a call with its id); recording one again updates its call id."""
        folder = str(run_dir.resolve())  # once: resolving touches the file system
        self._write(
            "INSERT INTO contacts (run_dir, request_id, row, number, api, called_at, call_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_dir, request_id, row) DO UPDATE SET "
            "call_id = CASE WHEN excluded.call_id != '' THEN excluded.call_id ELSE contacts.call_id END",
            [(folder, c.request_id, c.row, c.number, api, c.called_at.isoformat(), c.call_id) for c in contacts],
        )

    def forget(self, run_dir: Path, request_id: str, rows: Iterable[int]) -> None:
        """Rows of a request that rang no one: never sent, or refused by Vapi."""
        folder = str(run_dir.resolve())
        self._write(
            "DELETE FROM contacts WHERE run_dir = ? AND request_id = ? AND row = ?",
            [(folder, request_id, row) for row in rows],
        )
