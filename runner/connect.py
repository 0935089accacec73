"""Open the Vapi client a command asked for: the real API (key from the environment) or the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.credentials import api_key, base_url
from runner.sandbox import Sandbox
from runner.vapi import VapiClient

SANDBOX_STATE = Path("runs") / "sandbox-calls.json"


@contextmanager
def open_client(url: str | None = None, use_sandbox: bool = False) -> Iterator[VapiClient]:
    """The real API (raises MissingKeyError at once when there is no key), or the in-process sandbox,
    whose calls are kept in runs/sandbox-calls.json so a resumed demo run can reconcile against them."""
    if not use_sandbox:
        with VapiClient(api_key(), base_url(url)) as client:
            yield client
        return
    SANDBOX_STATE.parent.mkdir(parents=True, exist_ok=True)
    server = Sandbox.for_demo(SANDBOX_STATE).start()
    try:
        with VapiClient(server.config.api_key, server.url) as client:
            yield client
    finally:
        server.stop()
