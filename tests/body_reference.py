"""What a POST /call body is, said once in plain Python: the reference the planner's fast path
(Arrow text joins over every row, runner/planning/customers.py and requests.py) is held byte-equal
to by tests/test_body.py. It lives with the tests: the library never builds a body this way."""

from __future__ import annotations

import re
from typing import Any

from runner.arrays import CONTROL_CLASS, WHITESPACE
from runner.campaign import Campaign
from runner.planning.body import target, with_customers
from runner.spec import max_length

MAX_FIELD = max_length("CreateCustomerDTO", "name")  # and email, externalId, and the call's name
_CONTROLS = re.compile(CONTROL_CLASS)
_EMAIL = re.compile(f"[^@{re.escape(WHITESPACE)}]+@[^@{re.escape(WHITESPACE)}]+\\.[^@{re.escape(WHITESPACE)}]+")


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
