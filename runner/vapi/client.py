"""The Vapi HTTP client: the one network edge, one method per endpoint, errors parsed and scrubbed.

GET and DELETE are retried by the transport (runner.vapi.retry); a POST /call never is, since it can
ring people twice: the client tells the caller whether a failed POST may have reached Vapi
(`NetworkError.maybe_sent`, or an `ApiError` status) and leaves the decision to the submitter.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from runner.errors import ApiError, AuthError, CredentialError, NetworkError
from runner.vapi.retry import TRIES, RetryTransport, parse_retry_after, retryable

DEFAULT_BASE_URL = "https://api.vapi.ai"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)
_BILLING_WORDS = ("insufficient credits", "billing", "payment required")


@dataclass(frozen=True, slots=True)
class CallsCreated:
    """POST /call's answer as the submitter reads it: the calls made and the customers refused,
    each the JSON object Vapi returned (no model per call: a batch's answer holds a thousand), and
    the subscription's limits. One shape for a `customer` and a `customers` request."""

    calls: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    limits: dict[str, Any]

    @property
    def saturated(self) -> bool:
        """Vapi says no concurrent call is left: the submitter pauses."""
        return bool(self.limits.get("concurrencyBlocked")) or self.limits.get("remainingConcurrentCalls") == 0


def calls_created(data: Any) -> CallsCreated:
    """Read POST /call's answer (a batch's when it has `results`, else one call); ValueError names
    what is unreadable. Each call needs a string id and, if any, a string status."""
    batch = isinstance(data, dict) and "results" in data
    calls, errors = (data.get("results"), data.get("errors") or []) if batch else ([data], [])
    limits = data.get("subscriptionLimits") if isinstance(data, dict) else None
    if not isinstance(calls, list) or not isinstance(errors, list):
        raise ValueError("results and errors must be lists")
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise ValueError("a call without an id")
        if not isinstance(call.get("status") or "", str):
            raise ValueError(f"call {call['id']}: status is not a string")
    if not all(isinstance(error, dict) for error in errors):
        raise ValueError("an error that is not an object")
    return CallsCreated(calls, errors, limits if isinstance(limits, dict) else {})


def error_text(error: Any) -> str:
    """A refused customer's `error`: Vapi sends a string, or an object."""
    return error if isinstance(error, str) else json.dumps(error)


def clean_key(value: str, source: str = "the API key") -> str:
    """The key with surrounding whitespace (a pasted line's space, CR or LF) stripped; any other
    character an HTTP header cannot carry raises CredentialError naming `source`, never the value."""
    key = value.strip()
    if not key:
        raise CredentialError(f"{source} is empty")
    for position, char in enumerate(key, start=1):
        if not (char.isascii() and char.isprintable()):
            raise CredentialError(
                f"{source} holds a character an HTTP header cannot carry (U+{ord(char):04X} at position {position}; "
                "a smart quote or a pasted line break?): copy the key again from Vapi's dashboard"
            )
    return key


def redact_url(url: str) -> str:
    """The URL (or a URL missing its scheme) with its password shown as ***: `https://ops:***@host`
    (a user without a password, often a token, as `***@host`). Never printed or stored otherwise."""
    scheme, separator, rest = url.rpartition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    userinfo, _, host = authority.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else "***"  # a user alone is often a token
    return f"{scheme}{separator}{shown}@{host}{slash}{path}"


class Scrubber:
    """Removes secrets (the key, its `Bearer` header, the base URL's password) from any text about
    to be printed or stored: an exception's message may quote a header or a URL."""

    def __init__(self, key: str, url: str) -> None:
        parts = urlsplit(url) if "@" in url else None
        userinfo = (parts.password or parts.username) if parts else None
        secrets = [f"Bearer {key}", key, *([userinfo] if userinfo else [])]
        self._secrets = [secret for secret in secrets if len(secret) >= 4]

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def customer_of(item: dict[str, Any]) -> dict[str, Any] | None:
    """The `customer` object of a call or a batch error, if it is one."""
    customer = item.get("customer")
    return customer if isinstance(customer, dict) else None


class BearerAuth(httpx.Auth):
    """The API key as a Bearer token on every request. Set as the client's auth so that a user and
    password in the base URL never replace it with Basic auth (they are only ever redacted)."""

    def __init__(self, key: str) -> None:
        self._header = f"Bearer {key}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class VapiClient:
    """create/list/get/delete calls; get assistants and phone numbers. `transport`: test error
    mapping without a server.

    Examples:
        >>> from runner import Sandbox
        >>> with Sandbox() as sandbox, VapiClient("sandbox-key", sandbox.url) as client:
        ...     answer = client.create_call(
        ...         {"assistantId": "asst_1", "phoneNumberId": "pn_1", "customer": {"number": "+12025550100"}}
        ...     )
        >>> [call["status"] for call in answer.calls], answer.limits["concurrencyLimit"]
        (['queued'], 10)
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 16,
        api_name: str | None = None,
    ) -> None:
        api_key = clean_key(api_key)
        self._api_name = api_name
        self._scrub = Scrubber(api_key, base_url)
        self._shown_url = redact_url(base_url.rstrip("/"))
        limits = httpx.Limits(max_connections=max_connections)
        # The proxy is read here, so that a proxied request goes through the retrying transport too.
        transport = transport or httpx.HTTPTransport(limits=limits, proxy=proxy_for(base_url))
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"User-Agent": "vapi-campaign"},
            auth=BearerAuth(api_key),
            timeout=timeout,
            transport=RetryTransport(transport),
            trust_env=False,
        )
        self._clock_offset: timedelta | None = None
        self._org_id: str | None = None

    @property
    def org_id(self) -> str | None:
        """The account's id (`orgId`), from the first object the API answered with one (preflight's
        assistant or phone number, most often); None until then."""
        return self._org_id

    @property
    def clock_offset(self) -> timedelta | None:
        """How far the API's clock is ahead of this machine's (negative: behind), from the `Date`
        header of its last answer that had one, to about a second; None until one was seen."""
        return self._clock_offset

    def api_time(self, moment: datetime) -> datetime:
        """A moment of this machine's clock, read on the API's (as its `createdAt` filters need)."""
        return moment + (self._clock_offset or timedelta(0))

    @property
    def base_url(self) -> str:
        """The base URL as it may be shown and stored: a password in it is ***."""
        return self._shown_url

    @property
    def api_name(self) -> str:
        """Which API this is, for the call history: the base URL, or a stable name for a server
        whose URL changes from run to run (the in-process sandbox)."""
        return self._api_name or self.base_url

    def __enter__(self) -> VapiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create_call(self, body: Mapping[str, Any]) -> CallsCreated:
        """POST /call, for one `customer` or a batch of `customers`."""
        data = self._request("POST", "/call", content=orjson.dumps(dict(body)))
        try:
            answer = calls_created(data)
            if answer.calls:
                self._learn_org(answer.calls[0])
            return answer
        except ValueError as exc:
            # A success status with a body we cannot read: the calls may well exist.
            raise ApiError(201, f"unreadable answer to POST /call: {exc}") from None

    def list_calls(self, **filters: str | int | datetime | None) -> bytes:
        """GET /call with Vapi's filters (phoneNumberId, limit, createdAtGe, …): the answer as the
        bytes Vapi sent, a JSON array read as a table (runner.vapi.call_list), no object per call."""
        params = {k: _param(v) for k, v in filters.items() if v is not None}
        response: bytes = self._request("GET", "/call", params=params, raw=True)
        return response

    def get_call(self, call_id: str) -> dict[str, Any]:
        """GET /call/{id}: the call as Vapi returns it, every field kept."""
        return self._object("GET", f"/call/{call_id}")

    def get_assistant(self, assistant_id: str) -> dict[str, Any]:
        """GET /assistant/{id}: the saved assistant as Vapi returns it (preflight reads its templates)."""
        return self._object("GET", f"/assistant/{assistant_id}")

    def get_phone_number(self, number_id: str) -> dict[str, Any]:
        """GET /phone-number/{id}: its `provider` (vapi: a free number), `status` and `number`."""
        return self._object("GET", f"/phone-number/{number_id}")

    def _object(self, method: str, path: str) -> dict[str, Any]:
        data = self._request(method, path)
        if not isinstance(data, dict):
            raise ApiError(200, f"answer to {method} {path} is not an object")
        self._learn_org(data)
        return data

    def _learn_org(self, data: dict[str, Any]) -> None:
        if self._org_id is None and isinstance(data.get("orgId"), str) and data["orgId"]:
            self._org_id = data["orgId"]

    def delete_call(self, call_id: str) -> dict[str, Any]:
        """DELETE /call/{id}: the call as Vapi answers it (cancel reads whether it had started)."""
        return self._object("DELETE", f"/call/{call_id}")

    def _read_clock(self, header: str | None, sent: datetime, answered: datetime) -> None:
        """The API's clock against ours, from an answer's Date header (whole seconds, so compared
        with the middle of the exchange, less the half second the header rounds off)."""
        try:
            moment = parsedate_to_datetime(header) if header else None
        except (TypeError, ValueError):
            moment = None
        if moment is not None and moment.tzinfo is not None:
            self._clock_offset = moment + timedelta(seconds=0.5) - (sent + (answered - sent) / 2)

    def _request(
        self,
        method: str,
        path: str,
        raw: bool = False,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Any:
        """The answer's JSON (or, `raw`, its bytes); errors as ApiError, AuthError, NetworkError,
        their messages scrubbed of the key and the URL's password. `content`: a JSON body."""
        try:
            return self._exchange(method, path, raw, params, content)
        except ApiError as exc:
            kind = type(exc)
            raise kind(exc.status, self._scrub(exc.message), exc.retry_after) from None
        except NetworkError as exc:
            raise NetworkError(self._scrub(str(exc)), exc.maybe_sent) from None

    def _exchange(self, method: str, path: str, raw: bool, params: dict[str, str] | None, content: bytes | None) -> Any:
        headers = None if content is None else {"Content-Type": "application/json"}
        request = self._http.build_request(method, path, params=params, headers=headers, content=content)
        sent = datetime.now(UTC)
        try:
            response = self._http.send(request)
        except httpx.LocalProtocolError as exc:
            # httpx refused to write the request (a header it cannot carry): nothing left this machine.
            raise NetworkError(f"not sent, the request could not be written: {exc}", maybe_sent=False) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NetworkError(
                f"could not connect: {exc or type(exc).__name__}{_tries(request)}", maybe_sent=False
            ) from None
        except httpx.TransportError as exc:
            # Read timeouts, dropped connections, write errors: the server may have acted on it.
            raise NetworkError(f"no answer: {exc or type(exc).__name__}{_tries(request)}", maybe_sent=True) from None
        self._read_clock(response.headers.get("Date"), sent, datetime.now(UTC))
        if response.status_code >= 400:
            error = api_error(response)
            if retryable(error.status) and request.extensions.get(TRIES, 1) > 1:
                # Retried until the transport gave up: the API is down or busy, nothing was changed.
                message = f"{method} {path}: {error.status} {error.message}{_tries(request)}"
                raise NetworkError(message, maybe_sent=False)
            raise error
        if raw:
            return response.content
        try:
            return orjson.loads(response.content)
        except ValueError:
            raise ApiError(response.status_code, f"answer is not JSON: {response.text[:200]}") from None


def _tries(request: httpx.Request) -> str:
    """' (tried N times)' for a request the transport sent more than once."""
    tries = request.extensions.get(TRIES, 1)
    return f" (tried {tries} times)" if tries > 1 else ""


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, ALL_PROXY, …, NO_PROXY honoured)."""
    proxies = urllib.request.getproxies()
    parts = urlsplit(url)
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def api_error(response: httpx.Response) -> ApiError:
    """Parse the NestJS envelope: `message` may be a string or a list of strings."""
    message = error_message(response)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    status = response.status_code
    lowered = message.lower()
    if status in (401, 403) or status == 402 or (status == 400 and any(w in lowered for w in _BILLING_WORDS)):
        return AuthError(status, message, retry_after)
    return ApiError(status, message, retry_after)


def error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(data, dict):
        message = data.get("message", data.get("error", ""))
        if isinstance(message, list):
            return "; ".join(str(m) for m in message)
        return str(message) or json.dumps(data)[:500]
    return json.dumps(data)[:500]


def _param(value: str | int | datetime) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)
