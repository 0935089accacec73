"""The campaign's call history: one row per request, and the tables earlier versions wrote."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from runner.sending.history import History

API = "https://api.vapi.ai"
MONDAY = datetime(2030, 12, 2, 15, tzinfo=UTC)


def numbers_since(history: History, run_dir: Path | None = None) -> list[tuple[str, datetime]]:
    frame = history.calls_since(API, datetime(2030, 12, 1, tzinfo=UTC), run_dir)
    return sorted(frame.iter_rows())


def test_forgetting_rows_keeps_the_rest_of_the_request(tmp_path: Path) -> None:
    history, run = History(tmp_path), str(tmp_path / "run")
    history.sending(API, run, "req-1", MONDAY, {2: "+12025550100", 3: "+12025550101", 4: "+12025550102"})
    history.forget(run, "req-1", [3])
    assert numbers_since(history) == [("+12025550100", MONDAY), ("+12025550102", MONDAY)]
    assert numbers_since(history, tmp_path / "run") == []  # a run never holds itself back
    history.forget(run, "req-1")
    assert numbers_since(history) == []


def test_the_tables_of_earlier_versions_are_read_and_forgotten_from(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "history.sqlite") as db:  # as the version before per-request rows wrote it
        db.executescript(
            """
            CREATE TABLE calls (call_id TEXT PRIMARY KEY, number TEXT NOT NULL, api TEXT NOT NULL,
                run_id TEXT NOT NULL, called_at TEXT NOT NULL);
            CREATE TABLE contacts (run_dir TEXT NOT NULL, request_id TEXT NOT NULL, row INTEGER NOT NULL,
                number TEXT NOT NULL, api TEXT NOT NULL, called_at TEXT NOT NULL, call_id TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (run_dir, request_id, row));
            """
        )
        db.execute("INSERT INTO calls VALUES ('c0', '+12025550199', ?, 'old', '2030-12-01T09:30:00+00:00')", (API,))
        db.executemany(
            "INSERT INTO contacts VALUES (?, 'req-1', ?, ?, ?, ?, '')",
            [("/runs/a", 2, "+12025550100", API, MONDAY.isoformat()), ("/runs/a", 3, "+12025550101", API,
              "2030-12-02T15:00:00.250000+00:00")],
        )  # fmt: skip
    history = History(tmp_path)
    assert numbers_since(history) == [
        ("+12025550100", MONDAY),
        ("+12025550101", datetime(2030, 12, 2, 15, 0, 0, 250000, tzinfo=UTC)),
        ("+12025550199", datetime(2030, 12, 1, 9, 30, tzinfo=UTC)),
    ]
    history.forget("/runs/a", "req-1", [3])
    assert [number for number, _ in numbers_since(history)] == ["+12025550100", "+12025550199"]
