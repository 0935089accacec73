"""The call history: a claim per number, refused where another run holds it or the caps would
break; and the tables earlier versions wrote, moved into it once. The rules hold for both stores:
a SQLite file, and a PostgreSQL database (on a server of the test run's own, where one is installed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.store.history import CallHistory, Caps, History
from runner.store.history_pg import PostgresHistory

API = "https://api.vapi.ai"
MONDAY = datetime(2030, 12, 2, 15, tzinfo=UTC)
CAPS = Caps(min_days_between_calls=1, max_calls_per_day=3)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CallHistory]:
    if request.param == "sqlite":
        history: CallHistory = History(tmp_path / "history.sqlite")
    else:
        history = PostgresHistory(request.getfixturevalue("postgres_url"))
    yield history
    history.close()


def numbers_since(history: CallHistory, run_dir: Path | None = None) -> list[tuple[str, datetime]]:
    frame = history.calls_since(API, datetime(2030, 12, 1, tzinfo=UTC), run_dir)
    return sorted(frame.iter_rows())


def test_forgetting_rows_keeps_the_rest_of_the_request(tmp_path: Path, store: CallHistory) -> None:
    history, run = store, str(tmp_path / "run")
    history.claim(API, run, "req-1", MONDAY, {2: "+12025550100", 3: "+12025550101", 4: "+12025550102"}, CAPS)
    history.forget(run, "req-1", [3])
    assert numbers_since(history) == [("+12025550100", MONDAY), ("+12025550102", MONDAY)]
    assert numbers_since(history, tmp_path / "run") == []  # a run never holds itself back
    history.forget(run, "req-1")
    assert numbers_since(history) == []


def test_a_number_another_run_holds_is_refused_with_who_holds_it(store: CallHistory) -> None:
    history = store
    assert history.claim(API, "/runs/a", "req-1", MONDAY, {2: "+12025550100"}, CAPS) == {}
    later = MONDAY + timedelta(hours=2)
    refused = history.claim(API, "/runs/b", "req-9", later, {5: "+12025550100", 6: "+12025550101"}, CAPS)
    assert refused == {
        5: "called 2030-12-02 15:00 UTC by run folder /runs/a, less than min_days_between_calls = 1 day(s) ago"
    }
    # The same run resuming the same request claims again; another API is another history.
    assert history.claim(API, "/runs/a", "req-1", later, {2: "+12025550100"}, CAPS) == {}
    assert history.claim("http://127.0.0.1:8787", "/runs/b", "req-10", later, {5: "+12025550100"}, CAPS) == {}
    assert [n for n, _ in numbers_since(history)] == ["+12025550100", "+12025550101"]


def test_max_calls_per_day_counts_the_runs_own_attempts(store: CallHistory) -> None:
    history = store
    caps = Caps(min_days_between_calls=1, max_calls_per_day=2)
    for attempt in (1, 2):
        moment = MONDAY + timedelta(hours=attempt)
        assert history.claim(API, "/runs/a", f"req-a{attempt}", moment, {2: "+12025550100"}, caps) == {}
    third = history.claim(API, "/runs/a", "req-a3", MONDAY + timedelta(hours=3), {2: "+12025550100"}, caps)
    assert third == {2: "already called 2 times in 24 hours (max_calls_per_day)"}
    next_day = history.claim(API, "/runs/a", "req-a4", MONDAY + timedelta(hours=26), {2: "+12025550100"}, caps)
    assert next_day == {}


def test_the_tables_of_earlier_versions_are_moved_in_once(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "history.sqlite") as db:  # as the versions before claims wrote it
        db.executescript(
            """
            CREATE TABLE calls (call_id TEXT PRIMARY KEY, number TEXT NOT NULL, api TEXT NOT NULL,
                run_id TEXT NOT NULL, called_at TEXT NOT NULL);
            CREATE TABLE contacts (run_dir TEXT NOT NULL, request_id TEXT NOT NULL, row INTEGER NOT NULL,
                number TEXT NOT NULL, api TEXT NOT NULL, called_at TEXT NOT NULL, call_id TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (run_dir, request_id, row));
            CREATE TABLE sends (run_dir TEXT NOT NULL, request_id TEXT NOT NULL, api TEXT NOT NULL,
                called_at TEXT NOT NULL, numbers TEXT NOT NULL, PRIMARY KEY (run_dir, request_id));
            """
        )
        db.execute("INSERT INTO calls VALUES ('c0', '+12025550199', ?, 'old', '2030-12-01T09:30:00+00:00')", (API,))
        db.executemany(
            "INSERT INTO contacts VALUES (?, 'req-1', ?, ?, ?, ?, '')",
            [("/runs/a", 2, "+12025550100", API, MONDAY.isoformat()), ("/runs/a", 3, "+12025550101", API,
              "2030-12-02T15:00:00.250000+00:00")],
        )  # fmt: skip
        db.execute(
            "INSERT INTO sends VALUES ('/runs/b', 'req-2', ?, ?, '{\"7\":\"+12025550102\"}')",
            (API, "2030-12-02T16:00:00+00:00"),
        )
    history = History(tmp_path / "history.sqlite")
    assert numbers_since(history) == [
        ("+12025550100", MONDAY),
        ("+12025550101", datetime(2030, 12, 2, 15, 0, 0, 250000, tzinfo=UTC)),
        ("+12025550102", datetime(2030, 12, 2, 16, tzinfo=UTC)),
        ("+12025550199", datetime(2030, 12, 1, 9, 30, tzinfo=UTC)),
    ]
    history.forget("/runs/a", "req-1", [3])
    history.forget("/runs/b", "req-2", [7])
    assert [number for number, _ in numbers_since(history)] == ["+12025550100", "+12025550199"]
    refused = history.claim(API, "/runs/c", "req-3", datetime(2030, 12, 1, 20, tzinfo=UTC), {4: "+12025550199"}, CAPS)
    assert refused[4].startswith("called 2030-12-01 09:30 UTC by an earlier version's run")
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"claims", "accounts", "migrations"}  # the earlier ones dropped


def test_an_org_id_learned_for_a_url_keys_its_calls_and_other_spellings_of_it(store: CallHistory) -> None:
    url = "http://127.0.0.1:8787"
    store.claim(url + "/", "/runs/a", "req-1", MONDAY, {2: "+12025550100"}, CAPS)
    store.learn("http://localhost:8787", "org-1")
    refused = store.claim("http://ops:secret@127.0.0.1:8787", "/runs/b", "req-2", MONDAY, {3: "+12025550100"}, CAPS)
    assert list(refused) == [3]
    assert store.calls_since(url, datetime(2030, 12, 1, tzinfo=UTC)).height == 1
    assert store.calls_since("https://api.vapi.ai", datetime(2030, 12, 1, tzinfo=UTC)).height == 0
