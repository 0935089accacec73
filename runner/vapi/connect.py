"""Open the Vapi client a command asked for: the real API (key from the environment) or the sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.sandbox import Sandbox
from runner.sandbox.resources import Resources
from runner.vapi.client import VapiClient
from runner.vapi.credentials import api_key, base_url


def state_dir() -> Path:
    """This user's state folder for the tool ($XDG_STATE_HOME/vapi-campaign): the in-process
    sandbox's calls, and the call history of every campaign (runner.store.history)."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "vapi-campaign"


# The in-process sandbox's name in the call history: its port changes with every run, its calls do not.
SANDBOX_API = "in-process sandbox"


def sandbox_state() -> Path:
    """Where the in-process sandbox keeps its calls: one file per user ($XDG_STATE_HOME), so
    `run --sandbox` and `status --sandbox` see the same calls from any working directory."""
    return state_dir() / "sandbox-calls.jsonl"


@contextmanager
def open_client(
    url: str | None = None, use_sandbox: bool = False, resources: Resources | None = None
) -> Iterator[VapiClient]:
    """The real API (raises MissingKeyError at once when there is no key, BadUrlError for a URL
    that is not http(s)), or the in-process sandbox, whose calls are kept in `sandbox_state()` so a
    resumed demo run can reconcile against them; `resources`: the assistants and numbers it knows
    (default: any id, an assistant with no variables)."""
    if not use_sandbox:
        with VapiClient(api_key(), base_url(url)) as client:
            yield client
        return
    state = sandbox_state()
    state.parent.mkdir(parents=True, exist_ok=True)
    server = Sandbox.for_demo(state, resources).start()
    try:
        with VapiClient(server.config.api_key, server.url, api_name=SANDBOX_API) as client:
            yield client
    finally:
        server.stop()
