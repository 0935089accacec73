"""The results sheet as a campaign manager reads it (issue 42): one plain outcome per person, every
attempt's cost, typed cells (the input's own types kept), a Summary to report from; checked in the
workbook as openpyxl reads it, and recalculated by LibreOffice where it is installed."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from runner.ended_reasons import REASON_OUTCOMES, call_outcome
from runner.planning.plan import plan_file
from runner.results.plan_sheet import write_plan
from runner.spec import ended_reasons
from runner.statuses import CALL_OUTCOMES

from .test_outcomes import RETRY, first_run, update, wait_until_ended


def test_every_ended_reason_of_vapis_list_has_an_outcome() -> None:
    """Vapi's Call.endedReason values (600 of them): each is named by value or by family, and every
    value named by value is one of Vapi's (no typo hides a reason)."""
    reasons = ended_reasons()
    assert len(reasons) > 500
    assert [reason for reason in reasons if call_outcome(reason) is None] == []
    assert set(REASON_OUTCOMES) <= set(reasons)
    assert call_outcome("voicemail") == "Left voicemail" and call_outcome("customer-busy") == "Busy"
    assert call_outcome("pipeline-error-openai-llm-failed") == "Call failed"


def _records(path: Path, sheet: str = "Results") -> list[dict[str, Any]]:
    rows = list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))
    return [dict(zip([str(name) for name in rows[0]], row, strict=True)) for row in rows[1:]]


def _summary(path: Path) -> dict[str, Any]:
    rows = openpyxl.load_workbook(path)["Summary"].iter_rows(values_only=True)
    return {str(row[0]): row[1] for row in rows if row[0] is not None}


