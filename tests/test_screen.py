"""Compliance gates: consent, do-not-call lists, free numbers, cross-run memory, and calling windows
in each recipient's local time (state rules, several zones, DST), each with its exact schedulePlan
or reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from runner.errors import InputError
from runner.planning.plan import Plan, plan_file

from .rows import RowResult, row_results

ET = ZoneInfo("America/New_York")
MONDAY_10_ET = datetime(2030, 12, 2, 10, 0, tzinfo=ET)  # 15:00 UTC


def strict(**changes: Any) -> dict[str, Any]:
    """A campaign with every gate on (the defaults), whatever the shared test base turns off."""
    return {"compliance": {}, "schedule": {}, **changes}


def plan_rows(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], text: str, now: datetime, **campaign: Any
) -> list[RowResult]:
    return row_results(plan_at(write_csv, make_campaign, text, now, **campaign))


def plan_at(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], text: str, now: datetime, **campaign: Any
) -> Plan:
    return plan_file(write_csv(text), make_campaign(**strict(**campaign)), now=now)


def window(result: RowResult) -> tuple[str, str]:
    return result.earliest_at, result.latest_at


@pytest.mark.parametrize(
    ("number", "now", "expected"),
    [
        # Washington D.C.: federal 08-21, less the 15-minute closing margin; open now.
        ("+12025550100", MONDAY_10_ET, ("2030-12-02T15:00:00Z", "2030-12-03T01:45:00Z")),
        # Florida: 08-20.
        ("+13055550100", MONDAY_10_ET, ("2030-12-02T15:00:00Z", "2030-12-03T00:45:00Z")),
        # Texas on a weekday: 09-21 Central.
        ("+15125550100", MONDAY_10_ET, ("2030-12-02T15:00:00Z", "2030-12-03T02:45:00Z")),
        # Washington State: 08-20 Pacific, not open yet at 07:00 PT.
        ("+12065550100", MONDAY_10_ET, ("2030-12-02T16:00:00Z", "2030-12-03T03:45:00Z")),
        # Rhode Island on a weekday: 09-18.
        ("+14015550100", MONDAY_10_ET, ("2030-12-02T15:00:00Z", "2030-12-02T22:45:00Z")),
        # Area code 208 spans Mountain (Boise) and Pacific time: both must be open.
        ("+12085550100", MONDAY_10_ET, ("2030-12-02T16:00:00Z", "2030-12-03T03:45:00Z")),
        # Rhode Island on a Sunday: no calls; Monday 09:00.
        ("+14015550100", datetime(2030, 12, 1, 10, tzinfo=ET), ("2030-12-02T14:00:00Z", "2030-12-02T22:45:00Z")),
        # Texas on a Sunday: from noon.
        ("+15125550100", datetime(2030, 12, 1, 10, tzinfo=ET), ("2030-12-01T18:00:00Z", "2030-12-02T02:45:00Z")),
        # Rhode Island on Christmas Day: no calls on holidays.
        ("+14015550100", datetime(2030, 12, 25, 10, tzinfo=ET), ("2030-12-26T14:00:00Z", "2030-12-26T22:45:00Z")),
        # Today's window closed at 20:45: tomorrow's.
        ("+12025550100", datetime(2030, 12, 2, 20, 50, tzinfo=ET), ("2030-12-03T13:00:00Z", "2030-12-04T01:45:00Z")),
        # DST starts on Sunday 2030-03-10: Saturday night EST, Sunday's window in EDT.
        ("+12025550100", datetime(2030, 3, 9, 22, tzinfo=ET), ("2030-03-10T12:00:00Z", "2030-03-11T00:45:00Z")),
        # DST ends on Sunday 2030-11-03: Saturday night EDT, Sunday's window in EST.
        ("+12025550100", datetime(2030, 11, 2, 22, tzinfo=ET), ("2030-11-03T13:00:00Z", "2030-11-04T01:45:00Z")),
    ],
)
def test_calling_windows(
    write_csv: Callable[..., Path],
    make_campaign: Callable[..., Path],
    number: str,
    now: datetime,
    expected: tuple[str, str],
) -> None:
    [result] = plan_rows(write_csv, make_campaign, f"phone,consent\n{number},yes\n", now)
    assert (result.status, result.reason) == ("planned", "")
    assert window(result) == expected


def test_toll_free_and_sip_need_a_timezone_column(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,consent,tz\n+18005550100,yes,\nsip:desk@pbx.example.com,yes,\n+18005550101,yes,America/Chicago\n"
    results = plan_rows(write_csv, make_campaign, text, MONDAY_10_ET, columns={"timezone": "tz"})
    assert [(r.status, r.reason) for r in results[:2]] == [
        ("suppressed", "calling hours: a toll-free or non-geographic number has no time zone; add a timezone column"),
        ("suppressed", "calling hours: a SIP address has no time zone; add a timezone column"),
    ]
    assert window(results[2]) == ("2030-12-02T15:00:00Z", "2030-12-03T02:45:00Z")


def test_a_timezone_cell_adds_to_the_numbers_zones(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """Issue 38, case 1: the cell used to replace the number's zone, so a 212 number marked UTC (a
    CRM's default) was called 03:00-15:45 New York time, a 415 number marked Eastern from 05:00
    Pacific, a 305 number marked Pacific until 22:45 in Miami. Now every zone must be open."""
    text = (
        "Phone,Consent,Time Zone\n(212) 555-0100,yes,UTC\n(212) 555-0101,yes,Europe/Berlin\n"
        "(415) 555-0102,yes,Eastern\n(305) 555-0103,yes,Pacific\n(202) 555-0104,yes,Mars/Base\n"
        "(202) 555-0105,yes,America/Los_Angeles\n"
    )
    utc, berlin, eastern, pacific, mars, los_angeles = plan_rows(write_csv, make_campaign, text, MONDAY_10_ET)
    for row, zone in ((utc, "UTC"), (berlin, "Europe/Berlin")):
        assert (row.status, row.reason) == (
            "suppressed",
            f"calling hours: column 'Time Zone' says {zone!r}, a time zone outside North America, for a US number; "
            "correct the cell, or clear it to use the number's own zone",
        )
    # 08:00 Pacific (16:00Z) to 20:45 Eastern (01:45Z): open in both.
    assert window(eastern) == window(los_angeles) == ("2030-12-02T16:00:00Z", "2030-12-03T01:45:00Z")
    # Florida's 20:00 in Miami, less the margin: 00:45Z, not Pacific's 22:45 Eastern.
    assert window(pacific) == ("2030-12-02T16:00:00Z", "2030-12-03T00:45:00Z")
    assert (mars.status, mars.reason) == (
        "suppressed",
        "calling hours: unknown time zone 'Mars/Base' in column 'Time Zone' "
        "(write an IANA name such as America/New_York, or Eastern, Central, Mountain, Pacific)",
    )


def test_us_time_zone_names_keep_daylight_saving_time(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """The tz database's "EST" is a fixed UTC-5: in July it would close the window at 9:45 pm
    Eastern. A sheet's EST means New York's time; MST may be Arizona's too, so both must be open."""
    text = "phone,consent,Time Zone\n" + "".join(
        f"+1212555010{i},yes,{zone}\n" for i, zone in enumerate(["EST", "Eastern", "America/New_York"])
    )
    text += "+13035550103,yes,mst\n"  # Denver
    evening = datetime(2030, 7, 1, 20, 0, tzinfo=ET)  # 00:00 UTC; the window closes 20:45 local (a 15-minute margin)
    results = plan_rows(write_csv, make_campaign, text, evening)
    assert [window(r) for r in results[:3]] == [("2030-07-02T00:00:00Z", "2030-07-02T00:45:00Z")] * 3
    # Mountain: 18:00 in Denver (MDT) and 17:00 in Phoenix (MST, no DST) are both open until 20:45 in Denver.
    assert window(results[3]) == ("2030-07-02T00:00:00Z", "2030-07-02T02:45:00Z")


