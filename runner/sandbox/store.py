"""The sandbox's calls: created, listed with Vapi's filters, moved through their lifecycle by the
clock, and (optionally) kept in a JSON file so they survive a restart."""

from __future__ import annotations

import json
import operator
import os
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runner.sandbox.validate import parse_time

ORG_ID = "org_sandbox"
# A seeded mix of how outbound calls end; the first two count as answered.
ENDED_REASONS = (
    ("customer-ended-call", 45),
    ("assistant-ended-call", 15),
    ("customer-did-not-answer", 20),
    ("customer-busy", 8),
    ("voicemail", 12),
)
_FILTERS: dict[str, Callable[[datetime, datetime], bool]] = {
    "Gt": operator.gt,
    "Lt": operator.lt,
    "Ge": operator.ge,
    "Le": operator.le,
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CallStore:
    """Thread-safe call storage. Status is derived from the clock whenever a call is read."""

    def __init__(self, seed: int, call_seconds: float, dial_now: bool, state_path: Path | None) -> None:
        self._seed = seed
        self._call_seconds = call_seconds
        self._dial_now = dial_now
        self._state_path = state_path
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, Any]] = {}
        if state_path is not None and state_path.exists():
            for call in json.loads(state_path.read_text(encoding="utf-8")):
                self._calls[call["id"]] = call

    def __len__(self) -> int:
        """How many calls it holds."""
        with self._lock:
            return len(self._calls)

    def create(self, body: dict[str, Any], customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One call per customer, stored and saved before anything is answered."""
        now = iso(datetime.now(UTC))
        created = []
        with self._lock:
            for customer in customers:
                call: dict[str, Any] = {
                    "id": str(uuid.uuid4()),
                    "orgId": ORG_ID,
                    "type": "outboundPhoneCall",
                    "createdAt": now,
                    "updatedAt": now,
                    "customer": customer,
                }
                for key in ("assistantId", "assistant", "phoneNumberId", "name", "schedulePlan"):
                    if key in body:
                        call[key] = body[key]
                overrides = customer.get("assistantOverrides") or body.get("assistantOverrides")
                if overrides is not None:
                    call["assistantOverrides"] = overrides
                self._calls[call["id"]] = call
                created.append(call)
            self._save()
        return [self._view(call) for call in created]

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            call = self._calls.get(call_id)
            return None if call is None else self._view(call)

    def delete(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                return None
            view = self._view(call)
            if view["status"] != "ended":
                call["deletedAt"] = iso(datetime.now(UTC))
                call["deletedReason"] = (
                    "scheduled-call-deleted" if view["status"] == "scheduled" else "manually-canceled"
                )
                self._save()
            return self._view(call)

    def list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /call: equality on id/assistantId/phoneNumberId, createdAt/updatedAt ranges, newest first."""
        limit = int(float(params.get("limit", "100")))
        with self._lock:
            views = [self._view(call) for call in self._calls.values()]
        for key in ("id", "assistantId", "phoneNumberId"):
            if key in params:
                views = [v for v in views if v.get(key) == params[key]]
        for field in ("createdAt", "updatedAt"):
            for suffix, compare in _FILTERS.items():
                bound = parse_time(params.get(field + suffix))
                if bound is not None:
                    views = [v for v in views if compare(parse_time(v[field]) or bound, bound)]
        views.sort(key=lambda v: v["createdAt"], reverse=True)
        return views[:limit]

    def active_count(self) -> int:
        with self._lock:
            views = [self._view(call) for call in self._calls.values()]
        return sum(v["status"] in ("ringing", "in-progress") for v in views)

    def _save(self) -> None:
        if self._state_path is None:
            return
        temporary = self._state_path.with_name(self._state_path.name + ".tmp")
        temporary.write_text(json.dumps(list(self._calls.values())), encoding="utf-8")
        os.replace(temporary, self._state_path)

    def _view(self, call: dict[str, Any]) -> dict[str, Any]:
        """The call as Vapi would show it now: scheduled → queued → ringing → in-progress → ended."""
        view = {k: v for k, v in call.items() if k not in ("deletedAt", "deletedReason")}
        created = parse_time(call["createdAt"]) or datetime.now(UTC)
        start = created
        plan = call.get("schedulePlan")
        if plan and not self._dial_now:
            start = max(created, parse_time(plan.get("earliestAt")) or created)
        now = datetime.now(UTC)
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
        return view

    def _ended_reason(self, call_id: str) -> str:
        rng = random.Random(f"{self._seed}:{call_id}")
        return rng.choices([r for r, _ in ENDED_REASONS], weights=[w for _, w in ENDED_REASONS])[0]
