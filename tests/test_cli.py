"""The command line: messages, exit codes, nothing written on bad input, and documented commands."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli import main

from .conftest import DATA, ROOT

EXAMPLE = ROOT / "campaigns" / "example" / "campaign.toml"
# The example campaign, from a Monday morning in 2030 (so calling windows do not depend on when the
# tests run), in a temp folder (so its call history stays out of the repository).
CAMPAIGN = Path("example-campaign.toml")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Invoke the CLI from an empty folder with no key in the environment."""
    monkeypatch.chdir(tmp_path)
    schedule = '\n[schedule]\nearliest_at = "2030-12-02T06:00:00-05:00"\n'
    (tmp_path / CAMPAIGN).write_text(EXAMPLE.read_text() + schedule)
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    monkeypatch.delenv("VAPI_BASE_URL", raising=False)

    def invoke(*args: str | Path) -> Any:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_plan_messy_sample(cli: Callable[..., Any], tmp_path: Path) -> None:
    result = cli("plan", ROOT / "sample_data" / "messy.csv", "-c", CAMPAIGN, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = (
        "rows: 22\nplanned: 10\ninvalid: 7\nduplicate: 1\nsuppressed: 4 (calling hours 3, consent 1)\n"
        "requests: 6\nvariables: appointment"
    )
    assert summary in result.output
    assert "rows 1-3 above the header were skipped" in result.output
    assert (tmp_path / "out" / "results.xlsx").exists()
    assert len((tmp_path / "out" / "requests.jsonl").read_text().splitlines()) == 6


def test_clean_csv_and_xlsx_samples_plan_the_same(cli: Callable[..., Any], tmp_path: Path) -> None:
    outputs = []
    for name in ("customers.csv", "customers.xlsx"):
        result = cli("plan", ROOT / "sample_data" / name, "-c", CAMPAIGN, "-o", tmp_path / name, "--format", "csv")
        assert result.exit_code == 0
        outputs.append(result.output.split("wrote")[0])
        bodies = [line.split('"body":')[1] for line in (tmp_path / name / "requests.jsonl").read_text().splitlines()]
        outputs.append(re.sub(r'"externalId":"\w+-', "", "\n".join(bodies)))
    assert outputs[0] == outputs[2] and outputs[1] == outputs[3]
    assert "planned: 30" in outputs[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", DATA / "no_number.csv"], "no_number.csv: no phone number column; its headers are: Name, Email"),
        (["plan", DATA / "garbage.xlsx"], "garbage.xlsx: binary content"),
        (["plan", DATA / "empty.csv"], "empty.csv: the file is empty"),
        (["plan", "missing.csv"], "missing.csv: file not found"),
    ],
)
def test_bad_input_exits_2_naming_the_file(
    cli: Callable[..., Any], tmp_path: Path, args: list[Any], message: str
) -> None:
    result = cli(*args, "-c", CAMPAIGN, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_bad_campaign_exits_2_naming_file_and_key(cli: Callable[..., Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nassistant_id = "a"\nphone_number_id = "p"\nbatch_size = 5000\n')
    result = cli("plan", DATA / "dashboard.csv", "-c", bad, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert f"{bad}: key `batch_size`: Input should be less than or equal to 1000" in result.output
    assert not (tmp_path / "out").exists()


def test_run_without_key_says_how_to_set_it(cli: Callable[..., Any], tmp_path: Path) -> None:
    result = cli("run", DATA / "dashboard.csv", "-c", CAMPAIGN, "-o", tmp_path / "out", "--yes")
    assert result.exit_code == 2
    assert "no Vapi API key: set VAPI_API_KEY" in result.output
    assert "--sandbox" in result.output
    assert not (tmp_path / "out").exists()


def test_run_off_a_terminal_needs_yes(cli: Callable[..., Any], tmp_path: Path) -> None:
    result = cli("run", ROOT / "sample_data" / "customers.csv", "-c", CAMPAIGN, "-o", tmp_path / "out", "--sandbox")
    assert result.exit_code == 2
    assert "pass --yes" in result.output


def test_run_sandbox_and_base_url_conflict(cli: Callable[..., Any]) -> None:
    result = cli("run", DATA / "dashboard.csv", "-c", CAMPAIGN, "--sandbox", "--base-url", "http://x", "--yes")
    assert result.exit_code == 2
    assert "exclude each other" in result.output


@pytest.mark.slow
def test_run_demo_in_sandbox_then_resume(cli: Callable[..., Any], tmp_path: Path) -> None:
    first = cli("run", ROOT / "sample_data" / "customers.csv", "-c", CAMPAIGN, "--sandbox", "--yes")
    assert first.exit_code == 0, first.output
    assert re.search(r"^queued +30$", first.output, flags=re.M)
    folders = list((tmp_path / "runs").glob("customers-*"))
    assert len(folders) == 1 and re.fullmatch(r"customers-[0-9a-f]{8}", folders[0].name)
    again = cli("run", ROOT / "sample_data" / "customers.csv", "-c", CAMPAIGN, "--sandbox", "--yes")
    assert again.exit_code == 0
    assert re.search(r"^requests: \d+ sent$", again.output, flags=re.M)
    assert re.search(r"^queued +30$", again.output, flags=re.M)


def test_every_command_has_help_and_is_in_the_readme(cli: Callable[..., Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    for name, command in main.commands.items():
        assert command.help and "Example:" in command.help, name
        assert cli(name, "--help").exit_code == 0
        assert f"vapi-campaign {name}" in readme, name


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", readme, flags=re.S)
    assert blocks[0].strip() == "make demo"
    assert blocks[1].strip() == "make test"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_history_follows_the_api_a_run_goes_through(
    cli: Callable[..., Any], tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox()
    monkeypatch.setenv("VAPI_API_KEY", "sandbox-key")
    campaign = tmp_path / "history.toml"
    campaign.write_text(
        'name = "History"\nassistant_id = "a"\nphone_number_id = "p"\n'
        '[schedule]\ncalling_hours = "any"\n[compliance]\nrequire_consent = false\n'
    )
    (tmp_path / "monday.csv").write_text("phone\n+12025550177\n")
    (tmp_path / "tuesday.csv").write_text("phone\n+12025550177\n+12025550178\n")
    first = cli("run", tmp_path / "monday.csv", "-c", campaign, "--base-url", server.url, "--yes")
    assert first.exit_code == 0, first.output
    second = cli("run", tmp_path / "tuesday.csv", "-c", campaign, "--base-url", server.url, "--yes")
    assert second.exit_code == 0, second.output
    assert "suppressed: 1 (recently called 1)" in second.output


@pytest.mark.parametrize(
    ("ending", "code", "err"),
    [("pass", 0, ""), ("sys.exit(2)", 2, ""), ("sys.exit('stopped: bad input')", 1, "stopped: bad input\n")],
)
def test_the_console_script_leaves_with_the_commands_exit_code_and_all_its_output(
    ending: str, code: int, err: str
) -> None:
    """The script ends the process without the interpreter's teardown (Arrow's thread pools can
    abort it: exit 134): what the command printed still arrives whole, and its code is the exit's."""
    command = f"def command():\n    print('x' * 100_000)\n    {ending}\n"
    script = f"import sys\nfrom runner.entry import exit_after\n{command}exit_after(command)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (code, "x" * 100_000 + "\n", err)
