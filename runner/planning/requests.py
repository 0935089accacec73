"""Group callable rows into POST /call bodies: one group per assistant, from-number, overrides and
schedule; chunks of `batch_size`; deterministic request ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from runner.arrays import joined_bytes
from runner.campaign import Campaign
from runner.hours import Interval
from runner.planning.body import dumps, request_id_of, target
from runner.planning.customers import PLANNED, Rows
from runner.spec import max_length

MAX_CALL_NAME = max_length("CreateCallDTO", "name")
# Request bodies are built this many at a time (some tens of megabytes).
REQUESTS_PER_BLOCK = 1024


@dataclass(frozen=True)
class CallRequest:
    """One POST /call: its id, the spreadsheet rows it carries, and the exact JSON body (as text:
    a million-row plan never builds its customers as Python objects; `body` parses it on demand)."""

    id: str
    rows: tuple[int, ...]
    body_json: str

    @classmethod
    def of(cls, id: str, rows: tuple[int, ...], body: dict[str, Any]) -> CallRequest:
        return cls(id, rows, dumps(body))

    @cached_property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body_json)
        return body


def iso_utc(moment: datetime) -> str:
    """Vapi's datetime form: UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_schedule_plan(campaign: Campaign) -> dict[str, str] | None:
    schedule = campaign.schedule
    if schedule.earliest_at is None:
        return None
    plan = {"earliestAt": iso_utc(schedule.earliest_at)}
    if schedule.latest_at is not None:
        plan["latestAt"] = iso_utc(schedule.latest_at)
    return plan


def build_requests(rows: Rows, campaign: Campaign, plan_id: str) -> list[CallRequest]:
    """The requests for the planned rows, bodies and all (see `plan_requests`)."""
    return plan_requests(rows, campaign, plan_id).build()


@dataclass(frozen=True)
class PlannedRequests:
    """The requests of a plan before their bodies: `rows` with each row's `request` (its index in
    `ids`; null: not sent), and each request's id and body text around its customers. `build`
    joins the bodies, `json_lines` writes them as requests.jsonl lines; apart, the results sheet
    can be written while they are joined."""

    rows: Rows
    ids: list[str]
    numbers: list[str]  # the spreadsheet rows each request carries, as a JSON array's inside ("2,3,5")
    sizes: list[int]  # how many rows each request carries
    heads: list[str]  # each body's text before its customers, and after them
    tails: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def build(self) -> list[CallRequest]:
        return list(self.each())

    def each(self) -> Iterator[CallRequest]:
        """The requests one after the other, built a block at a time (a ledger stores them as they
        come; nothing is built if it never asks)."""
        for first, customers in self._blocks():
            span = range(first, min(first + REQUESTS_PER_BLOCK, len(self.ids)))
            heads, tails = [self.heads[i] for i in span], [self.tails[i] for i in span]
            data, ends = _texts(customers, heads, tails, self.sizes[span.start : span.stop])
            begin = 0
            for index, end in zip(span, ends.tolist(), strict=True):
                rows = tuple(int(number) for number in self.numbers[index].split(","))
                yield CallRequest(self.ids[index], rows, bytes(data[begin:end]).decode())
                begin = end

    def json_lines(self) -> Iterator[memoryview]:
        """requests.jsonl, a block of lines at a time: '{"id":…,"rows":[…],"body":…}' per request
        (`_texts`: the customers copied once, straight into the block)."""
        for first, customers in self._blocks():
            span = range(first, min(first + REQUESTS_PER_BLOCK, len(self.ids)))
            opening = [f'{{"id":"{self.ids[i]}","rows":[{self.numbers[i]}],"body":{self.heads[i]}' for i in span]
            closing = [f"{self.tails[i]}}}\n" for i in span]
            yield _texts(customers, opening, closing, self.sizes[span.start : span.stop])[0]

    def _blocks(self) -> Iterator[tuple[int, pa.Array]]:
        """(the first request's index, the customers of REQUESTS_PER_BLOCK requests in request
        order, each request's in sheet order), a block at a time, so one block's memory is reused
        by the next."""
        sent = (
            self.rows.frame.select("request", "customer")
            .filter(pl.col("request").is_not_null())
            .sort("request", maintain_order=True)
            .get_column("customer")
        )
        start = 0
        for first in range(0, len(self.ids), REQUESTS_PER_BLOCK):
            count = sum(self.sizes[first : first + REQUESTS_PER_BLOCK])
            yield first, sent.slice(start, count).to_arrow()
            start += count


def _texts(
    customers: pa.Array, openings: list[str], closings: list[str], sizes: list[int]
) -> tuple[memoryview, npt.NDArray[np.int64]]:
    """Each request's text, its opening, its customers joined by commas and its closing, one after
    the other (and the byte offset each ends at): one Arrow `take` over [openings, closings, ",",
    customers], so each customer is copied once. `sizes`: each request's customer count."""
    count = len(openings)
    size = np.asarray(sizes, dtype=np.int64)
    length = 2 * size + 1  # pieces per request: opening, customers with a comma between each, closing
    start = np.concatenate(([0], np.cumsum(length)[:-1]))
    order = np.full(int(length.sum()), 2 * count, dtype=np.int64)  # the comma, unless set below
    order[start] = np.arange(count)
    order[start + length - 1] = count + np.arange(count)
    owner = np.repeat(np.arange(count), size)
    rank = np.arange(len(customers)) - np.repeat(np.cumsum(size) - size, size)
    order[start[owner] + 1 + 2 * rank] = 2 * count + 1 + np.arange(len(customers))
    frames = pa.array([*openings, *closings, ","], pa.large_string())
    taken = pa.concat_arrays([frames, customers.cast(pa.large_string())]).take(pa.array(order))
    offsets = np.frombuffer(taken.buffers()[1], dtype=np.int64, count=len(taken) + 1, offset=taken.offset * 8)
    return joined_bytes(taken), offsets[start + length] - offsets[0]


