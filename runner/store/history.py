"""The call history: whom an account called, when, through which campaign's run folder, so no run
calls a number again too soon or too often, whichever process, run folder or campaign folder it is in.

One history per account, not per folder or URL spelling: one file under the user's state directory
(or the path a campaign names, `[compliance] history`, for a team's shared folder), its calls keyed
by the account's org id (learned from the API's answers, remembered per URL) or, until that is
known, by the base URL normalised (no userinfo, loopback names alike, no trailing `/`). A campaign
folder's own history.sqlite, from earlier versions, is moved in once.

A request's numbers are claimed in one transaction just before it leaves (`claim`): a number
another run called within `min_days_between_calls`, or called `max_calls_per_day` times in the
24 hours around this call (this run's own other attempts counted), is refused with the reason;
the others are written, so a run killed mid-request still holds the rest back. Claims are removed
when the request provably never reached Vapi, or Vapi refused that customer, or the call was
cancelled before it dialled. One row per number, indexed by number: a claim reads only its own
numbers' rows, however long the history. Runs are told apart by their folder's resolved path:
resuming a folder never suppresses its own rows, while any other folder, under any file name or
working directory, sees them. SQLite's `BEGIN IMMEDIATE` makes two processes' claims one after
the other, so two runs started together never both call a person.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import orjson
import polars as pl

from runner.campaign import Campaign
from runner.errors import unwritable
from runner.store.sql_frames import paged_frame
from runner.store.sqlite import atomic, connect, migrate, tables
from runner.vapi.connect import state_dir

HISTORY_FILE = "history.sqlite"
# The call history as the screen reads it: one row per call placed (or scheduled), in no order.
RECENT_CALLS: dict[str, pl.DataType] = {"e164": pl.String(), "at": pl.Datetime("us", "UTC")}
_AS_TEXT: dict[str, pl.DataType] = {"e164": pl.String(), "at": pl.String()}
_MILLIS = "'%Y-%m-%dT%H:%M:%fZ'"  # how `called_at` is written: fixed width, so text order is time order

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    api TEXT NOT NULL,
    number TEXT NOT NULL,
    called_at TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    PRIMARY KEY (run_dir, request_id, row)
);
CREATE INDEX IF NOT EXISTS claims_by_number ON claims (api, number, called_at);
CREATE TABLE IF NOT EXISTS accounts (url TEXT PRIMARY KEY, org TEXT NOT NULL);
"""
_EARLIER_RUN = "(earlier version)"  # the run folder of calls from before folders were kept
# The tables earlier versions wrote (a row per call, per contact, per request): moved into
# `claims` once, when a history is first opened by this version.
_EARLIER = {
    "calls": f"SELECT api, number, strftime({_MILLIS}, called_at), '{_EARLIER_RUN}', call_id, 0 FROM calls",
    "contacts": f"SELECT api, number, strftime({_MILLIS}, called_at), run_dir, request_id, row FROM contacts",
    "sends": (
        f"SELECT api, numbers.value, strftime({_MILLIS}, called_at), run_dir, request_id, CAST(numbers.key AS INTEGER) "
        "FROM sends, json_each(sends.numbers) AS numbers"
    ),
}


@dataclass(frozen=True)
class Caps:
    """The campaign's rules a claim enforces ([compliance] min_days_between_calls, max_calls_per_day)."""

    min_days_between_calls: float
    max_calls_per_day: int

    @property
    def window(self) -> timedelta:
        """How far back a claim looks."""
        return timedelta(days=max(self.min_days_between_calls, 1.0))


def refusals(
    numbers: Mapping[int, str],
    held: Iterable[tuple[str, datetime, str]],
    called_at: datetime,
    run_dir: str,
    caps: Caps,
) -> dict[int, str]:
    """Which rows a claim refuses, and why, given the claims `held` (number, when, run folder) on
    its numbers within `caps.window`: a number another run called within min_days_between_calls
    (or has scheduled), or one called max_calls_per_day times in the 24 hours around this call
    (this run's own attempts counted). The rule every history store applies."""
    recent = timedelta(days=caps.min_days_between_calls)
    by_number: dict[str, list[tuple[datetime, str]]] = {}
    for number, at, folder in held:
        by_number.setdefault(number, []).append((at, folder))
    refused: dict[int, str] = {}
    for row, number in numbers.items():
        calls = by_number.get(number, [])
        others = [(at, folder) for at, folder in calls if folder != run_dir and called_at - at < recent]
        in_a_day = [at for at, _ in calls if called_at - at < timedelta(days=1)]
        if others:
            refused[row] = _recent_reason(max(others), called_at, caps)
        elif len(in_a_day) >= caps.max_calls_per_day:
            refused[row] = f"already called {len(in_a_day)} times in 24 hours (max_calls_per_day)"
    return refused


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def history_path(campaign: Campaign) -> Path:
    """Where a campaign's account keeps its call history: `[compliance] history` (relative to the
    campaign file), else one file for every campaign of this user."""
    named = campaign.compliance.history
    return campaign.base_dir / named if named else state_dir() / HISTORY_FILE


