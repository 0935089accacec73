"""SQLite as every store here uses it: a connection in autocommit mode (transactions are explicit),
write-ahead logging, one transaction helper, and named migrations that run once and are recorded
(as sqlite-utils' Migrations does), instead of layout checks on every open."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

Migration = tuple[str, Callable[[sqlite3.Connection], object]]  # a name that never changes, and the step


def connect(path: Path, timeout: float = 30, durable: bool = False) -> sqlite3.Connection:
    """A connection shared by a store's threads (each store serializes them with its own lock).
    `durable`: every commit synced to disk (the ledger: a commit is a promise about a phone call)."""
    db = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    if durable:
        db.execute("PRAGMA synchronous=FULL")
    return db


@contextmanager
def atomic(
    db: sqlite3.Connection, lock: threading.Lock | threading.RLock | None = None
) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE (so two processes' transactions run one after the
    other, never interleaved), COMMIT when the block ends, ROLLBACK on any exception."""
    with lock or nullcontext():
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    """Run each migration not yet recorded in the `migrations` table, in order, each with its record
    in one transaction: once per database, even when two processes open it together."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {name for (name,) in db.execute("SELECT name FROM migrations")}
    for name, step in migrations:
        if name in done:
            continue
        with atomic(db):
            if db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                continue  # another process ran it while this one waited for the lock
            step(db)
            db.execute("INSERT INTO migrations VALUES (?, ?)", (name, datetime.now(UTC).isoformat()))


def tables(db: sqlite3.Connection) -> set[str]:
    return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
