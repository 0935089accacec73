"""`cancel`: a launched run's calls that have not started are deleted, recorded first, shown as
`cancelled`, never sent again; and a corrected campaign calls exactly the cancelled rows."""

from __future__ import annotations

import csv
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from runner.cli.commands import main
from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.vapi.client import VapiClient

from .conftest import BASE_CAMPAIGN, to_toml

FAST = SubmitOptions(requests_per_minute=10_000, reconcile_delay=0.05)
CALLED_BEFORE = ["+12025550101", "+12025550102"]
NEW = ["+12025550103", "+12025550104", "+12025550105", "+12025550106"]


def campaign(folder: Path, **changes: Any) -> Path:
    path = folder / "campaign.toml"
    path.write_text(
        to_toml({**BASE_CAMPAIGN, "batch_size": 2, "requests_per_minute": 10_000, **changes}), encoding="utf-8"
    )
    return path


def sheet(folder: Path, name: str, numbers: list[str]) -> Path:
    path = folder / name
    path.write_text("phone,name\n" + "".join(f"{n},Person {n[-2:]}\n" for n in numbers), encoding="utf-8")
    return path


def run(source: Path, campaign_path: Path, outdir: Path, server: Sandbox) -> None:
    with (
        VapiClient("sandbox-key", server.url) as client,
        CampaignRun.open(source, campaign_path, outdir, "csv", server.url) as campaign_run,
    ):
        campaign_run.send(client, FAST)


def calls(server: Sandbox) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": "Bearer sandbox-key"})
    return list(answer.json())