def open_history(campaign: Campaign) -> CallHistory:
    """The campaign's account history (a PostgreSQL database when `[compliance] history` is a
    postgresql:// URL); the campaign folder's own (an earlier version's) is moved in on first use."""
    named, legacy = campaign.compliance.history, campaign.base_dir / HISTORY_FILE
    if named and named.startswith(POSTGRES_SCHEMES):
        from runner.store.history_pg import PostgresHistory  # psycopg only where it is used

        return PostgresHistory(named, legacy=legacy)
    return History(history_path(campaign), legacy=legacy)


class CallHistory(Protocol):
    """What a history store does (History on a file, PostgresHistory on a server)."""

    def calls_since(self, api: str, since: datetime, run_dir: Path | None = None) -> pl.DataFrame: ...

    def claim(
        self, api: str, run_dir: str, request_id: str, called_at: datetime, numbers: Mapping[int, str], caps: Caps
    ) -> dict[int, str]: ...

    def forget(self, run_dir: str, request_id: str, rows: Iterable[int] | None = None) -> None: ...

    def learn(self, api: str, org_id: str) -> None: ...

    def close(self) -> None: ...


def api_key_of(api: str) -> str:
    """The base URL as the history knows it: scheme and host lowercased, no userinfo, loopback
    names alike, default ports and a trailing `/` dropped; a name that is no URL, as it is."""
    if "://" not in api:
        return api
    parts = urlsplit(api.strip())
    host = (parts.hostname or "").lower()
    if host in ("localhost", "::1", "ip6-localhost") or host.startswith("127."):
        host = "127.0.0.1"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


class AccountKeys:
    """The key each API's claims are kept under, looked up once per API name: `org:<id>` once the
    history knows the org id of the API's URL (its `accounts` table), else the URL normalised."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def of(self, api: str, org_of: Callable[[str], Sequence[object] | None]) -> str:
        """`org_of(url)`: the `accounts` row of a normalised URL (its org id first), or None."""
        if api not in self._known:
            url = api_key_of(api)
            found = org_of(url)
            self._known[api] = f"org:{found[0]}" if found else url
        return self._known[api]

    def forget(self) -> None:
        """After `learn`: a URL may have an org id now."""
        self._known.clear()


def stamp(moment: datetime) -> str:
    """A moment as the history writes it (UTC, milliseconds, Z)."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


