"""A POST /call body's small rules, used wherever bodies are made or read: its JSON form, the id
of each request (never from the clock), what answers the call, and a body's customers (a batch or
one), renamed for a follow-up attempt or carried by a re-send.

The planner writes the bodies themselves as Arrow text (planning/customers.py,
planning/requests.py); tests/body_reference.py says in plain Python what they must be, and a
hypothesis test holds the two byte-equal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from runner.campaign import TARGETS, Campaign


def dumps(value: object) -> str:
    """Compact JSON, non-ASCII kept as written (the form of every body and requests.jsonl line)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def request_id(plan_id: str, rows: Sequence[int], attempt: int = 1, resend: int = 0, placement: int = 0) -> str:
    """A request's id: from the run (campaign + input content), the spreadsheet rows it carries,
    the attempt (follow-ups are 2, 3, …) and, for a re-send of rows left unknown, its number. Never
    from the clock, so planning the same input again gives the same ids. `placement`: the row placed
    again after a call that never rang (1, 2, …)."""
    return request_id_of(plan_id, str(tuple(rows)), attempt, resend) + (f"-p{placement}" if placement else "")


def request_id_of(plan_id: str, rows_text: str, attempt: int = 1, resend: int = 0) -> str:
    """request_id, from its rows' tuple written out (as str(tuple(rows)) does) by the planner."""
    key = f"{plan_id}:{rows_text}" + (f":a{attempt}" if attempt > 1 else "") + (f":s{resend}" if resend else "")
    return f"req_{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def target(campaign: Campaign, assistant_id: str | None) -> dict[str, Any]:
    """What answers the call: a saved assistant (the row's, else the campaign's; pinned to
    assistant_version when given), the campaign's transient assistant, a squad or a workflow."""
    if campaign.target in ("assistant_id", "assistant"):
        if not assistant_id:
            return {"assistant": campaign.assistant}
        return {"assistantId": assistant_id} | (
            {"assistantVersion": campaign.assistant_version} if campaign.assistant_version else {}
        )
    return {TARGETS[campaign.target][0]: getattr(campaign, campaign.target)}


def with_customers(body: dict[str, Any], customers: list[dict[str, Any]]) -> dict[str, Any]:
    """The body carrying these customers instead of its own: `customer` for one, `customers` for more."""
    frame = {key: value for key, value in body.items() if key not in ("customer", "customers", "schedulePlan")}
    frame["customer" if len(customers) == 1 else "customers"] = customers[0] if len(customers) == 1 else customers
    if "schedulePlan" in body:
        frame["schedulePlan"] = body["schedulePlan"]
    return frame


def customers_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A body's customers: its batch, or its one customer."""
    return list(body.get("customers") or [body["customer"]])


def followup_body(body: dict[str, Any], attempt: int) -> dict[str, Any]:
    """A follow-up's body: the first attempt's, each customer's externalId naming the attempt, so
    the call of attempt 1 is never taken for attempt 2's when Vapi's call list is searched."""
    renamed = [
        {**c, "externalId": f"{c['externalId']}-a{attempt}"} if c.get("externalId") else c for c in customers_of(body)
    ]
    return with_customers(body, renamed)
