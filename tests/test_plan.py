"""Grouping rows into POST /call bodies: what goes together, chunking, exact bodies, stable ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runner.planning.plan import Plan, plan_file
from runner.planning.requests import tuple_text
from runner.vapi.client import VapiClient

from .conftest import DATA
from .rows import row_results

ALLOWED_BODY_KEYS = {
    "name",
    "assistantId",
    "assistant",
    "assistantOverrides",
    "phoneNumberId",
    "customer",
    "customers",
    "schedulePlan",
}
ALLOWED_CUSTOMER_KEYS = {"number", "sipUri", "extension", "name", "email", "externalId", "assistantOverrides"}


def plan_text(write_csv: Callable[..., Path], make_campaign: Callable[..., Path], text: str, **campaign: Any) -> Plan:
    return plan_file(write_csv(text), make_campaign(**campaign))


def test_split_groups_rows_by_variables(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone,slot\n2025550101,Mon\n2025550102,Tue\n2025550103,Mon\n"
    plan = plan_text(write_csv, make_campaign, text)
    assert [r.rows for r in plan.requests] == [(2, 4), (3,)]
    first, second = (r.body for r in plan.requests)
    assert first["assistantOverrides"] == {"variableValues": {"slot": "Mon"}}
    assert [c["number"] for c in first["customers"]] == ["+12025550101", "+12025550103"]
    assert second["customer"]["number"] == "+12025550102"  # a chunk of one uses `customer`
    assert "customers" not in second


def test_per_customer_batches_freely(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone,slot\n2025550101,Mon\n2025550102,Tue\n2025550103,\n"
    plan = plan_text(write_csv, make_campaign, text, overrides="per-customer")
    assert len(plan.requests) == 1
    customers = plan.requests[0].body["customers"]
    assert customers[0]["assistantOverrides"] == {"variableValues": {"slot": "Mon"}}
    assert customers[1]["assistantOverrides"] == {"variableValues": {"slot": "Tue"}}
    assert "assistantOverrides" not in customers[2]  # empty cells are left out
    assert "assistantOverrides" not in plan.requests[0].body


def test_chunks_of_batch_size(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone\n" + "".join(f"20255501{i:02d}\n" for i in range(7))
    plan = plan_text(write_csv, make_campaign, text, batch_size=3)
    assert [len(r.rows) for r in plan.requests] == [3, 3, 1]
    assert [r.body["name"] for r in plan.requests] == ["Test campaign #1", "Test campaign #2", "Test campaign #3"]


def test_exact_body_with_schedule_and_limits(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    long_name = "Bartholomew Fitzwilliam Montgomery-Smythe III"
    text = f"phone,name,email\n202 555 0101 x9,{long_name},a-very-long-address-for-testing@example-domain.com\n"
    # A Monday in Washington D.C.: the calling window (08:00-20:45) holds the whole schedule.
    schedule = {"earliest_at": "2030-12-02T09:00:00-05:00", "latest_at": "2030-12-02T17:00:00-05:00"}
    plan = plan_text(write_csv, make_campaign, text, schedule=schedule)
    tag = plan.input_tag
    assert plan.requests[0].body == {
        "name": "Test campaign #1",
        "assistantId": "asst_test",
        "phoneNumberId": "pn_test",
        "customer": {
            "number": "+12025550101",
            "extension": "9",
            "name": long_name[:40].rstrip(),
            "externalId": f"{tag}-r2",
        },
        "schedulePlan": {"earliestAt": "2030-12-02T14:00:00Z", "latestAt": "2030-12-02T22:00:00Z"},
    }
    row = row_results(plan)[0]
    assert row.reason == "name shortened to 40 characters; email not sent: longer than 40 characters"
    assert (row.earliest_at, row.latest_at) == ("2030-12-02T14:00:00Z", "2030-12-02T22:00:00Z")


def test_transient_assistant_is_sent_as_assistant(tmp_path: Path, write_csv: Callable[..., Path]) -> None:
    campaign = tmp_path / "transient.toml"
    campaign.write_text(
        'name = "Transient"\nphone_number_id = "pn_1"\n[compliance]\nrequire_consent = false\n'
        '[assistant]\nfirstMessage = "Hi {{name}}"\n'
        '[assistant.model]\nprovider = "openai"\nmodel = "gpt-4o"\n'
    )
    plan = plan_file(write_csv("phone\n2025550101\n"), campaign)
    body = plan.requests[0].body
    assert body["assistant"] == {"firstMessage": "Hi {{name}}", "model": {"provider": "openai", "model": "gpt-4o"}}
    assert "assistantId" not in body


def test_per_row_assistant_and_caller(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone,assistant,caller\n2025550101,asst_a,\n2025550102,,pn_b\n2025550103,asst_a,\n"
    plan = plan_text(write_csv, make_campaign, text, columns={"phone_number_id": "caller"})
    pairs = [(r.body["assistantId"], r.body["phoneNumberId"], r.rows) for r in plan.requests]
    assert pairs == [("asst_a", "pn_test", (2, 4)), ("asst_test", "pn_b", (3,))]


def test_dashboard_csv_runs_unchanged() -> None:
    from runner.campaign import campaign_from_dict

    from .conftest import BASE_CAMPAIGN

    plan = plan_file(DATA / "dashboard.csv", campaign_from_dict(BASE_CAMPAIGN, base_dir=DATA))
    assert plan.variables == ["appointment", "doctor"]
    values = [r.body["assistantOverrides"]["variableValues"] for r in plan.requests]
    assert values == [{"appointment": "Dec 2", "doctor": "Dr. Who"}, {"appointment": "Dec 3"}]
    assert "variables: appointment, doctor" in plan.summary_lines()


def test_bodies_hold_only_fields_vapi_knows(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone,name,email,x\n2025550101,A,a@example.com,1\nsip:a@b.example,B,,2\n2025550103,C,,1\n"
    for mode in ("split", "per-customer"):
        for request in plan_text(write_csv, make_campaign, text, overrides=mode).requests:
            assert set(request.body) <= ALLOWED_BODY_KEYS
            customers = request.body.get("customers") or [request.body["customer"]]
            for customer in customers:
                assert set(customer) <= ALLOWED_CUSTOMER_KEYS
                assert all(len(str(customer.get(k, ""))) <= 40 for k in ("name", "email", "externalId"))
            assert len(request.body["name"]) <= 40


def test_request_ids_do_not_depend_on_when_the_plan_is_made(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    from datetime import UTC, datetime

    source, campaign = write_csv("phone,consent\n2025550101,yes\n"), make_campaign(compliance={}, schedule={})
    morning = plan_file(source, campaign, now=datetime(2030, 12, 2, 15, tzinfo=UTC)).requests[0]
    later = plan_file(source, campaign, now=datetime(2030, 12, 2, 16, 7, tzinfo=UTC)).requests[0]
    assert morning.body["schedulePlan"] != later.body["schedulePlan"]
    assert morning.id == later.id


def test_request_ids_are_deterministic_and_follow_input(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    text = "phone,slot\n2025550101,Mon\n2025550102,Tue\n"
    first = [r.id for r in plan_text(write_csv, make_campaign, text).requests]
    again = [r.id for r in plan_text(write_csv, make_campaign, text).requests]
    changed = [r.id for r in plan_text(write_csv, make_campaign, text + "2025550103,Mon\n").requests]
    assert first == again
    assert len(set(first)) == 2
    assert not set(first) & set(changed)


def test_duplicates_name_the_first_row(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone\n2025550101\n+1 (202) 555-0101\n2025550101 x2\n12025550101.0\n202-555-0101 ext 2\n"
    text += "sip:desk@pbx.example.com\n2025550101 x3\nsip:desk@pbx.example.com\n"
    plan = plan_text(write_csv, make_campaign, text)
    assert [(r.status, r.reason) for r in row_results(plan)] == [
        ("planned", ""),
        ("duplicate", "same number as row 2"),
        ("planned", ""),  # an extension reaches someone else
        ("duplicate", "same number as row 2"),
        ("duplicate", "same number as row 4"),
        ("planned", ""),
        ("planned", ""),
        ("duplicate", "same number as row 7"),
    ]


def test_duplicates_without_any_extension(write_csv: Callable[..., Path], make_campaign: Callable[..., Path]) -> None:
    text = "phone\n2025550101\n2025550102\n+1 (202) 555-0101\n"
    plan = plan_text(write_csv, make_campaign, text)
    assert [r.status for r in row_results(plan)] == ["planned", "planned", "duplicate"]


@given(st.lists(st.lists(st.integers(0, 10**9), min_size=1, max_size=5), max_size=6))
def test_request_rows_are_written_as_python_writes_a_tuple(groups: list[list[int]]) -> None:
    for group in groups:
        assert tuple_text(",".join(map(str, group)), len(group)) == str(tuple(group))


def test_an_extension_column_reaches_the_customer_and_two_desks_are_two_people(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Issue 38, case 7: the Ext column was shown in `columns:` but never sent, so desks A and B became
    "duplicate of row 2" and Desk A was called on the main line."""
    text = (
        "Name,Phone,Ext\nDesk A,(202) 555-0150,11\nDesk B,(202) 555-0150,12\nMain,(202) 555-0150,\n"
        "Excel,(202) 555-0151,12.0\nWords,(202) 555-0152,front desk\nLong,(202) 555-0153,12345678901\n"
        "Clash,(202) 555-0154 x7,8\nSame,(202) 555-0155 x7,7\n"
    )
    plan = plan_text(write_csv, make_campaign, text)
    assert plan.sheet.roles["extension"] == "Ext"
    results = row_results(plan)
    assert [(r.status, r.reason) for r in results[4:7]] == [
        ("invalid", "not a number: extension 'front desk' in column 'Ext' is not digits"),
        ("invalid", "too long: extension 12345678901 in column 'Ext' has more than 10 digits"),
        ("invalid", "two extensions: 7 in the number, 8 in column 'Ext'"),
    ]
    [request] = plan.requests
    sent = [(c["name"], c["number"], c.get("extension")) for c in request.body["customers"]]
    assert sent == [
        ("Desk A", "+12025550150", "11"),
        ("Desk B", "+12025550150", "12"),
        ("Main", "+12025550150", None),
        ("Excel", "+12025550151", "12"),
        ("Same", "+12025550155", "7"),
    ]
    server = sandbox()
    with VapiClient(server.config.api_key, server.url) as client:
        created = client.create_call(request.body)
    assert [(c["customer"]["name"], c["customer"].get("extension")) for c in created.calls][:2] == [
        ("Desk A", "11"),
        ("Desk B", "12"),
    ]


def test_a_number_behind_an_international_prefix_says_how_to_write_it(
    write_csv: Callable[..., Path], make_campaign: Callable[..., Path]
) -> None:
    """Issue 44, case 10: `001 212 555 0101` was only "too long"."""
    plan = plan_text(write_csv, make_campaign, "phone\n001 212 555 0101\n1234567890123456\n")
    assert [(r.status, r.reason) for r in row_results(plan)] == [
        ("invalid", "too long: it starts with 00, an international dialling prefix; if it means +1 212-555-0101, "
                    "write it so (column 'phone')"),
        ("invalid", "too long (column 'phone')"),
    ]  # fmt: skip
