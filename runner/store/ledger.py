"""The run ledger (SQLite in OUTDIR): what was planned, what was about to be sent, what came back.

The rule that makes sending at-most-once: a request's intent (`sending`, with the time) is committed
to disk before the request leaves, and its outcome right after. A run that dies in between leaves
the request `sending`, and the next run reconciles it with Vapi instead of sending it again.

Request states: planned → sending → sent | rejected | unknown (planned again only when the request
provably never reached Vapi).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from runner.errors import OutdirError, damaged, unwritable
from runner.planning.body import customers_of, dumps, request_id, with_customers
from runner.planning.requests import CallRequest
from runner.statuses import CallStatus, CancelState, RequestState, Status
from runner.store.call_store import CALLS_FILE, CallStore, migrate_calls, read_calls
from runner.store.sql_frames import paged_frame, query_frame
from runner.store.sqlite import atomic, connect, migrate
from runner.vapi.call_fields import CALL_COLUMNS
from runner.vapi.call_list import CallSearch

LEDGER_FILE = "ledger.sqlite"
LEDGER_DAMAGED = (
    "this run folder can be neither resumed nor read: what it sent is recorded only there and in Vapi's "
    "call list. Restore the file from a backup (or try `sqlite3 ledger.sqlite .recover`); do not run the "
    "spreadsheet into a new folder before checking the Vapi dashboard"
)


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """A file SQLite cannot read as a database (not a lock, a full disk or a missing table)."""
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


TRANSIENT_ASSISTANT = "transient assistant"  # the assistant named for a request with no assistantId
# What answered a request (its saved assistant, squad or workflow), named in SQLite from its body.
_WHO_ANSWERS = (
    "json_extract(body, '$.assistantId'), json_extract(body, '$.squadId'), json_extract(body, '$.workflowId'), "
    "CASE WHEN json_extract(body, '$.squad') IS NOT NULL THEN 'transient squad' END"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    rows TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    intent_at TEXT,
    done_at TEXT,
    error TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS cancellations (
    call_id TEXT PRIMARY KEY,
    row INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    state TEXT NOT NULL,
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS outcomes (
    row INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    call_id TEXT NOT NULL DEFAULT ''
);
"""


@dataclass(frozen=True, slots=True)
class LedgerRequest:
    """One request as the ledger holds it. The body stays JSON text until it is used: a run holds
    every planned request at once, and parsed they would be a dict per customer."""

    id: str
    seq: int
    body_text: str
    rows: tuple[int, ...]
    state: str
    attempts: int
    intent_at: datetime | None
    error: str
    attempt: int

    @property
    def body(self) -> dict[str, Any]:
        """The body, parsed anew on each use (keep it while you need it)."""
        parsed: dict[str, Any] = orjson.loads(self.body_text)
        return parsed


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What Vapi did with one row: a call id and status, or a failure and its reason."""

    row: int
    status: str
    reason: str = ""
    call_id: str = ""
    request_id: str = ""  # the request it came from (as read back from the ledger)


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Progress:
    """A run folder's ledger as another process sees it while a run holds the folder."""

    requests: dict[str, int]  # by state
    rows: dict[str, int]  # rows by the state of their request
    calls: dict[str, int]  # rows Vapi answered for, by the status it gave

    def lines(self) -> list[str]:
        """The summary a person reads: requests and rows by state, calls by status."""

        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{name} {count}" for name, count in sorted(values.items())) or "none"

        return [
            f"requests: {counts(self.requests)}",
            f"rows: {counts(self.rows)}",
            f"calls: {counts(self.calls)}",
        ]


def _as_named(*columns: str) -> dict[str, tuple[str, Any]]:
    """Table columns read as they are, for Ledger._frame: `row` an integer, the others text."""
    return {name: (name, pl.Int64 if name == "row" else pl.String) for name in columns}


def _progress(db: sqlite3.Connection) -> Progress:
    states = db.execute("SELECT state, COUNT(*), SUM(json_array_length(rows)) FROM requests GROUP BY state").fetchall()
    calls = db.execute("SELECT status, COUNT(*) FROM outcomes GROUP BY status").fetchall()
    return Progress(
        requests={state: count for state, count, _ in states},
        rows={state: rows or 0 for state, _, rows in states},
        calls=dict(calls),
    )


