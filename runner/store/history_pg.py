"""The call history in PostgreSQL (`[compliance] history = "postgresql://…"`), for an account whose
runs send from several machines: SQLite's locking holds across the processes of one machine only.

The same claims, keys and rules as the SQLite history (runner.store.history); a claim is one
transaction that first takes an advisory lock on the account's key, so the claims of every machine
sending for one account happen one after the other, as `BEGIN IMMEDIATE` makes them on one file.
The password never goes in the campaign file (the campaign refuses one): libpq reads $PGPASSWORD or
~/.pgpass.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg

from runner.errors import OutdirError
from runner.store.history import RECENT_CALLS, AccountKeys, Caps, api_key_of, legacy_rows, refusals
from runner.vapi.client import redact_url

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    api TEXT NOT NULL,
    number TEXT NOT NULL,
    called_at TIMESTAMPTZ NOT NULL,
    run_dir TEXT NOT NULL,
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    PRIMARY KEY (run_dir, request_id, row)
);
CREATE INDEX IF NOT EXISTS claims_by_number ON claims (api, number, called_at);
CREATE TABLE IF NOT EXISTS accounts (url TEXT PRIMARY KEY, org TEXT NOT NULL);
"""
_SCHEMA_LOCK = 7_350_001  # an advisory lock id: two first connections create the tables one at a time


class PostgresHistory:
    """History's interface over one PostgreSQL connection. Safe to share between threads."""

    def __init__(self, dsn: str, legacy: Path | None = None) -> None:
        self.dsn = dsn
        self._legacy = legacy
        self._lock = threading.Lock()
        self._db: psycopg.Connection[tuple[object, ...]] | None = None
        self._keys = AccountKeys()

    def _fail(self, exc: Exception) -> OutdirError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return OutdirError(
            f"cannot use the call history {redact_url(self.dsn)} ({text}); check [compliance] history and that "
            "the server is up, then run the same command again: nothing already sent is sent twice"
        )

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._db is None:
            try:
                db = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
                with db.transaction():
                    db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        db.execute(statement)
                legacy = self._legacy
                if legacy is not None and legacy.is_file():
                    self._move_in(db, legacy)
                self._db = db
            except psycopg.Error as exc:
                raise self._fail(exc) from None
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        with self._lock:
            db = self._connect()
            try:
                with db.transaction():
                    yield db
            except psycopg.Error as exc:
                raise self._fail(exc) from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _key(self, db: psycopg.Connection[tuple[object, ...]], api: str) -> str:
        return self._keys.of(api, lambda url: db.execute("SELECT org FROM accounts WHERE url = %s", (url,)).fetchone())

    def learn(self, api: str, org_id: str) -> None:
        url, key = api_key_of(api), f"org:{org_id}"
        with self._transaction() as db:
            db.execute(
                "INSERT INTO accounts (url, org) VALUES (%s, %s) ON CONFLICT (url) DO UPDATE SET org = excluded.org",
                (url, org_id),
            )
            db.execute("UPDATE claims SET api = %s WHERE api = %s", (key, url))
            self._keys.forget()

    def calls_since(self, api: str, since: datetime, run_dir: Path | None = None) -> pl.DataFrame:
        this_run = str(run_dir.resolve()) if run_dir is not None else ""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT number, called_at FROM claims WHERE api = %s AND called_at >= %s AND run_dir <> %s",
                (self._key(db, api), since, this_run),
            ).fetchall()
        return pl.DataFrame(rows, schema=RECENT_CALLS, orient="row").with_columns(
            pl.col("at").dt.truncate("1ms")  # as the SQLite history keeps them
        )

    def claim(
        self,
        api: str,
        run_dir: str,
        request_id: str,
        called_at: datetime,
        numbers: Mapping[int, str],
        caps: Caps,
    ) -> dict[int, str]:
        with self._transaction() as db:
            key = self._key(db, api)
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))  # one claim at a time per account
            db.execute("DELETE FROM claims WHERE run_dir = %s AND request_id = %s", (run_dir, request_id))
            if not numbers:
                return {}
            held = db.execute(
                "SELECT number, called_at, run_dir FROM claims WHERE api = %s AND number = ANY(%s) AND called_at >= %s",
                (key, sorted(set(numbers.values())), called_at - caps.window),
            ).fetchall()
            found = [(str(number), _utc(at), str(folder)) for number, at, folder in held]
            refused = refusals(numbers, found, called_at, run_dir, caps)
            claimed = [(key, n, called_at, run_dir, request_id, r) for r, n in numbers.items() if r not in refused]
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO claims (api, number, called_at, run_dir, request_id, row) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_dir, request_id, row) "
                    "DO UPDATE SET api = excluded.api, number = excluded.number, called_at = excluded.called_at",
                    claimed,
                )
        return refused

    def forget(self, run_dir: str, request_id: str, rows: Iterable[int] | None = None) -> None:
        with self._transaction() as db:
            if rows is None:
                db.execute("DELETE FROM claims WHERE run_dir = %s AND request_id = %s", (run_dir, request_id))
            else:
                db.execute(
                    "DELETE FROM claims WHERE run_dir = %s AND request_id = %s AND row = ANY(%s)",
                    (run_dir, request_id, list(rows)),
                )

    def _move_in(self, db: psycopg.Connection[tuple[object, ...]], legacy: Path) -> None:
        """A campaign folder's own SQLite history (earlier versions) moved in once, then renamed
        aside; under the schema's advisory lock, so machines starting together move it once."""
        with db.transaction(), db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            rows = legacy_rows(legacy)  # none when another process moved it in while we waited
            keyed = [(self._key(db, api), n, _utc(datetime.fromisoformat(at)), *rest) for api, n, at, *rest in rows]
            cursor.executemany(
                "INSERT INTO claims (api, number, called_at, run_dir, request_id, row) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                keyed,
            )
        with contextlib.suppress(FileNotFoundError):
            legacy.rename(legacy.with_name(legacy.name + ".moved"))


def _utc(moment: object) -> datetime:
    assert isinstance(moment, datetime)
    return moment.astimezone(UTC)
