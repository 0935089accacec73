"""Stage 1, normalize: the loaded sheet becomes the planning table, one record per input row, with
each row's destination in E.164, the Vapi customer object (as JSON text), its assistant and
from-number, its template variables, and `invalid` where it cannot be called."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from runner.arrays import CONTROL_CLASS, WHITESPACE, WHITESPACE_CLASS, map_distinct, text_array
from runner.campaign import Campaign
from runner.errors import InputError
from runner.frames import json_text, json_texts, member, strip
from runner.phones.columns import PhoneColumn, normalize_column
from runner.phones.facts import NumberFacts, facts_column, load_tables
from runner.phones.parse import extension_cell, prefix_hint, region_for
from runner.planning.body import dumps
from runner.planning.roles import find_header
from runner.sheets.read import Sheet
from runner.spec import max_length
from runner.statuses import Status
from runner.text import closest_header, shown_headers

MAX_FIELD = max_length("CreateCustomerDTO", "name")  # and email and externalId: Vapi's limit
# The roles whose cells the screen reads (the others are spent once the customer is built).
SCREENED_ROLES = ("consent", "opt_out", "timezone", "state")
# Names where collapsing whitespace changes more than the ends: a run of it, or any but a space.
_ODD_SPACE = WHITESPACE_CLASS + "{2}|[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE if c != " ") + "]"
_EMAIL = rf"^[^@{WHITESPACE_CLASS[1:-1]}]+@[^@{WHITESPACE_CLASS[1:-1]}]+\.[^@{WHITESPACE_CLASS[1:-1]}]+$"
WHEN = pl.Datetime("us", "UTC")
# The planning table: every stage reads and adds these columns (and `cell_<role>` for SCREENED_ROLES).
ROW_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),  # the spreadsheet's row number, as a person sees it
    "e164": pl.String(),  # null for SIP addresses and invalid rows
    "sip_uri": pl.String(),
    "destination": pl.Int64(),  # equal for rows that call the same destination; null: none
    "assistant_id": pl.String(),  # "": the campaign's transient assistant
    "phone_number_id": pl.String(),  # "": none
    "customer": pl.String(),  # the customer object as JSON text (per-customer: with its variables); null: none
    "variables": pl.String(),  # the row's variableValues as JSON text; null when it has none
    "fact": pl.Int32(),  # index into Rows.facts (-1: no phone number)
    "status": pl.String(),  # a Status
    "reason": pl.String(),
    "window_start": WHEN,  # the calling window its schedulePlan carries; null: the campaign's own
    "window_end": WHEN,
}


@dataclass(frozen=True)
class Rows:
    """The planning table (`frame`, ROW_SCHEMA: record i is the sheet's i-th record) and what its
    `fact` column points into: the distinct facts of the numbers. Each stage returns new Rows."""

    frame: pl.DataFrame
    facts: tuple[NumberFacts, ...]

    def __post_init__(self) -> None:
        wrong = {name: dtype for name, dtype in ROW_SCHEMA.items() if self.frame.schema.get(name) != dtype}
        if wrong:
            raise TypeError(f"planning table columns of the wrong type or missing: {wrong}")

    def __len__(self) -> int:
        return self.frame.height

    def with_columns(self, *exprs: pl.Expr, **named: pl.Expr) -> Rows:
        return Rows(self.frame.with_columns(*exprs, **named), self.facts)

    def counts(self) -> Counter[str]:
        """How many rows have each status, in order of first appearance."""
        counted = self.frame.group_by("status", maintain_order=True).len()
        return Counter(dict(zip(counted["status"].to_list(), counted["len"].to_list(), strict=True)))

    def subset(self, positions: list[int]) -> Rows:
        """These rows again, planned afresh (no reason or window): for follow-up attempts."""
        again = self.frame[positions].with_columns(**unplanned())
        return Rows(again, self.facts)


PLANNED = pl.col("status") == Status.PLANNED.value


def unplanned() -> dict[str, pl.Expr]:
    """The status, reason and window of a row not planned yet: planned, no reason, no window."""
    return {
        "status": pl.lit(Status.PLANNED.value),
        "reason": pl.lit(""),
        "window_start": pl.lit(None, WHEN),
        "window_end": pl.lit(None, WHEN),
    }


HIDDEN_ROW = "row hidden in the workbook: unhide it to call it"


def with_status(where: pl.Expr, status: str, reason: pl.Expr | str) -> dict[str, pl.Expr]:
    """The status and reason columns, with rows where `where` holds given these."""
    reason = pl.lit(reason) if isinstance(reason, str) else reason
    return {
        "status": pl.when(where).then(pl.lit(status)).otherwise(pl.col("status")),
        "reason": pl.when(where).then(reason).otherwise(pl.col("reason")),
    }


def variable_columns(sheet: Sheet, campaign: Campaign) -> dict[str, str]:
    """Template variable -> header. Without [variables], every column not used for a role."""
    headers = list(sheet.table.column_names)
    if campaign.variables is not None:
        found = {name: find_header(headers, wanted) for name, wanted in campaign.variables.items()}
        missing = [campaign.variables[name] for name, header in found.items() if header is None]
        if missing:
            hints = "".join(closest_header(wanted, headers) for wanted in missing[:1])
            raise InputError(
                f"{sheet.path}: column(s) {', '.join(map(repr, missing))} from [variables] not in "
                f"the file{hints}; its headers are: {shown_headers(headers)}"
            )
        return {name: header for name, header in found.items() if header is not None}
    used = set(sheet.roles.values())
    return {header: header for header in sheet.table.column_names if header not in used}


def build_rows(sheet: Sheet, campaign: Campaign, input_tag: str) -> Rows:
    """Normalize every row; rows that cannot be called get status `invalid` and a reason.

    The phone numbers are normalized on Arrow (runner.phones, held equal to phonenumbers by
    property tests); the facts of their owners' places are worked out on a thread of their own
    while polars builds the customers."""
    roles = sheet.roles
    variable_headers = variable_columns(sheet, campaign)
    cells = {
        **{f"cell_{role}": text_array(sheet.table.column(header)) for role, header in roles.items()},
        **{f"var_{i}": text_array(sheet.table.column(h)) for i, h in enumerate(variable_headers.values())},
    }
    frame = pl.from_arrow(pa.table({"row": pa.array(sheet.row_numbers), **cells}))
    assert isinstance(frame, pl.DataFrame)
    # Control characters are never sent (Vapi would get them escaped, and a voice would read them
    # out): cells that held some are cleaned, and the row's reason names their headers.
    headers = _cell_headers(roles, variable_headers)
    found_any = frame.select(pl.col(column).str.contains(CONTROL_CLASS).any() for column in headers).row(0)
    by_header: dict[str, list[str]] = {}
    for (column, header), found in zip(headers.items(), found_any, strict=True):
        if found:
            by_header.setdefault(header, []).append(column)
    found = [pl.any_horizontal(pl.col(c).str.contains(CONTROL_CLASS) for c in cs) for cs in by_header.values()]
    frame = frame.with_columns(
        controls=pl.concat_str(
            [pl.when(hit).then(pl.lit(repr(header))) for hit, header in zip(found, by_header, strict=True)],
            separator=", ",
            ignore_nulls=True,
        )
        if by_header
        else pl.lit("")
    ).with_columns(
        pl.col(column).str.replace_all(CONTROL_CLASS, "") for columns in by_header.values() for column in columns
    )
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(load_tables)
        # The phone cells as Arrow has them, unless control characters were taken out in polars.
        cleaned = {column for columns in by_header.values() for column in columns}
        arrow = {name: column for name, column in cells.items() if name not in cleaned}
        phones = _phones(sheet, campaign, frame, arrow)
        facts_job = worker.submit(facts_column, phones.e164)
        names = ("e164", "extension", "sip_uri", "phone_reason", "phone_note")
        frame = frame.with_columns(
            pl.Series(name, column) for name, column in zip(names, phones.columns(), strict=True)
        )
        frame = _customers(frame, input_tag, list(variable_headers), campaign)
        fact_index, facts = facts_job.result()
    frame = frame.with_columns(fact=pl.Series(fact_index, dtype=pl.Int32), **unplanned())
    frame = _invalid(frame, campaign, roles, sheet.hidden)
    screened = [f"cell_{role}" for role in SCREENED_ROLES if role in roles]
    return Rows(frame.select(*ROW_SCHEMA, *screened), tuple(facts))


def _cell_headers(roles: dict[str, str], variable_headers: dict[str, str]) -> dict[str, str]:
    """Every column of cells that may be sent, by the header it came from (roles first)."""
    headers = {f"cell_{role}": header for role, header in roles.items()}
    return headers | {f"var_{i}": header for i, header in enumerate(variable_headers.values())}


def _customers(frame: pl.DataFrame, input_tag: str, variable_names: list[str], campaign: Campaign) -> pl.DataFrame:
    """Each row's customer object as JSON text (null where the row has no destination), its
    variableValues (null where there are none), destination key, assistant, from-number and notes.
    The fields are worked out first, as columns of their own, so that each is computed once."""
    columns = set(frame.columns)

    def cell(role: str) -> pl.Expr:
        return pl.col(f"cell_{role}") if f"cell_{role}" in columns else pl.lit(None, pl.String)

    odd = frame.select(cell("name").str.contains(_ODD_SPACE).any()).item()
    fields = customer_fields(frame.with_columns(name=cell("name"), email=cell("email")), odd).with_columns(
        assistant_id=_with_default(cell("assistant_id"), campaign.assistant_id),
        phone_number_id=_with_default(cell("phone_number_id"), campaign.phone_number_id),
        **{f"var_{i}": pl.when(strip(pl.col(f"var_{i}")) != "").then(f"var_{i}") for i in range(len(variable_names))},
    )
    e164, sip_uri = pl.col("e164"), pl.col("sip_uri")
    number = pl.concat_str(
        [pl.lit('{"number":"'), e164, pl.lit('"'), member("extension", json_texts(fields, "extension"))]
    )
    if fields.get_column("sip_uri").null_count() < fields.height:
        number = pl.when(sip_uri.is_not_null()).then(pl.lit('{"sipUri":') + json_text(sip_uri)).otherwise(number)
    # Per-customer overrides travel inside each customer (split mode: once per request instead).
    overrides = pl.lit("")
    if campaign.overrides == "per-customer" and (variable_names or campaign.default_variables):
        key = f',"{campaign.overrides_key}":{{"variableValues":'
        overrides = pl.concat_str([pl.lit(key), "variables", pl.lit("}")]).fill_null("")
    customer = pl.concat_str(
        [
            number,
            member("name", json_texts(fields, "name_sent")),
            member("email", json_texts(fields, "email_sent")),
            pl.lit(f',"externalId":"{external_id_prefix(input_tag)}'),
            pl.col("row").cast(pl.String),
            pl.lit('"'),
            overrides,
            pl.lit("}"),
        ]
    )  # null where the destination is
    note = pl.concat_str(
        [
            pl.when(pl.col("phone_note") != "").then(pl.col("phone_note")),
            pl.when(pl.col("controls") != "").then(pl.lit("control characters left out of ") + pl.col("controls")),
            "name_note",
            "email_note",
        ],
        separator="; ",
        ignore_nulls=True,
    )
    return fields.with_columns(variables=_variables(fields, variable_names, campaign.default_variables)).with_columns(
        customer=customer, destination=_destination(fields), note=note
    )


def customer_fields(frame: pl.DataFrame, odd: bool = True) -> pl.DataFrame:
    """The frame with the name and email each customer is sent (`name_sent`, `email_sent`; null:
    none) and what to tell about them (`name_note`, `email_note`), from its `name` and `email`
    cells. A name has its whitespace runs made one space (only if `odd`: some cell holds
    whitespace but single spaces), its ends trimmed, and is cut to MAX_FIELD characters; an email
    is sent when it is one and fits. Each step is a column of its own, computed once."""
    name = pl.col("name").fill_null("")
    if odd:
        name = name.str.replace_all(WHITESPACE_CLASS + "+", " ")
    frame = frame.with_columns(name=name.str.strip_chars(" "), email=strip(pl.col("email").fill_null("")))
    frame = frame.with_columns(
        long_name=pl.col("name").str.len_chars() > MAX_FIELD,
        long_email=pl.col("email").str.len_chars() > MAX_FIELD,
        good_email=pl.col("email").str.contains(_EMAIL),
    )
    cut = pl.col("name").str.slice(0, MAX_FIELD).str.strip_chars_end(" ")
    name = pl.when(pl.col("long_name")).then(cut).otherwise("name")
    has_email = pl.col("email") != ""
    return frame.with_columns(
        name_sent=pl.when(name != "").then(name),
        email_sent=pl.when(pl.col("good_email") & ~pl.col("long_email")).then("email"),
        name_note=pl.when(pl.col("long_name")).then(pl.lit(f"name shortened to {MAX_FIELD} characters")),
        email_note=pl.when(has_email & pl.col("long_email"))
        .then(pl.lit(f"email not sent: longer than {MAX_FIELD} characters"))
        .when(has_email & ~pl.col("good_email"))
        .then(pl.lit("email not sent: not an email address")),
    )


def _destination(frame: pl.DataFrame) -> pl.Expr:
    """A number per row, equal for rows that call the same destination (null: none): the E.164
    digits of a bare number; past every E.164 number (15 digits at most), a code for each number
    with an extension and each SIP address. Integers group several times faster than texts."""
    digits = pl.col("e164").str.slice(1).cast(pl.Int64)
    if (
        frame.get_column("sip_uri").null_count() == frame.height
        and frame.get_column("extension").null_count() == frame.height
    ):
        return digits
    other = pl.coalesce("sip_uri", pl.concat_str(["e164", pl.lit(";"), "extension"]))
    return pl.when(other.is_null()).then(digits).otherwise(10**15 + other.rank("dense").cast(pl.Int64))


def _variables(frame: pl.DataFrame, names: list[str], defaults: dict[str, Any]) -> pl.Expr:
    """Each row's variableValues as JSON text, or null (tests/body_reference.py: variable_values): its non-blank
    variables in column order (the blank ones are null in `frame`), a blank one's default in its
    place, then the defaults of variables no column holds."""
    members = []
    for i, name in enumerate(names):
        value = json_texts(frame, f"var_{i}")
        if name in defaults:
            value = pl.coalesce(value, pl.lit(dumps(defaults[name])))
        members.append(pl.lit(encode_basestring(name) + ":") + value)
    members += [
        pl.lit(f"{encode_basestring(name)}:{dumps(value)}") for name, value in defaults.items() if name not in names
    ]
    if not members:
        return pl.lit(None, pl.String)
    joined = members[0] if len(members) == 1 else pl.concat_str(members, separator=",", ignore_nulls=True)
    return pl.when(joined != "").then(pl.lit("{") + joined + pl.lit("}"))


def _with_default(column: pl.Expr, default: str | None) -> pl.Expr:
    """The column's stripped value, or the campaign's default where it is empty ("": neither)."""
    value = strip(column.fill_null(""))
    return pl.when(value != "").then(value).otherwise(pl.lit(default or ""))


def _invalid(frame: pl.DataFrame, campaign: Campaign, roles: dict[str, str], hidden: list[int]) -> pl.DataFrame:
    """Status `invalid` (with the column to fix) for rows that cannot be called, `suppressed` for
    rows the workbook hides, and the notes of the rows still planned."""
    number_column = roles.get("number", "")
    reason = pl.col("phone_reason")
    own = reason.str.starts_with("row has") | reason.str.starts_with("column ") | reason.str.contains(" in column ")
    callable_ = reason.is_null()
    # Only a campaign with no assistant, squad or workflow of its own needs one in every row.
    needs_one = campaign.target == "assistant_id" and not campaign.assistant_id
    no_assistant = callable_ & (pl.col("assistant_id") == "") if needs_one else pl.lit(False)
    no_number_id = callable_ & ~no_assistant & (pl.col("phone_number_id") == "")
    is_hidden = pl.int_range(pl.len()).is_in(hidden) if hidden else pl.lit(False)
    steps = [
        with_status(~callable_, Status.INVALID,
                    pl.when(own).then(reason).otherwise(reason + f" (column {number_column!r})")),
        with_status(no_assistant, Status.INVALID, f"no assistant: column {roles.get('assistant_id')!r} is empty"),
        with_status(no_number_id, Status.INVALID,
                    f"no phone number id: column {roles.get('phone_number_id')!r} is empty"),
        with_status(PLANNED & is_hidden, Status.SUPPRESSED, HIDDEN_ROW),
        with_status(PLANNED & (pl.col("note") != ""), Status.PLANNED, pl.col("note")),
    ]  # fmt: skip
    for step in steps:
        frame = frame.with_columns(**step)
    return frame


def _phones(sheet: Sheet, campaign: Campaign, frame: pl.DataFrame, arrow: dict[str, pa.Array]) -> PhoneColumn:
    """Every row's destination, normalized in bulk per region (a country column sets a row's region);
    rows with a problem of their own (too many cells, a huge cell) keep that as their reason.
    `arrow`: the cells already in Arrow form, by column name."""
    size = frame.height

    def column(role: str) -> pa.Array | None:
        name = f"cell_{role}"
        if name not in frame.columns:
            return None
        return arrow[name] if name in arrow else text_array(frame.get_column(name).to_arrow())

    numbers = column("number") or pa.nulls(size, pa.string())
    country = column("country")
    if country is None:
        phones = normalize_column(numbers, campaign.default_region)
    else:
        regions = map_distinct(country, lambda cell: region_for(cell or "", campaign.default_region))
        header = sheet.roles["country"]
        reasons = map_distinct(country, lambda cell: f"not a number: unknown country {cell!r} in column {header!r}")
        reasons[regions != None] = None  # noqa: E711
        empty = pa.nulls(size, pa.string())
        phones = PhoneColumn(empty, empty, empty, pa.array(reasons, pa.string()), empty)
        for region in {value for value in regions.tolist() if value is not None}:
            mask = pa.array(regions == region)
            part = normalize_column(numbers.filter(mask), region)
            pieces = zip(phones.columns(), part.columns(), strict=True)
            phones = PhoneColumn(*(pc.replace_with_mask(whole, mask, piece) for whole, piece in pieces))
    too_long = pc.fill_null(pc.equal(phones.reason, "too long"), False)
    if pc.any(too_long).as_py():
        hints = map_distinct(pc.if_else(too_long, numbers, None), prefix_hint)
        phones = PhoneColumn(phones.e164, phones.extension, phones.sip_uri,
                             pc.coalesce(pa.array(hints, pa.string()), phones.reason), phones.note)  # fmt: skip
    extensions = column("extension")
    if extensions is not None:
        phones = _with_extension_column(phones, extensions, sheet.roles["extension"])
    if sheet.row_problems:
        mask = np.zeros(size, dtype=bool)
        mask[list(sheet.row_problems)] = True
        problems = pa.array(list(sheet.row_problems.values()), pa.string())
        nothing = pa.nulls(len(problems), pa.string())
        fields = [pc.replace_with_mask(field, pa.array(mask), nothing) for field in phones.columns()]
        fields[3] = pc.replace_with_mask(phones.reason, pa.array(mask), problems)
        phones = PhoneColumn(*fields)
    return phones


def _with_extension_column(phones: PhoneColumn, cells: pa.Array, header: str) -> PhoneColumn:
    """The numbers with the extension column's digits as their extension (decided once per distinct
    cell): two desks behind one number are two people. A cell that is no extension, or one that
    differs from an extension written in the number's own cell, makes its row invalid."""
    read = map_distinct(cells, lambda cell: extension_cell(cell, header))
    given = np.array([digits for digits, _ in read], dtype=object)
    problem = np.array([reason for _, reason in read], dtype=object)
    number = pc.is_valid(phones.e164).to_numpy(zero_copy_only=False)
    own = phones.extension.to_numpy(zero_copy_only=False)
    clash = number & (given != None) & (own != None) & (given != own)  # noqa: E711
    problem[clash] = [f"two extensions: {a} in the number, {b} in column {header!r}" for a, b in
                      zip(own[clash], given[clash], strict=True)]  # fmt: skip
    failed = number & (problem != None)  # noqa: E711
    extension = np.where(number & (given != None), given, own)  # noqa: E711
    reason = phones.reason.to_numpy(zero_copy_only=False).copy()
    reason[failed] = problem[failed]
    nothing = pa.array(~failed)
    return PhoneColumn(
        pc.if_else(nothing, phones.e164, None),
        pc.if_else(nothing, pa.array(extension, pa.string()), None),
        phones.sip_uri,
        pa.array(reason, pa.string()),
        phones.note,
    )


def external_id_prefix(input_tag: str) -> str:
    """Each customer's externalId is this and its row number: it ties a call back to its input row."""
    return f"{input_tag}-r"
