"""Admission at send time: each request's rows are admitted just before it leaves, against the world
as it is then, not as it was when the plan was made (minutes, hours or days before, maybe in
another process): the do-not-call lists and opt-outs as they are now, and a claim of each number in
the call history that no other run holds (runner.store.history.History.claim). Rows not admitted
become `suppressed` with the reason and leave the body; the plan's screening is the preview."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.campaign import Campaign
from runner.errors import InputError
from runner.planning.body import customers_of
from runner.planning.screen import do_not_call_reason, load_do_not_call, load_opt_outs
from runner.statuses import Status
from runner.store.history import CallHistory, Caps
from runner.store.ledger import LedgerRequest, RowOutcome, now_utc
from runner.vapi.client import VapiClient


@dataclass(frozen=True)
class _Lists:
    """The do-not-call numbers and opt-outs as last read, and the files' (size, mtime) they were read at."""

    signature: tuple[tuple[str, int, int], ...]
    do_not_call: dict[str, str]
    opt_outs: dict[str, str]


class CurrentLists:
    """The campaign's do-not-call lists and opt-outs.csv, read again whenever one of the files has
    changed (its size or modification time): a number added after the plan is still never called."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self._lock = threading.Lock()
        self._lists: _Lists | None = None

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for path in [*self.campaign.dnc_paths(), self.campaign.opt_outs_path()]:
            try:
                stat = path.stat()
            except OSError:
                found.append((str(path), -1, -1))
            else:
                found.append((str(path), stat.st_size, stat.st_mtime_ns))
        return tuple(found)

    def reasons(self, numbers: dict[int, str]) -> dict[int, str]:
        """Row -> why not, for the numbers on a list now."""
        lists = self._current()
        refused = {}
        for row, number in numbers.items():
            if number in lists.opt_outs:
                refused[row] = lists.opt_outs[number]
            elif number in lists.do_not_call:
                refused[row] = do_not_call_reason(lists.do_not_call[number])
        return refused

    def _current(self) -> _Lists:
        with self._lock:
            signature = self._signature()
            if self._lists is None or self._lists.signature != signature:
                campaign = self.campaign
                try:
                    self._lists = _Lists(
                        signature,
                        load_do_not_call(campaign.dnc_paths(), campaign.default_region),
                        load_opt_outs(campaign),
                    )
                except InputError:
                    if self._lists is None:
                        raise
                    # A list gone (moved, being rewritten): the last one read still holds; never fewer.
            return self._lists


class Admission:
    """What the submitter asks before each request leaves (`admit`) and tells after (`settled`,
    `not_sent`): the current lists, then one claim in the call history."""

    def __init__(self, history: CallHistory, api: str, run_folder: Path, campaign: Campaign) -> None:
        self.history, self.api = history, api
        self.folder = str(run_folder.resolve())  # once: resolving touches the file system
        self.lists = CurrentLists(campaign)
        compliance = campaign.compliance
        self.caps = Caps(compliance.min_days_between_calls, compliance.max_calls_per_day)

    @classmethod
    def through(cls, client: VapiClient, history: CallHistory, run_folder: Path, campaign: Campaign) -> Admission:
        """Admission of the calls going through `client`: claimed under the account's org id once
        the API has told it (preflight's answers carry it), else under its URL."""
        if client.org_id is not None:
            history.learn(client.api_name, client.org_id)
        return cls(history, client.api_name, run_folder, campaign)

    def admit(self, request: LedgerRequest, body: dict[str, Any]) -> list[RowOutcome]:
        """Claim the request's numbers; returns the rows not admitted, `suppressed` with why."""
        numbers = {
            row: customer["number"]
            for row, customer in zip(request.rows, customers_of(body), strict=True)
            if customer.get("number")
        }
        refused = self.lists.reasons(numbers)
        claimable = {row: number for row, number in numbers.items() if row not in refused}
        refused |= self.history.claim(self.api, self.folder, request.id, _call_time(body), claimable, self.caps)
        return [RowOutcome(row, Status.SUPPRESSED, reason, request_id=request.id) for row, reason in refused.items()]

    def settled(self, request: LedgerRequest, outcomes: list[RowOutcome]) -> None:
        self.history.forget(self.folder, request.id, [o.row for o in outcomes if o.status == Status.FAILED])

    def not_sent(self, request: LedgerRequest) -> None:
        self.history.forget(self.folder, request.id)


def _call_time(body: dict[str, Any]) -> datetime:
    """When a request's calls may start: its schedule's earliestAt, else now."""
    schedule = body.get("schedulePlan") or {}
    return datetime.fromisoformat(schedule["earliestAt"].replace("Z", "+00:00")) if schedule else now_utc()
