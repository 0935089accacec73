"""The key and the base URL's password never appear in output, results, logs, ledgers or histories
(issue 38, cases 10 and 12): a pasted key's whitespace is stripped, a character no header can carry
is refused by name, and any error text is scrubbed before it is printed or stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.errors import CredentialError, NetworkError
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.statuses import Status
from runner.vapi.client import VapiClient, redact_url
from runner.vapi.connect import state_dir
from runner.vapi.credentials import BadUrlError, api_key, base_url

SECRET = "sk-live-0123456789abcdef"


def every_file_text(folder: Path) -> str:
    """Every byte under the folder as text (ledgers and workbooks included): where a secret could hide."""
    return "".join(path.read_bytes().decode("latin-1") for path in folder.rglob("*") if path.is_file())


def leads(path: Path) -> Path:
    path.write_text("phone,name\n+12025550100,Ann\n+12025550101,Bob\n")
    return path


def run_args(tmp_path: Path, campaign: Path, outdir: Path, url: str) -> list[str]:
    source = leads(tmp_path / "leads.csv")
    return ["run", str(source), "-c", str(campaign), "-o", str(outdir), "--base-url", url, "--yes"]


@pytest.mark.slow  # a whole run through the CLI
@pytest.mark.parametrize("pasted", [f"{SECRET} ", f"{SECRET}\r\n", f"\t{SECRET}\n"])
def test_a_pasted_keys_whitespace_is_stripped(
    pasted: str, tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox(api_key=SECRET)
    monkeypatch.setenv("VAPI_API_KEY", pasted)
    outdir = tmp_path / "out"
    result = CliRunner().invoke(main, run_args(tmp_path, make_campaign(), outdir, server.url), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and SECRET not in every_file_text(outdir)
    assert len(server.store) == 2


@pytest.mark.parametrize("bad", [f"{SECRET}\u201d", f"sk-live\x1b{SECRET}", f"{SECRET}\u00a0{SECRET}"])
def test_a_key_no_header_can_carry_is_refused_by_name_not_value(
    bad: str, tmp_path: Path, make_campaign: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAPI_API_KEY", bad)
    outdir = tmp_path / "out"
    result = CliRunner().invoke(main, run_args(tmp_path, make_campaign(), outdir, "http://127.0.0.1:9"))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "VAPI_API_KEY holds a character an HTTP header cannot carry" in result.output
    assert SECRET not in result.output and "sk-live" not in result.output
    assert not outdir.exists()


def test_the_key_is_read_stripped_from_the_environment_and_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"VAPI_API_KEY='{SECRET}  '\n")
    assert api_key({}, dotenv) == SECRET
    assert api_key({"VAPI_API_KEY": f" {SECRET}\n"}, dotenv) == SECRET
    with pytest.raises(CredentialError, match="VAPI_API_KEY is empty"):
        api_key({"VAPI_API_KEY": " \n"}, tmp_path / "none")


@pytest.mark.slow  # a whole run through the CLI
def test_a_header_httpx_refused_never_left_so_rows_stay_planned_and_unheld(
    tmp_path: Path, make_campaign: Callable[..., Path]
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError(f"Illegal header value b'{request.headers['Authorization']} '")

    client = VapiClient(SECRET, "http://vapi.test", transport=httpx.MockTransport(refuse))
    with pytest.raises(NetworkError) as caught:
        client.create_call({})
    assert caught.value.maybe_sent is False and SECRET not in str(caught.value)

    campaign, outdir = make_campaign(), tmp_path / "out"
    options = SubmitOptions(requests_per_minute=60_000, backoff_base=0.01, backoff_cap=0.02, max_attempts=2)
    with client, CampaignRun.open(leads(tmp_path / "leads.csv"), campaign, outdir, "csv", client.api_name) as run:
        run.send(client, options)
        statuses = run.results()["status"].to_list()
    assert statuses == [Status.PLANNED, Status.PLANNED]
    with sqlite3.connect(state_dir() / "history.sqlite") as history:
        assert history.execute("SELECT count(*) FROM claims").fetchone() == (0,)
    assert SECRET not in every_file_text(tmp_path)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://ops:PASS1234@host:8787/v1", "http://ops:***@host:8787/v1"),
        ("https://tokenPASS1234@host", "https://***@host"),
        ("ops:PASS1234@host", "ops:***@host"),
        ("https://api.vapi.ai", "https://api.vapi.ai"),
        ("https://host/path@not-userinfo", "https://host/path@not-userinfo"),
    ],
)
def test_a_urls_password_is_never_shown(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.slow  # a whole run through the CLI
def test_credentials_in_the_base_url_are_never_stored_or_printed(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox()
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    with_password = server.url.replace("http://", "http://ops:PASS1234@")
    outdir = tmp_path / "out"
    args = ["run", str(leads(tmp_path / "leads.csv")), "-c", str(make_campaign()), "-o", str(outdir), "--yes"]
    result = CliRunner().invoke(main, [*args, "--base-url", with_password], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(server.store) == 2
    assert "PASS1234" not in every_file_text(tmp_path) and "PASS1234" not in result.output
    assert "PASS1234" not in every_file_text(state_dir())
    with sqlite3.connect(state_dir() / "history.sqlite") as history:  # the account's, not the URL's
        assert history.execute("SELECT DISTINCT api FROM claims").fetchall() == [(f"org:{server.store.org_id}",)]

    unreachable = "http://ops:PASS1234@127.0.0.1:9"
    refused = CliRunner().invoke(main, [*args[:5], str(tmp_path / "other"), "--yes", "--base-url", unreachable])
    assert "PASS1234" not in refused.output and "ops:***@127.0.0.1:9" in refused.output
    with pytest.raises(BadUrlError) as caught:
        base_url("ftp://ops:PASS1234@host")
    assert "PASS1234" not in str(caught.value)
