"""The sandbox's calls: created, listed with Vapi's filters, moved through their lifecycle by the
clock, and (optionally) kept in a JSON-lines file so they survive a restart.

Every request costs what it touches, not what the store holds: a call's status is worked out from
the clock only when it is shown, the live calls (ringing or in progress, which Vapi's concurrency
limit counts) are kept in two heaps, a list walks the calls newest first and stops at its limit,
and the state file is appended to (one line per created or deleted call)."""

from __future__ import annotations

import bisect
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
    ) -> None:
        self._seed = seed
        self.org_id = org_id_for(state_path)
        self._clock_offset = timedelta(seconds=clock_offset)
        self._opt_out_rate = opt_out_rate
        self._call_seconds = call_seconds
        self._dial_now = dial_now
        self._state_path = state_path
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, Any]] = {}  # in creation order, oldest first
        self._order: list[str] = []
        self._created: list[datetime] = []  # createdAt of each call in _order (ascending)
        self._waiting: list[tuple[datetime, datetime, str]] = []  # (rings at, ends at, id), a heap
        self._live: list[tuple[datetime, str]] = []  # (ends at, id) of calls that rang, a heap
        self._deleted: set[str] = set()
        if state_path is not None and state_path.exists():
            for line in state_path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line) if line.strip() else None
                if isinstance(record, dict) and "deleted" in record:
                    self._calls[record["deleted"]].update(record["fields"])
                    self._deleted.add(record["deleted"])
                elif isinstance(record, dict):
                    self._add(record)
            by_time = sorted(range(len(self._order)), key=self._created.__getitem__)
            self._order, self._created = [self._order[i] for i in by_time], [self._created[i] for i in by_time]

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
        start = self._start(call)
        span = timedelta(seconds=self._call_seconds)
        heapq.heappush(self._waiting, (start + span * 0.1, start + span, call["id"]))

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            call = self._calls.get(call_id)
            return None if call is None else self._view(call)

    def delete(self, call_id: str) -> dict[str, Any] | None:
        """DELETE /call/{id}: ends a call that has not ended, and answers it ended. A call that had
        begun to ring keeps a `startedAt` (when it began), in this answer and every later look, so
        a cancel can tell it rang (UNVERIFIED how Vapi's answer shows it)."""
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                return None
            view = self._view(call)
            if view["status"] != "ended":
                fields = {
                    "deletedAt": iso(self.now()),
                    "deletedReason": "scheduled-call-deleted" if view["status"] == "scheduled" else "manually-canceled",
                }
                if view["status"] not in ("scheduled", "queued"):
                    ringing = self._start(call) + timedelta(seconds=self._call_seconds) * 0.1
                    fields["startedAt"] = view.get("startedAt") or iso(ringing)
                call.update(fields)
                self._deleted.add(call_id)
                self._append([{"deleted": call_id, "fields": fields}])
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
        """Calls ringing or in progress now (what Vapi's concurrency limit counts)."""
        now = self.now()
        with self._lock:
            while self._waiting and self._waiting[0][0] <= now:
                _, ends, call_id = heapq.heappop(self._waiting)
                heapq.heappush(self._live, (ends, call_id))
            while self._live and self._live[0][0] <= now:
                heapq.heappop(self._live)
            cancelled = sum(1 for _, call_id in self._live if call_id in self._deleted) if self._deleted else 0
            return len(self._live) - cancelled

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
        """The call as Vapi would show it now: scheduled → queued → ringing → in-progress → ended."""
        view = {k: v for k, v in call.items() if k not in ("deletedAt", "deletedReason")}
        created = parse_time(call["createdAt"]) or self.now()
        start = self._start(call)
        plan = call.get("schedulePlan")
        now = self.now()
        deleted = parse_time(call.get("deletedAt"))
        if deleted is not None:
            view.update(
                status="ended",
                endedReason=call["deletedReason"],
                updatedAt=call["deletedAt"],
                endedAt=call["deletedAt"],
            )
            return view
        span = timedelta(seconds=self._call_seconds)
        reason = self._ended_reason(call["id"])
        answered = reason in ("customer-ended-call", "assistant-ended-call")
        phases = [
            (start, "queued"),
            (start + span * 0.1, "ringing"),
            (start + span * 0.3, "in-progress" if answered else "ringing"),
            (start + span, "ended"),
        ]
        status, since = "queued" if not plan or self._dial_now else "scheduled", created
        for moment, phase in phases:
            if now >= moment:
                status, since = phase, moment
        view["status"] = status
        view["updatedAt"] = iso(max(since, created))
        if now >= start + span * 0.3 and answered:
            view["startedAt"] = iso(start + span * 0.3)
        if status == "ended":
            view["endedAt"] = iso(start + span)
            view["endedReason"] = reason
            talk = (span * 0.7).total_seconds() if answered else 0.0
            view["cost"] = round(0.05 + 0.1 * talk / 60, 4)
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
