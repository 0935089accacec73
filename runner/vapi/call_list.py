"""Fetch a run's calls: from Vapi's call list a page of 1,000 at a time, and by id only the ones the
list did not return. GETs change nothing, so unlike POST /call they are retried freely: on 429
(honouring Retry-After), 5xx and network errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import numpy as np
import polars as pl

from runner.errors import ApiError, AuthError, NetworkError
from runner.vapi.call_fields import read_page
from runner.vapi.client import VapiClient

MAX_TRIES = 6
MAX_CONNECT_TRIES = 3  # a server that refuses the connection this often is down, not busy
LIST_LIMIT = 1000  # GET /call's largest page
T = TypeVar("T")


@dataclass(frozen=True)
class CallSearch:
    """Where a run's calls are in Vapi's call list: the from-number (and saved assistant) of each
    kind of request, and the window of creation times its requests were sent in."""

    targets: list[dict[str, str]]  # phoneNumberId, and assistantId where the request named one
    created_from: datetime
    created_until: datetime


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

    GET /call answers newest first with no cursor: each next page asks for calls created at or
    before the oldest one seen (a batch's calls share their creation time, so a page may end inside
    one; the calls seen at that moment are skipped, and a page with nothing new steps past it).
    The wanted ids are hashed and sorted by hash once; each page's ids are found by binary search
    over the hashes, then compared as text: a few array operations a page, none per call. (Two
    wanted ids of one hash leave the second to the fetch by id: slower, never a wrong match.)"""
    ids, rows = wanted.get_column("call_id"), wanted.get_column("row")
    hashes = _hashes(ids)
    by_hash = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[by_hash]
    seen = np.zeros(len(ids), dtype=bool)  # by position in `ids`: found on an earlier page
    left = len(ids)
    for target in search.targets:
        upper: datetime | str = search.created_until
        bound = "createdAtLe"
        at_upper = pl.Series("call_id", [], pl.String)  # the ids seen created at `upper`, which the next page repeats
        while left:
            filters: dict[str, Any] = {**target, "limit": LIST_LIMIT, "createdAtGe": search.created_from, bound: upper}
            if updated_since is not None:
                filters["updatedAtGe"] = updated_since
            answer = retrying(client, "GET /call", partial(client.list_call_page, **filters))
            try:
                page = read_page(answer, opt_out_field)
            except ValueError:
                raise ApiError(200, "answer to GET /call is not a list of calls") from None
            page_ids = page.get_column("id").fill_null("")
            new = ~page_ids.is_in(at_upper.implode()).to_numpy() if len(at_upper) else np.ones(page.height, bool)
            position = by_hash[np.searchsorted(sorted_hashes, _hashes(page_ids)).clip(max=len(ids) - 1)]
            hit = np.flatnonzero(new & (ids.gather(position) == page_ids).to_numpy() & ~seen[position])
            hit = hit[np.sort(np.unique(position[hit], return_index=True)[1])]  # a call listed twice on one page
            seen[position[hit]] = True
            left -= len(hit)
            found = page[hit]
            found.insert_column(0, rows.gather(position[hit]).alias("row"))
            yield found
            if page.height < LIST_LIMIT or (not new.any() and bound == "createdAtLt"):
                break  # the list is done, or made no progress: never loop
            created = page.get_column("createdAt").fill_null("")
            oldest = created.filter(created != "").min()
            if not oldest:
                break  # calls without a creation time cannot be paged past
            if oldest != upper:
                at_upper = at_upper.clear()
            at_upper = pl.concat([at_upper, page_ids.filter(created == oldest)])
            upper = str(oldest)
            bound = "createdAtLe" if new.any() else "createdAtLt"


def _hashes(ids: pl.Series) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Each id's 64-bit hash (the same for the same text within a process)."""
    return ids.hash().to_numpy()


def fetch_calls(client: VapiClient, call_ids: list[str], concurrency: int = 4) -> dict[str, dict[str, Any]]:
    """call id -> the call as Vapi returns it now; ids Vapi does not know are left out."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="status") as pool:
        fetched = list(pool.map(lambda call_id: (call_id, _fetch(client, call_id)), call_ids))
    return {call_id: data for call_id, data in fetched if data is not None}


def _fetch(client: VapiClient, call_id: str) -> dict[str, Any] | None:
    try:
        return retrying(client, f"GET /call/{call_id}", lambda: client.get_call_data(call_id))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def retrying(client: VapiClient, what: str, request: Callable[[], T], effect: str = "fetch the calls") -> T:
    """The answer of a request that is safe to repeat (a GET, a DELETE), retried on 429, 5xx and
    network errors; other errors raise at once. `effect`: what failed, for the message."""
    error: ApiError | NetworkError | None = None
    for attempt in range(MAX_TRIES):
        try:
            return request()
        except AuthError:
            raise
        except ApiError as exc:
            if exc.status != 429 and exc.status < 500:
                raise
            wait, error = exc.retry_after, exc
        except NetworkError as exc:
            wait, error = None, exc
        refused = isinstance(error, NetworkError) and not error.maybe_sent
        if attempt == MAX_TRIES - 1 or (refused and attempt == MAX_CONNECT_TRIES - 1):
            break
        time.sleep(wait if wait is not None else random.uniform(0, min(30.0, 0.5 * 2**attempt)))
    raise NetworkError(
        f"cannot {effect} at {client.base_url}: {what} failed {attempt + 1} times "
        f"(last: {error}); nothing was changed: run the same command again when the API answers",
        maybe_sent=False,
    )
