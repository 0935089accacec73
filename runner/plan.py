"""Group callable rows into POST /call bodies: one group per assistant, from-number, overrides and
schedule; chunks of `batch_size`; deterministic request ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.config import Campaign
from runner.customers import PLANNED, Row

MAX_CALL_NAME = 40


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One POST /call: its id, the spreadsheet rows it carries, and the exact JSON body."""

    id: str
    rows: tuple[int, ...]
    body: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "rows": list(self.rows), "body": self.body}, ensure_ascii=False)


def iso_utc(moment: datetime) -> str:
    """Vapi's datetime form: UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_plan(campaign: Campaign) -> dict[str, str] | None:
    schedule = campaign.schedule
    if schedule.earliest_at is None:
        return None
    plan = {"earliestAt": iso_utc(schedule.earliest_at)}
    if schedule.latest_at is not None:
        plan["latestAt"] = iso_utc(schedule.latest_at)
    return plan


def build_requests(rows: list[Row], campaign: Campaign, run_id: str) -> list[CallRequest]:
    """Group planned rows (split mode: by their variables too), chunk, and build the bodies.

    A request's id comes from the run (campaign + input content) and the rows it carries, not from
    its schedule, so planning the same input again later gives the same ids."""
    groups: dict[tuple[object, ...], list[Row]] = {}
    campaign_schedule = schedule_plan(campaign)
    for row in rows:
        if row.status != PLANNED:
            continue
        variables = tuple(sorted(row.variables.items())) if campaign.overrides == "split" else ()
        groups.setdefault((row.assistant_id, row.phone_number_id, row.window, variables), []).append(row)
    chunks = [
        members[start : start + campaign.batch_size]
        for members in groups.values()
        for start in range(0, len(members), campaign.batch_size)
    ]
    requests = []
    for seq, chunk in enumerate(chunks, start=1):
        body = _body(chunk, campaign, _schedule_for(chunk[0], campaign_schedule), seq)
        numbers = tuple(r.number for r in chunk)
        digest = hashlib.sha256(f"{run_id}:{numbers}".encode()).hexdigest()
        request = CallRequest(id=f"req_{digest[:20]}", rows=numbers, body=body)
        for row in chunk:
            row.request_id = request.id
        requests.append(request)
    return requests


def _schedule_for(row: Row, campaign_schedule: dict[str, str] | None) -> dict[str, str] | None:
    """A screened row carries its own calling window; else the campaign's schedule (if any)."""
    if row.window is None:
        return campaign_schedule
    return {"earliestAt": iso_utc(row.window[0]), "latestAt": iso_utc(row.window[1])}


def _body(chunk: list[Row], campaign: Campaign, schedule: dict[str, str] | None, seq: int) -> dict[str, Any]:
    first = chunk[0]
    suffix = f" #{seq}"
    body: dict[str, Any] = {"name": campaign.name[: MAX_CALL_NAME - len(suffix)] + suffix}
    if campaign.assistant is not None and first.assistant_id is None:
        body["assistant"] = campaign.assistant
    else:
        body["assistantId"] = first.assistant_id
    body["phoneNumberId"] = first.phone_number_id
    if campaign.overrides == "split" and first.variables:
        body["assistantOverrides"] = {"variableValues": first.variables}
    customers = []
    for row in chunk:
        customer = dict(row.customer)
        if campaign.overrides == "per-customer" and row.variables:
            customer["assistantOverrides"] = {"variableValues": row.variables}
        customers.append(customer)
    if len(customers) == 1:
        body["customer"] = customers[0]
    else:
        body["customers"] = customers
    if schedule:
        body["schedulePlan"] = schedule
    return body
