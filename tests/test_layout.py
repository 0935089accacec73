"""The package's shape: the public names, and imports that go one way only (the flow of data)."""

from __future__ import annotations

import ast
import contextlib
import doctest
import importlib
import io
import shutil
from pathlib import Path

import pytest

import runner

PACKAGE = Path(runner.__file__).parent
# Each layer may import its own and earlier layers only: the order data flows through them.
LAYERS = [
    {
        "runner.arrays",
        "runner.frames",
        "runner.errors",
        "runner.files",
        "runner.text",
        "runner.statuses",
        "runner.hours",
        "runner.campaign",
        "runner.spec",
        "runner.ended_reasons",
        "runner.sandbox",
        "runner.notify",
    },
    {"runner.phones"},
    {"runner.sheets"},
    {"runner.planning"},
    {"runner.vapi"},
    {"runner.store"},
    {"runner.results"},
    {"runner.sending"},
    {"runner.inbox"},
    {"runner.cli", "runner.entry"},
]
PUBLIC = {
    "ApiError", "AuthError", "CallStatus", "Campaign", "CampaignError", "CampaignRun", "FolderInUse",
    "InputError", "NetworkError", "OutdirError", "Plan", "PreflightError", "RequestState", "RunOutcome", "RunnerError",
    "Sandbox", "SandboxConfig", "Status", "SubmitOptions", "VapiClient", "campaign_from_dict",
    "load_campaign", "plan_file", "plan_for", "write_plan",
}  # fmt: skip


def layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer):
            return index
    raise AssertionError(f"{module} is in no layer")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    found |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return {name for name in found if name.startswith("runner.")}


def test_the_public_api_is_pinned_and_every_name_loads() -> None:
    assert set(runner.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(runner, name) is not None


def test_imports_go_one_way_only() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("runner", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        if module == "runner":
            continue
        wrong += [f"{module} imports {name}" for name in imports_of(path) if layer_of(name) > layer_of(module)]
    assert wrong == []


def test_the_package_ships_its_types() -> None:
    assert (PACKAGE / "py.typed").exists()


@pytest.mark.slow  # the example campaign paces its 12 requests at 120 a minute: 6 s
def test_the_readmes_library_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/library.md, executed in a copy of the project's sample data."""
    root = PACKAGE.parent
    readme = (root / "docs" / "library.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Using it as a library") :]
    opening = section.index("```python\n") + len("```python\n")
    example = section[opening : section.index("```\n", opening)]
    shutil.copytree(root / "sample_data", tmp_path / "sample_data")
    shutil.copytree(root / "campaigns" / "example", tmp_path / "campaigns" / "example")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "docs/library.md", "exec"), {})
    assert (tmp_path / "out" / "plan" / "requests.jsonl").exists()
    results = tmp_path / "runs" / "library" / "results.xlsx"
    assert results.exists() and str(results.relative_to(tmp_path)) in printed.getvalue()
    [sent] = [line for line in printed.getvalue().splitlines() if "results.xlsx" in line]
    counts = ast.literal_eval(sent.split(" runs/")[0])  # outcome.counts: all 30 rows placed, scheduled or queued
    assert sum(counts.values()) == 30 and set(counts) <= {"scheduled", "queued"}


@pytest.mark.parametrize(
    "module",
    [
        "runner.campaign",
        "runner.planning.plan",
        "runner.vapi.client",
        pytest.param("runner.sending.run", marks=pytest.mark.slow),  # the example campaign's pacing: 5 s
    ],
)
def test_the_public_entry_points_examples_run(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Examples sections of plan_file, load_campaign, CampaignRun and VapiClient, as doctests,
    from the checkout's root (they read its sample data and example campaign)."""
    monkeypatch.chdir(PACKAGE.parent)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed
