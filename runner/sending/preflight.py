"""Preflight: before the first POST of a run, fetch each assistant and phone number the plan uses
and stop, sending nothing, at an unknown id, an inactive number or a template variable some rows
have no value for. Free Vapi numbers call the US only: their other rows are set aside."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from runner.errors import ApiError, AuthError, NetworkError, PreflightError
from runner.planning.customers import PLANNED
from runner.planning.plan import Plan
from runner.planning.preflight import SHOWN_ROWS, missing_variables
from runner.planning.templates import message_texts, needed_variables
from runner.results.plan_sheet import write_unsent
from runner.store.run_folder import RunFolder, RunMeta
from runner.vapi.client import VapiClient

SKIP_HINT = "pass --no-preflight to send without these checks"


@dataclass
class Preflight:
    """What preflight fetched and found: the assistants and phone numbers by id, which numbers
    are free Vapi ones, and what to tell (`lines` for the summary, `warnings`)."""

    assistants: dict[str, dict[str, Any]] = field(default_factory=dict)
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def free_numbers(self) -> frozenset[str]:
        return frozenset(i for i, number in self.numbers.items() if number.get("provider") == "vapi")


def fetch(plan: Plan, client: VapiClient) -> Preflight:
    """GET each saved assistant and phone number the planned rows use; raises PreflightError
    naming every unknown id, every number that is not active, and the rows that use them."""
    found, problems = Preflight(), []
    if plan.campaign.target in ("assistant_id", "assistant"):  # a squad's or workflow's members are not fetched
        for assistant_id in _used_ids(plan, "assistant_id"):
            if (assistant := _get(client, "assistant", assistant_id, client.get_assistant)) is None:
                problems.append(_unknown(plan, client, "assistant_id", assistant_id))
            else:
                found.assistants[assistant_id] = assistant
    for number_id in _used_ids(plan, "phone_number_id"):
        if (number := _get(client, "phone number", number_id, client.get_phone_number)) is None:
            problems.append(_unknown(plan, client, "phone_number_id", number_id))
            continue
        found.numbers[number_id] = number
        status, provider = number.get("status", "active"), number.get("provider", "unknown provider")
        if status != "active":
            problems.append(
                f"phone number {number_id!r} is {status}, not active: {_used_by(plan, 'phone_number_id', number_id)}"
            )
        found.lines.append(f"phone number {number_id}: {provider}, {status}")
        if provider == "vapi":
            found.warnings.append(
                f"phone number {number_id} is a free Vapi number: it calls US numbers only (other rows are "
                "suppressed) and has a small daily cap on outbound calls; import a number for large campaigns"
            )
    if problems:
        raise PreflightError("preflight: nothing was sent:\n  " + "\n  ".join(problems))
    return found


def _used_ids(plan: Plan, column: str) -> list[str]:
    """The distinct non-empty values of `column` among the planned rows, in order of first use."""
    ids = plan.rows.frame.filter(PLANNED).get_column(column).unique(maintain_order=True).to_list()
    return [i for i in ids if i]


def _unknown(plan: Plan, client: VapiClient, column: str, value: str) -> str:
    kind = column.removesuffix("_id").replace("_", " ")
    return f"{kind} {value!r} is not known to {client.base_url} (404): {_used_by(plan, column, value)}"


def check_variables(plan: Plan, found: Preflight) -> None:
    """Raise PreflightError naming each template variable some planned rows have no value for
    (the assistants as fetched; the campaign's transient [assistant] as written)."""
    assistants: dict[str, dict[str, Any] | None] = dict(found.assistants)
    if plan.campaign.assistant is not None:
        assistants[""] = plan.campaign.assistant
    missing = missing_variables(plan, assistants)
    if missing:
        raise PreflightError(
            "preflight: nothing was sent: rows would be called with template variables empty:\n  "
            + "\n  ".join(m.message() for m in missing)
        )
    checked = []
    for assistant_id, assistant in assistants.items():
        if assistant is None:
            continue
        used = sorted({v for _, text in message_texts(assistant) for v in needed_variables(text)})
        name = assistant_id or "the [assistant]"
        checked.append(
            f"assistant {name}: " + (f"variables {', '.join(used)}: every row has a value" if used else "no variables")
        )
    found.lines[:0] = checked  # the assistants first, then the phone numbers
    if plan.campaign.target not in ("assistant_id", "assistant"):
        found.lines.append(
            f"{plan.campaign.target}: its members' messages are not fetched; [assistant_overrides] checked"
        )


def _get(
    client: VapiClient, kind: str, resource_id: str, get: Callable[[str], dict[str, Any]]
) -> dict[str, Any] | None:
    """The resource, or None when the API does not know it (404)."""
    try:
        return get(resource_id)
    except AuthError as exc:
        if exc.status == 403:
            raise PreflightError(
                f"preflight: the API key may not read {kind}s (403: {exc.message}); {SKIP_HINT}"
            ) from None
        raise
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    except NetworkError as exc:
        raise NetworkError(
            f"cannot reach {client.base_url}: {kind} {resource_id!r} could not be checked before sending ({exc}). "
            "Nothing was sent; check the network, the URL (--base-url, $VAPI_BASE_URL), then run the same "
            "command again",
            maybe_sent=False,
        ) from None


def _used_by(plan: Plan, column: str, value: str) -> str:
    """'used by N rows (rows 2, 3, …); fix <where it comes from>'."""
    rows = plan.rows.frame.filter(PLANNED & (pl.col(column) == value)).get_column("row").to_list()
    shown = ", ".join(map(str, rows[:SHOWN_ROWS])) + (" …" if len(rows) > SHOWN_ROWS else "")
    header = plan.sheet.roles.get(column)
    own = getattr(plan.campaign, column)
    where = f"{column} in the campaign file" if value == own else f"the rows' column {header!r}"
    return f"used by {len(rows)} row(s) (rows {shown}); fix {where}, or {SKIP_HINT}"


def preflighted(plan: Plan, client: VapiClient, folder: RunFolder, meta: RunMeta, new: bool) -> tuple[Plan, Preflight]:
    """The plan once preflight (runner.sending.preflight) passed it, before its ledger exists. A
    `new` run is planned again for the free Vapi numbers found (a resumed run keeps those of its
    first planning); an API that cannot be reached leaves a new run's sheet saying why no row was sent."""
    try:
        checked = fetch(plan, client)
    except NetworkError as exc:
        if new:
            write_unsent(plan, folder.path, meta.format, str(exc))
        raise
    if new and checked.free_numbers:
        plan = folder.plan(Path(meta.source), replace(meta, free_numbers=frozenset(checked.free_numbers)))
    check_variables(plan, checked)
    return plan, checked
