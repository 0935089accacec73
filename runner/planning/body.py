"""What a POST /call body is, said once in plain Python: the reference.

The planner builds millions of customers as Arrow text (planning/customers.py, planning/requests.py); that fast path is
held byte-equal to these functions by a hypothesis test (tests/test_body.py). Re-sends build their
bodies here, and every request id comes from `request_id`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from runner.arrays import CONTROL_CLASS, WHITESPACE
from runner.campaign import TARGETS, Campaign

MAX_FIELD = 40  # Vapi's limit on a customer's name, email and externalId, and on a call's name
_CONTROLS = re.compile(CONTROL_CLASS)
_EMAIL = re.compile(f"[^@{re.escape(WHITESPACE)}]+@[^@{re.escape(WHITESPACE)}]+\\.[^@{re.escape(WHITESPACE)}]+")


def dumps(value: object) -> str:
    """Compact JSON, non-ASCII kept as written (the form of every body and requests.jsonl line)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def request_id(run_id: str, rows: Sequence[int], attempt: int = 1, resend: int = 0) -> str:
    """A request's id: from the run (campaign + input content), the spreadsheet rows it carries,
    the attempt (follow-ups are 2, 3, …) and, for a re-send of rows left unknown, its number. Never
    from the clock, so planning the same input again gives the same ids."""
    return request_id_of(run_id, str(tuple(rows)), attempt, resend)


def request_id_of(run_id: str, rows_text: str, attempt: int = 1, resend: int = 0) -> str:
    """request_id, from its rows' tuple written out (as str(tuple(rows)) does) by the planner."""
    key = f"{run_id}:{rows_text}" + (f":a{attempt}" if attempt > 1 else "") + (f":s{resend}" if resend else "")
    return f"req_{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def call_name(campaign_name: str, seq: int) -> str:
    """The call's name: the campaign's, shortened so that ' #<seq>' fits Vapi's 40 characters."""
    suffix = f" #{seq}"
    return campaign_name[: MAX_FIELD - len(suffix)] + suffix


def customer_name(cell: str) -> str | None:
    """The name sent: whitespace collapsed to single spaces, at most 40 characters (None: empty)."""
    name = " ".join(_CONTROLS.sub("", cell).split())
    if len(name) > MAX_FIELD:
        name = name[:MAX_FIELD].rstrip(" ")
    return name or None


def customer_email(cell: str) -> str | None:
    """The email sent: only something shaped like an address and within 40 characters."""
    email = _CONTROLS.sub("", cell).strip()
    return email if email and len(email) <= MAX_FIELD and _EMAIL.fullmatch(email) else None


def customer(
    *,
    number: str | None = None,
    sip_uri: str | None = None,
    extension: str | None = None,
    name: str = "",
    email: str = "",
    external_id: str,
    variables: dict[str, Any] | None = None,
    overrides_key: str = "assistantOverrides",
) -> dict[str, Any]:
    """One customer object: its destination (an E.164 number, with an extension, or a SIP URI),
    name and email as sent, the externalId that ties its call to its row, and per-customer
    variableValues (under the campaign's overrides key: assistantOverrides or squadOverrides)."""
    body: dict[str, Any] = {"sipUri": sip_uri} if sip_uri is not None else {"number": number}
    if sip_uri is None and extension is not None:
        body["extension"] = extension
    if (sent_name := customer_name(name)) is not None:
        body["name"] = sent_name
    if (sent_email := customer_email(email)) is not None:
        body["email"] = sent_email
    body["externalId"] = external_id
    if variables:
        body[overrides_key] = {"variableValues": variables}
    return body


def variable_values(cells: dict[str, str], defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """A row's variableValues: its non-blank variables, in column order, without control
    characters; a blank one takes its default ([assistant_overrides.variableValues]), and the
    defaults no column names follow, in their own order."""
    values: dict[str, Any] = {}
    for name, cell in cells.items():
        value = _CONTROLS.sub("", cell)
        if value.strip():
            values[name] = value
        elif defaults and name in defaults:
            values[name] = defaults[name]
    for name, default in (defaults or {}).items():
        values.setdefault(name, default)
    return values or None


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


def call_overrides(campaign: Campaign, variables: dict[str, Any] | None) -> dict[str, Any] | None:
    """The call's overrides: [assistant_overrides] but its variableValues, then the variables the
    request's rows share (split mode; per-customer, they travel with each customer)."""
    overrides = campaign.shared_overrides
    if variables:
        overrides = {**overrides, "variableValues": variables}
    return overrides or None


def call_body(
    *,
    name: str,
    campaign: Campaign,
    assistant_id: str | None,
    phone_number_id: str,
    variables: dict[str, Any] | None,
    customers: list[dict[str, Any]],
    schedule: dict[str, str] | None,
) -> dict[str, Any]:
    """One POST /call body: what answers (target), the number to call from, the overrides, one
    `customer` or a batch of `customers`, and the schedulePlan."""
    body: dict[str, Any] = {"name": name, **target(campaign, assistant_id), "phoneNumberId": phone_number_id}
    if (overrides := call_overrides(campaign, variables)) is not None:
        body[campaign.overrides_key] = overrides
    return with_customers(body, customers) | ({"schedulePlan": schedule} if schedule else {})


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
