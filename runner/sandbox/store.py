"""The sandbox's calls: created, listed with Vapi's filters, moved through their lifecycle by the
clock on the account's lines, and (optionally) kept in a JSON-lines file so they survive a restart.

An account has `lines`: calls ringing or in progress at once (Vapi's concurrency limit). A call
needs a line when it is due to ring (at creation, or its schedule's earliestAt); with none free it
ends at once with Vapi's limit reason (`over_limit = "fail"`) or waits queued for the next line
that frees (`"queue"`): which of the two a real account does is not documented. A share of calls
(`start_error_rate`) ends at start with a transient Vapi fault instead, never having rung.

Every request costs what it touches, not what the store holds: the lines are handed out when the
clock is next read (`_advance`, in time order: due calls and freed lines, a heap each), a call's
status is worked out only when it is shown, a list walks the calls newest first and stops at its
limit, and the state file is appended to (one line per call created, dialled, failed or deleted)."""

from __future__ import annotations

import bisect
import collections
import hashlib
import heapq
import json
import operator
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runner.ended_reasons import LIMIT_REASON
from runner.sandbox.validate import parse_time


def org_id_for(state_path: Path | None) -> str:
    """The sandbox's account id: one per state file (so a demo's calls stay one account across runs),
    else one per sandbox: drills and tests never share a call history with each other, or with a
    real account (the tool keys its history by the org id Vapi answers with)."""
    if state_path is None:
        return f"org-sandbox-{uuid.uuid4().hex[:12]}"
    return f"org-sandbox-{hashlib.sha256(str(state_path.resolve()).encode()).hexdigest()[:12]}"


# A seeded mix of how outbound calls end; the first two count as answered.
ENDED_REASONS = (
    ("customer-ended-call", 45),
    ("assistant-ended-call", 15),
    ("customer-did-not-answer", 20),
    ("customer-busy", 8),
    ("voicemail", 12),
)
# The transient faults at start the sandbox gives (--start-error-rate): never rang.
START_ERRORS = ("call.in-progress.error-vapifault-worker-not-available", "call.start.error-vapifault-database-error")
OVER_LIMIT = ("fail", "queue")
# A call's life, in shares of call_seconds from when it is due: it needs a line (rings) at RINGS,
# is answered RINGING later, and ends (frees its line) at 1.0.
RINGS, RINGING = 0.1, 0.2
# What a created call keeps of its request's body.
_KEPT = (
    "assistantId", "assistant", "assistantVersion", "squadId", "squad", "workflowId", "workflow", "workflowOverrides",
    "phoneNumberId", "name", "schedulePlan",
)  # fmt: skip
_FILTERS: dict[str, Callable[[datetime, datetime], bool]] = {
    "Gt": operator.gt,
    "Lt": operator.lt,
    "Ge": operator.ge,
    "Le": operator.le,
}