def test_no_window_before_latest_at(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    schedule = {"earliest_at": "2030-12-01T09:00:00-05:00", "latest_at": "2030-12-01T20:00:00-05:00"}
    plan = plan_at(write_csv, make_campaign, "phone,consent\n+14015550100,yes\n", MONDAY_10_ET, schedule=schedule)
    [result] = row_results(plan)
    assert result.status == "suppressed"
    assert result.reason == ("calling hours: no window open in RI (America/New_York) before 2030-12-01T20:00:00-05:00")
    assert plan.suppressed == {"calling hours": 1}


def test_schedule_earliest_at_starts_the_search(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    schedule = {"earliest_at": "2030-12-05T19:00:00-05:00"}
    [result] = plan_rows(write_csv, make_campaign, "phone,consent\n+13055550100,yes\n", MONDAY_10_ET, schedule=schedule)
    assert window(result) == ("2030-12-06T00:00:00Z", "2030-12-06T00:45:00Z")


def test_hours_margin_and_state_rules_are_configurable(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,consent\n+13055550100,yes\n"
    relaxed = plan_at(write_csv, make_campaign, text, MONDAY_10_ET,
                      compliance={"state_rules": False, "closing_margin_minutes": 0})  # fmt: skip
    assert window(row_results(relaxed)[0]) == ("2030-12-02T15:00:00Z", "2030-12-03T02:00:00Z")
    assert "state_rules = false: state calling-hour rules are not applied" in relaxed.warnings
    narrow = plan_rows(write_csv, make_campaign, text, MONDAY_10_ET, schedule={"calling_hours": "11:00-13:00"})
    assert window(narrow[0]) == ("2030-12-02T16:00:00Z", "2030-12-02T17:45:00Z")


def test_rows_in_different_windows_go_in_different_requests(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,consent\n+12025550100,yes\n+12065550100,yes\n+12025550101,yes\n"
    plan = plan_at(write_csv, make_campaign, text, MONDAY_10_ET)
    assert [(r.rows, r.body["schedulePlan"]) for r in plan.requests] == [
        ((2, 4), {"earliestAt": "2030-12-02T15:00:00Z", "latestAt": "2030-12-03T01:45:00Z"}),
        ((3,), {"earliestAt": "2030-12-02T16:00:00Z", "latestAt": "2030-12-03T03:45:00Z"}),
    ]


@pytest.mark.parametrize("value", ["yes", "YES", "y", "True", "1", "x", "X", " yes "])
def test_consent_spellings_that_mean_yes(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], value: str
) -> None:
    [result] = plan_rows(write_csv, make_campaign, f"phone,Consent Given\n+12025550100,{value}\n", MONDAY_10_ET)
    assert result.status == "planned"


@pytest.mark.parametrize("value", ["no", "0", "false", "n", "maybe", "", "2026-11-02", "opted in"])
def test_consent_spellings_that_do_not(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], value: str
) -> None:
    [result] = plan_rows(write_csv, make_campaign, f"phone,Consent Given\n+12025550100,{value}\n", MONDAY_10_ET)
    assert result.status == "suppressed"
    if not value:
        assert result.reason == "no consent: column 'Consent Given' is empty"
    elif value in ("no", "0", "false", "n"):
        assert result.reason == f"no consent: column 'Consent Given' is {value!r}"
    else:  # neither yes nor no: what would count is said
        assert result.reason == f"no consent: column 'Consent Given' is {value!r}, not one of yes, y, true, 1, x"


def test_no_consent_column_suppresses_every_row_unless_turned_off(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone\n+12025550100\n"
    [result] = plan_rows(write_csv, make_campaign, text, MONDAY_10_ET)
    assert result.reason == "no consent: the file has no consent column (require_consent = true)"
    relaxed = plan_at(write_csv, make_campaign, text, MONDAY_10_ET, compliance={"require_consent": False})
    assert row_results(relaxed)[0].status == "planned"
    assert "require_consent = false: rows are called without checking consent" in relaxed.warnings


def test_do_not_call_lists_in_three_formats(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    (tmp_path / "internal.csv").write_text("Name,Phone\nAnn,(202) 555-0101\n")
    (tmp_path / "registry.txt").write_text("+12025550102\n12025550103.0\n")
    book = openpyxl.Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.append([12025550104])
    book.save(tmp_path / "state.xlsx")
    text = "phone,consent\n" + "".join(f"+1202555010{n},yes\n" for n in range(6))
    results = plan_rows(write_csv, make_campaign, text, MONDAY_10_ET,
                        compliance={"do_not_call": ["internal.csv", "registry.txt", "state.xlsx"]})  # fmt: skip
    assert [(r.status, r.reason) for r in results] == [
        ("planned", ""),
        ("suppressed", "on the do-not-call list internal.csv"),
        ("suppressed", "on the do-not-call list registry.txt"),
        ("suppressed", "on the do-not-call list registry.txt"),
        ("suppressed", "on the do-not-call list state.xlsx"),
        ("planned", ""),
    ]


def test_missing_do_not_call_list_is_an_error(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: do-not-call list not found"):
        plan_rows(write_csv, make_campaign, "phone\n+12025550100\n", MONDAY_10_ET,
                  compliance={"do_not_call": ["nope.csv"]})  # fmt: skip


def test_free_numbers_cannot_call_abroad(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone,consent\n+447400123456,yes\n+12025550100,yes\n"
    results = plan_rows(write_csv, make_campaign, text, MONDAY_10_ET, compliance={"from_free_number": True})
    assert (results[0].status, results[1].status) == ("suppressed", "planned")
    assert results[0].reason.startswith("international number: a free Vapi number cannot call abroad")


def test_summary_counts_each_rule(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone,consent\n+12025550100,no\n+12025550101,\n+18005550100,yes\n+12025550102,yes\n"
    plan = plan_at(write_csv, make_campaign, text, MONDAY_10_ET)
    assert "suppressed: 3 (consent 2, calling hours 1)" in plan.summary_lines()


def test_history_blocks_a_second_call_too_soon_through_the_same_api(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    from runner.sending.run import CampaignRun
    from runner.vapi.client import VapiClient

    campaign = make_campaign(compliance={"require_consent": False, "max_calls_per_day": 2, "min_days_between_calls": 0})
    server = sandbox()

    def run(text: str, name: str, url: str) -> list[RowResult]:
        source = tmp_path / name
        source.write_text(text)
        outdir = tmp_path / source.stem
        with VapiClient("sandbox-key", url) as client, CampaignRun.open(source, campaign, outdir, api=url) as run:
            run.send(client)
            return row_results(run)

    first = run("phone\n+12025550100\n+12025550101\n", "monday.csv", server.url)
    assert [r.status for r in first] == ["queued", "queued"]
    second = run("phone\n+12025550100\n", "tuesday.csv", server.url)
    assert second[0].status == "queued"
    third = run("phone\n+12025550100\n+12025550102\n", "wednesday.csv", server.url)
    assert [(r.status, r.reason) for r in third] == [
        ("suppressed", "already called 2 times in 24 hours (max_calls_per_day)"),
        ("queued", ""),
    ]
    other_api = sandbox()
    elsewhere = run("phone\n+12025550100\n", "thursday.csv", other_api.url)
    assert elsewhere[0].status == "queued"


def test_min_days_between_calls(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    from runner.campaign import load_campaign
    from runner.store.history import Caps, open_history
    from runner.store.run_folder import plan_for

    campaign = make_campaign(compliance={"require_consent": False, "min_days_between_calls": 2})
    open_history(load_campaign(campaign)).claim(
        "https://api.vapi.ai", str(tmp_path / "earlier-run"), "req-1", datetime(2030, 12, 1, 15, tzinfo=UTC),
        {2: "+12025550100"}, Caps(0, 1000),
    )  # fmt: skip
    source = tmp_path / "in.csv"
    source.write_text("phone\n+12025550100\n")
    [result] = row_results(plan_for(source, campaign, api="https://api.vapi.ai", now=MONDAY_10_ET))
    assert (result.status, result.reason) == (
        "suppressed",
        "called 2030-12-01 15:00 UTC, less than min_days_between_calls = 2 day(s) ago",
    )
    [later] = row_results(
        plan_for(source, campaign, api="https://api.vapi.ai", now=datetime(2030, 12, 4, 10, tzinfo=ET))
    )
    assert later.status == "planned"
    [pure] = row_results(plan_file(source, campaign, now=MONDAY_10_ET))  # reads no history of its own
    assert pure.status == "planned"
    # An earlier run's call scheduled for later than this plan could start is not "ago".
    [before] = row_results(
        plan_for(source, campaign, api="https://api.vapi.ai", now=datetime(2030, 12, 1, 8, tzinfo=ET))
    )
    assert (before.status, before.reason) == (
        "suppressed",
        "a call is scheduled for 2030-12-01 15:00 UTC, within min_days_between_calls = 2 day(s)",
    )


def test_a_state_column_adds_its_rules_and_time_zones(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """calling-rules.md: check the area code's state as well as any address state. A New York
    number of someone living in California is called from 8 am Pacific; one living in Florida
    under Florida's 8 am-8 pm, in both of Florida's zones; a cell naming no state changes nothing."""
    rows = [("CA", "yes"), ("Florida", "yes"), ("Open", "yes"), ("", "yes")]
    text = "phone,State,consent\n" + "".join(f"+1212555010{i},{state},{c}\n" for i, (state, c) in enumerate(rows))
    plan = plan_at(write_csv, make_campaign, text, MONDAY_10_ET)  # 15:00 UTC
    assert plan.sheet.roles["state"] == "State"
    assert [window(r) for r in row_results(plan)] == [
        ("2030-12-02T16:00:00Z", "2030-12-03T01:45:00Z"),  # 08:00 Pacific to 20:45 Eastern
        ("2030-12-02T15:00:00Z", "2030-12-03T00:45:00Z"),  # now (09:00 Central) to 19:45 Eastern
        ("2030-12-02T15:00:00Z", "2030-12-03T01:45:00Z"),
        ("2030-12-02T15:00:00Z", "2030-12-03T01:45:00Z"),
    ]
    [said] = [w for w in plan.warnings if "name no US state" in w]
    assert "column 'State': 1 row(s) name no US state ('Open')" in said


def test_a_state_column_can_leave_no_window(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    """Rhode Island allows no calls on Sundays: a Rhode Island resident with a Texas number neither."""
    sunday = datetime(2030, 12, 1, 10, 0, tzinfo=ET)
    schedule = {"earliest_at": "2030-12-01T08:00:00-05:00", "latest_at": "2030-12-01T23:00:00-05:00"}
    [result] = plan_rows(
        write_csv, make_campaign, "phone,state,consent\n+12145550100,RI,yes\n", sunday, schedule=schedule
    )
    assert result.status == "suppressed"
    assert result.reason.startswith("calling hours: no window open in TX and RI (")


@pytest.mark.parametrize("hours", ["07:00-22:00", "00:00-24:00"])
def test_calling_hours_wider_than_the_federal_window_are_clamped_unless_not_telemarketing(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], hours: str
) -> None:
    """Issue 38, case 2: "07:00-22:00" called a New York number 07:00-21:45, silently."""
    early = datetime(2030, 12, 2, 6, 0, tzinfo=ET)
    text = "phone,consent\n+12125550100,yes\n"
    plan = plan_at(write_csv, make_campaign, text, early, schedule={"calling_hours": hours})
    assert window(row_results(plan)[0]) == ("2030-12-02T13:00:00Z", "2030-12-03T01:45:00Z")  # 08:00-20:45 ET
    assert any(f"calling_hours {hours} is wider than the federal 08:00-21:00 (TCPA)" in w for w in plan.warnings)

    informational = plan_at(
        write_csv, make_campaign, text, early, schedule={"calling_hours": "07:00-22:00"},
        compliance={"telemarketing": False},
    )  # fmt: skip
    assert window(row_results(informational)[0]) == ("2030-12-02T12:00:00Z", "2030-12-03T02:45:00Z")
    assert any(w.startswith("telemarketing = false: the federal 08:00-21:00") for w in informational.warnings)


def test_texas_hours_hold_in_the_persons_zone_and_in_central_time(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """Issue 38, case 3: an El Paso number (915, Mountain) was called until 21:45 Central."""
    [el_paso] = plan_rows(write_csv, make_campaign, "phone,consent\n+19155550100,yes\n", MONDAY_10_ET)
    # 09:00 Mountain (16:00Z) to 21:00 Central less the margin (02:45Z), not 21:00 Mountain (03:45Z).
    assert window(el_paso) == ("2030-12-02T16:00:00Z", "2030-12-03T02:45:00Z")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Saturday 07:00 Toronto: the CRTC's weekend 10:00-18:00, less the margin.
        (datetime(2030, 11, 30, 7, tzinfo=ET), ("2030-11-30T15:00:00Z", "2030-11-30T22:45:00Z")),
        # Monday 07:00: weekdays 09:00-21:30, narrowed by calling_hours' 21:00 end.
        (datetime(2030, 12, 2, 7, tzinfo=ET), ("2030-12-02T14:00:00Z", "2030-12-03T01:45:00Z")),
    ],
)
def test_canadian_numbers_get_the_crtcs_hours(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], now: datetime, expected: tuple[str, str]
) -> None:
    """Issue 38, case 4: a Toronto number was called on a Saturday from 08:00."""
    [toronto] = plan_rows(write_csv, make_campaign, "phone,consent\n+14165550100,yes\n", now)
    assert window(toronto) == expected


def test_numbers_of_other_countries_are_suppressed_unless_the_campaign_opts_in(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """Issue 38, case 4: a London number got the US window with no word of whose rules apply."""
    text = "phone,consent\n+447400123456,yes\n"
    [london] = plan_rows(write_csv, make_campaign, text, MONDAY_10_ET)
    assert london.status == "suppressed"
    assert london.reason.startswith("calling hours: no calling-hour rules are known here for numbers of GB")
    opted = plan_at(write_csv, make_campaign, text, MONDAY_10_ET, compliance={"other_countries": "calling_hours"})
    # In London's own local hours, the campaign's 08:00-21:00.
    assert window(row_results(opted)[0]) == ("2030-12-02T15:00:00Z", "2030-12-02T20:45:00Z")
    assert any(w.startswith('other_countries = "calling_hours"') for w in opted.warnings)


HAND_WRITTEN = (
    '"Smith, John",212-555-0100\n'
    "+1 212 555 0101 (asked twice)\n"
    "212 555 0102 / 212 555 0103\n"
    "2125550104; 2125550105\n"
    "call John back tomorrow\n"
)


@pytest.mark.parametrize("as_list", ["opt-outs.csv", "dnc.csv"])
def test_hand_written_list_lines_are_read_whole(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path], as_list: str
) -> None:
    """Issue 38, case 5: lines like these honoured 1 of 6 numbers as opt-outs, 2 of 6 as do-not-call."""
    (tmp_path / as_list).write_text(HAND_WRITTEN)
    text = "phone,consent\n" + "".join(f"+1212555010{n},yes\n" for n in range(7))
    compliance = {"do_not_call": ["dnc.csv"]} if as_list == "dnc.csv" else {}
    plan = plan_at(write_csv, make_campaign, text, MONDAY_10_ET, compliance=compliance)
    results = row_results(plan)
    assert [r.status for r in results] == ["suppressed"] * 6 + ["planned"]
    if as_list == "opt-outs.csv":
        assert results[2].reason == "opted out (opt-outs.csv, line 3)"
    else:
        assert results[2].reason == "on the do-not-call list dnc.csv"
    [warning] = [w for w in plan.warnings if "no phone number read" in w]
    assert warning.endswith(
        f"{as_list}: no phone number read from 1 line(s): line 5 (call John back tomorrow); those people are "
        "not protected: write their numbers (any format) on those lines"
    )


def test_the_tools_own_opt_out_lines_keep_their_date_and_call(
    tmp_path: Path, write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    (tmp_path / "opt-outs.csv").write_text(
        "number,opted_out_at,call_id,run\n+12125550100,2030-11-30T10:00:00+00:00,call-1,runs/a\n"
    )
    plan = plan_at(write_csv, make_campaign, "phone,consent\n+12125550100,yes\n", MONDAY_10_ET)
    assert row_results(plan)[0].reason == "opted out on 2030-11-30, call call-1 (opt-outs.csv)"
    assert not [w for w in plan.warnings if "no phone number read" in w]
