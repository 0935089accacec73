"""A real HTTP server on loopback that speaks Vapi's /call wire format, with injectable faults."""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from runner.sandbox.resources import Resources
from runner.sandbox.store import START_ERRORS, CallStore
from runner.sandbox.validate import business_error, query_messages, validation_messages


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox behaves. Rates are probabilities per request (partial: per batch customer)."""

    api_key: str = "sandbox-key"
    port: int = 0  # 0: any free port
    host: str = "127.0.0.1"
    seed: int = 0
    state_path: Path | None = None
    error_rate: float = 0.0  # 500, nothing created
    throttle_rate: float = 0.0  # 429 + Retry-After, nothing created
    drop_rate: float = 0.0  # calls created, connection closed with no answer
    slow_rate: float = 0.0  # calls created, answer delayed by slow_seconds
    partial_rate: float = 0.0  # each batch customer refused with this probability
    latency_ms: float = 0.0
    slow_seconds: float = 90.0
    retry_after: float = 1.0
    dial_now: bool = False  # ignore earliestAt: calls start at once
    call_seconds: float = 30.0  # how long a call takes from queued to ended
    concurrency_limit: int = 10  # the account's lines: calls ringing or in progress at once
    over_limit: str = "fail"  # a call due with no line free: "fail" (ends with the limit reason) or "queue"
    start_error_rate: float = 0.0  # calls that end at start with a transient fault, never having rung
    start_errors: tuple[str, ...] = START_ERRORS  # the ended reasons those calls are given
    opt_out_rate: float = 0.0  # answered calls whose analysis.structuredData.optOut is true
    clock_offset: float = 0.0  # seconds the API's clock is ahead of this machine's (createdAt, Date)
    # The assistants and phone numbers GET /assistant and /phone-number know (Resources.load).
    resources: Resources = field(default_factory=Resources)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, killed process) is part of the drills, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Sandbox:
    """Start with `start()` (a background thread) or `serve_forever()`; `url` is where it listens."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        config = self.config
        self.store = CallStore(
            config.seed, config.call_seconds, config.dial_now, config.state_path, config.opt_out_rate,
            config.clock_offset, config.concurrency_limit, config.over_limit, config.start_error_rate,
            config.start_errors,
        )  # fmt: skip
        self._rng = random.Random(self.config.seed)
        self._rng_lock = threading.Lock()
        # Requests answered, by method and route ("GET /call", "GET /call/{id}", …): what a client costs.
        self.requests: Counter[str] = Counter()
        self._server = _Server((self.config.host, self.config.port), _handler(self))
        self._thread: threading.Thread | None = None

    @classmethod
    def for_demo(cls, state_path: Path | None, resources: Resources | None = None) -> Sandbox:
        """The in-process sandbox behind `run --sandbox`: calls start at once and end in seconds."""
        key = secrets.token_hex(16)
        return cls(
            SandboxConfig(
                api_key=key, state_path=state_path, dial_now=True, call_seconds=20, concurrency_limit=1000,
                resources=resources or Resources(),
            )
        )  # fmt: skip

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="vapi-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < rate

    def limits(self) -> dict[str, Any]:
        remaining = max(0, self.config.concurrency_limit - self.store.active_count())
        return {
            "concurrencyBlocked": remaining == 0,
            "concurrencyLimit": self.config.concurrency_limit,
            "remainingConcurrentCalls": remaining,
        }


