"""Preflight's check of a plan, before anything is sent: every template variable an assistant's
messages use has a value for every row about to be called with it. Pure: the assistants are
given (fetched by runner.sending.preflight, or the campaign's own transient one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from runner.arrays import CONTROL_CLASS
from runner.frames import strip
from runner.planning.customers import PLANNED, variable_columns
from runner.planning.plan import Plan
from runner.planning.roles import find_header
from runner.planning.templates import message_texts, needed_variables

SHOWN_ROWS = 10  # a message names this many rows, then counts the rest


@dataclass(frozen=True)
class MissingVariable:
    """A variable some rows about to be called have no value for."""

    variable: str
    used_in: str  # "asst_1 firstMessage", "[assistant_overrides] firstMessage", …
    rows: list[int]  # the spreadsheet rows that lack it
    called: int  # how many rows would be called with these messages
    column: str | None  # the column that gives it, when one does
    hint: str  # how to give it a value

    def message(self) -> str:
        shown = ("row " if len(self.rows) == 1 else "rows ") + ", ".join(map(str, self.rows[:SHOWN_ROWS]))
        shown += " …" if len(self.rows) > SHOWN_ROWS else ""
        if self.column is not None:
            lack = f"is empty in {len(self.rows)} of {self.called} rows (column {self.column!r}): {shown}"
        else:
            lack = f"has no value in any of the {self.called} rows ({shown})"
        return f"template variable {{{{{self.variable}}}}} ({self.used_in}) {lack}; {self.hint}"


def templates(campaign_assistant: Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, text) of every message a call says: the assistant's, with the campaign's
    [assistant_overrides] in place of the fields they override (None: an assistant we cannot
    see, a squad's or workflow's; then only the overrides' own messages)."""
    merged = {**(campaign_assistant or {}), **overrides}
    return [
        (f"[assistant_overrides] {where}" if key_of(where) in overrides else where, text)
        for where, text in message_texts(merged)
    ]


def key_of(where: str) -> str:
    return "model" if where.startswith("model.") else where


def missing_variables(plan: Plan, assistants: Mapping[str, Mapping[str, Any] | None]) -> list[MissingVariable]:
    """Every variable an assistant's messages need that some planned row lacks. `assistants`:
    the assistant of each value of the rows' assistant_id ("": the campaign's transient one);
    a key left out is checked on the campaign's overrides alone."""
    columns = variable_columns(plan.sheet, plan.campaign)
    frame = plan.rows.frame.select("row", "assistant_id", planned=PLANNED).with_row_index("position")
    planned = frame.filter("planned")
    found: list[MissingVariable] = []
    for assistant_id in planned.get_column("assistant_id").unique(maintain_order=True).to_list():
        called = planned.filter(pl.col("assistant_id") == assistant_id)
        seen: set[str] = set()
        for where, text in templates(assistants.get(assistant_id), plan.campaign.shared_overrides):
            used_in = where if where.startswith("[") else f"{assistant_id or 'the [assistant]'} {where}"
            for variable in needed_variables(text):
                if variable not in seen and (missing := _lacking(plan, columns, variable, used_in, called)):
                    found.append(missing)
                seen.add(variable)
    return found


def local_problems(plan: Plan) -> list[str]:
    """What `plan` can check without the network: the transient [assistant]'s messages, and
    [assistant_overrides]' own, against the rows (a saved assistant is fetched by `run`)."""
    assistant = plan.campaign.assistant
    return [missing.message() for missing in missing_variables(plan, {"": assistant} if assistant else {})]


def _lacking(
    plan: Plan, columns: dict[str, str], variable: str, used_in: str, called: pl.DataFrame
) -> MissingVariable | None:
    """Whether the rows `called` (row, position) lack `variable`: none do when the campaign gives
    it a default; else those whose cell is blank, or all when no column (`columns`: variable ->
    header) gives it."""
    campaign, sheet = plan.campaign, plan.sheet
    if variable in campaign.default_variables:
        return None
    if variable not in columns:
        hint = _no_column_hint(variable, plan)
        return MissingVariable(variable, used_in, called.get_column("row").to_list(), called.height, None, hint)
    header = columns[variable]
    lacking = called.filter(_blank(pl.Series(sheet.table.column(header))).gather(called.get_column("position")))
    if not lacking.height:
        return None
    hint = f"fill those cells, or give a default in [assistant_overrides.variableValues] {variable} = …"
    return MissingVariable(variable, used_in, lacking.get_column("row").to_list(), called.height, header, hint)


def _blank(cells: pl.Series) -> pl.Series:
    """Per cell: empty once control characters and whitespace are taken out (what is not sent)."""
    text = strip(pl.col("cell").fill_null("").str.replace_all(CONTROL_CLASS, ""))
    return pl.DataFrame({"cell": cells.cast(pl.String)}).select(text == "").to_series()


def _no_column_hint(variable: str, plan: Plan) -> str:
    """How to give a variable no column holds a value: the column it most likely means, else a new one."""
    roles = {header: role for role, header in plan.sheet.roles.items()}
    header = find_header(list(plan.sheet.table.column_names), variable)
    if header is None:
        return (
            f"add a column {variable!r} to the sheet (or map one in [variables]), or give a value in "
            f"[assistant_overrides.variableValues] {variable} = …"
        )
    mapping = f'add {variable} = "{header}" to [variables]'
    role = roles.get(header)
    if role in ("name", "email", "number"):
        return f"column {header!r} is sent as the customer's {role}: write {{{{customer.{role}}}}}, or {mapping}"
    return f"{mapping} (column {header!r} is not sent as a variable today)"
