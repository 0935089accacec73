"""The Vapi HTTP client: one network edge, typed responses, errors parsed, and no automatic retry.

Retrying a POST /call can ring people twice, so this client never retries; it tells the caller
whether a failed request may have reached Vapi (`NetworkError.maybe_sent`, or an `ApiError` status)
and leaves the decision to the submitter.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import BaseModel, ConfigDict

from runner.errors import ApiError, AuthError, CredentialError, NetworkError

DEFAULT_BASE_URL = "https://api.vapi.ai"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)
_BILLING_WORDS = ("insufficient credits", "billing", "payment required")


class _Open(BaseModel):
    """A Vapi object read for the few fields the tool acts on: the rest is skipped, not copied
    (a call carries its whole assistant; validating every field cost more than the POST itself)."""

    model_config = ConfigDict(extra="ignore")


class Customer(_Open):
    number: str | None = None
    sipUri: str | None = None
    extension: str | None = None
    name: str | None = None
    externalId: str | None = None


class Call(_Open):
    """A Vapi call; `status` and `endedReason` are open strings (Vapi has hundreds of reasons)."""

    id: str
    status: str | None = None
    endedReason: str | None = None
    createdAt: str | None = None
    assistantId: str | None = None
    phoneNumberId: str | None = None
    customer: Customer | None = None


@dataclass(frozen=True, slots=True)
class Created:
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


def created(data: Any) -> Created:
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
    return Created(calls, errors, limits if isinstance(limits, dict) else {})


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


class VapiClient:
    """create/list/get/delete calls; get assistants and phone numbers. `transport`: test error
    mapping without a server."""

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
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "vapi-campaign"}
        self._timeout = {"timeout": timeout.as_dict()}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=self._headers, timeout=timeout, transport=transport, limits=limits
        )
        self._transport = transport or httpx.HTTPTransport(limits=limits)
        # A request built whole and handed to the transport skips the Client's per-request merging of
        # URL, headers, cookies and redirects; a proxy set in the environment is the Client's to apply.
        self._base = str(self._http.base_url).rstrip("/")
        self._send = self._http.send if urllib.request.getproxies() else self._send_direct
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
        self._transport.close()

    def create_call(self, body: Mapping[str, Any]) -> Created:
        """POST /call, for one `customer` or a batch of `customers`."""
        data = self._request("POST", "/call", content=orjson.dumps(dict(body)))
        try:
            answer = created(data)
            if answer.calls:
                self._learn_org(answer.calls[0])
            return answer
        except ValueError as exc:
            # A success status with a body we cannot read: the calls may well exist.
            raise ApiError(201, f"unreadable answer to POST /call: {exc}") from None

    def list_calls(self, **filters: str | int | datetime | None) -> list[Call]:
        """GET /call with Vapi's filters (assistantId, phoneNumberId, limit, createdAtGe, …)."""
        params = {k: _param(v) for k, v in filters.items() if v is not None}
        data = self._request("GET", "/call", params=params)
        return [Call.model_validate(item) for item in data]

    def list_call_page(self, **filters: str | int | datetime | None) -> bytes:
        """GET /call's answer as the bytes Vapi sent (status reads them as a table: no object per call)."""
        params = {k: _param(v) for k, v in filters.items() if v is not None}
        response: bytes = self._request("GET", "/call", params=params, raw=True)
        return response

    def get_call(self, call_id: str) -> Call:
        return Call.model_validate(self._request("GET", f"/call/{call_id}"))

    def get_call_data(self, call_id: str) -> dict[str, Any]:
        """GET /call/{id} as the JSON object Vapi returns (for status: every field kept)."""
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

    def _send_direct(self, request: httpx.Request) -> httpx.Response:
        """The request through the transport itself, its answer read whole."""
        response = self._transport.handle_request(request)
        response.request = request
        try:
            response.read()
        finally:
            response.close()
        return response

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
        headers = self._headers if content is None else {**self._headers, "Content-Type": "application/json"}
        request = httpx.Request(
            method, f"{self._base}{path}", params=params, headers=headers, content=content, extensions=self._timeout
        )
        sent = datetime.now(UTC)
        try:
            response = self._send(request)
        except httpx.LocalProtocolError as exc:
            # httpx refused to write the request (a header it cannot carry): nothing left this machine.
            raise NetworkError(f"not sent, the request could not be written: {exc}", maybe_sent=False) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NetworkError(f"could not connect: {exc or type(exc).__name__}", maybe_sent=False) from None
        except httpx.TransportError as exc:
            # Read timeouts, dropped connections, write errors: the server may have acted on it.
            raise NetworkError(f"no answer: {exc or type(exc).__name__}", maybe_sent=True) from None
        self._read_clock(response.headers.get("Date"), sent, datetime.now(UTC))
        if response.status_code >= 400:
            raise api_error(response)
        if raw:
            return response.content
        try:
            return orjson.loads(response.content)
        except ValueError:
            raise ApiError(response.status_code, f"answer is not JSON: {response.text[:200]}") from None


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


def _param(value: str | int | datetime) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)
