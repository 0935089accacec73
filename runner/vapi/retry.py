"""The network edge's one retry policy, as an httpx transport: a request that is safe to repeat (GET,
DELETE) is sent again on 429 (after its Retry-After), 5xx and network errors; a POST never is, since
a POST /call sent twice can ring people twice."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

SAFE_METHODS = frozenset({"GET", "HEAD", "DELETE"})
MAX_TRIES = 6
MAX_CONNECT_TRIES = 3  # a server that refuses the connection this often is down, not busy
MAX_BACKOFF = 30.0
TRIES = "vapi_campaign.tries"  # the request's extension counting how often it was sent


def retryable(status: int) -> bool:
    """An answer that says "not now" rather than "no": throttled, or the server failed."""
    return status == 429 or status >= 500


class RetryTransport(httpx.BaseTransport):
    """Sends through `inner`; repeats a safe request until it gets an answer that is not retryable
    or has tried MAX_TRIES times (MAX_CONNECT_TRIES when the connection is refused), waiting the
    answer's Retry-After, else a random backoff that doubles. The last answer or error is the
    caller's; `request.extensions[TRIES]` says how many times the request went out."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        max_tries: int = MAX_TRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._max_tries = max_tries
        self._sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in SAFE_METHODS:
            request.extensions[TRIES] = 1
            return self._inner.handle_request(request)
        for attempt in range(1, self._max_tries + 1):
            request.extensions[TRIES] = attempt
            wait: float | None = None
            try:
                response = self._inner.handle_request(request)
            except httpx.LocalProtocolError:
                raise  # the request could not be written: sending it again writes it no better
            except httpx.TransportError as exc:
                refused = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt == self._max_tries or (refused and attempt >= MAX_CONNECT_TRIES):
                    raise
            else:
                if not retryable(response.status_code) or attempt == self._max_tries:
                    return response
                wait = parse_retry_after(response.headers.get("Retry-After"))
                response.read()  # frees the connection for the next try
                response.close()
            self._sleep(wait if wait is not None else random.uniform(0, min(MAX_BACKOFF, 0.5 * 2 ** (attempt - 1))))
        raise AssertionError("unreachable: the last try returns or raises")

    def close(self) -> None:
        self._inner.close()


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(moment.tzinfo)).total_seconds())
