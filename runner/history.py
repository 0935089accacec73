"""Cross-run memory in the campaign folder: whom this campaign called, when, and through which API,
so a nightly import does not call a number again too soon or too often."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

HISTORY_FILE = "history.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    api TEXT NOT NULL,
    run_id TEXT NOT NULL,
    called_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_api_time ON calls (api, called_at);
"""


class History:
    """Calls are kept per API base URL: a sandbox drill never blocks a real call."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / HISTORY_FILE

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        return db

    def calls_since(self, api: str, since: datetime, exclude_run: str) -> dict[str, list[datetime]]:
        """number -> times it was called through `api` since `since`, other runs only."""
        if not self.path.exists():
            return {}
        found: dict[str, list[datetime]] = {}
        with self._connect() as db:
            rows = db.execute(
                "SELECT number, called_at FROM calls WHERE api = ? AND called_at >= ? AND run_id != ?",
                (api, since.isoformat(), exclude_run),
            )
            for number, called_at in rows:
                found.setdefault(number, []).append(datetime.fromisoformat(called_at))
        return found

    def record(self, api: str, run_id: str, calls: Iterable[tuple[str, str, datetime]]) -> None:
        """(number, call id, when) for each call Vapi created; recording one twice is harmless."""
        with self._connect() as db:
            db.executemany(
                "INSERT OR IGNORE INTO calls (call_id, number, api, run_id, called_at) VALUES (?, ?, ?, ?, ?)",
                [(call_id, number, api, run_id, when.isoformat()) for number, call_id, when in calls],
            )
