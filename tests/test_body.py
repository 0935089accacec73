"""The fast path (Arrow text joins over every row) writes exactly the bodies the plain reference in
tests/body_reference.py says, byte for byte, whatever the cells hold."""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runner.arrays import CONTROL_CLASS
from runner.phones.parse import normalize
from runner.planning.body import dumps, request_id
from runner.planning.plan import plan_file
from runner.spec import violations

from .body_reference import call_body, call_name, customer, variable_values
from .conftest import BASE_CAMPAIGN, to_toml
from .rows import row_results

PHONES = st.sampled_from(
    ["+12025550100", "202-555-0101", "(202) 555-0102 x12", "12025550103.0", "sip:alice@example.com",
     "+44 7911 123456", "not a number", "", "+12025550104", "202.555.0105 ext. 7"]
)  # fmt: skip
TEXT = st.text(
    st.sampled_from([*"ab Zé߀\"',;@.-_", "\t", "\u00a0", "\u3000", "\x01", "\n", "{", "}", "\\"]), max_size=14
)
# [assistant_overrides] with a default for a column's blank cells (v2) and a variable no column holds.
OVERRIDES = {
    "firstMessage": "Hello {{v1}}",
    "maxDurationSeconds": 300,
    "metadata": {"source": "sheet", "tags": ["a", 1]},
    "variableValues": {"team": 7, "v2": "later", "note": 'é"\\'},
}
SQUAD = {"members": [{"assistantId": "asst_a"}, {"assistant": {"firstMessage": "hi"}}]}
ROW = st.tuples(PHONES, TEXT, TEXT | st.sampled_from(["ann@example.com", "b@c.io", "x@y"]), TEXT, TEXT)


def reference_bodies(cells: list[dict[str, str]], row_numbers: list[int], plan: Any) -> dict[str, dict[str, Any]]:
    """Each request's body built by the reference (tests/body_reference.py) from the cells of the rows it carries."""
    campaign = plan.campaign
    by_row = dict(zip(row_numbers, cells, strict=True))
    windows = {r.row: (r.earliest_at, r.latest_at) for r in row_results(plan)}
    bodies = {}
    for seq, request in enumerate(plan.requests, start=1):
        values = [
            variable_values({"v1": by_row[row]["v1"], "v2": by_row[row]["v2"]}, campaign.default_variables)
            for row in request.rows
        ]
        customers = []
        for row, row_values in zip(request.rows, values, strict=True):
            phone = normalize(by_row[row]["phone"], campaign.default_region)
            customers.append(
                customer(
                    number=phone.e164, sip_uri=phone.sip_uri, extension=phone.extension,
                    name=by_row[row]["name"], email=by_row[row]["email"], external_id=f"{plan.input_tag}-r{row}",
                    variables=row_values if campaign.overrides == "per-customer" else None,
                    overrides_key=campaign.overrides_key,
                )
            )  # fmt: skip
        earliest, latest = windows[request.rows[0]]
        bodies[request.id] = call_body(
            name=call_name(campaign.name, seq),
            campaign=campaign,
            assistant_id=campaign.assistant_id,
            phone_number_id=campaign.phone_number_id,
            variables=values[0] if campaign.overrides == "split" else None,
            customers=customers,
            schedule={key: at for key, at in (("earliestAt", earliest), ("latestAt", latest)) if at} or None,
        )
        assert request.id == request_id(plan.plan_id, request.rows)
    return bodies


@pytest.mark.slow  # over a second
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(ROW, min_size=1, max_size=8),
    overrides=st.sampled_from(["split", "per-customer"]),
    batch_size=st.integers(1, 3),
    target=st.sampled_from(["assistant_id", "assistant", "squad_id", "squad", "workflow_id", "assistant_version"]),
    campaign_overrides=st.sampled_from([None, {"firstMessage": "Hi {{v1}}"}, OVERRIDES]),
    scheduled=st.booleans(),
)
def test_the_fast_path_writes_the_reference_bodies(
    rows: list[tuple[str, ...]],
    overrides: str,
    batch_size: int,
    target: str,
    campaign_overrides: dict[str, Any] | None,
    scheduled: bool,
) -> None:
    cells = [dict(zip(("phone", "name", "email", "v1", "v2"), row, strict=True)) for row in rows]
    text = "".join("".join(cell.values()) for cell in cells)
    assume(len(re.findall(CONTROL_CLASS, text)) <= 8)  # more is refused as binary content
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "leads.csv"
        with source.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ["phone", "name", "email", "v1", "v2"])
            writer.writeheader()
            writer.writerows(cells)
        campaign: dict[str, Any] = {**BASE_CAMPAIGN, "overrides": overrides, "batch_size": batch_size}
        campaign["columns"] = {"number": "phone", "name": "name", "email": "email"}
        if target != "assistant_id":
            campaign.pop("assistant_id")
        if target == "assistant_version":
            campaign |= {"assistant_id": "asst_pinned", "assistant_version": "3"}
        elif target in ("assistant", "squad"):
            campaign[target] = {"firstMessage": 'Hi {{v1}} "there"'} if target == "assistant" else SQUAD
        elif target != "assistant_id":
            campaign[target] = f"{target}_é"
        if target == "workflow_id":
            campaign["overrides"] = "split"  # Vapi customers carry no workflowOverrides
        if campaign_overrides is not None and target == "workflow_id":  # a workflow takes variableValues alone
            campaign_overrides = {k: v for k, v in campaign_overrides.items() if k == "variableValues"}
        if campaign_overrides:
            campaign["assistant_overrides"] = campaign_overrides
        if scheduled:
            campaign["schedule"] = {"calling_hours": "any", "earliest_at": "2031-01-06T15:00:00Z"}
        (Path(folder) / "campaign.toml").write_text(to_toml(campaign), encoding="utf-8")
        plan = plan_file(source, Path(folder) / "campaign.toml")
        sheet_rows = plan.sheet.row_numbers.tolist()
        kept = [cells[number - 2] for number in sheet_rows]
        expected = reference_bodies(kept, sheet_rows, plan)
        assert {request.id: request.body_json for request in plan.requests} == {
            request_id: dumps(body) for request_id, body in expected.items()
        }
        for request in plan.requests:  # issue 44, case 7: every body is one Vapi's spec accepts
            assert list(violations(request.body, "CreateCallDTO")) == [], request.body
