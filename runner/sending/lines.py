"""The account's lines as a run dials on them: at most `lines - reserve_lines` of its calls live at
once (Vapi fails or queues a call dialled with no line free), each POST carrying no more customers
than there are free lines, and the lines kept busy.

A call holds a line from its creation (queued, it is about to ring) until Vapi's call list shows it
ended. Those looks are one GET /call per from-number, for the calls updated since the last look,
taken only while the run waits for a line, about a tenth of a call's length apart. The lines are
the campaign's [dialing] lines, else the concurrencyLimit Vapi reports in each POST answer, else
Vapi's default of 10; an answer that says no line is left holds the run until the next look."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from runner.campaign import DEFAULT_LINES, Dialing
from runner.ended_reasons import Ending, ending
from runner.errors import ApiError, NetworkError
from runner.planning.spread import DUE_NOW
from runner.sending.outcomes import CLOCK_SKEW
from runner.store.ledger import now_utc
from runner.vapi.call_list import call_pages, identities
from runner.vapi.client import VapiClient

MIN_LOOK, MAX_LOOK = 0.25, 5.0  # seconds between two looks at the call list
# The circuit breaker: of at least this many calls ended within the window, more than half never rang.
OUTAGE_CALLS, OUTAGE_WINDOW = 20, timedelta(minutes=1)
MAX_FAILED_LOOKS = 10  # looks in a row that could not read the call list (each retried by the client)


class Lines:
    """The lines a run holds. `take(n)` waits for at least one free line and takes up to n for a
    POST; `placed` says which calls it created; `release` gives back what a POST held."""

    def __init__(self, client: VapiClient, dialing: Dialing, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._lines = dialing.lines
        self._reserve = dialing.reserve_lines
        self._call_seconds = dialing.expected_call_seconds
        self._sleep = sleep
        self._cond = threading.Condition()
        self._live: dict[str, tuple[str, datetime]] = {}  # call id -> (from-number id, created)
        self._held = 0  # lines taken by POSTs in flight
        self._blocked = False  # an answer said no line is left: wait for the next look
        self._looking = False
        self._last_look: datetime | None = None
        self._since: datetime | None = None  # the earliest creation time of a call still live
        self._lengths: list[float] = []  # seconds the run's ended calls lasted (from creation)
        self._probe = MIN_LOOK  # the wait between looks while no call's length is known
        self._failed_looks = 0  # looks in a row the call list could not be read
        self.most_live = 0  # the most calls this run held at once
        self.never_rang: dict[str, str] = {}  # call id -> why it ended without ringing
        self.stopped_by: str = ""  # an ended reason that stops the whole run (the account)
        self.outage: str = ""  # why the run pauses: most of the last minute's calls failed at start
        self._recent: list[tuple[datetime, bool]] = []  # (seen ended at, never rang) over the last minute

    @property
    def capacity(self) -> int:
        """Calls this run may hold at once: the lines less those kept free (at least one)."""
        return max(1, (self._lines or DEFAULT_LINES) - self._reserve)

    @property
    def look_every(self) -> float:
        """Seconds between looks while waiting: a tenth of a call, within 0.25 s and 5 s. Before any
        call's length is known, 0.25 s, doubled by each look that finds no call ended."""
        seconds = self._call_seconds or (statistics.median(self._lengths) if self._lengths else None)
        return min(MAX_LOOK, max(MIN_LOOK, seconds / 10)) if seconds is not None else self._probe

    def live(self) -> int:
        with self._cond:
            return len(self._live)

    def take(self, wanted: int, stop: threading.Event) -> int:
        """Up to `wanted` lines, once at least one is free (0: the run is stopping, or must: the
        account cannot call, most calls fail at start, or the call list cannot be read)."""
        while not stop.is_set():
            with self._cond:
                if self.stopped_by or self.outage:
                    return 0
                free = 0 if self._blocked else self.capacity - len(self._live) - self._held
                if free > 0:
                    taken = min(wanted, free)
                    self._held += taken
                    return taken
                # Lines held by POSTs in flight free when their answers come; only calls hold them
                # past that, and only a look at the call list can tell when those end.
                if self._looking or not (self._live or self._blocked):
                    self._cond.wait(self.look_every)
                    continue
                self._looking = True
            try:  # one thread looks; the others wait for what it finds
                self._sleep(self._until_next_look())
                self.look()
            finally:
                with self._cond:
                    self._looking = False
                    self._cond.notify_all()
        return 0

    def _until_next_look(self) -> float:
        if self._last_look is None:
            return 0.0
        return max(0.0, self.look_every - (now_utc() - self._last_look).total_seconds())

    def placed(self, body: dict[str, Any], calls: list[dict[str, Any]], limits: dict[str, Any]) -> None:
        """The calls a POST created hold lines from now; the answer's limits teach the account's lines."""
        created = now_utc()
        with self._cond:
            for call in calls:
                if call.get("status") != "ended":
                    self._live[call["id"]] = (call.get("phoneNumberId") or body.get("phoneNumberId", ""), created)
            self._since = min(self._since or created, created)
            limit = limits.get("concurrencyLimit")
            if self._lines is None and isinstance(limit, int) and limit > 0:
                self._lines = limit
            if limits.get("concurrencyBlocked") or limits.get("remainingConcurrentCalls") == 0:
                self._blocked = True
            self.most_live = max(self.most_live, len(self._live))
            self._cond.notify_all()

    def take_never_rang(self) -> dict[str, str]:
        """The calls found ended without ringing since the last time this was asked (call id -> why)."""
        with self._cond:
            found, self.never_rang = self.never_rang, {}
            return found

    def release(self, taken: int) -> None:
        """The lines a POST held, given back once its answer is recorded (or it was not sent)."""
        with self._cond:
            self._held -= taken
            self._cond.notify_all()

    def look(self) -> None:
        """Ask Vapi's call list which of the live calls ended since the last look."""
        with self._cond:
            numbers = {number for number, _ in self._live.values()}
            since, updated = self._since, self._last_look
        started = now_utc()
        ended: dict[str, tuple[str, float | None]] = {}
        if numbers and since is not None:
            api_now = self._client.api_time(started)
            try:
                for number in sorted(numbers):
                    filters: dict[str, str | datetime] = {"phoneNumberId": number}
                    if updated is not None:
                        filters["updatedAtGe"] = self._client.api_time(updated - CLOCK_SKEW / 60)
                    created_from = self._client.api_time(since) - CLOCK_SKEW
                    for page in call_pages(self._client, filters, created_from, api_now + CLOCK_SKEW, identities):
                        for call in page.filter(page.get_column("status") == "ended").iter_rows(named=True):
                            ended[call["id"]] = (call["endedReason"] or "", _lasted(call))
            except (ApiError, NetworkError) as exc:
                # No look this time: the lines stay as they were, and the next look tries again;
                # a run that cannot read the call list at all would wait for ever: it pauses.
                with self._cond:
                    self._failed_looks += 1
                    if self._failed_looks >= MAX_FAILED_LOOKS and not self.outage:
                        self.outage = f"Vapi's call list could not be read {self._failed_looks} times in a row ({exc})"
                    self._last_look = started
                    self._cond.notify_all()
                return
        with self._cond:
            self._failed_looks = 0
            for call_id, (reason, lasted) in ended.items():
                if self._live.pop(call_id, None) is None:
                    continue
                kind = ending(reason)
                if kind is Ending.NEVER_RANG:
                    self.never_rang[call_id] = reason
                elif kind is Ending.ACCOUNT:
                    self.stopped_by = self.stopped_by or reason
                elif lasted is not None:
                    self._lengths.append(lasted)
                self._recent.append((started, kind is Ending.NEVER_RANG))
            self._recent = [entry for entry in self._recent if started - entry[0] <= OUTAGE_WINDOW]
            failed = sum(never for _, never in self._recent)
            if len(self._recent) >= OUTAGE_CALLS and failed * 2 > len(self._recent) and not self.outage:
                self.outage = (
                    f"{failed} of the last {len(self._recent)} calls failed at start (Vapi may be having an "
                    "outage, or the account has no free line)"
                )
            self._since = min((created for _, created in self._live.values()), default=None)
            self._probe = MIN_LOOK if ended else min(MAX_LOOK, self._probe * 2)
            self._blocked = False
            self._last_look = started
            self._cond.notify_all()


def _lasted(call: dict[str, Any]) -> float | None:
    """Seconds from a call's creation to its end, when Vapi gave both."""
    try:
        created = datetime.fromisoformat(call["createdAt"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(call["endedAt"].replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    return max(0.0, (ended - created).total_seconds())


def rings_now(body: dict[str, Any], now: datetime) -> bool:
    """Whether a body's calls start now (no schedule, or one already open): then they need lines."""
    plan = body.get("schedulePlan")
    if not plan or not plan.get("earliestAt"):
        return True
    earliest = datetime.fromisoformat(str(plan["earliestAt"]).replace("Z", "+00:00"))
    return earliest <= now + DUE_NOW
