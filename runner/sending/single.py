"""One call, through exactly the path a spreadsheet row takes: it is a one-row sheet written into
its own run folder (runs/call-<8 hex of what was asked>), planned, screened and sent by
CampaignRun, so the same command again finds its ledger and places no second call."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runner.campaign import ROLES, Campaign, load_campaign
from runner.errors import InputError, PreflightError
from runner.sending.run import CampaignRun, RunOutcome
from runner.sending.submitter import SubmitOptions
from runner.statuses import Status
from runner.vapi.client import VapiClient

SHEET_NAME = "call.csv"
NO_CONSENT = "no consent (require_consent = true): pass --consent if this person agreed to be called"


@dataclass(frozen=True)
class SingleCall:
    """What was asked: the number, the template variables, the name, consent, and a start time."""

    number: str
    variables: dict[str, str]
    name: str = ""
    consent: bool = False
    at: datetime | None = None

    def sheet(self, campaign: Campaign) -> str:
        """The one-row sheet: a header per role and per variable, each named as the campaign names it
        (`[columns]`, `[variables]`): a campaign that names its columns reads this sheet as its own.
        A role the campaign names that the command gives no value for is an empty cell."""
        columns = campaign.columns
        headers = {columns.number or "phone": self.number}
        if self.name:
            headers[columns.name or "name"] = self.name
        if self.consent:
            headers[columns.consent or "consent"] = "yes"
        for role in ROLES:
            header = getattr(columns, role)
            if header and header not in headers:
                headers[header] = ""
        mapping = campaign.variables or {}
        for variable, value in self.variables.items():
            headers[mapping.get(variable, variable)] = value
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerows([list(headers), list(headers.values())])
        return text.getvalue()


@dataclass(frozen=True)
class SingleOutcome:
    """The call's row as the results sheet has it, and whether this command placed it."""

    outdir: Path
    status: str
    reason: str
    call_id: str
    placed_now: bool
    run: RunOutcome | None


def place_call(
    call: SingleCall,
    campaign: Campaign | str | Path,
    client: VapiClient,
    runs: Path = Path("runs"),
    options: SubmitOptions | None = None,
    preflight: bool = True,
) -> SingleOutcome:
    """Plan and send one call (at most once: asked again, it reports the call already placed).
    Raises InputError when the number cannot be called as written or a variable the campaign
    names is not given, PreflightError when its assistant, number or variables fail preflight;
    a row a rule sets aside comes back `suppressed` with the rule."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    if call.at is not None:
        campaign = campaign.model_copy(
            update={"schedule": campaign.schedule.model_copy(update={"earliest_at": call.at})}
        )
    missing = [name for name in (campaign.variables or {}) if name not in call.variables]
    if missing:
        raise InputError(f"the campaign's [variables] need a value: pass --var {missing[0]}=… (missing: "
                         f"{', '.join(missing)})")  # fmt: skip
    text = call.sheet(campaign)
    asked = hashlib.sha256((text + campaign.fingerprint()).encode()).hexdigest()  # --at is in the schedule
    outdir = runs / f"call-{asked[:8]}"
    outdir.mkdir(parents=True, exist_ok=True)
    source = outdir / SHEET_NAME
    if not source.exists():
        source.write_text(text, encoding="utf-8")
    try:
        run = CampaignRun.open(source, campaign, outdir, "csv", client.api_name, client if preflight else None)
    except PreflightError as exc:
        needed = re.findall(r"template variable \{\{(\S+?)\}\}", str(exc))
        raise PreflightError(str(exc) + "".join(f"\n  one call: pass --var {name}=…" for name in needed)) from None
    with run:
        before = run.results().row(0, named=True)
        if before["status"] == Status.INVALID:
            # The column is the one-row sheet's own: the person typed a number, not a column.
            reason = str(before["reason"]).removesuffix(f" (column {campaign.columns.number or 'phone'!r})")
            raise InputError(f"{call.number}: {reason}")
        if before["call_id"]:
            return SingleOutcome(outdir, before["status"], before["reason"], before["call_id"], False, None)
        outcome = run.send(client, options) if run.people_to_call() else None
        after = run.results().row(0, named=True)
    reason = str(after["reason"])
    if after["status"] == Status.SUPPRESSED and reason.startswith("no consent"):
        reason = NO_CONSENT  # the one-row sheet's consent column is --consent
    return SingleOutcome(outdir, after["status"], reason, after["call_id"], bool(after["call_id"]), outcome)
