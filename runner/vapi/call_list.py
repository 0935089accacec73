"""Read Vapi's call list: the one pager over GET /call (`call_pages`), a run's calls found in it a
page of 1,000 at a time (`list_calls`), and by id only the ones the list did not return. The
client's transport retries these GETs (runner.vapi.retry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
import orjson
import polars as pl

from runner.errors import ApiError
from runner.vapi.call_fields import read_page
from runner.vapi.client import VapiClient

LIST_LIMIT = 1000  # GET /call's largest page


@dataclass(frozen=True)
class CallSearch:
    """Where a run's calls are in Vapi's call list: the from-number (and saved assistant) of each
    kind of request, and the window of creation times its requests were sent in."""

    targets: list[dict[str, str]]  # phoneNumberId, and assistantId where the request named one
    created_from: datetime
    created_until: datetime


def call_pages(
    client: VapiClient,
    filters: Mapping[str, str | datetime],
    created_from: datetime,
    created_until: datetime,
    read: Callable[[bytes], pl.DataFrame],
) -> Iterator[pl.DataFrame]:
    """Every call of GET /call for `filters` created in [created_from, created_until] (the API's
    clock), newest first, a page at a time, each call once: `read` makes a page's bytes a table
    with at least `id` and `createdAt`.

    GET /call has no cursor: each next page asks for calls created at or before the oldest one seen
    (a batch's calls share their creation time, so a page may end inside one; the calls seen at that
    moment are left out of the next page, and a page with nothing new steps past that moment)."""
    upper: datetime | str = created_until
    bound = "createdAtLe"
    at_upper = pl.Series("id", [], pl.String)  # the ids seen created at `upper`, which the next page repeats
    while True:
        answer = client.list_calls(**filters, limit=LIST_LIMIT, createdAtGe=created_from, **{bound: upper})
        try:
            page = read(answer)
        except ValueError:
            raise ApiError(200, "answer to GET /call is not a list of calls") from None
        page_ids = page.get_column("id").fill_null("")
        new = ~page_ids.is_in(at_upper.implode()) if len(at_upper) else pl.repeat(True, page.height, eager=True)
        yield page.filter(new)
        if page.height < LIST_LIMIT or (not new.any() and bound == "createdAtLt"):
            return  # the list is done, or made no progress: never loop
        created = page.get_column("createdAt").fill_null("")
        oldest = created.filter(created != "").min()
        if not oldest:
            return  # calls without a creation time cannot be paged past
        if oldest != upper:
            at_upper = at_upper.clear()
        at_upper = pl.concat([at_upper, page_ids.filter(created == oldest)])
        upper = str(oldest)
        bound = "createdAtLe" if new.any() else "createdAtLt"


def list_calls(
    client: VapiClient,
    search: CallSearch,
    wanted: pl.DataFrame,
    opt_out_field: str,
    updated_since: datetime | None = None,
) -> Iterator[pl.DataFrame]:
    """The wanted calls ((row, call_id) frame) the list holds, a page at a time, each call once: its
    `row` and its fields as sent (runner.vapi.call_fields.read_page; `shown` makes them the
    sheet's, once for all the pages).

    The wanted ids are hashed and sorted by hash once; each page's ids are found by binary search
    over the hashes, then compared as text: a few array operations a page, none per call. (Two
    wanted ids of one hash leave the second to the fetch by id: slower, never a wrong match.)"""
    ids, rows = wanted.get_column("call_id"), wanted.get_column("row")
    hashes = _hashes(ids)
    by_hash = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[by_hash]
    seen = np.zeros(len(ids), dtype=bool)  # by position in `ids`: found on an earlier page
    left = len(ids)
    read = partial(read_page, opt_out_field=opt_out_field)
    for target in search.targets:
        if not left:
            return
        filters: dict[str, str | datetime] = {**target, **({"updatedAtGe": updated_since} if updated_since else {})}
        for page in call_pages(client, filters, search.created_from, search.created_until, read):
            page_ids = page.get_column("id").fill_null("")
            position = by_hash[np.searchsorted(sorted_hashes, _hashes(page_ids)).clip(max=len(ids) - 1)]
            hit = np.flatnonzero((ids.gather(position) == page_ids).to_numpy() & ~seen[position])
            hit = hit[np.sort(np.unique(position[hit], return_index=True)[1])]  # a call listed twice on one page
            seen[position[hit]] = True
            left -= len(hit)
            found = page[hit]
            found.insert_column(0, rows.gather(position[hit]).alias("row"))
            yield found
            if not left:
                break


def _hashes(ids: pl.Series) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Each id's 64-bit hash (the same for the same text within a process)."""
    return ids.hash().to_numpy()


# A listed call's state and what identifies its customer (the submitter matches it to a request's
# rows; the lines see which calls ended, and why).
CALL_FIELDS = ("id", "createdAt", "status", "endedReason", "endedAt")
IDENTITY_FIELDS = (*CALL_FIELDS, "externalId", "number", "extension", "sipUri")
IDENTITY_SCHEMA: dict[str, pl.DataType] = {name: pl.String() for name in IDENTITY_FIELDS}


def identities(answer: bytes) -> pl.DataFrame:
    """IDENTITY_SCHEMA of each call in one answer of GET /call; ValueError if it is not an array of
    calls. Few calls are read this way (a request's, when its fate is in doubt): one dict each."""
    calls = orjson.loads(answer)
    if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
        raise ValueError("not a JSON array of calls")
    rows = []
    for call in calls:
        customer = call.get("customer") if isinstance(call.get("customer"), dict) else {}
        fields = {key: (call if key in CALL_FIELDS else customer).get(key) for key in IDENTITY_SCHEMA}
        rows.append({key: value if isinstance(value, str) else None for key, value in fields.items()})
    return pl.DataFrame(rows, schema=IDENTITY_SCHEMA)


def fetch_calls(client: VapiClient, call_ids: list[str], concurrency: int = 4) -> dict[str, dict[str, Any]]:
    """call id -> the call as Vapi returns it now; ids Vapi does not know are left out."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="status") as pool:
        fetched = list(pool.map(lambda call_id: (call_id, _fetch(client, call_id)), call_ids))
    return {call_id: data for call_id, data in fetched if data is not None}


def _fetch(client: VapiClient, call_id: str) -> dict[str, Any] | None:
    try:
        return client.get_call(call_id)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
