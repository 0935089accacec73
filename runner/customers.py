"""Turn the loaded sheet into customers, column by column: normalized destination, the Vapi customer
object (as JSON text), the assistant and from-number, and the template variables."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from json.encoder import encode_basestring

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from runner.columns import WHITESPACE_CLASS, Objects, fragments, json_strings, map_distinct, objects, strip, text_array
from runner.config import Campaign
from runner.errors import InputError
from runner.load import Sheet, find_header
from runner.phones import region_for
from runner.phones_fast import PhoneColumn, normalize_column

MAX_FIELD = 40  # Vapi's limit on customer name, email and externalId
_EMAIL = rf"^[^@{WHITESPACE_CLASS[1:-1]}]+@[^@{WHITESPACE_CLASS[1:-1]}]+\.[^@{WHITESPACE_CLASS[1:-1]}]+$"

# Row statuses before anything is sent.
PLANNED, INVALID, DUPLICATE, SUPPRESSED = "planned", "invalid", "duplicate", "suppressed"

Interval = tuple[datetime, datetime]


@dataclass
class Rows:
    """Every input row as columns (position i is the sheet's i-th record): where it goes, its status
    and reason, and what its request will carry. Statuses, reasons and windows are filled in as
    planning goes (duplicates, screening, grouping)."""

    numbers: npt.NDArray[np.int64]  # spreadsheet row numbers, as a person sees them
    status: Objects
    reason: Objects
    e164: Objects  # None for SIP addresses and invalid rows
    sip_uri: Objects
    key: Objects  # what makes two rows the same destination
    assistant_id: Objects  # None: the campaign's transient assistant
    phone_number_id: Objects
    customer: Objects  # the customer object's JSON members, without braces
    variables: Objects  # JSON text of the row's variableValues; None when it has none
    cells: dict[str, pa.Array]  # role -> the row's cell
    window: npt.NDArray[np.intp] = field(init=False)  # index into `windows`; -1 until screened in
    windows: list[Interval] = field(default_factory=list)
    request_id: Objects = field(init=False)

    def __post_init__(self) -> None:
        self.window = np.full(len(self.numbers), -1, dtype=np.intp)
        self.request_id = np.full(len(self.numbers), "", dtype=object)

    def __len__(self) -> int:
        return len(self.numbers)

    def planned(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.status == PLANNED, dtype=bool)

    def set_status(self, where: npt.NDArray[np.bool_] | npt.NDArray[np.intp], status: str, reason: object) -> None:
        """Give rows (a mask or positions) a status and a reason (one text, or one per row)."""
        self.status[where] = status
        self.reason[where] = reason

    def counts(self) -> Counter[str]:
        return Counter(self.status.tolist())

    def subset(self, positions: npt.NDArray[np.intp]) -> Rows:
        """These rows again, planned afresh (no reason, window or request): for follow-up attempts."""
        taken = {
            name: getattr(self, name)[positions]
            for name in (
                "numbers",
                "e164",
                "sip_uri",
                "key",
                "assistant_id",
                "phone_number_id",
                "customer",
                "variables",
            )
        }
        cells = {role: column.take(pa.array(positions, pa.int64())) for role, column in self.cells.items()}
        fresh = np.full(len(positions), PLANNED, dtype=object)
        return replace(self, **taken, status=fresh, reason=np.full(len(positions), "", dtype=object), cells=cells,
                       windows=[])  # fmt: skip


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


def build_rows(sheet: Sheet, campaign: Campaign, run_tag: str) -> Rows:
    """Normalize every row; rows that cannot be called get status `invalid` and a reason."""
    roles = sheet.roles
    size = len(sheet.row_numbers)
    cells = {role: text_array(sheet.frame[header]) for role, header in roles.items()}
    numbers = np.asarray(sheet.row_numbers, dtype=np.int64)
    phones = _phones(sheet, campaign, cells)
    callable_ = np.asarray([reason is None for reason in phones.reason], dtype=bool)
    status = np.where(callable_, PLANNED, INVALID).astype(object)
    reason = np.full(size, "", dtype=object)
    reason[~callable_] = [_column_reason(text, roles["number"]) for text in phones.reason[~callable_]]
    assistant_id = _with_default(cells.get("assistant_id"), campaign.assistant_id, size)
    phone_number_id = _with_default(cells.get("phone_number_id"), campaign.phone_number_id, size)
    no_assistant = callable_ & (assistant_id == None) if campaign.assistant is None else np.zeros(size, bool)  # noqa: E711
    status[no_assistant] = INVALID
    reason[no_assistant] = f"no assistant: column {roles.get('assistant_id')!r} is empty"
    no_number_id = callable_ & ~no_assistant & (phone_number_id == None)  # noqa: E711
    status[no_number_id] = INVALID
    reason[no_number_id] = f"no phone number id: column {roles.get('phone_number_id')!r} is empty"
    customer, notes = _customers(phones, cells, run_tag, numbers)
    planned = status == PLANNED
    reason[planned] = notes[planned]
    sip = pa.array(phones.sip_uri, pa.string())
    e164 = pa.array(phones.e164, pa.string())
    key = pc.coalesce(
        sip, pc.binary_join_element_wise(e164, pc.fill_null(pa.array(phones.extension, pa.string()), ""), ";")
    )
    return Rows(
        numbers=numbers,
        status=status,
        reason=reason,
        e164=phones.e164,
        sip_uri=phones.sip_uri,
        key=objects(key),
        assistant_id=assistant_id,
        phone_number_id=phone_number_id,
        customer=np.where(callable_, customer, np.full(size, None, dtype=object)),
        variables=_variables(sheet, campaign),
        cells=cells,
    )


def _with_default(column: pa.Array | None, default: str | None, size: int) -> Objects:
    """The column's stripped value, or the campaign's default where it is empty."""
    if column is None:
        return np.full(size, default, dtype=object)
    return map_distinct(column, lambda cell: (cell or "").strip() or default)


def _phones(sheet: Sheet, campaign: Campaign, cells: dict[str, pa.Array]) -> PhoneColumn:
    """Every row's destination, normalized in bulk per region (a country column sets a row's region)."""
    size = len(sheet.row_numbers)
    numbers = cells.get("number", pa.nulls(size, pa.string()))
    country = cells.get("country")
    regions = (
        np.full(size, campaign.default_region, dtype=object)
        if country is None
        else map_distinct(country, lambda cell: region_for(cell or "", campaign.default_region))
    )
    fields = [np.full(size, None, dtype=object) for _ in range(5)]
    for region in {value for value in set(regions.tolist()) if value is not None}:
        positions = np.flatnonzero(regions == region)
        column = normalize_column(
            numbers.take(pa.array(positions, pa.int64())) if len(positions) < size else numbers, region
        )
        for target, source in zip(fields, _fields(column), strict=True):
            target[positions] = source
    if country is not None:
        unknown = np.flatnonzero(regions == None)  # noqa: E711
        fields[3][unknown] = [
            f"not a number: unknown country {cell!r} in column {sheet.roles['country']!r}"
            for cell in objects(country)[unknown]
        ]
    for index, problem in sheet.row_problems.items():
        for target in fields:
            target[index] = None
        fields[3][index] = problem
    return PhoneColumn(*fields)


def _fields(column: PhoneColumn) -> tuple[Objects, ...]:
    return column.e164, column.extension, column.sip_uri, column.reason, column.note


def _column_reason(reason: str, column: str) -> str:
    if reason.startswith("row has") or reason.startswith("column "):
        return reason
    return f"{reason} (column {column!r})"


def _customers(
    phones: PhoneColumn, cells: dict[str, pa.Array], run_tag: str, numbers: npt.NDArray[np.int64]
) -> tuple[Objects, Objects]:
    """Each row's customer object members (JSON, without braces) and its notes. Over-long fields are
    shortened or left out, with a note."""
    size = len(numbers)
    sip = pa.array(phones.sip_uri, pa.string())
    e164 = pa.array(phones.e164, pa.string())
    extension = pa.array(phones.extension, pa.string())
    destination = pc.if_else(
        pc.is_valid(sip),
        pc.binary_join_element_wise('"sipUri":', json_strings(sip), ""),
        fragments(
            pc.binary_join_element_wise('"number":', json_strings(e164), ""),
            pc.binary_join_element_wise('"extension":', json_strings(extension), ""),
        ),
    )
    empty = pa.nulls(size, pa.string())
    name = cells.get("name", empty)
    name = pc.utf8_trim(pc.replace_substring_regex(pc.fill_null(name, ""), WHITESPACE_CLASS + "+", " "), " ")
    long_name = pc.greater(pc.utf8_length(name), MAX_FIELD)
    name = pc.if_else(long_name, pc.utf8_rtrim(pc.utf8_slice_codeunits(name, 0, MAX_FIELD), " "), name)
    name_note = pc.if_else(long_name, f"name shortened to {MAX_FIELD} characters", None)
    email = strip(pc.fill_null(cells.get("email", empty), ""))
    has_email = pc.not_equal(email, "")
    long_email = pc.and_(has_email, pc.greater(pc.utf8_length(email), MAX_FIELD))
    good_email = pc.and_(pc.and_(has_email, pc.invert(long_email)), pc.match_substring_regex(email, _EMAIL))
    bad_email = pc.if_else(pc.and_(has_email, pc.invert(good_email)), "email not sent: not an email address", None)
    email_note = pc.if_else(long_email, f"email not sent: longer than {MAX_FIELD} characters", bad_email)
    external = pc.binary_join_element_wise(
        f'"externalId":"{run_tag}-r', pc.cast(pa.array(numbers), pa.string()), '"', ""
    )
    customer = fragments(
        destination,
        pc.if_else(pc.not_equal(name, ""), pc.binary_join_element_wise('"name":', json_strings(name), ""), None),
        pc.if_else(good_email, pc.binary_join_element_wise('"email":', json_strings(email), ""), None),
        external,
    )
    notes = fragments(pa.array(phones.note, pa.string()), name_note, email_note, separator="; ")
    return objects(customer), objects(notes)


def _variables(sheet: Sheet, campaign: Campaign) -> Objects:
    """Each row's variableValues as JSON text (its non-blank variables, in column order), or None."""
    size = len(sheet.row_numbers)
    members = []
    for name, header in variable_columns(sheet, campaign).items():
        value = text_array(sheet.frame[header])
        blank = pc.equal(strip(value), "")
        member = pc.binary_join_element_wise(encode_basestring(name) + ":", json_strings(value), "")
        members.append(pc.if_else(blank, None, member))
    if not members:
        return np.full(size, None, dtype=object)
    joined = fragments(*members)
    return objects(pc.if_else(pc.equal(joined, ""), None, pc.binary_join_element_wise("{", joined, "}", "")))


def external_id(run_tag: str, row: int) -> str:
    """The row reference Vapi stores with the call: ties a call back to its input row."""
    return f"{run_tag}-r{row}"
