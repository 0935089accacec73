"""The stores' SQLite helpers: a migration runs once per database and is recorded; one that fails
leaves nothing behind and runs again next time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner.store.sqlite import atomic, connect, migrate


def test_a_migration_runs_once_and_is_recorded(tmp_path: Path) -> None:
    ran: list[str] = []

    def add_table(db: sqlite3.Connection) -> None:
        ran.append("t")
        db.execute("CREATE TABLE t (x)")

    for _ in range(3):
        with connect(tmp_path / "db.sqlite") as db:
            migrate(db, [("make t", add_table)])
    assert ran == ["t"]
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        assert [name for (name,) in db.execute("SELECT name FROM migrations")] == ["make t"]


def test_a_failed_migration_is_rolled_back_and_runs_again(tmp_path: Path) -> None:
    def half_done(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE t (x)")
        raise OSError("disk full")

    db = connect(tmp_path / "db.sqlite")
    with pytest.raises(OSError, match="disk full"):
        migrate(db, [("make t", half_done)])
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone() == (0,)
    migrate(db, [("make t", lambda db: db.execute("CREATE TABLE t (x)"))])
    with atomic(db):
        db.execute("INSERT INTO t VALUES (1)")
    assert db.execute("SELECT x FROM t").fetchall() == [(1,)]
