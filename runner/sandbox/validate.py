"""POST /call body validation as Vapi's NestJS API does it: messages, not exceptions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from runner.spec import document, unknown_properties, violations

# From Vapi's OpenAPI CreateCallDTO / CreateCustomerDTO (shared/reference/vapi-openapi-excerpt.json).
CALL_KEYS = {
    "assistantVersion",
    "transport",
    "customers",
    "name",
    "schedulePlan",
    "assistantId",
    "assistant",
    "assistantOverrides",
    "squadId",
    "squad",
    "squadOverrides",
    "workflowId",
    "workflow",
    "workflowOverrides",
    "phoneNumberId",
    "phoneNumber",
    "customerId",
    "customer",
}
CUSTOMER_KEYS = {
    "numberE164CheckEnabled",
    "extension",
    "assistantOverrides",
    "squadOverrides",
    "number",
    "sipUri",
    "name",
    "email",
    "externalId",
}
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 date-time with an offset (Z allowed), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def validation_messages(body: Any) -> list[str]:
    """Class-validator style messages for everything Vapi would refuse with 400 (list form)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    messages = [f"property {key} should not exist" for key in body if key not in CALL_KEYS]
    if isinstance(body.get("name"), str) and len(body["name"]) > 40:
        messages.append("name must be shorter than or equal to 40 characters")
    has_one = "customer" in body
    has_many = "customers" in body
    if has_one and has_many:
        messages.append("customer and customers cannot both be given")
    if has_many and (not isinstance(body["customers"], list) or not body["customers"]):
        messages.append("customers must be a non-empty array")
    customers = body.get("customers") if has_many else [body.get("customer")] if has_one else []
    for index, customer in enumerate(customers if isinstance(customers, list) else []):
        prefix = f"customers.{index}" if has_many else "customer"
        messages.extend(_customer_messages(prefix, customer))
    plan = body.get("schedulePlan")
    if plan is not None:
        messages.extend(_schedule_messages(plan))
    return messages + _spec_messages(body, messages)


def _spec_messages(body: dict[str, Any], said: list[str]) -> list[str]:
    """What Vapi's spec refuses beyond the checks above (runner.spec: the trimmed OpenAPI schemas):
    unknown keys anywhere, and each constraint of CreateCallDTO and what it reaches (an override's
    minimum, an enum, a transient assistant's voice). A key the checks above spoke of is not said twice."""
    messages = []
    for where in unknown_properties(body, "CreateCallDTO"):
        key = where.rsplit(".", 1)
        message = (
            f"{key[0]}.property {key[1]} should not exist" if len(key) == 2 else f"property {where} should not exist"
        )
        if message not in said:
            messages.append(message)
    for where, what in violations(body, "CreateCallDTO"):
        if not any(m.startswith(where or "\0") or m.startswith(f"property {where} ") for m in said):
            messages.append(f"{where or 'body'} {what}")
    return messages


def _customer_messages(prefix: str, customer: Any) -> list[str]:
    if not isinstance(customer, dict):
        return [f"{prefix} must be an object"]
    messages = [f"{prefix}.property {key} should not exist" for key in customer if key not in CUSTOMER_KEYS]
    number = customer.get("number")
    if number is None and not customer.get("sipUri"):
        messages.append(f"{prefix}.number or {prefix}.sipUri must be given")
    if number is not None:
        if not isinstance(number, str) or not 3 <= len(number) <= 40:
            messages.append(
                f"{prefix}.number must be longer than or equal to 3 and shorter than or equal to 40 characters"
            )
        elif customer.get("numberE164CheckEnabled", True) and not _E164.match(number):
            messages.append(
                f"{prefix}.number must be a valid phone number in the E.164 format. Hot tip, you may be "
                "missing the country code (Eg. US: +1)."
            )
    for key, limit in (("name", 40), ("email", 40), ("externalId", 40), ("extension", 10)):
        value = customer.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            messages.append(f"{prefix}.{key} must be shorter than or equal to {limit} characters")
    return messages


def _schedule_messages(plan: Any) -> list[str]:
    if not isinstance(plan, dict):
        return ["schedulePlan must be an object"]
    messages = [
        f"schedulePlan.property {key} should not exist" for key in plan if key not in ("earliestAt", "latestAt")
    ]
    earliest = parse_time(plan.get("earliestAt"))
    if earliest is None:
        messages.append("schedulePlan.earliestAt must be a valid ISO 8601 date string")
    if "latestAt" in plan:
        latest = parse_time(plan["latestAt"])
        if latest is None:
            messages.append("schedulePlan.latestAt must be a valid ISO 8601 date string")
        elif earliest is not None and latest <= earliest:
            messages.append("schedulePlan.latestAt must be after schedulePlan.earliestAt")
    return messages


def business_error(body: dict[str, Any]) -> str | None:
    """The string-form 400s: a missing assistant or phone number."""
    if not any(body.get(k) for k in ("assistantId", "assistant", "squadId", "squad", "workflowId", "workflow")):
        return (
            "Couldn't Get Assistant. Need Either `assistant`, `assistantId`, `squad`, `squadId`, "
            "`workflow`, or `workflowId`."
        )
    if not (body.get("phoneNumberId") or body.get("phoneNumber")):
        return "Need Either `phoneNumberId` Or `phoneNumber`."
    if not ("customer" in body or "customers" in body):
        # A saved customer (customerId) is not something the sandbox keeps.
        if body.get("customerId"):
            return f"Couldn't Get Customer. `customerId` {body['customerId']} Not Found."
        return "Need Either `customer`, `customers` Or `customerId`."
    if isinstance(body.get("assistantId"), str) and body["assistantId"].startswith("missing"):
        return f"Couldn't Get Assistant. `assistantId` {body['assistantId']} Does Not Exist."
    return None


def query_messages(params: dict[str, str]) -> list[str]:
    """What Vapi refuses in GET /call's query (its parameters as the trimmed spec declares them)."""
    declared = document()["queries"]["GET /call"]
    messages = [f"property {key} should not exist" for key in params if key not in declared]
    for key, value in params.items():
        schema = declared.get(key, {})
        if schema.get("type") == "number":
            try:
                number = float(value)
            except ValueError:
                messages.append(f"{key} must be a number conforming to the specified constraints")
                continue
            if number != number or number > schema.get("maximum", float("inf")):  # NaN too
                messages.append(f"{key} must not be greater than {schema.get('maximum', 0):g}")
            elif number < schema.get("minimum", float("-inf")):
                messages.append(f"{key} must not be less than {schema['minimum']:g}")
        elif schema.get("format") == "date-time" and parse_time(value) is None:
            messages.append(f"{key} must be a valid ISO 8601 date string")
    return messages
