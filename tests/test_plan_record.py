"""The plan's record in the run folder: `status` reads it instead of planning the sheet again, it
keeps what the first planning said of rows the run did not send, and a folder without one (an
older version's) is planned again once and gets one."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.campaign import load_campaign
from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun
from runner.store import run_folder as run_module
from runner.store.history import Caps, open_history
from runner.store.ledger import now_utc
from runner.store.plan_record import RECORD_FILE, SHEET_FILE, PlanRecord
from runner.vapi.client import VapiClient
from runner.vapi.credentials import base_url

NUMBERS = ["+12025551000", "+12025551001", "+12025551002"]
# Headers as marketers write them: one repeated, one blank (the loader names them apart).
SHEET = "phone,name,name,\n" + "".join(f"{number},Person {i},P{i},x{i}\n" for i, number in enumerate(NUMBERS))


def _client(server: Sandbox) -> VapiClient:
    return VapiClient(server.config.api_key, server.url)


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the plans made from now on (plan_for, as `run` and `status` call it)."""
    calls: list[int] = []
    real = run_module.plan_for

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "plan_for", counting)
    return calls


def _sheet(folder: Path) -> list[list[str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _run(tmp_path: Path, campaign: Path, server: Sandbox) -> Path:
    source = tmp_path / "leads.csv"
    source.write_text(SHEET)
    with _client(server) as client, CampaignRun.open(source, campaign, tmp_path / "run", fmt="csv") as run:
        run.send(client)
    return tmp_path / "run"


@pytest.mark.slow  # a run, a status and a planning again: over a second
def test_status_reads_the_record_and_plans_only_when_a_follow_up_needs_the_plan(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, planned: list[int]
) -> None:
    server = sandbox()
    folder = _run(tmp_path, make_campaign(batch_size=2), server)
    assert planned == [1]
    first = (folder / "results.csv").read_text()
    with _client(server) as client, CampaignRun.reopen(folder) as run:
        outcome = run.status(client)
        assert planned == [1]  # the sheet was not planned again
        assert sorted(outcome.counts) == ["queued"]
        assert (folder / "results.csv").read_text() == first
        assert run.plan.plan_id == run.ledger.read_meta(folder)["plan_id"]  # planned on first use
        assert planned == [1, 1]
    assert _sheet(folder)[0][:4] == ["phone", "name", "name", ""]  # the headers as the file writes them


def test_status_keeps_the_first_plannings_reason_for_a_row_it_did_not_send(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Another folder had just called a number, so the run set its row aside. When the call
    history later forgets that call, a plan made today would say `planned`, but this run will
    never send the row: its sheet must go on saying why it was not sent."""
    server = sandbox()
    campaign = make_campaign(batch_size=2)
    history = open_history(load_campaign(campaign))
    elsewhere = str((tmp_path / "elsewhere").resolve())
    history.claim(base_url(None), elsewhere, "req-x", now_utc(), {2: NUMBERS[0]}, Caps(0, 1000))
    folder = _run(tmp_path, campaign, server)
    history.forget(elsewhere, "req-x")
    history.close()
    with _client(server) as client, CampaignRun.reopen(folder) as run:
        outcome = run.status(client)
        assert run.plan.counts()["planned"] == 3  # what a plan today would say
    assert outcome.counts == {"queued": 2, "suppressed": 1}
    assert outcome.exit_code == 0
    row = next(line for line in _sheet(folder) if line[0] == NUMBERS[0])
    assert "suppressed" in row and any("called" in cell for cell in row)


@pytest.mark.slow  # over a second
@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_a_folder_without_a_readable_record_is_planned_again_once_and_gets_one(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, planned: list[int], damage: str
) -> None:
    """A folder of an older version has no record; a damaged one cannot be read: either way the
    first look plans again (as of the first planning) and writes the record, the next reads it."""
    server = sandbox()
    folder = _run(tmp_path, make_campaign(batch_size=2), server)
    first = (folder / "results.csv").read_text()
    record = PlanRecord.load(folder)
    assert record is not None
    if damage == "missing":
        (folder / RECORD_FILE).unlink()
        (folder / SHEET_FILE).unlink()
    else:
        (folder / RECORD_FILE).write_bytes(b"not parquet")
    assert PlanRecord.load(folder) is None
    with _client(server) as client:
        for _ in range(2):
            with CampaignRun.reopen(folder) as run:
                run.status(client)
            assert (folder / "results.csv").read_text() == first
    assert planned == [1, 1]  # the run, then the first status only
    again = PlanRecord.load(folder)
    assert again is not None
    assert again.results.equals(record.results) and again.sheet.equals(record.sheet)
    assert (again.roles, again.suppressed, again.blocked) == (record.roles, record.suppressed, record.blocked)
    assert len(again.warnings) == len(record.warnings)  # the same, naming the folder's copy of the input
