"""`call NUMBER`: one call through the same path as a spreadsheet row, placed at most once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from runner.cli.commands import main

from .conftest import BASE_CAMPAIGN, to_toml

ENV = {"VAPI_API_KEY": "sandbox-key"}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the run folder goes under ./runs
    return tmp_path


def campaign(folder: Path, **changes: Any) -> Path:
    path = folder / "campaign.toml"
    data = {**BASE_CAMPAIGN, "variables": {"appointment": "Appointment"}, **changes}
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def call(server: Any, *arguments: str) -> Any:
    return CliRunner().invoke(main, ["call", *arguments, "--base-url", server.url, "--yes"], env=ENV)


def posted(server: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": "Bearer sandbox-key"})
    return list(answer.json())


def test_one_call_with_its_variables_and_never_a_second(here: Path, sandbox: Any) -> None:
    server = sandbox()
    arguments = ["(202) 555-0100", "-c", str(campaign(here)), "--var", "appointment=Mon 10:00", "--name", "Ava"]
    first = call(server, *arguments)
    assert first.exit_code == 0, first.output
    assert "placed: call " in first.output
    [placed] = posted(server)
    assert placed["customer"]["number"] == "+12025550100" and placed["customer"]["name"] == "Ava"
    assert placed["assistantOverrides"] == {"variableValues": {"appointment": "Mon 10:00"}}
    again = call(server, *arguments)
    assert again.exit_code == 0, again.output
    assert "already placed by this command before: no second call" in again.output
    assert placed["id"] in again.output and len(posted(server)) == 1
    [folder] = (here / "runs").iterdir()
    status = CliRunner().invoke(main, ["status", str(folder), "--base-url", server.url], env=ENV)
    assert status.exit_code == 0, status.output


def test_a_number_that_cannot_be_called_is_refused_with_its_reason(here: Path, sandbox: Any) -> None:
    server = sandbox()
    result = call(server, "555-01", "-c", str(campaign(here)), "--var", "appointment=x")
    assert result.exit_code == 2 and "555-01: too short" in result.output and "column" not in result.output
    assert posted(server) == []


def test_consent_and_variables_are_asked_for(here: Path, sandbox: Any) -> None:
    server = sandbox()
    strict = campaign(here, compliance={"require_consent": True})
    refused = call(server, "+12025550100", "-c", str(strict), "--var", "appointment=x")
    assert refused.exit_code == 1 and "pass --consent" in refused.output
    assert "file" not in refused.output  # the one-row sheet is the tool's own, not the user's
    missing = call(server, "+12025550100", "-c", str(strict), "--consent")
    assert missing.exit_code == 2 and "--var appointment=" in missing.output
    assert posted(server) == []
    placed = call(server, "+12025550100", "-c", str(strict), "--consent", "--var", "appointment=x")
    assert placed.exit_code == 0, placed.output
    assert len(posted(server)) == 1


def test_a_campaign_that_names_its_columns_places_the_call(here: Path, sandbox: Any) -> None:
    """Issue 44, case 1: the one-row sheet had its own headers, so a campaign naming its columns
    was refused ("column 'Mobile Phone' (from [columns] number) is not in the file")."""
    server = sandbox()
    named = {
        "number": "Mobile Phone", "name": "Full Name", "consent": "Consent to Call", "extension": "Ext",
        "timezone": "TZ", "state": "State", "email": "E-mail", "country": "Country", "opt_out": "Do Not Call",
    }  # fmt: skip
    strict = campaign(here, columns=named, compliance={"require_consent": True})
    result = call(server, "(202) 555-0100", "-c", str(strict), "--consent", "--name", "Ava", "--var", "appointment=x")
    assert result.exit_code == 0, result.output
    [placed] = posted(server)
    assert placed["customer"]["number"] == "+12025550100" and placed["customer"]["name"] == "Ava"
    bad = call(server, "555-01", "-c", str(strict), "--consent", "--var", "appointment=x")
    assert bad.exit_code == 2 and "555-01: too short" in bad.output and "column" not in bad.output
