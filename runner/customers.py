"""Turn each loaded row into a customer: normalized destination, Vapi customer fields, variables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner.config import Campaign
from runner.errors import InputError
from runner.load import Sheet, find_header
from runner.phones import Phone, region_for
from runner.phones_fast import normalize_many

MAX_FIELD = 40  # Vapi's limit on customer name, email and externalId
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Row statuses before anything is sent.
PLANNED, INVALID, DUPLICATE, SUPPRESSED = "planned", "invalid", "duplicate", "suppressed"


@dataclass(slots=True)
class Row:
    """One input row on its way to a call: where it came from, where it goes, and its status."""

    index: int  # position in the loaded sheet
    number: int  # spreadsheet row number, as a person sees it
    phone: Phone
    status: str
    reason: str
    customer: dict[str, Any] = field(default_factory=dict)
    assistant_id: str | None = None
    phone_number_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    request_id: str = ""
    cells: dict[str, str] = field(default_factory=dict)  # the row's cell for each role
    window: tuple[datetime, datetime] | None = None  # when it may be called, once screened


def variable_columns(sheet: Sheet, campaign: Campaign) -> dict[str, str]:
    """Template variable -> header. Without [variables], every column not used for a role."""
    headers = list(sheet.frame.columns)
    if campaign.variables is not None:
        found = {name: find_header(headers, wanted) for name, wanted in campaign.variables.items()}
        missing = [campaign.variables[name] for name, header in found.items() if header is None]
        if missing:
            raise InputError(
                f"{sheet.path}: column(s) {', '.join(map(repr, missing))} from [variables] not in "
                f"the file; its headers are: {', '.join(headers)}"
            )
        return {name: header for name, header in found.items() if header is not None}
    used = set(sheet.roles.values())
    return {header: header for header in sheet.frame.columns if header not in used}


def build_rows(sheet: Sheet, campaign: Campaign, run_tag: str) -> list[Row]:
    """Normalize every row; rows that cannot be called get status `invalid` and a reason."""
    roles = sheet.roles
    variables = variable_columns(sheet, campaign)
    role_cells = [
        dict(zip(roles, values, strict=True))
        for values in zip(*(sheet.frame[header].astype(str).tolist() for header in roles.values()), strict=True)
    ] or [{} for _ in sheet.row_numbers]
    variable_cells = [
        {name: value for name, value in zip(variables, values, strict=True) if value.strip()}
        for values in zip(*(sheet.frame[header].astype(str).tolist() for header in variables.values()), strict=True)
    ] or [{} for _ in sheet.row_numbers]
    phones = _phones(sheet, campaign, role_cells)
    rows: list[Row] = []
    for index, (number, cell, phone) in enumerate(zip(sheet.row_numbers, role_cells, phones, strict=True)):
        row = Row(index=index, number=number, phone=phone, status=PLANNED, reason="", cells=cell)
        if not phone.ok:
            row.status, row.reason = INVALID, _column_reason(phone.reason or "", roles["number"])
            rows.append(row)
            continue
        row.assistant_id = cell.get("assistant_id", "").strip() or campaign.assistant_id
        row.phone_number_id = cell.get("phone_number_id", "").strip() or campaign.phone_number_id
        if row.assistant_id is None and campaign.assistant is None:
            row.status, row.reason = INVALID, f"no assistant: column {roles['assistant_id']!r} is empty"
        elif row.phone_number_id is None:
            row.status = INVALID
            row.reason = f"no phone number id: column {roles['phone_number_id']!r} is empty"
        row.customer = _customer(phone, cell, run_tag, number, row.notes)
        row.variables = variable_cells[index]
        if phone.note:
            row.notes.insert(0, phone.note)
        if row.status == PLANNED:
            row.reason = "; ".join(row.notes)
        rows.append(row)
    return rows


def _phones(sheet: Sheet, campaign: Campaign, role_cells: list[dict[str, str]]) -> list[Phone]:
    """Every row's destination, normalized in bulk per region (a country column sets a row's region)."""
    phones: list[Phone] = [Phone(reason="not a number")] * len(role_cells)
    by_region: dict[str, list[int]] = {}
    for index, cell in enumerate(role_cells):
        problem = sheet.row_problems.get(index)
        region = region_for(cell.get("country", ""), campaign.default_region)
        if problem:
            phones[index] = Phone(reason=problem)
        elif region is None:
            column = sheet.roles["country"]
            phones[index] = Phone(reason=f"not a number: unknown country {cell['country']!r} in column {column!r}")
        else:
            by_region.setdefault(region, []).append(index)
    for region, indexes in by_region.items():
        for index, phone in zip(
            indexes, normalize_many([role_cells[i]["number"] for i in indexes], region), strict=True
        ):
            phones[index] = phone
    return phones


def _column_reason(reason: str, column: str) -> str:
    if reason.startswith("row has") or reason.startswith("column "):
        return reason
    return f"{reason} (column {column!r})"


def _customer(phone: Phone, cell: dict[str, str], run_tag: str, row: int, notes: list[str]) -> dict[str, Any]:
    """The Vapi customer object; over-long fields are shortened or left out, with a note."""
    customer: dict[str, Any] = {}
    if phone.sip_uri:
        customer["sipUri"] = phone.sip_uri
    else:
        customer["number"] = phone.e164
        if phone.extension:
            customer["extension"] = phone.extension
    name = " ".join(cell.get("name", "").split())
    if len(name) > MAX_FIELD:
        notes.append(f"name shortened to {MAX_FIELD} characters")
        name = name[:MAX_FIELD].rstrip()
    if name:
        customer["name"] = name
    email = cell.get("email", "").strip()
    if email and len(email) > MAX_FIELD:
        notes.append(f"email not sent: longer than {MAX_FIELD} characters")
    elif email and not _EMAIL.match(email):
        notes.append("email not sent: not an email address")
    elif email:
        customer["email"] = email
    customer["externalId"] = external_id(run_tag, row)
    return customer


def external_id(run_tag: str, row: int) -> str:
    """The row reference Vapi stores with the call: ties a call back to its input row."""
    return f"{run_tag}-r{row}"