def merged_overrides(call: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """A batch customer's overrides over the call's, variableValues merged name by name (UNVERIFIED:
    how Vapi combines the two is not documented; this is the reading that loses nothing)."""
    merged = {**call, **customer}
    if "variableValues" in call or "variableValues" in customer:
        merged["variableValues"] = {**(call.get("variableValues") or {}), **(customer.get("variableValues") or {})}
    return merged


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CallStore:
    """Thread-safe call storage. Status is derived from the clock whenever a call is read."""

    def __init__(
        self,
        seed: int,
        call_seconds: float,
        dial_now: bool,
        state_path: Path | None,
        opt_out_rate: float = 0.0,
        clock_offset: float = 0.0,
        lines: int = 10,
        over_limit: str = "fail",
        start_error_rate: float = 0.0,
        start_errors: tuple[str, ...] = START_ERRORS,
    ) -> None:
        if over_limit not in OVER_LIMIT:
            raise ValueError(f"over_limit must be one of {OVER_LIMIT}, not {over_limit!r}")
        self._seed = seed
        self.org_id = org_id_for(state_path)
        self._clock_offset = timedelta(seconds=clock_offset)
        self._opt_out_rate = opt_out_rate
        self._span = timedelta(seconds=call_seconds)
        self._dial_now = dial_now
        self._state_path = state_path
        self._lines = lines
        self._queue_over_limit = over_limit == "queue"
        self._start_error_rate = start_error_rate
        self._start_errors = start_errors
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, Any]] = {}  # in creation order, oldest first
        self._order: list[str] = []
        self._created: list[datetime] = []  # createdAt of each call in _order (ascending)
        self._due: list[tuple[datetime, int, str]] = []  # (needs a line at, seq, id) of calls not dialled, a heap
        self._waiting: collections.deque[str] = collections.deque()  # due, queued for a line (over_limit queue)
        self._live: list[tuple[datetime, str]] = []  # (ends at, id) of calls holding a line, a heap
        self._rang: dict[str, datetime] = {}  # id -> when it got its line
        self._failed: dict[str, tuple[datetime, str]] = {}  # id -> when and why it ended at start
        self._deleted: set[str] = set()
        self._seq = 0
        if state_path is not None and state_path.exists():
            for line in state_path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line) if line.strip() else None
                if not isinstance(record, dict):
                    continue
                if "deleted" in record:
                    self._calls[record["deleted"]].update(record["fields"])
                    self._deleted.add(record["deleted"])
                elif "rang" in record:
                    self._rang[record["rang"]] = parse_time(record["at"]) or self.now()
                elif "failed" in record:
                    self._failed[record["failed"]] = (parse_time(record["at"]) or self.now(), record["reason"])
                else:
                    self._add(record)
            by_time = sorted(range(len(self._order)), key=self._created.__getitem__)
            self._order, self._created = [self._order[i] for i in by_time], [self._created[i] for i in by_time]
            self._due = [entry for entry in self._due if entry[2] not in self._rang and entry[2] not in self._failed]
            heapq.heapify(self._due)
            for call_id, rang in self._rang.items():
                if call_id not in self._deleted:
                    heapq.heappush(self._live, (rang + self._span * (1 - RINGS), call_id))

    def now(self) -> datetime:
        """The API's clock: this machine's, moved by clock_offset (a server whose clock is off)."""
        return datetime.now(UTC) + self._clock_offset

    def __len__(self) -> int:
        """How many calls it holds."""
        with self._lock:
            return len(self._calls)

    def create(self, body: dict[str, Any], customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One call per customer, stored and saved before anything is answered."""
        created = []
        with self._lock:  # the clock is read under the lock: creation order is createdAt order
            self._advance(self.now())
            now = iso(self.now())
            for customer in customers:
                call: dict[str, Any] = {
                    "id": str(uuid.uuid4()),
                    "orgId": self.org_id,
                    "type": "outboundPhoneCall",
                    "createdAt": now,
                    "updatedAt": now,
                    "customer": customer,
                }
                for key in _KEPT:
                    if key in body:
                        call[key] = body[key]
                for key in ("assistantOverrides", "squadOverrides"):
                    if key in body or key in customer:
                        call[key] = merged_overrides(body.get(key) or {}, customer.get(key) or {})
                self._add(call)
                created.append(call)
            self._append(created)
        return [self._view(call) for call in created]

    def _add(self, call: dict[str, Any]) -> None:
        self._calls[call["id"]] = call
        self._order.append(call["id"])
        self._created.append(parse_time(call["createdAt"]) or self.now())
        self._seq += 1
        heapq.heappush(self._due, (self._start(call) + self._span * RINGS, self._seq, call["id"]))

    def _advance(self, now: datetime) -> None:
        """Hand out the lines up to `now`, in time order (the lock held): a line that frees first goes
        to the oldest queued call; a call that falls due rings on a free line, else fails with the
        limit reason or queues (over_limit). Each decision is saved as it is made."""
        decided: list[dict[str, Any]] = []
        while True:
            frees = self._live[0][0] if self._live else None
            due = self._due[0][0] if self._due else None
            if frees is not None and frees <= now and (due is None or frees <= due):
                heapq.heappop(self._live)
                if self._waiting:
                    decided.append(self._ring(self._waiting.popleft(), frees))
                continue
            if due is None or due > now:
                break
            _, _, call_id = heapq.heappop(self._due)
            if call_id in self._deleted:
                continue  # deleted before it was due: it never dials
            if random.Random(f"{self._seed}:{call_id}:start").random() < self._start_error_rate:
                reason = random.Random(f"{self._seed}:{call_id}:fault").choice(self._start_errors)
                decided.append(self._fail(call_id, due, reason))
            elif len(self._live) < self._lines:
                decided.append(self._ring(call_id, due))
            elif self._queue_over_limit:
                self._waiting.append(call_id)
            else:
                decided.append(self._fail(call_id, due, LIMIT_REASON))
        if decided:
            self._append(decided)

    def _ring(self, call_id: str, at: datetime) -> dict[str, Any]:
        self._rang[call_id] = at
        heapq.heappush(self._live, (at + self._span * (1 - RINGS), call_id))
        return {"rang": call_id, "at": iso(at)}

    def _fail(self, call_id: str, at: datetime, reason: str) -> dict[str, Any]:
        self._failed[call_id] = (at, reason)
        return {"failed": call_id, "at": iso(at), "reason": reason}

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._advance(self.now())
            call = self._calls.get(call_id)
            return None if call is None else self._view(call)

    def delete(self, call_id: str) -> dict[str, Any] | None:
        """DELETE /call/{id}: ends a call that has not ended, and answers it ended; its line, if it
        held one, goes to the next queued call. A call that had begun to ring keeps a `startedAt`
        (when it began), in this answer and every later look, so a cancel can tell it rang
        (UNVERIFIED how Vapi's answer shows it)."""
        with self._lock:
            now = self.now()
            self._advance(now)
            call = self._calls.get(call_id)
            if call is None:
                return None
            view = self._view(call)
            if view["status"] != "ended":
                fields = {
                    "deletedAt": iso(now),
                    "deletedReason": "scheduled-call-deleted" if view["status"] == "scheduled" else "manually-canceled",
                }
                if call_id in self._rang:
                    fields["startedAt"] = view.get("startedAt") or iso(self._rang[call_id])
                call.update(fields)
                self._deleted.add(call_id)
                self._append([{"deleted": call_id, "fields": fields}])
                if call_id in self._waiting:
                    self._waiting.remove(call_id)
                if any(live == call_id for _, live in self._live):
                    self._live = [entry for entry in self._live if entry[1] != call_id]
                    heapq.heapify(self._live)
                    if self._waiting:
                        self._append([self._ring(self._waiting.popleft(), now)])
            return self._view(call)

    def list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /call: equality on id/assistantId/phoneNumberId, createdAt/updatedAt ranges, newest first."""
        limit = int(float(params.get("limit", "100")))
        equal = {key: params[key] for key in ("id", "assistantId", "phoneNumberId") if key in params}
        bounds = {
            (field, compare): bound
            for field in ("createdAt", "updatedAt")
            for suffix, compare in _FILTERS.items()
            if (bound := parse_time(params.get(field + suffix))) is not None
        }
        found: list[dict[str, Any]] = []
        with self._lock:
            self._advance(self.now())
            first, last = self._created_range(bounds)
            for index in range(last - 1, first - 1, -1):  # newest first
                call = self._calls[self._order[index]]
                if any(call.get(key) != value for key, value in equal.items()):
                    continue
                view = None
                for (field, compare), bound in bounds.items():
                    if field == "updatedAt" and view is None:
                        view = self._view(call)
                    moment = parse_time((view or call)[field]) or bound
                    if not compare(moment, bound):
                        break
                else:
                    found.append(view or self._view(call))
                    if len(found) == limit:
                        break
        return found

    def _created_range(
        self, bounds: dict[tuple[str, Callable[[datetime, datetime], bool]], datetime]
    ) -> tuple[int, int]:
        """The slice of _order that the createdAt bounds allow, found by bisection."""
        first, last = 0, len(self._order)
        for (field, compare), bound in bounds.items():
            if field != "createdAt":
                continue
            if compare is operator.lt:
                last = min(last, bisect.bisect_left(self._created, bound))
            elif compare is operator.le:
                last = min(last, bisect.bisect_right(self._created, bound))
            elif compare is operator.gt:
                first = max(first, bisect.bisect_right(self._created, bound))
            else:
                first = max(first, bisect.bisect_left(self._created, bound))
        return first, last

    def active_count(self) -> int:
        """Calls holding a line now, ringing or in progress (what Vapi's concurrency limit counts)."""
        with self._lock:
            self._advance(self.now())
            return len(self._live)

    def queued_count(self) -> int:
        """Calls due that wait for a line (over_limit queue)."""
        with self._lock:
            self._advance(self.now())
            return len(self._waiting)

    def _append(self, records: Sequence[dict[str, Any]]) -> None:
        """Add lines to the state file (one JSON object each); written before the caller is answered."""
        if self._state_path is None:
            return
        with self._state_path.open("a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(record) + "\n" for record in records))
            handle.flush()

    def _start(self, call: dict[str, Any]) -> datetime:
        """When the call starts dialing: at creation, or its schedule's earliestAt (unless dial_now)."""
        created = parse_time(call["createdAt"]) or self.now()
        plan = call.get("schedulePlan")
        if plan and not self._dial_now:
            return max(created, parse_time(plan.get("earliestAt")) or created)
        return created

    def _view(self, call: dict[str, Any]) -> dict[str, Any]:
        """The call as Vapi would show it now (the lines handed out up to now): scheduled → queued
        → ringing → in-progress → ended, or ended at start (no line, or a fault) without ringing."""
        view = {k: v for k, v in call.items() if k not in ("deletedAt", "deletedReason")}
        created = parse_time(call["createdAt"]) or self.now()
        if call.get("deletedAt") is not None:
            view.update(
                status="ended",
                endedReason=call["deletedReason"],
                updatedAt=call["deletedAt"],
                endedAt=call["deletedAt"],
            )
            return view
        failed = self._failed.get(call["id"])
        if failed is not None:
            at, reason = failed
            view.update(status="ended", endedReason=reason, updatedAt=iso(at), endedAt=iso(at), cost=0)
            return view
        rang = self._rang.get(call["id"])
        if rang is None:  # not dialled yet: waiting for its time, or (queue) for a line
            waiting = self.now() >= self._start(call) or self._dial_now or not call.get("schedulePlan")
            view.update(status="queued" if waiting else "scheduled", updatedAt=iso(created))
            return view
        reason = self._ended_reason(call["id"])
        answered = reason in ("customer-ended-call", "assistant-ended-call")
        now = self.now()
        picked_up = rang + self._span * RINGING
        ends = rang + self._span * (1 - RINGS)
        status, since = "ringing", rang
        if now >= picked_up and answered:
            status, since = "in-progress", picked_up
            view["startedAt"] = iso(picked_up)
        if now >= ends:
            status, since = "ended", ends
        view["status"] = status
        view["updatedAt"] = iso(max(since, created))
        if status == "ended":
            view["endedAt"] = iso(ends)
            view["endedReason"] = reason
            talk = (ends - picked_up).total_seconds() if answered else 0.0
            view["cost"] = round(0.05 + 0.1 * talk / 60, 4)
            if answered or reason == "voicemail":
                view["artifact"] = {"recordingUrl": f"https://sandbox.invalid/recordings/{call['id']}.wav"}
            if answered:
                booked = random.Random(f"{self._seed}:{call['id']}:booked").random() < 0.6
                view["analysis"] = {
                    "summary": "The customer confirmed the appointment." if booked else "The customer declined.",
                    "successEvaluation": "true" if booked else "false",
                }
                if random.Random(f"{self._seed}:{call['id']}:opt-out").random() < self._opt_out_rate:
                    view["analysis"]["structuredData"] = {"optOut": True}
        return view

    def _ended_reason(self, call_id: str) -> str:
        rng = random.Random(f"{self._seed}:{call_id}")
        return rng.choices([r for r, _ in ENDED_REASONS], weights=[w for _, w in ENDED_REASONS])[0]
