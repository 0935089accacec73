"""Drive the ledger's planned requests to Vapi: paced, bounded, retried only when provably unsent.

outcome of POST /call                  what happens
201                                    sent: call ids per row, batch errors per row
connection refused, 429, 503           never reached Vapi: back off (Retry-After honoured), retry
read timeout, dropped, other 5xx       fate unknown: reconcile with GET /call, never re-send
401/403, billing                       stop the whole run at once
other 4xx                              rejected: every row of the request failed, with the message
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from runner.errors import ApiError, AuthError, NetworkError
from runner.planning.body import customers_of
from runner.sending.followups import MAX_PLACEMENTS
from runner.sending.lines import Lines, rings_now
from runner.statuses import CallStatus, RequestState, Status
from runner.store.ledger import Ledger, LedgerRequest, RowOutcome, now_utc
from runner.vapi.call_list import call_pages, identities
from runner.vapi.client import CallsCreated, VapiClient, customer_of, error_text

RETRY_STATUSES = (429, 503)
# How old a request's intent must be before --resend-unknown may send its rows again: Vapi may list a
# call only a while after creating it, and a request may travel slowly (docs/at-most-once.md states this).
RESEND_AFTER = timedelta(minutes=10)
# How far before a request's intent the last look for its calls goes (by externalId).
RECONCILE_HOURS = timedelta(hours=6)


@dataclass(frozen=True)
class SubmitOptions:
    concurrency: int = 4
    requests_per_minute: int = 120
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    reconcile_delay: float = 2.0  # a call just created may be invisible to GET /call for a moment
    clock_skew: float = 120.0  # our clock against Vapi's, when searching by createdAt
    limits_pause: float = 5.0  # wait when Vapi says no concurrent calls remain
    resend_unknown: bool = False
    resend_after: timedelta = RESEND_AFTER
    unreachable_after: int = 5  # consecutive connection failures, with no answer yet, that stop the run


@dataclass(frozen=True)
class Dialled:
    """Where a send stands, for a progress display."""

    placed: int  # people whose request has gone (or was settled without going)
    waiting: int  # people still to place (for a free line, most often)
    live: int  # calls the run holds lines with now


@dataclass
class SubmitReport:
    attempted: int = 0
    reconciled: int = 0
    requeued_rows: int = 0
    held_rows: int = 0  # unknown rows too recently sent for --resend-unknown
    interrupted: bool = False
    fatal: AuthError | None = None
    unreachable: str = ""  # why the run stopped: the API could not be reached
    not_found: int = 0  # calls of the run that the API answered 404 for
    unwritten: bool = False  # the results sheet could not be written after sending (a note says why)
    stopped_by: str = ""  # an ended reason that stopped the run: the account cannot call (no credit, …)
    paused: str = ""  # why the run paused: most of the last minute's calls failed at start
    notes: list[str] = field(default_factory=list)


class ContactLog(Protocol):
    """Asked to admit each request's rows as it goes out, told as it settles (the call history
    listens: runner.sending.admission.Admission)."""

    def admit(self, request: LedgerRequest, body: dict[str, Any]) -> list[RowOutcome]: ...

    def settled(self, request: LedgerRequest, outcomes: list[RowOutcome]) -> None: ...

    def not_sent(self, request: LedgerRequest) -> None: ...


class _NoLog:
    def admit(self, request: LedgerRequest, body: dict[str, Any]) -> list[RowOutcome]:
        return []

    def settled(self, request: LedgerRequest, outcomes: list[RowOutcome]) -> None:
        pass

    def not_sent(self, request: LedgerRequest) -> None:
        pass


def current_schedule(body: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The body to send now: a window that has opened starts now (Vapi wants a future earliestAt);
    a window that has closed means the request must not be sent at all (None)."""
    plan = body.get("schedulePlan")
    if not plan:
        return body
    latest = datetime.fromisoformat(plan["latestAt"].replace("Z", "+00:00")) if "latestAt" in plan else None
    if latest is not None and latest <= now + timedelta(minutes=1):
        return None
    earliest = datetime.fromisoformat(plan["earliestAt"].replace("Z", "+00:00"))
    if earliest >= now:
        return body
    fresh = (now + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**body, "schedulePlan": {**plan, "earliestAt": fresh}}


