"""What a run keeps of a call: the few fields of Vapi's call JSON that the results sheet shows and
the rules read (the opt-out flag), as short texts, worked out once when `status` fetches the call.

The ledger keeps these instead of the call's whole JSON: a million calls are a million short rows
to write, and nothing to parse again when the sheet is written. Vapi keeps the call itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

# The results sheet's columns of a call, in its order.
CALL_COLUMNS = (
    "status",
    "ended_reason",
    "started_at",
    "ended_at",
    "duration_s",
    "cost",
    "summary",
    "success_evaluation",
)
# What call_fields returns, in this order: the id, the sheet's columns, then what the rules read.
STORED_FIELDS = ("call_id", *CALL_COLUMNS, "number", "structured_data")

CallFields = tuple[str | None, ...]


def call_fields(call: dict[str, Any]) -> CallFields:
    """STORED_FIELDS of one call: texts ('' where Vapi sent nothing), and analysis.structuredData
    as JSON text (None when absent)."""
    get = call.get
    # Each field is nearly always text: taken as it is, and only anything else goes through _text
    # (status runs this once per call: a million times).
    status, reason, started, ended = get("status"), get("endedReason"), get("startedAt"), get("endedAt")
    analysis = _object(get("analysis"))
    number = _object(get("customer")).get("number")
    structured = analysis.get("structuredData")
    return (
        str(call["id"]),
        status if type(status) is str else _text(status),
        reason if type(reason) is str else _text(reason),
        started if type(started) is str else _text(started),
        ended if type(ended) is str else _text(ended),
        _whole_seconds(started, ended) if started and ended else "",
        _cost(get("cost")),
        _shown(analysis.get("summary")),
        _shown(analysis.get("successEvaluation")),
        number if type(number) is str else _text(number),
        None if structured is None else orjson.dumps(structured).decode(),
    )


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    """A field Vapi sends as a string; anything else as its JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _shown(value: object) -> str:
    """`str(value or "")` of a text-or-verdict field (summary, successEvaluation), as the sheet has
    always shown it: a verdict of true is True, false and 0 are empty, lists and objects too."""
    if isinstance(value, str):
        return value
    if value is True:
        return "True"
    if isinstance(value, int | float) and not isinstance(value, bool) and value:
        return str(value)
    return ""


def _whole_seconds(started: object, ended: object) -> str:
    """How long the call lasted, in whole seconds (rounded half to even), when both ends are known."""
    if not (isinstance(started, str) and isinstance(ended, str) and started and ended):
        return ""
    try:
        seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    except (ValueError, TypeError):  # not ISO 8601, or one end without a time zone
        return ""
    return f"{seconds:.0f}"


def _cost(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else ""
