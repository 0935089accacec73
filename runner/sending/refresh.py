"""Fetch a run's calls: from Vapi's call list a page of 1,000 at a time, and by id only the ones the
list did not return. GETs change nothing, so unlike POST /call they are retried freely: on 429
(honouring Retry-After), 5xx and network errors."""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from runner.errors import ApiError, AuthError, NetworkError
from runner.sending.client import VapiClient

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
    client: VapiClient, search: CallSearch, wanted: Collection[str], updated_since: datetime | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The wanted calls the list holds, a page at a time (so that a million calls are stored as
    they come, never held at once), each call once.

    GET /call answers newest first with no cursor: each next page asks for calls created at or
    before the oldest one seen (a batch's calls share their creation time, so a page may end inside
    one; the calls seen at that moment are skipped, and a page with nothing new steps past it)."""
    left = dict.fromkeys(wanted)  # popped as found: the calls seen twice are not wanted any more
    for target in search.targets:
        upper: datetime | str = search.created_until
        bound = "createdAtLe"
        at_upper: dict[str, None] = {}  # the ids seen created at `upper`, which the next page repeats
        while left:
            filters: dict[str, Any] = {**target, "limit": LIST_LIMIT, "createdAtGe": search.created_from, bound: upper}
            if updated_since is not None:
                filters["updatedAtGe"] = updated_since
            page = retrying(client, "GET /call", partial(client.list_call_data, **filters))
            new = [call for call in page if call.get("id") not in at_upper]
            yield [call for call in new if left.pop(str(call.get("id")), 0) is None]
            if len(page) < LIST_LIMIT or (not new and bound == "createdAtLt"):
                break  # the list is done, or made no progress: never loop
            oldest = min((str(call["createdAt"]) for call in page if call.get("createdAt")), default="")
            if not oldest:
                break  # calls without a creation time cannot be paged past
            if oldest != upper:
                at_upper = {}
            at_upper.update((str(call.get("id")), None) for call in page if call.get("createdAt") == oldest)
            upper = oldest
            bound = "createdAtLe" if new else "createdAtLt"


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while pages of calls are parsed, kept and dropped:
    their dicts hold no cycles (reference counting frees each page), and at a million calls the
    collector's walks cost more than the parsing (bench/README.md). Restored as it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