def test_a_marketers_workbook_keeps_its_types_and_each_row_says_why_in_plain_words(
    tmp_path: Path, make_campaign: Callable[..., Path]
) -> None:
    """Dates stay dates, numbers numbers, TRUE/FALSE booleans; the phone number stays text. Rows
    not called say why (consent, do-not-call, invalid, duplicate), and the Summary counts people
    by outcome and by the segment column."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["First Name", "Mobile Phone", "Signed up", "Score", "Consent to Call", "Lead Source", "Met at"])
    sheet.append(["Ann", 2025550100, date(2026, 1, 25), 12, True, "Webinar", datetime(2026, 1, 2, 10, 30)])
    sheet.append(["Bob", "(212) 555-0101", date(2026, 2, 1), 7.5, False, "Ads", None])
    sheet.append(["Cy", 3055550102, None, None, True, "Webinar", datetime(2026, 1, 3, 9, 0)])
    sheet.append(["Di", 2025550100, date(2026, 2, 3), 3, True, "Ads", None])
    sheet.append(["Ed", "12345", date(2026, 2, 4), 4, True, "Ads", None])
    sheet.append(["Flo", 2025550105, date(2026, 2, 5), 5, True, "Webinar", None])
    source = tmp_path / "leads.xlsx"
    book.save(source)
    (tmp_path / "dnc.csv").write_text("202-555-0105\n")
    campaign = make_campaign(
        columns={"consent": "Consent to Call"},
        compliance={"require_consent": True, "do_not_call": ["dnc.csv"]},
        results={"segment": "lead source"},
    )
    path = write_plan(plan_file(source, campaign), tmp_path / "out")
    workbook = openpyxl.load_workbook(path)
    cells = next(iter(workbook["Results"].iter_rows(min_row=2, max_row=2)))
    signed_up, met_at, phone = cells[2], cells[6], cells[1]
    assert isinstance(signed_up.value, datetime) and signed_up.is_date and signed_up.number_format == "yyyy-mm-dd"
    assert signed_up.value == datetime(2026, 1, 25)
    assert isinstance(met_at.value, datetime) and met_at.value == datetime(2026, 1, 2, 10, 30)
    assert phone.value == "2025550100" and phone.data_type == "s"
    records = _records(path)
    assert [record["Score"] for record in records] == [12, 7.5, None, 3, 4, 5]
    assert [record["Consent to Call"] for record in records] == [True, False, True, True, True, True]
    assert [record["outcome"] for record in records] == [
        "Not sent yet", "Not called — no consent", "Not sent yet", "Not called — duplicate",
        "Not called — invalid number", "Not called — do not call",
    ]  # fmt: skip
    assert records[3]["outcome_detail"] == "same number as row 2"
    summary = _summary(path)
    assert summary["Not sent yet"] == 2 and summary["Not called — no consent"] == 1
    assert summary["unique people (less invalid rows and duplicates)"] == 4
    assert summary["Lead Source"] == "people" and summary["Webinar"] == 3 and summary["Ads"] == 3


@pytest.mark.slow  # a run with follow-ups: a few seconds
def test_every_attempt_counts_in_the_cost_and_each_person_shows_their_best_outcome(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.3, seed=5)
    outdir = first_run(tmp_path, make_campaign(batch_size=4, retry=RETRY), server, 16)
    update(outdir, server, retry=True)
    wait_until_ended(server)
    update(outdir, server)
    calls = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": "Bearer sandbox-key"})
    cost_by_number: dict[str, float] = defaultdict(float)
    for call in calls.json():
        cost_by_number[call["customer"]["number"]] += call.get("cost") or 0.0
    records = _records(outdir / "results.xlsx")
    attempts = _records(outdir / "results.xlsx", "Attempts")
    assert len(attempts) == len(calls.json()) > 16  # the follow-ups too
    assert any(record["attempts"] == 2 for record in records)
    rank = {outcome.value: n for n, outcome in enumerate(CALL_OUTCOMES)}
    for record in records:
        own = [attempt for attempt in attempts if attempt["row"] == record["row"]]
        assert record["attempts"] == len(own)
        assert record["total_cost"] == pytest.approx(cost_by_number[record["e164"]])
        assert record["outcome"] == min((attempt["outcome"] for attempt in own), key=rank.__getitem__)
        assert (record["first_outcome"], record["last_outcome"]) == (own[0]["outcome"], own[-1]["outcome"])
    summary = _summary(outdir / "results.xlsx")
    assert summary["total cost"] == pytest.approx(sum(cost_by_number.values()))
    assert summary["calls made (every attempt)"] == len(attempts)
    assert summary["people called"] == 16


def test_csv_results_keep_iso_times_to_the_second_and_summary_json_the_figures(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.3, seed=3)
    outdir = first_run(tmp_path, make_campaign(batch_size=5), server, 6, fmt="csv")
    update(outdir, server)
    with (outdir / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row["called_at"]) for row in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["called_at_utc"]) for row in rows)
    assert all(row["attempts"] == "1" and row["opted_out"] in ("true", "false") for row in rows)
    figures = json.loads((outdir / "summary.json").read_text())["report"]
    assert figures["people_called"] == 6 and figures["calls"] == 6
    assert figures["total_cost"] == pytest.approx(sum(float(row["total_cost"]) for row in rows))
    assert sum(outcome["people"] for outcome in figures["by_outcome"].values()) == 6
    with (outdir / "attempts.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 6


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed (CI installs it)")
@pytest.mark.slow  # LibreOffice starts in a second or two
def test_libreoffice_sums_the_cost_column_to_the_summarys_total(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """The workbook as a person's spreadsheet program sees it: =SUM over the cost column, and the
    reach rate's cell, recalculated by LibreOffice, equal the Summary's figures."""
    server = sandbox(dial_now=True, call_seconds=0.3, seed=3)
    outdir = first_run(tmp_path, make_campaign(batch_size=5), server, 10)
    update(outdir, server)
    book = openpyxl.load_workbook(outdir / "results.xlsx")
    header = [cell.value for cell in book["Results"][1]]
    cost = openpyxl.utils.get_column_letter(header.index("total_cost") + 1)
    summary = {row[0].value: row[1].coordinate for row in book["Summary"].iter_rows() if row[0].value}
    check = book.create_sheet("Check", 0)
    check.append([f"=SUM(Results!{cost}2:{cost}11)", f"=Summary!{summary['total cost']}"])
    check.append(['=COUNTIF(Results!A2:A11,"<>")', f"=Summary!{summary['people in the sheet']}"])
    book.save(tmp_path / "check.xlsx")
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path / 'lo'}", "--convert-to", "csv",
         "--outdir", str(tmp_path), str(tmp_path / "check.xlsx")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with (tmp_path / "check.csv").open(newline="") as handle:
        (total, shown), (people, counted) = [[float(value) for value in row] for row in csv.reader(handle)]
    assert total == pytest.approx(shown) and total > 0
    assert people == counted == 10


@pytest.mark.slow  # two sandboxes, a run and its follow-ups
def test_a_follow_up_whose_post_failed_keeps_the_first_attempts_call_in_the_sheet(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Issue 42: when a follow-up's POST got no answer the row showed `unknown`, and its first
    attempt's call (its outcome, its cost) was gone from the sheet."""
    state = tmp_path / "vapi-state.json"
    first = sandbox(dial_now=True, call_seconds=0.3, seed=5, state_path=state)
    outdir = first_run(tmp_path, make_campaign(batch_size=4, retry=RETRY), first, 12)
    update(outdir, first)
    before = {record["row"]: record for record in _records(outdir / "results.xlsx")}
    first.stop()
    failing = sandbox(dial_now=True, call_seconds=0.3, seed=5, state_path=state, error_rate=1.0)
    update(outdir, failing, retry=True)
    after = {record["row"]: record for record in _records(outdir / "results.xlsx")}
    retried = [row for row, record in after.items() if record["status"] == "unknown"]
    assert retried, "no follow-up was attempted"
    for row in retried:
        assert after[row]["outcome"] == before[row]["outcome"] in ("Left voicemail", "No answer", "Busy")
        assert after[row]["total_cost"] == before[row]["total_cost"] and after[row]["attempts"] == 1
    assert len(_records(outdir / "results.xlsx", "Attempts")) == 12


def test_a_time_with_a_fraction_of_a_second_comes_back_as_a_time(
    tmp_path: Path, make_campaign: Callable[..., Path]
) -> None:
    """A CRM's timestamps carry milliseconds; the workbook writer parsed only whole seconds and
    stopped with a traceback."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Phone", "Last contact"])
    sheet.append(["2025550100", datetime(2026, 1, 2, 10, 30, 15, 123000)])
    sheet.append(["2025550101", datetime(2026, 1, 3, 9, 0)])
    source = tmp_path / "crm.xlsx"
    book.save(source)
    path = write_plan(plan_file(source, make_campaign()), tmp_path / "out")
    assert [record["Last contact"] for record in _records(path)] == [
        datetime(2026, 1, 2, 10, 30, 15, 123000), datetime(2026, 1, 3, 9, 0)]  # fmt: skip
