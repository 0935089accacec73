"""Fetch calls by id with bounded concurrency. GETs change nothing, so unlike POST /call they are
retried freely: on 429 (honouring Retry-After), 5xx and network errors."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from runner.errors import ApiError, AuthError, NetworkError
from runner.sending.client import VapiClient

MAX_TRIES = 6
MAX_CONNECT_TRIES = 3  # a server that refuses the connection this often is down, not busy


def fetch_calls(client: VapiClient, call_ids: list[str], concurrency: int = 4) -> dict[str, dict[str, Any]]:
    """call id -> the call as Vapi returns it now; ids Vapi does not know are left out."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="status") as pool:
        fetched = list(pool.map(lambda call_id: (call_id, _fetch(client, call_id)), call_ids))
    return {call_id: data for call_id, data in fetched if data is not None}


def _fetch(client: VapiClient, call_id: str) -> dict[str, Any] | None:
    error: ApiError | NetworkError | None = None
    for attempt in range(MAX_TRIES):
        try:
            return client.get_call(call_id).model_dump(mode="json", exclude_none=True)
        except AuthError:
            raise
        except ApiError as exc:
            if exc.status == 404:
                return None
            if exc.status != 429 and exc.status < 500:
                raise
            wait, error = exc.retry_after, exc
        except NetworkError as exc:
            wait, error = None, exc
        refused = isinstance(error, NetworkError) and not error.maybe_sent
        if attempt == MAX_TRIES - 1 or (refused and attempt == MAX_CONNECT_TRIES - 1):
            raise NetworkError(
                f"cannot fetch the calls from {client.base_url}: GET /call/{call_id} failed {attempt + 1} times "
                f"(last: {error}); nothing was changed, run status again when the API answers",
                maybe_sent=False,
            )
        time.sleep(wait if wait is not None else random.uniform(0, min(30.0, 0.5 * 2**attempt)))
    return None