# What rows must share to go in one request (split mode: their variables too).
GROUP_KEYS = ("assistant_id", "phone_number_id", "window_start", "window_end")


def plan_requests(rows: Rows, campaign: Campaign, plan_id: str) -> PlannedRequests:
    """Group planned rows (split mode: by their variables too) and chunk them into requests: the
    rows with each one's `request` (an index into the requests; null: not sent).

    Groups come in the order of their first row and keep their rows in sheet order, `batch_size`
    at a time. A request's id comes from the run (campaign + input content) and the rows it
    carries, not from its schedule, so planning the same input again later gives the same ids."""
    split = campaign.overrides == "split"
    keys = [*GROUP_KEYS, *(["variables"] if split else [])]
    frame = rows.frame.with_columns(position=pl.int_range(pl.len(), dtype=pl.Int64))
    frame = frame.with_columns(group=pl.col("position").filter(PLANNED).min().over(keys))
    frame = frame.with_columns(seat=PLANNED.cast(pl.Int64).cum_sum().over("group") - 1)
    # (group, chunk) as one integer: a group is named by its first row's position, below 2**40.
    chunk = pl.col("group") * 2**23 + pl.col("seat") // campaign.batch_size
    frame = frame.with_columns(request=(pl.when(PLANNED).then(chunk).rank("dense") - 1).cast(pl.Int64))
    requests = (
        frame.filter(pl.col("request").is_not_null())
        .group_by("request")
        .agg(
            pl.len(),
            pl.col("row").cast(pl.String).str.join(",").alias("rows"),
            *(pl.first(k) for k in ["group", *keys]),
        )
        .sort("request")
    )
    frames = _Envelopes(campaign)
    heads, tails = [], []
    firsts = requests.filter(pl.col("group").is_first_distinct()).select("group", *keys)
    shared = {request["group"]: request for request in firsts.iter_rows(named=True)}  # once per group
    sizes = requests.get_column("len").to_list()
    for seq, (group, size) in enumerate(zip(requests.get_column("group").to_list(), sizes, strict=True), start=1):
        head, tail = frames.around(seq, shared[group], group, size)
        heads.append(head)
        tails.append(tail)
    numbers = requests.get_column("rows").to_list()
    ids = [request_id_of(plan_id, tuple_text(text, size)) for text, size in zip(numbers, sizes, strict=True)]
    planned = Rows(frame.drop("position", "group", "seat"), rows.facts)
    return PlannedRequests(planned, ids, numbers, sizes, heads, tails)


def tuple_text(numbers: str, size: int) -> str:
    """str(tuple(rows)) from the rows written as "2,3,5" (`size` of them): what a request id
    hashes (body.request_id), without making the numbers Python ints."""
    return "(" + numbers.replace(",", ", ") + ("," if size == 1 else "") + ")"


class _Envelopes:
    """Each POST /call body around its customers, as (text before, text after): what a group's
    requests share is written once per group, not once per request."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        # The target of rows with no assistant id of their own: the [assistant], a squad or a workflow.
        self._without_id = dumps(target(campaign, None))[1:-1] if campaign.target != "assistant_id" else ""
        self._overrides = dumps(campaign.shared_overrides)[1:-1]  # its members, "" when none
        self._names: dict[int, str] = {}
        self._groups: dict[int, tuple[str, str]] = {}

    def around(self, seq: int, first: dict[str, Any], group: int, size: int) -> tuple[str, str]:
        """The body of request number `seq` of `group` (whose first row's keys are `first`), with
        `size` customers, split where they go."""
        suffix = f" #{seq}"
        if len(suffix) not in self._names:
            self._names[len(suffix)] = dumps(self.campaign.name[: MAX_CALL_NAME - len(suffix)])[:-1]
        if group not in self._groups:
            self._groups[group] = self._shared(first)
        members, schedule = self._groups[group]
        head = f'{{"name":{self._names[len(suffix)]}{suffix}",{members}'
        if size == 1:
            return head + ',"customer":', schedule + "}"
        return head + ',"customers":[', "]" + schedule + "}"

    def _shared(self, request: dict[str, Any]) -> tuple[str, str]:
        """The members after the name, and the schedulePlan member, of a group's requests (as
        the reference, tests/body_reference.py, writes them)."""
        campaign = self.campaign
        assistant_id = request["assistant_id"]
        members = [dumps(target(campaign, assistant_id))[1:-1] if assistant_id else self._without_id]
        members.append(f'"phoneNumberId":{dumps(request["phone_number_id"])}')
        overrides = [self._overrides] if self._overrides else []
        if campaign.overrides == "split" and (variables := request["variables"]) is not None:
            overrides.append(f'"variableValues":{variables}')
        if overrides:
            members.append(f'"{campaign.overrides_key}":{{{",".join(overrides)}}}')
        if request["window_start"] is None:
            schedule = campaign_schedule_plan(campaign)
        else:
            schedule = _window_plan((request["window_start"], request["window_end"]))
        return ",".join(members), f',"schedulePlan":{dumps(schedule)}' if schedule else ""


def _window_plan(window: Interval) -> dict[str, str]:
    return {"earliestAt": iso_utc(window[0]), "latestAt": iso_utc(window[1])}