def _handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    config = sandbox.config

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "vapi-sandbox"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle and delayed ACK stall each answer.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and demos read stdout
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The Date header, by the API's clock (clock_offset)."""
            return super().date_time_string(sandbox.store.now().timestamp() if timestamp is None else timestamp)

        # --- plumbing -----------------------------------------------------------------------
        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str | list[str], headers: dict[str, str] | None = None) -> None:
            self._send(status, {"message": message, "error": HTTPStatus(status).phrase, "statusCode": status}, headers)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {config.api_key}":
                return True
            self._error(
                401, "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."
            )
            return False

        def _route(self) -> tuple[str, str | None, dict[str, str]]:
            """(resource, id or None, query): resource is "call", "assistant", "phone-number" or "" (no route)."""
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            params = dict(parse_qsl(parts.query))
            if segments[:1] == ["call"] and len(segments) <= 2:
                return "call", segments[1] if len(segments) == 2 else None, params
            if segments[:1] in (["assistant"], ["phone-number"]) and len(segments) == 2 and self.command == "GET":
                return segments[0], segments[1], params
            return "", None, params

        def _drain(self) -> bytes:
            """The request's body, read whole (a GET or DELETE may carry one): what is left unread
            would be taken for the next request on this connection."""
            try:
                length = max(0, int(self.headers.get("Content-Length") or 0))
            except ValueError:
                length = 0
            return self.rfile.read(length) if length else b""

        def handle_one_request(self) -> None:
            """Anything a handler did not foresee is a 500 in Vapi's envelope, never a dropped connection."""
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError):
                raise
            except Exception as exc:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self._error(500, f"sandbox error: {type(exc).__name__}: {exc}")

        def _begin(self) -> tuple[str, str | None, dict[str, str]] | None:
            if config.latency_ms:
                time.sleep(config.latency_ms / 1000)
            resource, call_id, params = self._route()
            with sandbox._rng_lock:
                sandbox.requests[f"{self.command} /{resource or 'other'}" + ("/{id}" if call_id else "")] += 1
            if not resource:
                self._error(404, f"Cannot {self.command} {urlsplit(self.path).path}")
                return None
            if not self._authorized():
                return None
            return resource, call_id, params

        # --- verbs --------------------------------------------------------------------------
        def do_GET(self) -> None:
            self._drain()
            begun = self._begin()
            if begun is None:
                return
            resource, call_id, params = begun
            if resource == "assistant" and call_id is not None:
                found = config.resources.assistant(call_id, sandbox.store.org_id)
                self._send(200, found) if found else self._error(404, f"Couldn't Get Assistant. `{call_id}` Not Found.")
                return
            if resource == "phone-number" and call_id is not None:
                found = config.resources.phone_number(call_id, sandbox.store.org_id)
                self._send(200, found) if found else self._error(404, f"Phone Number {call_id} Not Found")
                return
            if call_id is not None:
                call = sandbox.store.get(call_id)
                self._send(200, call) if call else self._error(404, f"Call {call_id} Not Found")
                return
            messages = query_messages(params)
            if messages:
                self._error(400, messages)
                return
            self._send(200, sandbox.store.list(params) if float(params.get("limit", "100")) >= 1 else [])

        def do_DELETE(self) -> None:
            self._drain()
            begun = self._begin()
            if begun is None:
                return
            _, call_id, _ = begun
            call = sandbox.store.delete(call_id) if call_id else None
            self._send(200, call) if call else self._error(404, f"Call {call_id} Not Found")

        def do_POST(self) -> None:
            raw = self._drain()
            begun = self._begin()
            if begun is None:
                return
            _, call_id, _ = begun
            if call_id is not None:
                self._error(404, f"Cannot POST {self.path}")
                return
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                self._error(400, "Unexpected token in JSON")
                return
            messages = validation_messages(body)
            if messages:
                self._error(400, messages)
                return
            problem = business_error(body)
            if problem:
                self._error(400, problem)
                return
            if sandbox.chance(config.throttle_rate):
                self._error(429, "Too Many Requests", {"Retry-After": f"{config.retry_after:g}"})
                return
            if sandbox.chance(config.error_rate):
                self._error(500, "Internal server error")
                return
            self._create(body)

        def _create(self, body: dict[str, Any]) -> None:
            batch = "customers" in body
            wanted = body["customers"] if batch else [body["customer"]]
            refused = [c for c in wanted if batch and sandbox.chance(config.partial_rate)]
            accepted = [c for c in wanted if not any(c is r for r in refused)]
            calls = sandbox.store.create(body, accepted)
            if sandbox.chance(config.drop_rate):
                self.close_connection = True  # the calls exist; the caller never hears of them
                return
            if sandbox.chance(config.slow_rate):
                time.sleep(config.slow_seconds)
            limits = sandbox.limits()
            if not batch:
                self._send(201, {**calls[0], "subscriptionLimits": limits})
                return
            errors = [{"customer": c, "error": "Customer refused by sandbox partial-rate fault."} for c in refused]
            self._send(201, {"results": calls, "errors": errors, "subscriptionLimits": limits})

    return Handler