def results(outdir: Path) -> dict[str, dict[str, str]]:
    with (outdir / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return {row["e164"]: row for row in csv.DictReader(handle)}


def cancel(outdir: Path, server: Sandbox, *options: str) -> Any:
    return CliRunner().invoke(
        main, ["cancel", str(outdir), "--base-url", server.url, *options], env={"VAPI_API_KEY": "sandbox-key"}
    )


@pytest.mark.slow  # over a second
def test_a_scheduled_run_is_cancelled_and_a_corrected_campaign_calls_exactly_those_rows(
    tmp_path: Path, sandbox: Any
) -> None:
    server = sandbox()
    # Two people were called yesterday by this campaign (now: the history remembers them).
    run(sheet(tmp_path, "first.csv", CALLED_BEFORE), campaign(tmp_path), tmp_path / "first", server)
    # Later today: a full day ahead put the history's 1-day rule on its boundary, to the second.
    later = (datetime.now(UTC) + timedelta(hours=12)).replace(microsecond=0).isoformat()
    scheduled = {"calling_hours": "any", "earliest_at": later}
    leads = sheet(tmp_path, "leads.csv", CALLED_BEFORE + NEW)
    outdir = tmp_path / "launched"
    run(leads, campaign(tmp_path, name="Wrong script", schedule=scheduled), outdir, server)
    assert sorted(c["customer"]["number"] for c in calls(server) if c["status"] == "scheduled") == NEW

    refused = cancel(outdir, server)  # not on a terminal, no --yes: nothing is deleted
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert server.requests["DELETE /call/{id}"] == 0

    result = cancel(outdir, server, "--yes")
    assert result.exit_code == 0, result.output
    assert "cancelled: 4" in result.output and "left alone (already started or over): 0" in result.output
    assert server.requests["DELETE /call/{id}"] == 4
    assert not [c for c in calls(server) if c["status"] == "scheduled"]
    rows = results(outdir)
    assert {rows[n]["status"] for n in NEW} == {"cancelled"}
    assert all(rows[n]["reason"].startswith("cancelled by ") for n in NEW)
    assert {rows[n]["status"] for n in CALLED_BEFORE} == {"suppressed"}

    again = cancel(outdir, server, "--yes")  # safe to repeat: nothing more is deleted
    assert again.exit_code == 0 and "cancelled: 0 (and 4 before)" in again.output
    assert server.requests["DELETE /call/{id}"] == 4
    posts = server.requests["POST /call"]
    run(leads, campaign(tmp_path, name="Wrong script", schedule=scheduled), outdir, server)
    assert server.requests["POST /call"] == posts  # a later run of the folder sends nothing for them
    status = CliRunner().invoke(
        main, ["status", str(outdir), "--base-url", server.url, "--retry"], env={"VAPI_API_KEY": "sandbox-key"}
    )
    assert status.exit_code == 0, status.output
    assert server.requests["POST /call"] == posts and {results(outdir)[n]["status"] for n in NEW} == {"cancelled"}

    # The script is fixed: the same file again calls exactly the cancelled rows.
    run(leads, campaign(tmp_path, name="Right script", schedule=scheduled), tmp_path / "fixed", server)
    fixed = [c for c in calls(server) if c.get("name", "").startswith("Right script")]
    assert sorted(c["customer"]["number"] for c in fixed) == NEW
    assert Counter(c["customer"]["number"] for c in calls(server))["+12025550101"] == 1


def test_calls_already_over_are_left_alone_and_counted(tmp_path: Path, sandbox: Any) -> None:
    server = sandbox(dial_now=True, call_seconds=0.1)
    outdir = tmp_path / "run"
    run(sheet(tmp_path, "leads.csv", NEW), campaign(tmp_path), outdir, server)
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while any(c["status"] != "ended" for c in calls(server)) and datetime.now(UTC) < deadline:
        time.sleep(0.05)
    result = cancel(outdir, server, "--yes")
    assert result.exit_code == 0, result.output
    assert "cancelled: 0" in result.output and "left alone (already started or over): 4 (ended 4)" in result.output
    assert server.requests["DELETE /call/{id}"] == 0
    assert {row["status"] for row in results(outdir).values()} == {"ended"}


@pytest.mark.slow
def test_calls_that_start_ringing_while_cancel_runs_are_left_alone_and_remembered(tmp_path: Path, sandbox: Any) -> None:
    """Issue 38, case 8: cancel looked at the statuses once, then sent its DELETEs paced, so calls
    that had started ringing meanwhile were reported cancelled and left the history, and the
    corrected sheet called them all again. Each call is now looked at right before its DELETE."""
    server = sandbox(dial_now=True, call_seconds=60)  # queued for 6 s after it is created, then ringing
    numbers = [f"+1202555{n:04d}" for n in range(300, 320)]
    # cancel: 4 requests a second, a GET and a DELETE a call: the last calls' turn comes after 6 s.
    paced = campaign(tmp_path, requests_per_minute=240, concurrency=1)
    outdir = tmp_path / "run"
    run(sheet(tmp_path, "leads.csv", numbers), paced, outdir, server)
    result = cancel(outdir, server, "--yes")
    assert result.exit_code == 0, result.output
    # Rang: not deleted, or deleted once ringing (its DELETE came a moment after the GET that saw it
    # queued: Vapi has no conditional delete); the sandbox keeps such a call's startedAt.
    ringing = {
        c["customer"]["number"]
        for c in calls(server)
        if c.get("endedReason") != "manually-canceled" or c.get("startedAt")
    }
    cancelled = set(numbers) - ringing
    assert ringing and cancelled, result.output  # the race happened: some were deleted, some had started
    rows = results(outdir)
    assert {rows[n]["status"] for n in cancelled} == {"cancelled"}
    assert all(rows[n]["reason"].startswith("started before it could be cancelled") for n in ringing)
    assert {rows[n]["status"] for n in ringing} <= {"ringing", "in-progress", "ended"}
    assert f"started before it could be cancelled: {len(ringing)}" in result.output
    assert f"{len(cancelled)} of them were queued (about to dial)" in result.output
    # Queued when cancelled: none of them is forgotten, so the same sheet calls no one again.
    posts = server.requests["POST /call"]
    run(sheet(tmp_path, "leads.csv", numbers), paced, tmp_path / "again", server)
    assert server.requests["POST /call"] == posts
