"""vapi-campaign: turn a spreadsheet into Vapi outbound calls, sent at most once.

>>> import runner
>>> plan = runner.plan_file("sample_data/customers.csv", "campaigns/example/campaign.toml")
>>> runner.write_plan(plan, "runs/example")
>>> with runner.Sandbox() as sandbox, runner.VapiClient("sandbox-key", sandbox.url) as client:
...     with runner.CampaignRun.open("sample_data/customers.csv", "campaigns/example/campaign.toml",
...                                  "runs/example-run", api=sandbox.url, preflight=client) as run:
...         outcome = run.send(client)

The names below load on first use, so that `import runner` (and the console script, which must
answer Ctrl-C even while pandas and Arrow load) costs nothing until a name is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.campaign import Campaign, campaign_from_dict, load_campaign
    from runner.errors import (
        ApiError,
        AuthError,
        CampaignError,
        FolderInUse,
        InputError,
        NetworkError,
        OutdirError,
        PreflightError,
        RunnerError,
    )  # fmt: skip
    from runner.planning.plan import Plan, plan_file
    from runner.results.plan_sheet import write_plan
    from runner.sandbox import Sandbox, SandboxConfig
    from runner.sending.run import CampaignRun, RunOutcome
    from runner.sending.submitter import SubmitOptions
    from runner.statuses import CallStatus, RequestState, Status
    from runner.store.run_folder import plan_for
    from runner.vapi.client import VapiClient

_HOMES = {
    "runner.campaign": ("Campaign", "campaign_from_dict", "load_campaign"),
    "runner.errors": (
        "ApiError", "AuthError", "CampaignError", "FolderInUse", "InputError", "NetworkError", "OutdirError",
        "PreflightError", "RunnerError",
    ),
    "runner.planning.plan": ("Plan", "plan_file"),
    "runner.results.plan_sheet": ("write_plan",),
    "runner.sandbox": ("Sandbox", "SandboxConfig"),
    "runner.vapi.client": ("VapiClient",),
    "runner.sending.run": ("CampaignRun", "RunOutcome"),
    "runner.store.run_folder": ("plan_for",),
    "runner.sending.submitter": ("SubmitOptions",),
    "runner.statuses": ("CallStatus", "RequestState", "Status"),
}  # fmt: skip
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ApiError",
    "AuthError",
    "CallStatus",
    "Campaign",
    "CampaignError",
    "CampaignRun",
    "FolderInUse",
    "InputError",
    "NetworkError",
    "OutdirError",
    "Plan",
    "PreflightError",
    "RequestState",
    "RunOutcome",
    "RunnerError",
    "Sandbox",
    "SandboxConfig",
    "Status",
    "SubmitOptions",
    "VapiClient",
    "campaign_from_dict",
    "load_campaign",
    "plan_file",
    "plan_for",
    "write_plan",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    value = getattr(import_module(_HOME_OF[name]), name)
    globals()[name] = value
    return value