class Pacer:
    """Spaces request starts by requests_per_minute; `pause` holds every worker (429, no capacity)."""

    def __init__(self, per_minute: int) -> None:
        self._interval = 60.0 / per_minute
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next, self._paused_until)
            self._next = slot + self._interval
        stop.wait(slot - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


class RowMatcher:
    """Finds which row of a request a returned customer is: by externalId when the call carries one
    (each attempt has its own, so a follow-up is never taken for an earlier attempt's call), else by
    the number (and extension), else by the SIP URI. Where two rows share a key, the first has it."""

    def __init__(self, request: LedgerRequest, body: dict[str, Any]) -> None:
        # One dict per kind of key, keyed by the values themselves: no key text built per customer.
        self._by_id: dict[str, int] = {}
        self._by_number: dict[tuple[str, str], int] = {}
        self._by_sip: dict[str, int] = {}
        for row, customer in zip(request.rows, customers_of(body), strict=True):
            if customer.get("externalId"):
                self._by_id.setdefault(customer["externalId"], row)
            if customer.get("number"):
                self._by_number.setdefault((customer["number"], customer.get("extension") or ""), row)
            if customer.get("sipUri"):
                self._by_sip.setdefault(customer["sipUri"], row)

    def row_for(self, data: Mapping[str, Any] | None, ids_only: bool = False) -> int | None:
        """`ids_only`: by externalId alone (a call found far from the request's time may be an
        older call to the same number)."""
        if data is None:
            return None
        if data.get("externalId"):
            return self._by_id.get(data["externalId"])
        if ids_only:
            return None
        row = self._by_number.get((data["number"], data.get("extension") or "")) if data.get("number") else None
        if row is None and data.get("sipUri"):
            row = self._by_sip.get(data["sipUri"])
        return row


class Submitter:
    """Sends what the ledger holds as planned; reconciles what a previous run left in doubt."""

    def __init__(
        self,
        ledger: Ledger,
        client: VapiClient,
        options: SubmitOptions,
        progress: Callable[[Dialled], None] | None = None,
        contacts: ContactLog | None = None,
        lines: Lines | None = None,
        place_again: Callable[[Mapping[str, str]], int] | None = None,
    ) -> None:
        self.ledger = ledger
        self.lines = lines  # the account's lines, when calls that ring now are paced to them
        self.place_again = place_again  # plans again the rows of calls that never rang: rows planned
        self.client = client
        self.options = options
        self.progress = progress
        self.contacts = contacts or _NoLog()
        self.stop = threading.Event()
        self.pacer = Pacer(options.requests_per_minute)
        self.report = SubmitReport()
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._answered = False  # the API has answered at least once in this run
        self._refused = 0  # consecutive connection failures
        self._to_place = 0  # people in the requests this send found planned
        self._placed_rows = 0

    def run(self) -> SubmitReport:
        executor = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="send")
        try:
            self._reconcile_all(executor)
            refusal = self._clock_refusal() if self.options.resend_unknown and self.ledger.unknown_rows() else ""
            if refusal:
                self.report.notes.append(refusal)
            elif self.options.resend_unknown:
                before = now_utc() - self.options.resend_after
                self.report.requeued_rows, self.report.held_rows = self.ledger.requeue_unknown(before)
                if self.report.held_rows:
                    minutes = self.options.resend_after.total_seconds() / 60
                    self.report.notes.append(
                        f"{self.report.held_rows} unknown row(s) were sent less than {minutes:g} minutes ago and "
                        "were not re-sent (Vapi may not list a call at once); run --resend-unknown again later"
                    )
            pending = self.ledger.requests(RequestState.PLANNED)
            self._to_place = sum(len(request.rows) for request in pending)
            for future in as_completed([executor.submit(self._send, request) for request in pending]):
                future.result()
            self._place_again(executor)
        except KeyboardInterrupt:
            self.report.interrupted = True
            self.stop.set()
        except BaseException:
            self.stop.set()  # a ledger that cannot be written: let no other request start
            raise
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return self.report

    def _place_again(self, executor: ThreadPoolExecutor) -> None:
        """Rows whose calls never rang (as the lines' looks found them while the run waited) are
        placed again and sent in this run, a few rounds at most (runner.sending.followups)."""
        for _ in range(MAX_PLACEMENTS):
            if self.stop.is_set() or self.lines is None or self.place_again is None:
                return
            never_rang = self.lines.take_never_rang()
            if not never_rang or not self.place_again(never_rang):
                return
            again = [executor.submit(self._send, request) for request in self.ledger.requests(RequestState.PLANNED)]
            for future in as_completed(again):
                future.result()

    def _clock_refusal(self) -> str:
        """Why --resend-unknown must not send now, or "": a row is re-sent only when its call is not
        in Vapi's list, which is searched by creation time, so the API's clock must be known and
        within the search's margin of ours."""
        if self.client.clock_offset is None:
            with contextlib.suppress(ApiError, NetworkError):
                self.client.list_calls(limit=1)
        offset = self.client.clock_offset
        if offset is None:
            return (
                "--resend-unknown refused: the API's clock could not be read (its answers carry no Date header), "
                "so its call list cannot be searched by time with certainty; nothing was re-sent"
            )
        if abs(offset.total_seconds()) > self.options.clock_skew:
            side = "behind" if offset.total_seconds() > 0 else "ahead of"
            return (
                f"--resend-unknown refused: this machine's clock is {abs(offset.total_seconds()):.0f} s {side} the "
                f"API's, more than the {self.options.clock_skew:.0f} s its search of the call list allows; set the "
                "clock right (NTP), then run again; nothing was re-sent"
            )
        return ""

    def reconcile(self) -> SubmitReport:
        """Look again in Vapi's call list for every request left in doubt: `sending` ones, and rows
        still `unknown` (a call may show in the list only a while after it was created)."""
        with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="reconcile") as executor:
            self._reconcile_all(executor)
        return self.report

    def _reconcile_all(self, executor: ThreadPoolExecutor) -> None:
        in_doubt = self.ledger.requests(RequestState.SENDING)
        reason = "the previous run stopped before Vapi's answer was recorded"
        for _ in executor.map(lambda request: self._reconcile(request, reason), in_doubt):
            self.report.reconciled += 1
        unknown = self.ledger.unknown_rows()
        for _ in executor.map(
            lambda request: self._reconcile(
                request, request.error or "an answer that did not mention them", rows=unknown[request.id]
            ),
            [r for r in self.ledger.requests() if r.id in unknown],
        ):
            self.report.reconciled += 1

    # --- one request ------------------------------------------------------------------------
    def _send(self, request: LedgerRequest) -> None:
        """Send a request; one whose calls ring now goes out as lines free, cut into pieces of no
        more customers than there are free lines (runner.sending.lines)."""
        piece: LedgerRequest | None = request
        while piece is not None and not self.stop.is_set():
            body = current_schedule(piece.body, now_utc())
            if self.lines is None or body is None or not rings_now(body, now_utc()):
                self._send_one(piece)
                self._placed(len(piece.rows))
                return
            taken = self.lines.take(len(piece.rows), self.stop)
            if not taken:
                self._halt_for_the_lines()
                return
            rest = None
            if taken < len(piece.rows):
                piece, rest = self.ledger.split(piece, taken)
            try:
                self._send_one(piece)
            finally:
                self.lines.release(taken)
            self._placed(len(piece.rows))
            self._halt_for_the_lines()
            piece = rest

    def _placed(self, rows: int) -> None:
        """Tell the progress display: people placed so far, people still waiting, calls live."""
        with self._lock:
            self._placed_rows += rows
            placed = self._placed_rows
        if self.progress:
            live = self.lines.live() if self.lines is not None else 0
            self.progress(Dialled(placed, max(0, self._to_place - placed), live))

    def _halt_for_the_lines(self) -> None:
        """Stop sending when the lines say so: the account cannot call, or calls cannot be placed now."""
        if self.lines is not None and self.lines.stopped_by:
            self._stop_for_the_account(self.lines.stopped_by)
        elif self.lines is not None and self.lines.outage:
            self._pause_for_an_outage(self.lines.outage)

    def _stop_for_the_account(self, reason: str) -> None:
        with self._lock:
            if not self.report.stopped_by:
                self.report.stopped_by = reason
                self.report.notes.append(
                    f"stopped: a call ended with {reason}, which every later call of this account would too; "
                    "nothing more was sent. Fix the account in Vapi's dashboard, then run the same command again"
                )
        self.stop.set()

    def _pause_for_an_outage(self, why: str) -> None:
        with self._lock:
            if not self.report.paused:
                self.report.paused = why
                self.report.notes.append(
                    f"paused: {why}; nothing more was sent. Run the same command again later: it sends the rest"
                )
        self.stop.set()

    def _send_one(self, request: LedgerRequest) -> None:
        for attempt in range(1, self.options.max_attempts + 1):
            self.pacer.wait(self.stop)
            if self.stop.is_set():
                return
            planned = request.body
            body = current_schedule(planned, now_utc())
            if body is None:
                reason = (
                    "not sent: its calling window closed before it could be sent; run again with a new "
                    "--out folder to plan these rows for their next window (rows already called are skipped)"
                )
                self.ledger.record_rejected(request.id, reason, request.rows)
                return
            # Admission first (the current lists, a claim in the history), then the ledger's intent:
            # a claim whose request never left only holds other runs back.
            refused = self.contacts.admit(request, body)
            if refused:
                narrowed = self.ledger.set_aside(request, refused)
                if narrowed is None:
                    return
                request, planned = narrowed, narrowed.body
                body = current_schedule(planned, now_utc()) or planned
            intent = self.ledger.mark_sending(request.id, None if body is planned else body)
            self.report.attempted += 1
            try:
                response = self.client.create_call(body)
            except NetworkError as exc:
                if exc.maybe_sent:
                    self._answer()
                    self._reconcile(request, str(exc), intent, body=body)
                    return
                retry_after = None
                error = str(exc)
                self._no_answer(error)
            except AuthError as exc:
                self._not_sent(request, f"not sent: {exc}")
                self.report.fatal = exc
                self.stop.set()
                return
            except ApiError as exc:
                self._answer()
                if exc.status in RETRY_STATUSES:
                    retry_after, error = exc.retry_after, str(exc)
                elif exc.status >= 500 or exc.status < 400:  # 5xx, or a success we could not read
                    self._reconcile(request, str(exc), intent, body=body)
                    return
                else:
                    self.ledger.record_rejected(
                        request.id, f"rejected by Vapi ({exc.status}): {exc.message}", request.rows
                    )
                    self.contacts.not_sent(request)
                    return
            else:
                self._answer()
                self._record(request, body, response)
                return
            self._not_sent(request, f"not sent after {attempt} attempt(s): {error}")
            if attempt == self.options.max_attempts or self.stop.is_set():
                return
            if retry_after is not None:
                self.pacer.pause(retry_after)
            ceiling = min(self.options.backoff_cap, self.options.backoff_base * 2 ** (attempt - 1))
            self.stop.wait(max(retry_after or 0.0, self._rng.uniform(0, ceiling)))
            if self.stop.is_set():
                return

    def _not_sent(self, request: LedgerRequest, error: str) -> None:
        self.ledger.mark_not_sent(request.id, error)
        self.contacts.not_sent(request)

    def _answer(self) -> None:
        with self._lock:
            self._answered, self._refused = True, 0

    def _no_answer(self, error: str) -> None:
        """A connection that failed; enough of them in a row, before any answer, stop the run: the
        API is down or the URL is wrong, and waiting out every request's retries helps no one."""
        with self._lock:
            self._refused += 1
            if self._answered or self._refused < self.options.unreachable_after or self.report.unreachable:
                return
            self.report.unreachable = (
                f"cannot reach {self.client.base_url}: {error} ({self._refused} tries in a row). "
                "Nothing more was sent; check the network, the URL (--base-url, $VAPI_BASE_URL), "
                "then run the same command again to send the rows left"
            )
        self.stop.set()

    def _record(self, request: LedgerRequest, body: dict[str, Any], response: CallsCreated) -> None:
        matcher = RowMatcher(request, body)
        outcomes: dict[int, RowOutcome] = {}
        for call in response.calls:
            row = matcher.row_for(customer_of(call)) if len(request.rows) > 1 else request.rows[0]
            if row is not None:
                outcomes[row] = RowOutcome(row, call.get("status") or CallStatus.QUEUED, "", call["id"])
        for error in response.errors:
            row = matcher.row_for(customer_of(error))
            if row is not None:
                outcomes[row] = RowOutcome(row, Status.FAILED, f"refused by Vapi: {error_text(error.get('error'))}")
        for row in request.rows:
            outcomes.setdefault(row, RowOutcome(row, Status.UNKNOWN, "Vapi's answer did not mention this customer"))
        self.ledger.record_sent(request.id, list(outcomes.values()))
        self.contacts.settled(request, list(outcomes.values()))
        if self.lines is not None and rings_now(body, now_utc()):
            self.lines.placed(body, response.calls, response.limits)
        elif response.saturated:
            self.pacer.pause(self.options.limits_pause)

    # --- reconciliation ------------------------------------------------------------------------
    def _reconcile(
        self,
        request: LedgerRequest,
        error: str,
        intent: datetime | None = None,
        rows: list[int] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Look for the request's calls in GET /call (twice, a moment apart) before deciding. `rows`:
        only these rows are in doubt (a re-check of unknown rows); the others keep their outcome."""
        intent = intent or request.intent_at or now_utc()
        wanted = rows if rows is not None else list(request.rows)
        body = body or request.body
        matcher = RowMatcher(request, body)
        found: dict[int, dict[str, Any]] = {}
        looked = False
        for look in range(2):
            if look:
                time.sleep(self.options.reconcile_delay)
            # Near the intent first (any customer key); the last look also hours back, by externalId
            # alone: a clock that is off, or a request that travelled slowly, is found there too.
            windows = [(intent - timedelta(seconds=self.options.clock_skew), False)]
            if look:
                windows.append((intent - RECONCILE_HOURS, True))
            try:
                for since, ids_only in windows:
                    if len(found) == len(wanted):
                        break
                    for call in self._calls_since(body, since):
                        row = matcher.row_for(call, ids_only)
                        if row is not None and row in wanted:
                            found.setdefault(row, call)
            except (ApiError, NetworkError):
                continue
            looked = True
            if len(found) == len(wanted):
                break
        if not looked or (rows is not None and not found):
            return  # still in doubt (a re-check that found nothing changes nothing): looked at again later
        found_after = f"found in Vapi's call list after: {error}"
        outcomes = [
            RowOutcome(row, call["status"] or CallStatus.QUEUED, found_after, call["id"]) for row, call in found.items()
        ]
        missing = [row for row in wanted if row not in found]
        if not missing:
            self.ledger.record_sent(request.id, outcomes, error)
            self.contacts.settled(request, outcomes)
            return
        reason = (
            f"fate unknown ({error}); not in Vapi's call list, so not re-sent. "
            "Check the Vapi dashboard, then run again with --resend-unknown"
        )
        outcomes += [RowOutcome(row, Status.UNKNOWN, reason) for row in missing]
        self.ledger.record_unknown(request.id, error, outcomes)
        self.contacts.settled(request, outcomes)

    def _calls_since(self, body: dict[str, Any], start: datetime) -> Iterator[dict[str, Any]]:
        """The calls of the request's from-number (and saved assistant) created since `start`:
        their id, status and customer's identity (runner.vapi.call_list.identities)."""
        filters: dict[str, str] = {"phoneNumberId": body.get("phoneNumberId", "")}
        if body.get("assistantId"):
            filters["assistantId"] = body["assistantId"]
        # The call list's createdAt is the API's clock: the window is read on it (the Date header's).
        end = self.client.api_time(now_utc()) + timedelta(seconds=self.options.clock_skew)
        for page in call_pages(self.client, filters, self.client.api_time(start), end, identities):
            yield from page.iter_rows(named=True)
