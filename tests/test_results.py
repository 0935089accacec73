"""The results sheet: every row, input columns unchanged, typed text, nothing a spreadsheet evaluates."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from runner.planning.plan import RESULT_COLUMNS, plan_file
from runner.results.plan_sheet import write_plan
from runner.results.write import neutralize, neutralize_column
from runner.sending.run import CampaignRun
from runner.vapi.client import VapiClient

DANGEROUS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]


def test_neutralize() -> None:
    assert [neutralize(v) for v in DANGEROUS] == ["'" + v for v in DANGEROUS]
    assert neutralize("+12025550123") == "+12025550123"  # a plain number is data, not a formula
    assert neutralize("-5") == "-5"
    assert neutralize("Ann") == "Ann"
    numbers = ["+12025550123", "+1", "+", "+1.5", "+1 202", "-.5", "=1", "+12025550124"]  # mostly E.164
    assert neutralize_column(pa.array(numbers)).to_pylist() == [neutralize(value) for value in numbers]


def make_input(write_csv: Callable[..., Path]) -> Path:
    rows = "".join(f'2025550{100 + i},"{v}",02134\n' for i, v in enumerate(DANGEROUS))
    return write_csv("phone,note,zip\n" + rows + "bad,ok,NA\n")


def test_xlsx_cells_are_text_and_nothing_is_a_formula(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    plan = plan_file(make_input(write_csv), make_campaign())
    path = write_plan(plan, tmp_path / "out")
    assert path.name == "results.xlsx"
    book = openpyxl.load_workbook(path)
    sheet = book["Results"]
    rows = list(sheet.iter_rows(values_only=False))
    assert [c.value for c in rows[0]] == ["phone", "note", "zip", "outcome", "outcome_detail", *RESULT_COLUMNS]
    assert len(rows) == 1 + len(DANGEROUS) + 1
    for row in rows:
        for cell in row:
            assert cell.data_type != "f"
            assert cell.value is None or isinstance(cell.value, str) or cell.column == 6  # `row`: a number
    # XML turns a lone CR into LF on reading back; the cell is still plain text.
    assert [str(r[1].value).replace("\n", "\r") for r in rows[1:-1]] == DANGEROUS
    assert rows[1][5].value == 2 and rows[1][5].data_type == "n"
    assert rows[1][6].value == "+12025550100"
    assert rows[1][2].value == "02134"
    assert rows[1][3].value == "Not sent yet"
    assert [c.value for c in rows[-1][3:9]] == [
        "Not called — invalid number", "not a number (column 'phone')", 8, None, "invalid",
        "not a number (column 'phone')"]  # fmt: skip
    summary = [row[:2] for row in book["Summary"].iter_rows(values_only=True)]
    start = summary.index(("status", "rows"))
    assert summary[start : start + 4] == [("status", "rows"), ("planned", 6), ("invalid", 1), (None, None)]
    assert ("Not sent yet", 6) in summary and ("Not called — invalid number", 1) in summary


def test_csv_neutralizes_and_keeps_every_row(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    plan = plan_file(make_input(write_csv), make_campaign())
    path = write_plan(plan, tmp_path / "out", "csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["phone", "note", "zip", "outcome", "outcome_detail", *RESULT_COLUMNS]
    assert [r[1] for r in rows[1:-1]] == ["'" + v for v in DANGEROUS]
    assert [r[6] for r in rows[1:-1]] == [f"+12025550{100 + i}" for i in range(len(DANGEROUS))]
    assert rows[-1][:3] == ["bad", "ok", "NA"]


def test_input_columns_named_like_ours_are_kept(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    plan = plan_file(write_csv("phone,status\n2025550100,VIP\n"), make_campaign())
    path = write_plan(plan, tmp_path / "out", "csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, row = list(csv.reader(handle))
    assert header[:7] == ["phone", "status", "outcome", "outcome_detail", "row", "e164", "vapi_status"]
    assert row[1] == "VIP" and row[6] == "planned"


def test_requests_jsonl_matches_plan(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    import json

    plan = plan_file(write_csv("phone,slot\n2025550101,a\n2025550102,b\n"), make_campaign())
    write_plan(plan, tmp_path / "out")
    lines = [json.loads(line) for line in (tmp_path / "out" / "requests.jsonl").read_text().splitlines()]
    assert lines == [{"id": r.id, "rows": list(r.rows), "body": r.body} for r in plan.requests]


@given(st.lists(st.one_of(st.text("=+-@\t\r\n0123456789.a٣ ", max_size=8), st.text(max_size=8)), max_size=20))
def test_csv_column_neutralizing_equals_neutralize(values: list[str]) -> None:
    expected = [neutralize(value) for value in values]
    column = pa.chunked_array([pa.array(values[:3], pa.string()), pa.array(values[3:], pa.string())], pa.string())
    assert neutralize_column(column).to_pylist() == expected
    sliced = pa.array(["=x", *values, "@y"], pa.string()).slice(1, len(values))  # offsets not starting at 0
    assert neutralize_column(sliced).to_pylist() == expected


def test_the_summary_counts_the_rows_not_called_by_why(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """What a marketer asks first of a sheet with many rows not called: why."""
    source = write_csv(
        "phone,consent\n2025550100,yes\n2025550101,no\n2025550102,\n2025550103,yes\n"
        "555-01,yes\n,yes\n2.02555E+09,yes\n20255501,yes\n"
    )
    (tmp_path / "dnc.csv").write_text("number\n202-555-0103\n")
    plan = plan_file(source, make_campaign(compliance={"require_consent": True, "do_not_call": ["dnc.csv"]}))
    assert "suppressed: 3 (consent 2, do-not-call 1)" in plan.summary_lines()
    book = openpyxl.load_workbook(write_plan(plan, tmp_path / "xlsx"))
    summary = [row[:2] for row in book["Summary"].iter_rows(values_only=True)]
    start = summary.index(("suppressed, by rule", "rows"))
    assert summary[start + 1 : start + 4] == [("consent", 2), ("do-not-call", 1), (None, None)]
    start = summary.index(("invalid, by reason", "rows"))
    assert summary[start + 1 : start + 5] == [("too short", 2), ("empty", 1), ("lost digits", 1), (None, None)]
    write_plan(plan, tmp_path / "csv", "csv")
    counts = json.loads((tmp_path / "csv" / "summary.json").read_text())
    assert counts["suppressed_by_rule"] == {"consent": 2, "do-not-call": 1}
    assert counts["invalid_by_reason"] == {"too short": 2, "empty": 1, "lost digits": 1}
    assert counts["by_status"] == {"invalid": 4, "suppressed": 3, "planned": 1}


def test_repeated_and_blank_headers_stay_as_written_in_the_results(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Issue 44, case 10: a second `Phone` header came back as `Phone (2)`, a blank one as `Column C`."""
    source = tmp_path / "leads.csv"
    source.write_text("Phone,Name,,Phone\n+12025550100,Ann,x,+12025550199\n")
    plan = plan_file(source, make_campaign())
    write_plan(plan, tmp_path / "planned", "csv")
    server = sandbox()
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(source, make_campaign(), tmp_path / "run", "csv", server.url) as run,
    ):
        run.send(client)
    for folder in ("planned", "run"):
        with (tmp_path / folder / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle))
        assert header[:5] == ["Phone", "Name", "", "Phone", "outcome"], folder
