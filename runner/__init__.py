"""vapi-campaign: turn a spreadsheet into Vapi outbound calls, sent at most once.

>>> import runner
>>> plan = runner.plan_file("sample_data/customers.csv", "campaigns/example/campaign.toml")
>>> runner.write_plan(plan, "runs/example")
"""

from runner.config import Campaign, campaign_from_dict, load_campaign
from runner.errors import ApiError, AuthError, CampaignError, InputError, OutdirError, RunnerError
from runner.pipeline import Plan, plan_file, write_plan

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
