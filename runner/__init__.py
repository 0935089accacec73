"""vapi-campaign: turn a spreadsheet into Vapi outbound calls, sent at most once.

>>> import runner
>>> plan = runner.plan_file("sample_data/customers.csv", "campaigns/example/campaign.toml")
>>> runner.write_plan(plan, "runs/example")

The names below load on first use, so that `import runner` (and the console script, which must
answer Ctrl-C even while pandas and Arrow load) costs nothing until a name is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.config import Campaign, campaign_from_dict, load_campaign
    from runner.errors import ApiError, AuthError, CampaignError, InputError, OutdirError, RunnerError
    from runner.pipeline import Plan, plan_file, write_plan

_HOMES = {
    "runner.config": ("Campaign", "campaign_from_dict", "load_campaign"),
    "runner.errors": ("ApiError", "AuthError", "CampaignError", "InputError", "OutdirError", "RunnerError"),
    "runner.pipeline": ("Plan", "plan_file", "write_plan"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ApiError",
    "AuthError",
    "Campaign",
    "CampaignError",
    "InputError",
    "OutdirError",
    "Plan",
    "RunnerError",
    "campaign_from_dict",
    "load_campaign",
    "plan_file",
    "write_plan",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    value = getattr(import_module(_HOME_OF[name]), name)
    globals()[name] = value
    return value