class Ledger:
    """One run's ledger. Safe to share between the submitter's threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self.calls = CallStore(path.parent)  # the calls fetched, beside the ledger (runner.store.call_store)
        try:
            self._db = connect(path, durable=True)
            self._db.executescript(_SCHEMA)
            migrate(
                self._db, [("calls to calls.parquet", lambda db: migrate_calls(db, path.parent, self._opt_out_field()))]
            )
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc):
                raise damaged(path, exc, LEDGER_DAMAGED) from None
            raise unwritable(path.parent, f"the ledger {path.name}", exc) from None

    def _opt_out_field(self) -> str:
        """The campaign's opt-out field, as the run's meta keeps it (a migration reads old calls by it)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'campaign'").fetchone()
        field = json.loads(row[0]).get("compliance", {}).get("opt_out_field") if row else None
        return str(field or "optOut")

    @staticmethod
    def read_meta(outdir: Path) -> dict[str, str]:
        """What a run folder's ledger says about its run (empty when there is no ledger yet)."""
        path = outdir / LEDGER_FILE
        if not path.exists():
            return {}
        with closing(sqlite3.connect(path, timeout=30)) as db:
            try:
                return dict(db.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.DatabaseError as exc:
                if _is_damage(exc):
                    raise damaged(path, exc, LEDGER_DAMAGED) from None
                return {}

    @staticmethod
    def progress(outdir: Path) -> Progress:
        """Counts read without writing anything (a read-only connection), so that `status` can look
        at a folder while a run holds it."""
        path = outdir / LEDGER_FILE
        if not path.exists():
            raise OutdirError(f"{outdir}: not a run folder (no ledger.sqlite written by `vapi-campaign run`)")
        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)) as db:
                return _progress(db)
        except sqlite3.Error as exc:
            raise OutdirError(f"{outdir}: cannot read its ledger ({exc})") from None

    def counts(self) -> Progress:
        """Requests and their rows by state, outcomes by status: counted by SQLite, no body parsed."""
        with self._lock:
            return _progress(self._db)

    def has_outcomes(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM outcomes LIMIT 1").fetchone() is not None

    @classmethod
    def open(
        cls, outdir: Path, plan_id: str, requests: Iterable[CallRequest], meta: dict[str, str] | None = None
    ) -> Ledger:
        """Open (or create, storing `meta`) the ledger for this plan; a folder holding another plan is refused."""
        outdir.mkdir(parents=True, exist_ok=True)
        ledger = cls(outdir / LEDGER_FILE)
        with ledger._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'plan_id'").fetchone()
            if row is None:
                extra = {**(meta or {}), "plan_id": plan_id, "created_at": now_utc().isoformat()}
                db.executemany("INSERT INTO meta VALUES (?, ?)", list(extra.items()))
                ledger._insert(db, requests, attempt=1)
        if row is not None and row[0] != plan_id:
            ledger.close()
            raise OutdirError(
                f"{outdir}: holds a run of a different spreadsheet or campaign; "
                "give another --out folder (a run folder belongs to one input and one campaign)"
            )
        return ledger

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _insert(self, db: sqlite3.Connection, requests: Iterable[CallRequest], attempt: int, note: str = "") -> None:
        seq = db.execute("SELECT COALESCE(MAX(seq), -1) FROM requests").fetchone()[0]
        db.executemany(
            "INSERT OR IGNORE INTO requests (id, seq, body, rows, state, attempt, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (r.id, seq + n, r.body_json, json.dumps(r.rows), RequestState.PLANNED, attempt, note)
                for n, r in enumerate(requests, start=1)
            ),
        )

    def add_requests(self, requests: Sequence[CallRequest], attempt: int, note: str = "") -> None:
        """Follow-up attempts (or rows placed again): new planned requests that supersede the rows'
        earlier ones, each saying what it is until it is sent."""
        with self._transaction() as db:
            self._insert(db, requests, attempt, note or f"follow-up attempt {attempt}, not sent yet")
            db.executemany(
                "DELETE FROM outcomes WHERE row = ?", [(row,) for request in requests for row in request.rows]
            )

    def store_calls(self, calls: pl.DataFrame) -> None:
        """Keep these fetched calls (runner.store.call_store.STORE_SCHEMA: the row and the fields
        of its call): a row keeps its latest call."""
        self.calls.store(calls)

    @staticmethod
    def awaits_outcomes(outdir: Path, retry_on: list[str], max_attempts: int) -> bool:
        """Cheaply, without planning: does a call of this run still need checking (not ended yet,
        or ended for a reason to retry, with attempts left), or a request still wait to be sent?"""
        path = outdir / LEDGER_FILE
        if not path.exists():
            return False
        schema = {"row": pl.Int64, "call_id": pl.String, "attempt": pl.Int64}
        select = (
            "SELECT o.row AS row, o.call_id AS call_id, r.attempt AS attempt FROM outcomes o "
            "JOIN requests r ON r.id = o.request_id WHERE o.call_id != ''"
        )
        with closing(sqlite3.connect(path, timeout=30)) as db:
            stranded = db.execute("SELECT 1 FROM requests WHERE state = ? LIMIT 1", (RequestState.PLANNED,)).fetchone()
            if stranded is not None:
                return True
            given = query_frame(db, select, (), schema)
        calls = read_calls(outdir / CALLS_FILE).select("row", "call_id", "status", "ended_reason")
        status, reason = pl.col("status"), pl.col("ended_reason")
        waiting = given.join(calls, on=["row", "call_id"], how="left").filter(
            status.is_null()
            | (status != CallStatus.ENDED)
            | (reason.is_in(retry_on) & (pl.col("attempt") < max_attempts))
        )
        return not waiting.is_empty()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with atomic(self._db, self._lock) as db:
                yield db
        except sqlite3.Error as exc:
            # A full disk: the transaction is rolled back, so the ledger still tells the truth.
            raise unwritable(self.path.parent, f"the ledger {self.path.name}", exc) from None

    # --- reading -------------------------------------------------------------------------------
    def requests(self, state: str | None = None) -> list[LedgerRequest]:
        query = "SELECT id, seq, body, rows, state, attempts, intent_at, error, attempt FROM requests"
        args: tuple[str, ...] = ()
        if state is not None:
            query, args = query + " WHERE state = ?", (state,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [
            LedgerRequest(
                id=r[0],
                seq=r[1],
                body_text=r[2],
                rows=tuple(orjson.loads(r[3])),
                state=r[4],
                attempts=r[5],
                intent_at=datetime.fromisoformat(r[6]) if r[6] else None,
                error=r[7],
                attempt=r[8],
            )
            for r in rows
        ]

    def outcomes(self) -> dict[int, RowOutcome]:
        with self._lock:
            rows = self._db.execute("SELECT row, status, reason, call_id, request_id FROM outcomes").fetchall()
        return {r[0]: RowOutcome(r[0], r[1], r[2], r[3], r[4]) for r in rows}

    # --- reading as tables (the run and status path: nothing per row in Python) ------------------
    def requests_frame(self) -> pl.DataFrame:
        """One row per request: id, seq, its rows (JSON text), state, error, attempt, schedule and
        assistant (the body is read once per request, in SQLite)."""
        return self._frame(
            "requests",
            {
                "request_id": ("id", pl.String),
                "seq": ("seq", pl.Int64),
                "rows": ("rows", pl.String),
                "state": ("state", pl.String),
                "error": ("error", pl.String),
                "attempt": ("attempt", pl.Int64),
                "earliest_at": ("coalesce(json_extract(body, '$.schedulePlan.earliestAt'), '')", pl.String),
                "latest_at": ("coalesce(json_extract(body, '$.schedulePlan.latestAt'), '')", pl.String),
                "assistant": (f"coalesce({_WHO_ANSWERS}, '{TRANSIENT_ASSISTANT}')", pl.String),
            },
        )

    def outcome_calls_frame(self) -> pl.DataFrame:
        """One row per row Vapi (or the run) gave an outcome (row, status, reason, call id), with
        its call's fields as last fetched (`c_status` and the other CALL_COLUMNS; null where the
        call was not fetched, or the row's stored call is not the one its outcome names)."""
        schema = {"row": pl.Int64, "status": pl.String, "reason": pl.String, "call_id": pl.String}
        outcomes = self._frame("outcomes", {name: (name, dtype) for name, dtype in schema.items()})
        calls = self.calls.frame().select("row", "call_id", *CALL_COLUMNS).rename({"status": "c_status"})
        return outcomes.join(calls, on=["row", "call_id"], how="left", maintain_order="left")

    def first_sent(self) -> datetime | None:
        """When the run's first request left (None: nothing was sent yet)."""
        with self._lock:
            (first,) = self._db.execute("SELECT MIN(intent_at) FROM requests WHERE intent_at IS NOT NULL").fetchone()
        return datetime.fromisoformat(first) if first else None

    def call_search(self, margin: timedelta) -> CallSearch | None:
        """Where this run's calls are in Vapi's call list: each from-number (and saved assistant)
        its sent requests used, and the time they were sent in, widened by `margin` for clock skew.
        None before anything was sent."""
        with self._lock:
            first, last = self._db.execute(
                "SELECT MIN(intent_at), MAX(COALESCE(done_at, intent_at)) FROM requests WHERE intent_at IS NOT NULL"
            ).fetchone()
            pairs = self._db.execute(
                "SELECT DISTINCT json_extract(body, '$.phoneNumberId'), json_extract(body, '$.assistantId') "
                "FROM requests WHERE intent_at IS NOT NULL"
            ).fetchall()
        if first is None:
            return None
        targets = [
            {"phoneNumberId": number, **({"assistantId": assistant} if assistant else {})}
            for number, assistant in pairs
            if number
        ]
        return CallSearch(
            targets, datetime.fromisoformat(first) - margin, max(datetime.fromisoformat(last), now_utc()) + margin
        )

    def calls_frame(self) -> pl.DataFrame:
        """One row per fetched call: its id, status and the outcome columns, as the results sheet
        shows them (see CALL_COLUMNS)."""
        return self.calls.frame().select("call_id", *CALL_COLUMNS)

    def unfinished_frame(self) -> pl.DataFrame:
        """(row, call_id) of every call a row was given that was not seen ended and not cancelled:
        the calls `status` looks for."""
        given = self._frame("outcomes", {"row": ("row", pl.Int64), "call_id": ("call_id", pl.String)}).filter(
            pl.col("call_id") != ""
        )
        cancelled = self.cancellations_frame().filter(pl.col("state") == CancelState.CANCELLED).select("call_id")
        ended = self.calls.frame().filter(pl.col("status") == CallStatus.ENDED).select("row", "call_id")
        return given.join(cancelled, on="call_id", how="anti", maintain_order="left").join(
            ended, on=["row", "call_id"], how="anti", maintain_order="left"
        )

    def _frame(self, table: str, columns: dict[str, tuple[str, Any]]) -> pl.DataFrame:
        """SELECT these SQL expressions of `table` as a polars frame (runner.store.sql_frames)."""
        schema = {name: dtype for name, (_, dtype) in columns.items()}
        select = ", ".join(f'{expression} AS "{name}"' for name, (expression, _) in columns.items())
        with self._lock:
            return paged_frame(self._db, table, f"SELECT {select} FROM {table} WHERE 1", (), schema)

    def opted_out_calls(self) -> list[tuple[str, str, str]]:
        """(call id, number, ended at) of the fetched calls that ended with the campaign's opt-out
        flag set (runner.vapi.call_fields): a few per run."""
        calls = self.calls.frame().filter(pl.col("opted_out") & (pl.col("status") == CallStatus.ENDED))
        return [(str(a), str(b), str(c)) for a, b, c in calls.select("call_id", "number", "ended_at").iter_rows()]

    def cancellations_frame(self) -> pl.DataFrame:
        """One row per call `cancel` set out to delete: call id, row, request id, state
        (CancelState), who and when, and the last error."""
        return self._frame("cancellations", _as_named("call_id", "row", "request_id", "state", "by", "at", "error"))

    # --- writing: each method is one committed transaction --------------------------------------
    def mark_cancelling(self, targets: Iterable[tuple[str, int, str]], by: str, at: datetime) -> None:
        """Commit the intent to delete these calls ((call id, row, request id)) before any DELETE
        leaves; a call already cancelled keeps its record."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO cancellations (call_id, row, request_id, state, by, at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (call_id) DO UPDATE SET state = excluded.state, by = excluded.by, at = excluded.at "
                "WHERE cancellations.state != ?",
                [(call_id, row, request_id, CancelState.CANCELLING, by, at.isoformat(), CancelState.CANCELLED)
                 for call_id, row, request_id in targets],
            )  # fmt: skip

    def record_cancellation(self, call_id: str, state: str, error: str = "") -> None:
        with self._transaction() as db:
            db.execute("UPDATE cancellations SET state = ?, error = ? WHERE call_id = ?", (state, error, call_id))

    def mark_sending(self, request_id: str, body: dict[str, Any] | None = None) -> datetime:
        """Commit the intent before the request leaves, and the exact body when it is not the one
        planned (None: it is); returns the intent time."""
        moment = now_utc()
        text = None if body is None else orjson.dumps(body).decode()
        with self._transaction() as db:
            db.execute(
                "UPDATE requests SET state = ?, attempts = attempts + 1, intent_at = ?, body = coalesce(?, body) "
                "WHERE id = ?",
                (RequestState.SENDING, moment.isoformat(), text, request_id),
            )
        return moment

    def set_aside_by_rule(self) -> Counter[str]:
        """The rows admission set aside at send time, by rule (its reasons' openings, as
        runner.sending.admission and runner.store.history word them)."""
        with self._lock:
            found = self._db.execute(
                "SELECT CASE WHEN o.reason LIKE 'on the do-not-call list%' THEN 'do-not-call' "
                "WHEN o.reason LIKE 'opted out%' THEN 'opt-out list' "
                "WHEN o.reason LIKE 'already called%' THEN 'calls per day' ELSE 'recently called' END AS rule, "
                "count(*) "
                "FROM outcomes AS o JOIN requests AS r ON r.id = o.request_id WHERE r.state = ? GROUP BY rule",
                (RequestState.SET_ASIDE,),
            ).fetchall()
        return Counter(dict(found))

    def set_aside(self, request: LedgerRequest, refused: list[RowOutcome]) -> LedgerRequest | None:
        """Rows admission refused leave the request, in one transaction: the request keeps the
        others (rows and body, still aligned), and the refused rows go to a request of their own,
        `set aside`, each with its `suppressed` outcome. Returns the request as it now is, or None
        when no row is left (then it is set aside whole)."""
        gone = {outcome.row for outcome in refused}
        planned = request.body
        pairs = list(zip(request.rows, customers_of(planned), strict=True))
        kept = [(row, customer) for row, customer in pairs if row not in gone]
        with self._transaction() as db:
            if not kept:
                db.execute(
                    "UPDATE requests SET state = ?, done_at = ? WHERE id = ?",
                    (RequestState.SET_ASIDE, now_utc().isoformat(), request.id),
                )
                owner = request.id
            else:
                rows, body = [row for row, _ in kept], dumps(with_customers(planned, [c for _, c in kept]))
                db.execute("UPDATE requests SET rows = ?, body = ? WHERE id = ?", (json.dumps(rows), body, request.id))
                (seq,) = db.execute("SELECT max(seq) + 1 FROM requests").fetchone()
                aside = [(row, customer) for row, customer in pairs if row in gone]
                owner = f"{request.id}-aside-{seq}"
                db.execute(
                    "INSERT INTO requests (id, seq, body, rows, state, attempt, done_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        owner,
                        seq,
                        dumps(with_customers(planned, [c for _, c in aside])),
                        json.dumps([row for row, _ in aside]),
                        RequestState.SET_ASIDE,
                        request.attempt,
                        now_utc().isoformat(),
                    ),
                )
            db.executemany(
                "INSERT OR REPLACE INTO outcomes (row, request_id, status, reason, call_id) VALUES (?, ?, ?, ?, '')",
                [(o.row, owner, o.status, o.reason) for o in refused],
            )
        if not kept:
            return None
        return replace(request, rows=tuple(row for row, _ in kept), body_text=body)

    def current_calls(self, call_ids: Iterable[str]) -> set[str]:
        """Those of these calls that are still a row's call (its outcome names it): calls.parquet
        also keeps the calls a row had before it was placed again."""
        wanted = list(call_ids)
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite's limit of bound parameters, well within
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT call_id FROM outcomes WHERE call_id IN ({marks})"
                found.update(call_id for (call_id,) in self._db.execute(query, chunk))
        return found

    def requests_of_calls(self, call_ids: Iterable[str]) -> list[tuple[str, int, LedgerRequest]]:
        """(call id, row, the request that placed it) of each of these calls the rows' outcomes hold."""
        wanted = set(call_ids)
        with self._lock:
            found = self._db.execute("SELECT call_id, row, request_id FROM outcomes WHERE call_id != ''").fetchall()
        owners = {request.id: request for request in self.requests()}
        return [(call, row, owners[owner]) for call, row, owner in found if call in wanted and owner in owners]

    def split(self, request: LedgerRequest, head: int) -> tuple[LedgerRequest, LedgerRequest]:
        """A planned request cut in two, in one transaction, when fewer lines are free than it has
        customers: it keeps its first `head` rows (and their customers, still aligned), and the rest
        become a planned request of their own, sent when lines free. Returns (head, rest)."""
        planned = request.body
        pairs = list(zip(request.rows, customers_of(planned), strict=True))
        first, others = pairs[:head], pairs[head:]
        first_body = dumps(with_customers(planned, [c for _, c in first]))
        rest_body = dumps(with_customers(planned, [c for _, c in others]))
        with self._transaction() as db:
            (seq,) = db.execute("SELECT max(seq) + 1 FROM requests").fetchone()
            rest_id = f"{request.id.split('-from-')[0]}-from-{others[0][0]}"  # named by the rows it carries
            db.execute(
                "UPDATE requests SET rows = ?, body = ? WHERE id = ?",
                (json.dumps([row for row, _ in first]), first_body, request.id),
            )
            db.execute(
                "INSERT INTO requests (id, seq, body, rows, state, attempt, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rest_id, seq, rest_body, json.dumps([row for row, _ in others]), RequestState.PLANNED,
                    request.attempt, request.error,
                ),
            )  # fmt: skip
        rest = replace(request, id=rest_id, rows=tuple(row for row, _ in others), body_text=rest_body)
        return replace(request, rows=tuple(row for row, _ in first), body_text=first_body), rest

    def mark_not_sent(self, request_id: str, error: str) -> None:
        """The request provably never reached Vapi: it may be sent again."""
        self._finish(request_id, RequestState.PLANNED, error, [])

    def record_sent(self, request_id: str, outcomes: list[RowOutcome], note: str = "") -> None:
        self._finish(request_id, RequestState.SENT, note, outcomes)

    def record_rejected(self, request_id: str, error: str, rows: Iterable[int]) -> None:
        self._finish(request_id, RequestState.REJECTED, error, [RowOutcome(r, Status.FAILED, error) for r in rows])

    def record_unknown(self, request_id: str, error: str, outcomes: list[RowOutcome]) -> None:
        self._finish(request_id, RequestState.UNKNOWN, error, outcomes)

    def _finish(self, request_id: str, state: str, error: str, outcomes: list[RowOutcome]) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE requests SET state = ?, error = ?, done_at = ? WHERE id = ?",
                (state, error, now_utc().isoformat(), request_id),
            )
            db.executemany(
                "INSERT OR REPLACE INTO outcomes (row, request_id, status, reason, call_id) VALUES (?, ?, ?, ?, ?)",
                [(o.row, request_id, o.status, o.reason, o.call_id) for o in outcomes],
            )

    def owners(self) -> dict[int, LedgerRequest]:
        """Each row's current request: the latest one that carries it (a resend supersedes)."""
        return {row: request for request in self.requests() for row in request.rows}

    def unknown_rows(self) -> dict[str, list[int]]:
        """Request id -> the rows it still owns whose fate is unknown (to look for in Vapi again)."""
        with self._lock:  # most runs have none: then no request or outcome is read into Python
            if (
                self._db.execute("SELECT 1 FROM outcomes WHERE status = ? LIMIT 1", (Status.UNKNOWN,)).fetchone()
                is None
            ):
                return {}
        outcomes = self.outcomes()
        found: dict[str, list[int]] = {}
        for row, owner in self.owners().items():
            outcome = outcomes.get(row)
            if outcome is not None and outcome.status == Status.UNKNOWN and outcome.request_id == owner.id:
                found.setdefault(owner.id, []).append(row)
        return found

    def requeue_unknown(self, sent_before: datetime) -> tuple[int, int]:
        """The operator's --resend-unknown: unknown rows whose request's intent is older than
        `sent_before` go into new planned requests. Returns (rows requeued, rows held back)."""
        unknown = self.unknown_rows()
        requests = self.requests()
        plan_id = self._db.execute("SELECT value FROM meta WHERE key = 'plan_id'").fetchone()[0]
        count = held = 0
        with self._transaction() as db:
            seq = max((r.seq for r in requests), default=0)
            for request in requests:
                rows = set(unknown.get(request.id, ()))
                if not rows:
                    continue
                if request.intent_at is not None and request.intent_at > sent_before:
                    held += len(rows)
                    continue
                planned = request.body
                keep = [
                    (row, customer)
                    for row, customer in zip(request.rows, customers_of(planned), strict=True)
                    if row in rows
                ]
                seq += 1
                body = with_customers(planned, [customer for _, customer in keep])
                rows_sent = [row for row, _ in keep]
                db.execute(
                    "INSERT INTO requests (id, seq, body, rows, state, attempt) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        request_id(plan_id, rows_sent, request.attempt, resend=seq),
                        seq,
                        dumps(body),
                        json.dumps(rows_sent),
                        RequestState.PLANNED,
                        request.attempt,
                    ),
                )
                db.executemany("DELETE FROM outcomes WHERE row = ?", [(row,) for row in rows_sent])
                count += len(rows_sent)
        return count, held
