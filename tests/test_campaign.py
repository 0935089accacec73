"""Campaign files: defaults, validation, and messages that name the file and the key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.campaign import load_campaign
from runner.errors import CampaignError

from .conftest import ROOT


def test_example_campaign_loads() -> None:
    campaign = load_campaign(ROOT / "campaigns" / "example" / "campaign.toml")
    assert campaign.name == "December reminders"
    assert campaign.variables == {"appointment": "Appointment"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 0}, "key `batch_size`: Input should be greater than or equal to 1"),
        ({"colour": "red"}, "unknown key `colour`"),
        ({"columns": {"phone": "Tel"}}, "unknown key `columns.phone`"),
        ({"default_region": "XX"}, "key `default_region`: 'XX' is not a region"),
        ({"overrides": "mixed"}, "key `overrides`"),
        ({"name": "x" * 41}, "key `name`: String should have at most 40 characters"),
        ({"assistant_id": None}, "assistant_id is required"),
        ({"phone_number_id": None}, "phone_number_id is required"),
        (
            {"squad_id": "sq_1"},
            "give one of assistant_id, [assistant], squad_id, [squad], workflow_id, not assistant_id and squad_id",
        ),
        ({"assistant_id": None, "workflow_id": "wf", "overrides": "per-customer"}, "no workflowOverrides"),
        (
            {"assistant_id": None, "squad_id": "sq", "assistant_version": "2"},
            "assistant_version pins a saved assistant",
        ),
        ({"assistant_id": None, "squad_id": "sq", "columns": {"assistant_id": "Agent"}}, "cannot go with squad_id"),
        # Issue 44, case 3: Vapi's WorkflowOverrides holds variableValues alone; every request was refused.
        (
            {
                "assistant_id": None,
                "workflow_id": "wf",
                "assistant_overrides": {"firstMessage": "Hi", "maxDurationSeconds": 60},
            },
            "a workflow takes only variableValues as overrides, not `firstMessage`, `maxDurationSeconds`",
        ),
        # Issue 44, case 5: a version belongs to one assistant; it went with every row's assistant.
        (
            {"assistant_version": "2", "columns": {"assistant_id": "Agent"}},
            "assistant_version pins one assistant's version: it cannot go with a per-row assistant column",
        ),
        ({"assistant_overrides": {"firstMessage": 5}}, "key `assistant_overrides`: `firstMessage` must be text"),
        ({"assistant_overrides": {"variableValues": "x"}}, "`variableValues` must be a table"),
        ({"schedule": {"earliest_at": "2026-12-01T09:00:00"}}, "key `schedule.earliest_at`: needs a UTC offset"),
        (
            {"schedule": {"earliest_at": "2026-12-01T09:00:00Z", "latest_at": "2026-12-01T08:00:00Z"}},
            "key `schedule`: latest_at must be after earliest_at",
        ),
    ],
)
def test_invalid_campaigns_name_file_and_key(
    make_campaign: Callable[..., Path], changes: dict[str, object], message: str
) -> None:
    path = make_campaign(**changes)
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_a_toml_date_in_overrides_is_refused_naming_its_key(tmp_path: Path) -> None:
    """Vapi's fields pass through as written, so each must be something JSON can carry."""
    path = tmp_path / "campaign.toml"
    path.write_text(
        'name = "x"\nassistant_id = "a"\nphone_number_id = "p"\n[assistant_overrides.metadata]\nsent = 2026-12-01\n'
    )
    with pytest.raises(
        CampaignError, match=r"key `assistant_overrides`: `assistant_overrides.metadata.sent` is a date"
    ):
        load_campaign(path)


def test_overrides_change_the_fingerprint(make_campaign: Callable[..., Path]) -> None:
    """A run folder never resumes under changed overrides (test_the_fingerprint_survives_upgrades
    pins the hash of a campaign without them)."""
    plain = load_campaign(make_campaign())
    assert load_campaign(make_campaign(assistant_overrides={"firstMessage": "Hi"})).fingerprint() != plain.fingerprint()


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(CampaignError, match="not valid TOML"):
        load_campaign(broken)
    with pytest.raises(CampaignError, match="campaign file not found"):
        load_campaign(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": "50"}, "key `batch_size`: Input should be a valid integer"),
        ({"concurrency": True}, "key `concurrency`: Input should be a valid integer"),
        (
            {"compliance": {"require_consent": "no"}},
            "key `compliance.require_consent`: Input should be a valid boolean",
        ),
        ({"schedule": {"calling_hours": "9 to 5"}}, 'must look like 08:00-21:00, or "any" for no limit'),
    ],
)
def test_types_are_strict_a_quoted_number_is_an_error(
    make_campaign: Callable[..., Path], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(CampaignError, match=re.escape(message)):
        load_campaign(make_campaign(**changes))


def test_a_byte_order_mark_and_any_in_capitals_are_accepted(make_campaign: Callable[..., Path]) -> None:
    path = make_campaign(schedule={"calling_hours": "ANY"})
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_campaign(path).schedule.hours is None


def test_the_fingerprint_survives_upgrades() -> None:
    """A run folder's ledger holds its campaign's fingerprint: a new release that changed it would
    refuse to resume every run in progress. Pinned to the value of the release before opt_out."""
    campaign = load_campaign(ROOT / "campaigns" / "example" / "campaign.toml")
    assert campaign.fingerprint() == "aab78095dfb003598d2469603446fb69556f051edabe3894e755dc7d7a78d43e"
