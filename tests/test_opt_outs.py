"""Opt-outs: a person who says on a call not to be called again lands on the campaign's own list
(opt-outs.csv, found by `status`), which every later plan of the campaign honours."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from runner.cli.commands import main
from runner.planning.plan import plan_file
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.vapi.client import VapiClient

from .conftest import BASE_CAMPAIGN, to_toml
from .rows import row_results

NUMBERS = [f"+1202555{n:04d}" for n in range(100, 130)]


def opted_out_once_ended(server: Any) -> set[str]:
    """The numbers whose call opted out, once every call of the sandbox has ended."""
    headers = {"Authorization": "Bearer sandbox-key"}
    for _ in range(200):
        calls = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers=headers).json()
        if all(call["status"] == "ended" for call in calls):
            break
        time.sleep(0.05)
    return {c["customer"]["number"] for c in calls if (c.get("analysis") or {}).get("structuredData", {}).get("optOut")}


def test_opt_outs_found_by_status_suppress_those_numbers_in_a_new_sheet(tmp_path: Path, sandbox: Any) -> None:
    server = sandbox(dial_now=True, call_seconds=0.1, opt_out_rate=0.5, seed=3)
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(to_toml({**BASE_CAMPAIGN, "batch_size": 10, "requests_per_minute": 10_000}), encoding="utf-8")
    (tmp_path / "opt-outs.csv").write_text("+1 202 555 0199\n", encoding="utf-8")  # one added by hand
    source = tmp_path / "leads.csv"
    source.write_text("phone\n" + "\n".join(NUMBERS) + "\n", encoding="utf-8")
    outdir = tmp_path / "run"
    with VapiClient("sandbox-key", server.url) as client, CampaignRun.open(source, campaign, outdir) as run:
        run.send(client, SubmitOptions(requests_per_minute=10_000))
    opted = opted_out_once_ended(server)
    assert 0 < len(opted) < len(NUMBERS)

    result = CliRunner().invoke(main, ["status", str(outdir), "--base-url", server.url],
                                env={"VAPI_API_KEY": "sandbox-key"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{len(opted)} person(s) asked on the call not to be called again" in result.output
    with (tmp_path / "opt-outs.csv").open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["+1 202 555 0199"]  # the hand-added line is kept as written
    assert {line[0] for line in lines[1:]} == opted  # appended: number, when, call id, run folder
    assert all(len(line) == 4 and line[2] and line[3] == str(outdir) for line in lines[1:])
    again = CliRunner().invoke(main, ["status", str(outdir), "--base-url", server.url],
                               env={"VAPI_API_KEY": "sandbox-key"})  # fmt: skip
    assert again.exit_code == 0 and "not to be called again" not in again.output
    assert len((tmp_path / "opt-outs.csv").read_text(encoding="utf-8").splitlines()) == len(lines)

    fresh = tmp_path / "next-month.csv"  # a new sheet of the same campaign, with the hand-added number
    fresh.write_text("phone\n" + "\n".join([*NUMBERS, "202-555-0199"]) + "\n", encoding="utf-8")
    plan = plan_file(fresh, campaign)
    rows = {r.e164: r for r in row_results(plan)}
    for number in opted:
        assert rows[number].status == "suppressed"
        assert rows[number].reason.startswith("opted out on 20") and "(opt-outs.csv)" in rows[number].reason
    assert (
        rows["+12025550199"].status == "suppressed"
        and rows["+12025550199"].reason == "opted out (opt-outs.csv, line 1)"
    )
    assert {r.status for n, r in rows.items() if n not in opted and n != "+12025550199"} == {"planned"}


def test_a_run_records_opt_outs_before_it_plans_follow_ups(tmp_path: Path, sandbox: Any) -> None:
    """The nightly `run` of a campaign with follow-ups looks at the calls itself: those who opted
    out are on the list before any follow-up is planned, with no `status` in between."""
    server = sandbox(dial_now=True, call_seconds=0.1, opt_out_rate=0.5, seed=3)
    retry = {"on": ["customer-did-not-answer", "customer-busy", "voicemail"], "max_attempts": 2, "after": "0s"}
    campaign = tmp_path / "campaign.toml"
    settings = {**BASE_CAMPAIGN, "batch_size": 10, "requests_per_minute": 10_000, "retry": retry}
    campaign.write_text(to_toml(settings), encoding="utf-8")
    source = tmp_path / "leads.csv"
    source.write_text("phone\n" + "\n".join(NUMBERS) + "\n", encoding="utf-8")
    outdir = tmp_path / "run"
    with VapiClient("sandbox-key", server.url) as client:
        with CampaignRun.open(source, campaign, outdir) as run:
            run.send(client, SubmitOptions(requests_per_minute=10_000))
        opted = opted_out_once_ended(server)
        assert opted
        with CampaignRun.open(source, campaign, outdir) as run:
            run.send(client, SubmitOptions(requests_per_minute=10_000))
    with (tmp_path / "opt-outs.csv").open(encoding="utf-8", newline="") as handle:
        assert {line[0] for line in list(csv.reader(handle))[1:]} == opted
