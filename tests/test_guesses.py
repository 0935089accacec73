"""No silent guesses (issue 15): where the tool decides a column or a sheet on its own, it says what
it chose; where a guess could call the wrong people, it refuses and names the fix."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pyarrow as pa
import pytest
from click.testing import CliRunner
from openpyxl.worksheet.worksheet import Worksheet

from runner.cli import main
from runner.errors import InputError
from runner.planning.plan import plan_file
from runner.results.summary import Summary
from runner.results.xlsx import write_workbook
from runner.sending.run import CampaignRun

from .rows import row_results

CONSENTING = {"compliance": {"require_consent": True}}


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def statuses(write_csv: Callable[..., Path], campaign: Path, text: str) -> list[tuple[str, str]]:
    return [(r.status, r.reason) for r in row_results(plan_file(write_csv(text), campaign))]


def test_a_withdrawn_consent_column_is_an_opt_out_never_consent(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    campaign = make_campaign(**CONSENTING)
    text = "phone,Consent withdrawn,Consent\n+12025550100,yes,yes\n+12025550101,,yes\n+12025550102,,\n"
    assert statuses(write_csv, campaign, text) == [
        ("suppressed", "opted out: column 'Consent withdrawn' is 'yes'"),
        ("planned", ""),
        ("suppressed", "no consent: column 'Consent' is empty"),
    ]


def test_an_opt_out_column_is_honoured_even_without_required_consent(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,Do Not Call\n+12025550100,Y\n+12025550101,\n"
    assert [s for s, _ in statuses(write_csv, make_campaign(), text)] == ["suppressed", "planned"]


def test_a_withdrawn_column_alone_leaves_no_consent_column(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,Consent withdrawn\n+12025550100,yes\n+12025550101,\n"
    assert statuses(write_csv, make_campaign(**CONSENTING), text) == [
        ("suppressed", "opted out: column 'Consent withdrawn' is 'yes'"),
        ("suppressed", "no consent: the file has no consent column (require_consent = true)"),
    ]


def test_email_consent_never_decides_a_phone_call(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,Email consent,Phone consent\n+12025550100,yes,\n+12025550101,,yes\n"
    plan = plan_file(write_csv(text), make_campaign(**CONSENTING))
    assert [r.status for r in row_results(plan)] == ["suppressed", "planned"]
    assert any("'Email consent' is consent for another channel" in w for w in plan.warnings)


def test_several_consent_columns_are_an_error_naming_them_and_the_fix(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,Consent,TCPA consent\n+12025550100,yes,\n"
    with pytest.raises(InputError, match=r"several columns could be the consent column: 'Consent', 'TCPA consent'"):
        plan_file(write_csv(text), make_campaign(**CONSENTING))
    configured = make_campaign(compliance={"require_consent": True}, columns={"consent": "TCPA consent"})
    assert statuses(write_csv, configured, text) == [("suppressed", "no consent: column 'TCPA consent' is empty")]


def test_the_consent_column_suggested_is_the_one_that_says_consent_not_a_date(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """Issue 43: the suggestion was the first candidate, "Opt-in Date"; pasted as the fix, its
    dates suppressed every row."""
    text = "phone,Opt-in Date,Consent to Call\n+12025550100,2026-01-25,yes\n"
    with pytest.raises(InputError, match=r'\[columns\] consent = "Consent to Call" \(the column of yes/no answers'):
        plan_file(write_csv(text), make_campaign(**CONSENTING))


def test_the_summary_names_every_column_chosen_for_a_role(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_csv("Mobile,Full Name,Opt-In,TZ\n+12025550100,Ann,yes,America/New_York\n")
    result = cli("plan", source, "-c", make_campaign(), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "columns: number = 'Mobile', name = 'Full Name', timezone = 'TZ', consent = 'Opt-In'" in result.output


@pytest.mark.parametrize(
    "header",
    ["Do not contact", "No contact", "STOP", "Unsub", "Remove", "Suppress", "Blocked", "Exclude", "Blacklist"],
)
def test_a_header_that_negates_contact_is_the_opt_out_column(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], header: str
) -> None:
    """Issue 38, case 6: these headers silently became template variables, and their yes was called."""
    text = f"phone,{header}\n+12025550100,yes\n+12025550101,no\n"
    assert statuses(write_csv, make_campaign(), text) == [
        ("suppressed", f"opted out: column {header!r} is 'yes'"),
        ("planned", ""),
    ]


def test_a_second_yes_no_opt_out_column_refuses_the_plan_naming_the_fix(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_csv("phone,DNC,Remove,Stop reason\n+12025550100,,yes,asked\n+12025550101,yes,no,\n")
    campaign = make_campaign(columns={"opt_out": "DNC"})
    result = cli("plan", source, "-c", campaign, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert (
        f"{source}: column 'Remove' reads as an opt-out (its header says not to contact, its cells are yes/no) "
        "but the opt-out column is 'DNC': its yes rows would be called. Say which column holds the opt-outs: "
        '[columns] opt_out = "Remove"'
    ) in result.output
    assert not (tmp_path / "out").exists()


def test_several_consent_columns_exit_2_on_the_command_line(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_csv("phone,Consent,Opted in\n+12025550100,yes,yes\n")
    result = cli("plan", source, "-c", make_campaign(**CONSENTING), "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert '[columns] consent = "Consent"' in result.output
    assert not (tmp_path / "out").exists()


def book(path: Path, sheets: list[tuple[str, list[list[str]], str]], active: int = 0) -> Path:
    """A workbook of (title, rows, state) sheets; state is "visible" or "hidden"."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert isinstance(first, Worksheet)
    workbook.remove(first)
    for title, rows, state in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        sheet.sheet_state = state
    workbook.active = active
    workbook.save(path)
    return path


