"""`status` asks Vapi's call list for a run's calls a page per thousand, and by id only for calls the
list did not return; `--watch` asks only for what changed. Counted by the sandbox itself."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.vapi.client import VapiClient

FAST = SubmitOptions(concurrency=4, requests_per_minute=60_000, backoff_base=0.01, backoff_cap=0.05)
ROWS = 2_500


def started_run(tmp_path: Path, make_campaign: Callable[..., Path], server: Any) -> Path:
    source = tmp_path / "leads.csv"
    source.write_text("phone\n" + "".join(f"+1202555{1000 + n:04d}\n" for n in range(ROWS)))
    client = VapiClient(server.config.api_key, server.url, timeout=httpx.Timeout(10.0))
    with client, CampaignRun.open(source, make_campaign(batch_size=100), tmp_path / "run") as run:
        assert run.send(client, FAST).exit_code == 0
    return tmp_path / "run"


@pytest.mark.slow
def test_status_lists_a_page_per_thousand_calls_and_fetches_by_id_only_what_the_list_missed(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.2)
    outdir = started_run(tmp_path, make_campaign, server)
    with sqlite3.connect(outdir / "ledger.sqlite") as db:  # one call Vapi's list cannot know
        db.execute("UPDATE outcomes SET call_id = 'not-in-the-list' WHERE row = 2")
    time.sleep(0.3)
    server.requests.clear()
    client = VapiClient(server.config.api_key, server.url)
    with client, CampaignRun.reopen(outdir) as run:
        outcome = run.status(client)
    # The call not found keeps the status Vapi answered the POST with (queued, or later on a busy machine).
    assert outcome.summary.by_status["ended"] == ROWS - 1 and sum(outcome.summary.by_status.values()) == ROWS
    assert server.requests["GET /call"] <= ROWS // 1000 + 10
    assert server.requests["GET /call/{id}"] == 1
    assert outcome.report.not_found == 1


@pytest.mark.slow
def test_watch_asks_only_for_what_changed(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox(dial_now=True, call_seconds=1.5)
    outdir = started_run(tmp_path, make_campaign, server)
    server.requests.clear()
    asked: list[dict[str, str]] = []
    real_list: Callable[[dict[str, str]], list[dict[str, Any]]] = server.store.list

    def recorded(params: dict[str, str]) -> list[dict[str, Any]]:
        asked.append(params)
        return real_list(params)

    monkeypatch.setattr(server.store, "list", recorded)
    client = VapiClient(server.config.api_key, server.url)
    with client, CampaignRun.reopen(outdir) as run:
        first = run.refresh(client)
        assert first == ROWS and server.requests["GET /call/{id}"] == 0
        waiting = run.unfinished_calls()
        assert waiting > 0
        time.sleep(1.6)
        assert run.refresh(client) == waiting  # every call not ended then has ended since: each changed
        assert run.unfinished_calls() == 0
        assert run.refresh(client) == 0  # nothing left to ask about
    assert server.requests["GET /call/{id}"] == 0
    assert server.requests["GET /call"] <= 2 * (ROWS // 1000 + 1)
    first_look, later = [p for p in asked if "updatedAtGe" not in p], [p for p in asked if "updatedAtGe" in p]
    assert first_look and later and asked.index(later[0]) == len(first_look)  # the first look, then changes only