class History:
    """Calls are kept per API (base URL, or the in-process sandbox): a sandbox drill never blocks a
    real call. Safe to share between threads and processes."""

    def __init__(self, path: Path, legacy: Path | None = None) -> None:
        """`path`: the history file; `legacy`: a campaign folder's own history to move in, if any."""
        self.path = path
        self._legacy = legacy
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._keys = AccountKeys()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = connect(self.path, timeout=60)
                db.executescript(_SCHEMA)
                migrate(db, [("earlier tables into claims", _move_earlier_tables)])
                if (
                    self._legacy is not None
                    and self._legacy.is_file()
                    and self._legacy.resolve() != self.path.resolve()
                ):
                    self._move_in(db, self._legacy)
            except (sqlite3.Error, OSError) as exc:
                raise unwritable(self.path.parent, f"the call history {self.path.name}", exc) from None
            self._db = db
        return self._db

    def _key(self, db: sqlite3.Connection, api: str) -> str:
        return self._keys.of(api, lambda url: db.execute("SELECT org FROM accounts WHERE url = ?", (url,)).fetchone())

    def learn(self, api: str, org_id: str) -> None:
        """The account behind `api` is `org_id`: its calls, and any this URL holds, are kept under it."""
        url, key = api_key_of(api), f"org:{org_id}"
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO accounts (url, org) VALUES (?, ?)", (url, org_id))
            db.execute("UPDATE OR IGNORE claims SET api = ? WHERE api = ?", (key, url))
            self._keys.forget()

    def _move_in(self, db: sqlite3.Connection, legacy: Path) -> None:
        """Move a campaign folder's own history (an earlier version's) into this one, once: its
        rows under their accounts' keys, then the file renamed aside (history.sqlite.moved). Done
        holding this history's write lock, so two processes starting together move it once."""
        with atomic(db):
            rows = legacy_rows(legacy)  # none when another process moved it in while we waited
            db.executemany(
                "INSERT OR IGNORE INTO claims (api, number, called_at, run_dir, request_id, row) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(self._key(db, api), *rest) for api, *rest in rows],
            )
        with contextlib.suppress(FileNotFoundError):
            legacy.rename(legacy.with_name(legacy.name + ".moved"))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._lock, atomic(self._connect()) as db:
                yield db
        except sqlite3.Error as exc:
            raise unwritable(self.path.parent, f"the call history {self.path.name}", exc) from None

    def calls_since(self, api: str, since: datetime, run_dir: Path | None = None) -> pl.DataFrame:
        """Every call placed (or scheduled) through `api` since `since` by any run but the one in
        `run_dir`: a frame of `e164` and `at` (UTC), as the screen reads it (plan_file's recent_calls)."""
        if not self.path.exists():
            return pl.DataFrame(schema=RECENT_CALLS)
        this_run = str(run_dir.resolve()) if run_dir is not None else ""
        with self._lock:
            db = self._connect()
            claimed = paged_frame(
                db,
                "claims",
                "SELECT number AS e164, called_at AS at FROM claims WHERE api = ? AND called_at >= ? AND run_dir != ?",
                (self._key(db, api), stamp(since), this_run),
                _AS_TEXT,
            )
        return claimed.with_columns(
            at=pl.col("at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="us", time_zone="UTC")
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
        """Claim a request's numbers (row -> E.164) just before it leaves, in one transaction with
        the look at who else holds them; returns the rows refused, with why (rows of a number
        another run called within min_days_between_calls, or that max_calls_per_day would be
        broken for). The request's earlier claims (a resumed send) are replaced. `run_dir` resolved."""
        with self._transaction() as db:
            api = self._key(db, api)
            db.execute("DELETE FROM claims WHERE run_dir = ? AND request_id = ?", (run_dir, request_id))
            if not numbers:
                return {}
            wanted = orjson.dumps(sorted(set(numbers.values()))).decode()
            held = db.execute(
                "SELECT number, called_at, run_dir FROM claims WHERE api = ? AND number IN "
                "(SELECT value FROM json_each(?)) AND called_at >= ?",
                (api, wanted, stamp(called_at - caps.window)),
            ).fetchall()
            found = [(number, datetime.fromisoformat(at), folder) for number, at, folder in held]
            refused = refusals(numbers, found, called_at, run_dir, caps)
            at = stamp(called_at)
            db.executemany(
                "INSERT OR REPLACE INTO claims (api, number, called_at, run_dir, request_id, row) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(api, number, at, run_dir, request_id, row) for row, number in numbers.items() if row not in refused],
            )
        return refused

    def forget(self, run_dir: str, request_id: str, rows: Iterable[int] | None = None) -> None:
        """Rows of a request that rang no one (never sent, refused by Vapi, cancelled); None: all of
        them. `run_dir` resolved."""
        where, request = "WHERE run_dir = ? AND request_id = ?", (run_dir, request_id)
        with self._transaction() as db:
            if rows is None:
                db.execute(f"DELETE FROM claims {where}", request)
            else:
                db.executemany(f"DELETE FROM claims {where} AND row = ?", [(*request, row) for row in rows])


def _recent_reason(last: tuple[datetime, str], called_at: datetime, caps: Caps) -> str:
    at, folder = last
    days = f"min_days_between_calls = {caps.min_days_between_calls:g} day(s)"
    by = "by an earlier version's run" if folder == _EARLIER_RUN else f"by run folder {folder}"
    if at > called_at:
        return f"a call is scheduled for {at:%Y-%m-%d %H:%M} UTC {by}, within {days}"
    return f"called {at:%Y-%m-%d %H:%M} UTC {by}, less than {days} ago"


def legacy_rows(legacy: Path) -> list[tuple[str, str, str, str, str, int]]:
    """The claims a campaign folder's own history holds (its earlier tables' rows too), read
    without writing to it (nor creating it, when another process has just moved it aside)."""
    try:
        source = sqlite3.connect(f"{legacy.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []
    with contextlib.closing(source):
        try:
            present = tables(source)
        except sqlite3.DatabaseError:
            return []
        selects = {"claims": "SELECT api, number, called_at, run_dir, request_id, row FROM claims", **_EARLIER}
        return [row for table, select in selects.items() if table in present for row in source.execute(select)]


def _move_earlier_tables(db: sqlite3.Connection) -> None:
    """Move the rows of the tables earlier versions wrote into `claims` (then drop them)."""
    present = tables(db)
    for table, select in _EARLIER.items():
        if table in present:
            db.execute(f"INSERT OR IGNORE INTO claims (api, number, called_at, run_dir, request_id, row) {select}")
            db.execute(f"DROP TABLE {table}")
