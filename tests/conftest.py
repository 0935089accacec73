"""Shared fixtures: a campaign file in a temp folder, and paths to the committed test data."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# A property's examples are judged by what they give, not how fast: a shared CI machine's pauses
# would otherwise fail a correct example on hypothesis' 200 ms deadline.
settings.register_profile("project", deadline=None)
settings.load_profile("project")

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML for campaign files: scalars, lists, tables (nested ones inline)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{table}]")
            lines.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in values.items())
    return "\n".join(lines) + "\n"


# Planning and sending tests turn the compliance gates off (test_screen.py tests them), so their
# outcome does not depend on the time of day they run at.
BASE_CAMPAIGN: dict[str, Any] = {
    "name": "Test campaign",
    "assistant_id": "asst_test",
    "phone_number_id": "pn_test",
    "compliance": {"require_consent": False},
    "schedule": {"calling_hours": "any"},
}


@pytest.fixture(autouse=True)
def _private_sandbox_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--sandbox` keeps its calls under $XDG_STATE_HOME: each test gets its own, not the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def make_campaign(tmp_path: Path) -> Callable[..., Path]:
    """Write a campaign file (the base campaign updated with the keyword arguments)."""

    def make(**changes: Any) -> Path:
        data = {**BASE_CAMPAIGN, **changes}
        data = {k: v for k, v in data.items() if v is not None}
        path = tmp_path / "campaign.toml"
        path.write_text(to_toml(data), encoding="utf-8")
        return path

    return make


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "input.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def sandbox() -> Any:
    """Start sandboxes on free loopback ports: `sandbox(**SandboxConfig fields)`; all stopped after."""
    from runner.sandbox import Sandbox, SandboxConfig

    started: list[Sandbox] = []

    def start(**config: Any) -> Sandbox:
        # Vapi's default of 10 live calls would make the submitter pause; tests that want it say so.
        server = Sandbox(SandboxConfig(**{"concurrency_limit": 1000, **config})).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _postgres_bin() -> Path | None:
    """The folder of this machine's PostgreSQL server programs (initdb, pg_ctl), if any."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of the test run's own on a loopback port (the machine's initdb and
    pg_ctl; as root, run as the `postgres` user); skipped where no server is installed."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server installed here (initdb, pg_ctl)")
    # Not under pytest's root-only temporary folder: the postgres user must reach its data.
    folder = Path(tempfile.mkdtemp(prefix="vapi-campaign-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            shutil.chown(folder, "postgres")
        except (LookupError, OSError):
            pytest.skip("PostgreSQL refuses to run as root, and there is no postgres user")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    subprocess.run([*as_user, bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "log", "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A database of the test's own on that server."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"
