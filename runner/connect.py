"""Open the Vapi client a command asked for: the real API (key from the environment) or the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.credentials import api_key, base_url
from runner.sandbox import Sandbox
from runner.vapi import VapiClient


@contextmanager
def open_client(url: str | None = None, sandbox_state: Path | None = None, use_sandbox: bool = False) -> Iterator[VapiClient]:
    """With use_sandbox, start the local sandbox in-process (its calls kept in sandbox_state)."""
    if not use_sandbox:
        with VapiClient(api_key(), base_url(url)) as client:
            yield client
        return
    server = Sandbox.for_demo(sandbox_state).start()
    try:
        with VapiClient(server.config.api_key, server.url) as client:
            yield client
    finally:
        server.stop()
