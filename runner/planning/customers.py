"""Turn the loaded sheet into customers, column by column: normalized destination, the Vapi customer
object (as JSON text), the assistant and from-number, and the template variables."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from json.encoder import encode_basestring
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from runner.arrays import (
    CONTROL_CLASS,
    WHITESPACE,
    WHITESPACE_CLASS,
    Labels,
    Objects,
    factorize,
    fragments,
    json_strings,
    map_distinct,
    objects,
    on_every_core,
    strip,
    text_array,
)
from runner.campaign import Campaign
from runner.errors import InputError
from runner.hours import Interval
from runner.phones.columns import PhoneColumn, normalize_column
from runner.phones.facts import NumberFacts, facts_column, load_tables
from runner.phones.parse import region_for
from runner.sheets.read import Sheet, find_header
from runner.statuses import Status

MAX_FIELD = 40  # Vapi's limit on customer name, email and externalId
# Names where collapsing whitespace changes more than the ends: a run of it, or any but a space.
_ODD_SPACE = WHITESPACE_CLASS + "{2}|[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE if c != " ") + "]"
_EMAIL = rf"^[^@{WHITESPACE_CLASS[1:-1]}]+@[^@{WHITESPACE_CLASS[1:-1]}]+\.[^@{WHITESPACE_CLASS[1:-1]}]+$"


@dataclass(frozen=True)
class Rows:
    """Every input row as columns (position i is the sheet's i-th record): where it goes, its status
    and reason, and what its request will carry. Immutable: each planning stage (customers,
    duplicates, screening) returns new Rows with its statuses, reasons and windows."""

    numbers: npt.NDArray[np.int64]  # spreadsheet row numbers, as a person sees them
    e164: pa.Array  # null for SIP addresses and invalid rows
    sip_uri: pa.Array
    destination: npt.NDArray[np.int64]  # equal for rows that call the same destination
    assistant_id: Labels  # "": the campaign's transient assistant
    phone_number_id: Labels  # "": none
    customer: pa.Array  # the customer object as JSON text; null where there is none
    variables: pa.Array  # JSON text of the row's variableValues; null when it has none
    cells: dict[str, pa.Array]  # role -> the row's cell
    fact_index: npt.NDArray[np.intp]  # index into `facts` (-1: no phone number)
    facts: list[NumberFacts]  # what the distinct numbers say of where their owners are
    status: Labels
    reason: Labels
    window: npt.NDArray[np.intp]  # index into `windows`; -1: none (yet)
    windows: tuple[Interval, ...] = ()

    def __post_init__(self) -> None:
        self.window.flags.writeable = False

    def __len__(self) -> int:
        return len(self.numbers)

    def planned(self) -> npt.NDArray[np.bool_]:
        return self.status.equal(Status.PLANNED)

    def with_status(
        self, where: npt.NDArray[np.bool_] | npt.NDArray[np.intp] | int, status: str, reason: str | Objects
    ) -> Rows:
        """These rows with some (a mask or positions) given a status and a reason (one text, or one each)."""
        return replace(self, status=self.status.with_set(where, status), reason=self.reason.with_set(where, reason))

    def with_windows(self, window: npt.NDArray[np.intp], windows: tuple[Interval, ...]) -> Rows:
        """These rows with each one's calling window (an index into `windows`; -1: none)."""
        return replace(self, window=window, windows=windows)

    def counts(self) -> Counter[str]:
        return self.status.counts()

    def subset(self, positions: npt.NDArray[np.intp]) -> Rows:
        """These rows again, planned afresh (no reason, window or request): for follow-up attempts."""
        indices = pa.array(positions, pa.int64())
        return Rows(
            **unplanned(len(positions)),
            numbers=self.numbers[positions],
            e164=self.e164.take(indices),
            sip_uri=self.sip_uri.take(indices),
            destination=self.destination[positions],
            assistant_id=self.assistant_id.take(positions),
            phone_number_id=self.phone_number_id.take(positions),
            customer=self.customer.take(indices),
            variables=self.variables.take(indices),
            cells={role: column.take(indices) for role, column in self.cells.items()},
            fact_index=self.fact_index[positions],
            facts=self.facts,
        )


def unplanned(size: int) -> dict[str, Any]:
    """The statuses, reasons and windows of rows not planned yet: every one planned, no window."""
    return {"status": Labels(size, Status.PLANNED), "reason": Labels(size, ""), "window": np.full(size, -1, np.intp)}


def variable_columns(sheet: Sheet, campaign: Campaign) -> dict[str, str]:
    """Template variable -> header. Without [variables], every column not used for a role."""
    headers = list(sheet.table.column_names)
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
    return {header: header for header in sheet.table.column_names if header not in used}


def build_rows(sheet: Sheet, campaign: Campaign, run_tag: str) -> Rows:
    """Normalize every row; rows that cannot be called get status `invalid` and a reason."""
    roles = sheet.roles
    size = len(sheet.row_numbers)
    cells = {role: text_array(sheet.table.column(header)) for role, header in roles.items()}
    numbers = np.asarray(sheet.row_numbers, dtype=np.int64)
    variable_headers = variable_columns(sheet, campaign)
    variable_cells = {name: text_array(sheet.table.column(header)) for name, header in variable_headers.items()}
    cells, controls = _without_controls(cells, roles)
    variable_cells, variable_controls = _without_controls(variable_cells, variable_headers)
    empty = pa.nulls(size, pa.string())
    # What the numbers say of where their owners are, and which rows share a destination, are worked
    # out on a thread of its own (the facts' tables while the numbers are normalized), while the
    # customers are built in slices on every core (Arrow lets go of the GIL).
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(load_tables)
        phones = _phones(sheet, campaign, cells)
        facts_job = worker.submit(facts_column, phones.e164)
        destinations_job = worker.submit(_destinations, phones)
        customer, long_name, long_email, bad_email, variables = on_every_core(
            partial(_customers, run_tag, list(variable_cells)),
            phones.e164, phones.extension, phones.sip_uri, cells.get("name", empty), cells.get("email", empty),
            pa.array(numbers), *variable_cells.values(),
        )  # fmt: skip
        notes = _notes(phones.note, long_name, long_email, bad_email, controls | variable_controls)
        facts, destination = facts_job.result(), destinations_job.result()
    callable_ = pc.is_null(phones.reason).to_numpy(zero_copy_only=False)
    assistant_id = _with_default(cells.get("assistant_id"), campaign.assistant_id, size)
    phone_number_id = _with_default(cells.get("phone_number_id"), campaign.phone_number_id, size)
    rows = Rows(
        **unplanned(size),
        numbers=numbers,
        e164=phones.e164,
        sip_uri=phones.sip_uri,
        destination=destination,
        assistant_id=assistant_id,
        phone_number_id=phone_number_id,
        customer=customer,
        variables=variables,
        cells=cells,
        fact_index=facts[0],
        facts=facts[1],
    )
    number_column = roles.get("number", "")
    reasons = map_distinct(phones.reason.filter(pc.invert(pc.is_null(phones.reason))),
                           lambda text: _column_reason(text or "", number_column))  # fmt: skip
    rows = rows.with_status(~callable_, Status.INVALID, reasons)
    no_assistant = callable_ & assistant_id.equal("") if campaign.assistant is None else np.zeros(size, bool)
    rows = rows.with_status(
        no_assistant, Status.INVALID, f"no assistant: column {roles.get('assistant_id')!r} is empty"
    )
    no_number_id = callable_ & ~no_assistant & phone_number_id.equal("")
    rows = rows.with_status(
        no_number_id, Status.INVALID, f"no phone number id: column {roles.get('phone_number_id')!r} is empty"
    )
    hidden = np.zeros(size, dtype=bool)
    hidden[sheet.hidden] = True
    rows = rows.with_status(
        rows.planned() & hidden, Status.SUPPRESSED, "row hidden in the workbook: unhide it to call it"
    )
    planned = rows.planned()
    noted = [position for position in notes if planned[position]]
    if not noted:
        return rows
    return replace(
        rows, reason=rows.reason.with_set(np.asarray(noted, dtype=np.intp), objects([notes[p] for p in noted]))
    )


def _without_controls(
    cells: dict[str, pa.Array], headers: dict[str, str]
) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """The cells with control characters removed (Vapi would get them escaped, and a voice would
    read them out), and, by header, where some were removed."""
    cleaned, removed = dict(cells), {}
    for key, column in cells.items():
        found = pc.fill_null(pc.match_substring_regex(column, CONTROL_CLASS), False)
        if pc.any(found).as_py():
            cleaned[key] = pc.replace_substring_regex(column, CONTROL_CLASS, "")
            removed[headers[key]] = found
    return cleaned, removed


def _destinations(phones: PhoneColumn) -> npt.NDArray[np.int64]:
    """A number per row, equal for rows that call the same destination (-1: none): the E.164 digits
    of a bare number; past every E.164 number (15 digits at most), a code for each number with an
    extension and each SIP address. A million integers hash several times faster than texts."""
    destinations = np.full(len(phones.e164), -1, dtype=np.int64)
    bare = pc.and_(pc.is_valid(phones.e164), pc.is_null(phones.extension))
    where = bare.to_numpy(zero_copy_only=False)
    destinations[where] = pc.cast(pc.utf8_slice_codeunits(phones.e164.filter(bare), 1), pa.int64()).to_numpy()
    if phones.sip_uri.null_count < len(phones.sip_uri) or phones.extension.null_count < len(phones.extension):
        key = pc.coalesce(phones.sip_uri, pc.binary_join_element_wise(phones.e164, phones.extension, ";"))
        other = pc.is_valid(key)
        codes = factorize(key.filter(other))[0]
        destinations[other.to_numpy(zero_copy_only=False)] = 10**15 + codes
    return destinations


def _with_default(column: pa.Array | None, default: str | None, size: int) -> Labels:
    """The column's stripped value, or the campaign's default where it is empty ("": neither)."""
    labels = Labels(size, default or "")
    if column is None:
        return labels
    return labels.with_set(np.arange(size), map_distinct(column, lambda cell: (cell or "").strip() or default or ""))


def _phones(sheet: Sheet, campaign: Campaign, cells: dict[str, pa.Array]) -> PhoneColumn:
    """Every row's destination, normalized in bulk per region (a country column sets a row's region);
    rows with a problem of their own (too many cells, a huge cell) keep that as their reason."""
    size = len(sheet.row_numbers)
    numbers = cells.get("number", pa.nulls(size, pa.string()))
    country = cells.get("country")
    if country is None:
        phones = normalize_column(numbers, campaign.default_region)
    else:
        regions = map_distinct(country, lambda cell: region_for(cell or "", campaign.default_region))
        column = sheet.roles["country"]
        reasons = map_distinct(country, lambda cell: f"not a number: unknown country {cell!r} in column {column!r}")
        reasons[regions != None] = None  # noqa: E711
        empty = pa.nulls(size, pa.string())
        phones = PhoneColumn(empty, empty, empty, pa.array(reasons, pa.string()), empty)
        for region in {value for value in regions.tolist() if value is not None}:
            mask = pa.array(regions == region)
            part = normalize_column(numbers.filter(mask), region)
            pieces = zip(phones.columns(), part.columns(), strict=True)
            phones = PhoneColumn(*(pc.replace_with_mask(whole, mask, piece) for whole, piece in pieces))
    if sheet.row_problems:
        mask = np.zeros(size, dtype=bool)
        mask[list(sheet.row_problems)] = True
        problems = pa.array(list(sheet.row_problems.values()), pa.string())
        nothing = pa.nulls(len(problems), pa.string())
        fields = [pc.replace_with_mask(field, pa.array(mask), nothing) for field in phones.columns()]
        fields[3] = pc.replace_with_mask(phones.reason, pa.array(mask), problems)
        phones = PhoneColumn(*fields)
    return phones


def _column_reason(reason: str, column: str) -> str:
    if reason.startswith("row has") or reason.startswith("column "):
        return reason
    return f"{reason} (column {column!r})"


def _customers(
    run_tag: str,
    variable_names: list[str],
    e164: pa.Array,
    extension: pa.Array,
    sip_uri: pa.Array,
    name: pa.Array,
    email: pa.Array,
    numbers: pa.Array,
    *variable_values: pa.Array,
) -> tuple[pa.Array, ...]:
    """For a slice of rows: each customer object as JSON text (null where the row has no
    destination), where the name was shortened, where the email was too long or no email, and the
    variableValues as JSON text (null where there are none)."""
    name_member, email_member, long_name, long_email, bad_email = _fields_of(name, email)
    destination: list[pa.Array | str]
    if sip_uri.null_count < len(sip_uri):
        destination = [
            pc.if_else(
                pc.is_valid(sip_uri),
                pc.binary_join_element_wise('{"sipUri":', json_strings(sip_uri), ""),
                pc.binary_join_element_wise('{"number":"', e164, '"', _member("extension", extension), ""),
            )
        ]
    else:  # an E.164 number needs no escaping
        destination = ['{"number":"', e164, '"']
        if extension.null_count < len(extension):
            destination.append(_member("extension", extension))
    customer = pc.binary_join_element_wise(
        *destination,
        name_member,
        email_member,
        f',"externalId":"{external_id_prefix(run_tag)}',
        pc.cast(numbers, pa.string()),
        '"}',
        "",
    )  # null where the destination is
    variables = _variables(dict(zip(variable_names, variable_values, strict=True)), len(numbers))
    return customer, long_name, long_email, bad_email, variables


def _fields_of(name: pa.Array, email: pa.Array) -> tuple[pa.Array, ...]:
    """The name and email members of each customer (',"name":…', or empty), and where the name was
    shortened, the email too long or not an email. Over-long fields are shortened or left out."""
    name = pc.fill_null(name, "")
    if pc.any(pc.match_substring_regex(name, _ODD_SPACE)).as_py():
        name = pc.replace_substring_regex(name, WHITESPACE_CLASS + "+", " ")
    name = pc.utf8_trim(name, " ")
    long_name = pc.greater(pc.utf8_length(name), MAX_FIELD)
    if pc.any(long_name).as_py():
        name = pc.if_else(long_name, pc.utf8_rtrim(pc.utf8_slice_codeunits(name, 0, MAX_FIELD), " "), name)
    email = strip(pc.fill_null(email, ""))
    has_email = pc.not_equal(email, "")
    long_email = pc.and_(has_email, pc.greater(pc.utf8_length(email), MAX_FIELD))
    good_email = pc.and_(pc.and_(has_email, pc.invert(long_email)), pc.match_substring_regex(email, _EMAIL))
    name_member = _member("name", pc.if_else(pc.not_equal(name, ""), name, None))
    email_member = _member("email", pc.if_else(good_email, email, None))
    return name_member, email_member, long_name, long_email, pc.and_(has_email, pc.invert(good_email))


def _notes(
    phone_note: pa.Array, long_name: pa.Array, long_email: pa.Array, bad_email: pa.Array,
    controls: dict[str, pa.Array],
) -> dict[int, str]:  # fmt: skip
    """What to tell about accepted rows, by position: a repaired number, a shortened name, an email
    not sent, control characters left out."""
    noted = pc.or_(pc.is_valid(phone_note), pc.or_(long_name, bad_email))
    for found in controls.values():
        noted = pc.or_(noted, found)
    notes: dict[int, str] = {}
    for position in np.flatnonzero(noted.to_numpy(zero_copy_only=False)).tolist():
        removed = [header for header, found in controls.items() if found[position].as_py()]
        parts = [
            phone_note[position].as_py(),
            f"control characters left out of {', '.join(map(repr, removed))}" if removed else None,
            f"name shortened to {MAX_FIELD} characters" if long_name[position].as_py() else None,
            f"email not sent: longer than {MAX_FIELD} characters" if long_email[position].as_py()
            else "email not sent: not an email address" if bad_email[position].as_py() else None,
        ]  # fmt: skip
        notes[position] = "; ".join(part for part in parts if part)
    return notes


def _member(name: str, values: pa.Array) -> pa.Array:
    """',"name":<value as JSON>' where there is a value, else empty."""
    return pc.fill_null(pc.binary_join_element_wise(f',"{name}":', json_strings(values), ""), "")


def _variables(values: dict[str, pa.Array], size: int) -> pa.Array:
    """Each row's variableValues as JSON text (its non-blank variables, in column order), or null."""
    members = []
    for name, value in values.items():
        member = pc.binary_join_element_wise(encode_basestring(name) + ":", json_strings(value), "")
        members.append(pc.if_else(pc.equal(strip(value), ""), None, member))
    if not members:
        return pa.nulls(size, pa.string())
    joined = members[0] if len(members) == 1 else fragments(*members)
    return pc.if_else(pc.equal(pc.fill_null(joined, ""), ""), None, pc.binary_join_element_wise("{", joined, "}", ""))


def external_id_prefix(run_tag: str) -> str:
    """Each customer's externalId is this and its row number: it ties a call back to its input row."""
    return f"{run_tag}-r"