LEADS = [["phone", "name"], ["+12025550100", "Ann"], ["+12025550101", "Bob"]]
OLD = [["phone", "name"], ["+12025550199", "Old"]]


def test_a_hidden_sheet_is_never_read_unless_named(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    path = book(tmp_path / "leads.xlsx", [("Old (do not call)", OLD, "hidden"), ("Leads", LEADS, "visible")], 1)
    plan = plan_file(path, make_campaign())
    assert [r.e164 for r in row_results(plan)] == ["+12025550100", "+12025550101"]
    assert any("sheet 'Leads'" in w for w in plan.warnings)
    named = plan_file(path, make_campaign(sheet="Old (do not call)"))
    assert [r.e164 for r in row_results(named)] == ["+12025550199"]


def test_an_instructions_sheet_first_is_passed_over_for_the_sheet_with_numbers(
    tmp_path: Path, make_campaign: Callable[..., Path]
) -> None:
    path = book(
        tmp_path / "leads.xlsx", [("Read me", [["Fill the Leads sheet"]], "visible"), ("Leads", LEADS, "visible")]
    )
    plan = plan_file(path, make_campaign())
    assert len(row_results(plan)) == 2
    assert any("read sheet 'Leads'" in w and "'Read me'" in w for w in plan.warnings)


def test_data_on_another_sheet_is_warned_about(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    path = book(tmp_path / "leads.xlsx", [("Leads", LEADS, "visible"), ("More leads", OLD, "visible")])
    plan = plan_file(path, make_campaign())
    assert len(row_results(plan)) == 2
    assert any("'More leads' also holds data" in w and 'sheet = "More leads"' in w for w in plan.warnings)


def test_no_sheet_with_numbers_names_the_sheets_and_the_fix(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    path = book(
        tmp_path / "leads.xlsx", [("Read me", [["Fill the Leads sheet"]], "visible"), ("Notes", [["x"]], "visible")]
    )
    with pytest.raises(InputError, match=r"no sheet has a phone number column; its sheets are: 'Read me', 'Notes'"):
        plan_file(path, make_campaign())


@pytest.mark.parametrize(
    ("schedule", "why"),
    [
        ({"earliest_at": "2020-01-01T09:00:00Z", "latest_at": "2020-01-02T09:00:00Z"}, "is already past"),
        ({"calling_hours": "08:00-08:10"}, "no longer than the closing margin of 15 minutes"),
    ],
)
def test_a_campaign_that_can_never_call_anyone_says_why_and_exits_1(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path, schedule: dict[str, str],
    why: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    campaign = make_campaign(schedule=schedule)
    source = write_csv("phone\n+12025550100\n+12025550101\n")
    planned = cli("plan", source, "-c", campaign, "-o", tmp_path / "out")
    assert planned.exit_code == 1
    assert "warning: nobody can be called: " in planned.output and why in planned.output
    server = sandbox()
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    ran = cli("run", source, "-c", campaign, "-o", tmp_path / "run", "--base-url", server.url, "--yes", "-q")
    assert ran.exit_code == 1 and why in ran.output


def test_result_headers_never_repeat_an_input_header(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_csv("phone,status,vapi_status\n+12025550100,lead,old\n")
    assert cli("plan", source, "-c", make_campaign(), "-o", tmp_path / "out", "--format", "csv").exit_code == 0
    text = (tmp_path / "out" / "results.csv").read_text(encoding="utf-8-sig")
    header = next(csv.reader(text.splitlines()))
    assert len(header) == len(set(header))
    assert header[:3] == ["phone", "status", "vapi_status"] and "vapi_status_2" in header


@pytest.mark.parametrize("option", ["--error-rate=2", "--drop-rate=-1", "--partial-rate=1.5"])
def test_the_sandbox_refuses_rates_outside_0_to_1(option: str) -> None:
    result = cli("sandbox", "--port", "0", option)
    assert result.exit_code == 2 and "is not in the range" in result.output


def test_one_skipped_row_above_the_header_is_said_plainly(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    plan = plan_file(write_csv("Leads for December\nphone\n+12025550100\n"), make_campaign())
    assert any("row 1 above the header was skipped" in w for w in plan.warnings)


def test_ctrl_c_while_planning_exits_130_without_a_traceback(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("runner.cli.commands.plan_for", interrupted)
    result = cli("plan", write_csv("phone\n+12025550100\n"), "-c", make_campaign(), "-o", tmp_path / "out")
    assert result.exit_code == 130
    assert "interrupted" in result.output and "Aborted!" not in result.output


def test_an_empty_do_not_call_list_is_warned_about(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    (tmp_path / "dnc.csv").write_text("number\n\n")
    campaign = make_campaign(compliance={"require_consent": False, "do_not_call": ["dnc.csv"]})
    plan = plan_file(write_csv("phone\n+12025550100\n"), campaign)
    assert any("dnc.csv: the do-not-call list holds no phone number" in w for w in plan.warnings)


def test_many_variables_are_warned_about_and_summarized_short(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    header = ["phone", *(f"v{n}" for n in range(150))]
    plan = plan_file(write_csv(",".join(header) + "\n+12025550100" + ",x" * 150 + "\n"), make_campaign())
    assert any("150 template variables go with every call" in w for w in plan.warnings)
    [line] = [line for line in plan.summary_lines() if line.startswith("variables:")]
    assert line.endswith("v19 and 130 more")


@pytest.mark.slow
def test_a_sheet_wider_than_excel_gets_csv_results(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    width = 16_380
    header = ["phone", *(f"c{n}" for n in range(width - 1))]
    source = write_csv(",".join(header) + "\n+12025550100" + ",x" * (width - 1) + "\n")
    campaign = make_campaign(variables={"first": "c0"})
    result = cli("plan", source, "-c", campaign, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "results.csv").exists() and not (tmp_path / "out" / "results.xlsx").exists()


def test_a_header_repeated_mid_file_is_invalid_and_says_why(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "Phone,Name\n+12025550100,Ann\nPhone,Name\n+12025550101,Bob\n"
    results = row_results(plan_file(write_csv(text), make_campaign()))
    assert [(r.row, r.status) for r in results] == [(2, "planned"), (3, "invalid"), (4, "planned")]
    assert "the header row again" in results[1].reason


@pytest.mark.slow  # 300 rows on 10 lines until Vapi says the account has more
def test_control_characters_are_never_sent_and_the_results_keep_them(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox()
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    padding = "".join(f"+1202555{1000 + n:04d},Person {n},x\n" for n in range(300))  # past the first 4 KB
    text = "phone,name,note\n+12025550100,Bad\x00Name,a\x01b\n" + padding + "+12025550101,Esc\x1bName,_x0041_\n"
    source = tmp_path / "controls.csv"
    source.write_bytes(text.encode())
    out = tmp_path / "out"
    result = cli("run", source, "-c", make_campaign(batch_size=1000), "-o", out, "--format", "csv",
                 "--base-url", server.url, "--yes")  # fmt: skip
    assert result.exit_code == 0, result.output
    calls = httpx.get(f"{server.url}/call", params={"limit": 1000},
                      headers={"Authorization": f"Bearer {server.config.api_key}"}).json()  # fmt: skip
    sent = json.dumps(calls)
    assert not any(code in sent for code in ("\\u0000", "\\u0001", "\\u001b"))
    names = {call["customer"]["number"]: call["customer"].get("name") for call in calls}
    assert names["+12025550100"] == "BadName" and names["+12025550101"] == "EscName"
    with (out / "results.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert (rows[0]["name"], rows[0]["note"], rows[-1]["name"]) == ("Bad\x00Name", "a\x01b", "Esc\x1bName")
    assert rows[0]["reason"] == "control characters left out of 'name', 'note'"
    assert rows[-1]["reason"] == "control characters left out of 'name'"


def test_a_workbook_keeps_control_characters_as_ooxml_escapes(tmp_path: Path) -> None:
    summary = Summary(by_status={"planned": 1}, by_ended_reason={}, by_assistant={}, ended=0, reached=0)
    path = tmp_path / "results.xlsx"
    write_workbook(pa.table({"name": ["Bad\x00Name\x1b"], "note": ["_x0041_"]}), path, summary)
    with zipfile.ZipFile(path) as book:
        xml = book.read("xl/worksheets/sheet1.xml").decode()
    assert "Bad_x0000_Name_x001B_" in xml and "_x005F_x0041_" in xml


def test_hidden_rows_are_suppressed_with_a_reason_and_said(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    for row in [*LEADS, ["+12025550102", "Cy"], ["+12025550103", "Di"]]:
        sheet.append(row)
    sheet.row_dimensions[3].hidden = True  # Bob, hidden by hand
    sheet.auto_filter.ref = "A1:B5"
    sheet.row_dimensions[5].hidden = True  # Di, filtered out
    workbook.save(path := tmp_path / "leads.xlsx")
    plan = plan_file(path, make_campaign())
    results = [(r.row, r.status, r.reason) for r in row_results(plan)]
    hidden = "row hidden in the workbook: unhide it to call it"
    assert results == [(2, "planned", ""), (3, "suppressed", hidden), (4, "planned", ""), (5, "suppressed", hidden)]
    assert any("2 row(s) hidden in the workbook (rows 3, 5)" in w for w in plan.warnings)
    assert "suppressed: 2 (hidden row 2)" in plan.summary_lines()  # counted like the screen's rules


def test_status_reads_a_folder_read_only_while_a_run_holds_it(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox()
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    source = tmp_path / "leads.csv"
    source.write_text("phone\n+12025550100\n+12025550101\n+12025550102\n")
    campaign, out = make_campaign(batch_size=2), tmp_path / "out"
    assert cli("run", source, "-c", campaign, "-o", out, "--base-url", server.url, "--yes").exit_code == 0
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    with CampaignRun.open(source, campaign, out):  # a long run holds the folder
        before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
        result = cli("status", out, "--base-url", server.url)
        assert result.exit_code == 0, result.output
        assert "a run is using this folder; its progress so far (read-only" in result.output
        assert "requests: sent 2" in result.output and "rows: sent 3" in result.output
        assert "calls: queued 3" in result.output
        assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before
        watching = cli("status", out, "--base-url", server.url, "--watch")
        assert watching.exit_code == 2 and "without --watch/--retry" in watching.output


def test_ctrl_c_while_the_libraries_load_exits_130_without_a_traceback() -> None:
    stop_at_pyarrow = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pyarrow':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "sys.argv = ['vapi-campaign', '--help']\n"
        "import runner\n"
        "assert 'pyarrow' not in sys.modules\n"
        "from runner.entry import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", stop_at_pyarrow], capture_output=True, text=True, timeout=60)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "interrupted" in result.stderr


def test_one_column_for_two_roles_is_refused(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """Issue 44, case 10: `[columns] consent = "Phone"` made the number column the consent column."""
    source = write_csv("Phone,Consent\n+12025550100,yes\n")
    with pytest.raises(InputError, match="column 'Phone' cannot be both the number and the consent column"):
        plan_file(source, make_campaign(columns={"consent": "Phone"}))


def test_status_of_a_folder_whose_run_is_still_planning_says_so(tmp_path: Path) -> None:
    """Issue 44, case 10: it said "not a run folder" while a run was planning a large sheet there."""
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with (out / ".lock").open("a") as held:  # what `run` holds from before it plans
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = cli("status", out, "--sandbox")
        assert result.exit_code == 0, result.output
        assert "a run is starting in this folder: it is still planning, nothing has been sent yet" in result.output
    after = cli("status", out, "--sandbox")  # nobody holds it, and no run was ever made there
    assert after.exit_code == 2 and "not a run folder" in after.output


# --- hints where a first campaign goes wrong (issue 43) -------------------------------------------


def test_a_request_per_row_from_personal_variables_says_what_per_customer_would_need(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    rows = "".join(f"+1202555{1400 + n:04d},{n}:00\n" for n in range(30))
    plan = plan_file(write_csv("phone,slot\n" + rows), make_campaign(batch_size=50))
    assert (
        'requests: 30 (about one per row: each row\'s variables differ; overrides = "per-customer" would need 1)'
        in plan.summary_lines()
    )
    shared = "".join(f"+1202555{1400 + n:04d},9:00\n" for n in range(30))
    same = plan_file(write_csv("phone,slot\n" + shared), make_campaign(batch_size=50))
    assert "requests: 1" in same.summary_lines()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('name = "x"\nphone_number = "p"\n', "unknown key `phone_number`; did you mean `phone_number_id`?"),
        ('name = "x"\n[schedule]\ncalling_hour = "any"\n', "`schedule.calling_hour`; did you mean `calling_hours`?"),
        ("name = Webinar leads\n", 'text needs straight double quotes around it: name = "Webinar leads"'),
        ("name = “Webinar”\n", "it has curly quotes"),
        ('name = "Webinar\n', "a quote is opened but not closed"),
    ],
)  # fmt: skip
def test_campaign_file_mistakes_get_plain_advice(tmp_path: Path, text: str, said: str) -> None:
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(text, encoding="utf-8")
    source = tmp_path / "leads.csv"
    source.write_text("phone\n+12025550100\n")
    result = cli("plan", source, "-c", campaign, "-o", tmp_path / "out")
    assert result.exit_code == 2 and said in result.output, result.output


def test_a_column_the_file_lacks_gets_a_did_you_mean(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    source = write_csv("Phone Number,First Name\n+12025550100,Ann\n")
    with pytest.raises(InputError, match=r"\(did you mean 'Phone Number'\?\)"):
        plan_file(source, make_campaign(columns={"number": "Phone Nmber"}))
    with pytest.raises(InputError, match=r"\(did you mean 'First Name'\?\)"):
        plan_file(source, make_campaign(variables={"first_name": "Frist Name"}))


def test_the_confirmation_says_when_the_first_call_rings_when_nothing_rings_now(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    from runner.cli.commands import _question

    source = write_csv("phone\n+12025550100\n+12125550101\n")
    later = make_campaign(schedule={"calling_hours": "any", "earliest_at": "2030-01-02T09:00:00-05:00"})
    with CampaignRun.open(source, later, tmp_path / "later", api="http://127.0.0.1:9") as run:
        assert _question(run, 1) == "Schedule 2 calls, the first at 09:00 local on Wed 2 Jan (1 request(s) to Vapi)?"
    now = make_campaign(schedule={"calling_hours": "any"})
    with CampaignRun.open(source, now, tmp_path / "now", api="http://127.0.0.1:9") as run:
        assert _question(run, 1) == "Call 2 people now (1 request(s) to Vapi)?"


def test_a_sandbox_rehearsal_with_resources_runs_the_variable_check(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 43: --sandbox knew every assistant as having no variables, so a rehearsal never met
    preflight's variable check; --resources gives it the assistants as Vapi would."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    resources = json.loads(Path("campaigns/example/sandbox-resources.json").read_text())
    resources["assistants"][0]["firstMessage"] = "Hi {{pet_name}}!"
    known = tmp_path / "resources.json"
    known.write_text(json.dumps(resources))
    source = write_csv("phone,first name\n+12025550100,Ann\n")
    campaign = make_campaign(assistant_id="asst_reminders", phone_number_id="pn_main_line")
    result = cli("run", source, "-c", campaign, "-o", tmp_path / "run", "--sandbox", "--resources", known, "--yes")
    assert result.exit_code == 2 and "template variables empty" in result.output and "pet_name" in result.output
    assert "--resources is for --sandbox" in cli("status", tmp_path / "run", "--resources", known).output
