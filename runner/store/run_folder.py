"""A run folder, owned: one process at a time (its lock), the copy of the input it was planned
from, what its ledger keeps about the run (RunMeta), its plan made again as the first planning made
it, and the name a run folder gets by default.

A run folder holds: `.lock`, `input.<suffix>` (the copy), `ledger.sqlite` (runner.store.ledger),
`plan.parquet` and `sheet.parquet` (runner.store.plan_record), `calls.parquet`
(runner.store.call_store), `requests.jsonl` and the results sheet (runner.results)."""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from runner.campaign import Campaign, load_campaign
from runner.errors import OutdirError, RunStarting
from runner.files import atomic_write, held, hold
from runner.planning.plan import REQUESTS_FILE, Plan, plan_file, start_time
from runner.store.history import open_history
from runner.store.ledger import Ledger, now_utc
from runner.vapi.credentials import base_url

LOCK_FILE = ".lock"
INPUT_COPY = "input"  # input.<the source's suffix>: what a resumed run and `status` plan again


def default_folder(input_path: str | Path, runs: Path = Path("runs"), digest: str | None = None) -> Path:
    """<runs>/<input stem>-<8 hex of its content>: the same file always resumes the same run (`run`
    without -o, and the inbox, whose `digest` it has already worked out)."""
    path = Path(input_path)
    if digest is None:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = "unreadable"
    return runs / f"{path.stem}-{digest[:8]}"


def plan_for(
    input_path: str | Path,
    campaign: Campaign | str | Path,
    api: str | None = None,
    now: datetime | None = None,
    run_folder: Path | None = None,
    free_numbers: Collection[str] = (),
) -> Plan:
    """plan_file with the account's call history: the calls placed through `api` (default:
    $VAPI_BASE_URL or Vapi's) recently enough to matter, leaving out `run_folder`'s own."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    moment = now or now_utc()
    lookback = timedelta(days=max(1.0, campaign.compliance.min_days_between_calls))
    history = open_history(campaign)
    try:  # since the earliest start: the screen measures each call against the plan's own start
        recent = history.calls_since(api or base_url(None), start_time(campaign, moment) - lookback, run_folder)
    finally:
        history.close()
    return plan_file(input_path, campaign, now=moment, recent_calls=recent, free_numbers=free_numbers)


class RunFolder:
    """A run folder held by this process (`RunFolder.take`) until `close`."""

    def __init__(self, path: Path, lock: IO[str]) -> None:
        self.path = path
        self._lock = lock

    @classmethod
    def take(cls, path: Path) -> RunFolder:
        """The folder, made if need be, its lock taken (FolderInUse when another process has it)."""
        return cls(path, hold(path / LOCK_FILE, "vapi-campaign run"))

    @staticmethod
    def meta_of(path: Path) -> RunMeta:
        """What the folder's ledger keeps about its run, read without taking the folder: RunStarting
        while a run holds it but has written no ledger yet, OutdirError when it is no run folder."""
        meta = RunMeta.of(Ledger.read_meta(path))
        if meta is not None:
            return meta
        if held(path / LOCK_FILE):
            raise RunStarting(
                f"{path}: a run is starting in this folder: it is still planning, nothing has been sent yet; "
                "run `status` again in a moment"
            )
        raise OutdirError(f"{path}: not a run folder (no ledger.sqlite written by `vapi-campaign run`)")

    def meta(self) -> RunMeta | None:
        """What the ledger keeps about the run; None before the first planning made the ledger."""
        return RunMeta.of(Ledger.read_meta(self.path))

    def keep_input(self, source: Path) -> Path:
        """The folder's copy of the input (made once, whole or not at all): a resumed run plans it
        again even when the original has moved or changed."""
        copy = self.path / f"{INPUT_COPY}{source.suffix.lower()}"
        if not copy.exists():
            with atomic_write(copy, "the copy of the input") as partial:
                shutil.copyfile(source, partial)
        return copy

    def has_requests_file(self) -> bool:
        return (self.path / REQUESTS_FILE).exists()

    def plan(self, input_path: Path, meta: RunMeta) -> Plan:
        """The input planned as `meta` says (its moment, campaign, API and free numbers), screened
        against the account's call history less this folder's own calls."""
        return plan_for(
            input_path, meta.campaign, api=meta.api or None, now=meta.planned_at, run_folder=self.path,
            free_numbers=meta.free_numbers,
        )  # fmt: skip

    def replan(self, meta: RunMeta) -> Plan:
        """The run's plan again, as its first planning made it, from the folder's copy of the input:
        the same plan or none (the copy no longer plans the run: refused)."""
        plan = self.plan(self.path / meta.input, meta)
        if plan.plan_id != meta.plan_id:
            raise OutdirError(f"{self.path}: its copy of the input ({meta.input}) no longer plans the run it holds")
        return plan

    def close(self) -> None:
        self._lock.close()


def remembered_api(folder: Path) -> str | None:
    """The API a run folder's calls went through (RunMeta.api: a base URL, or the in-process
    sandbox's name); None for a folder with no run, or one made before folders kept it."""
    return Ledger.read_meta(folder).get("api") or None


def user_name() -> str:
    """This computer's user name ("" where the system cannot say)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


@dataclass(frozen=True)
class RunMeta:
    """What a run folder's ledger keeps about its run, typed (the ledger's `meta` table holds text):
    when it was planned, with which campaign, from which copy of which input, through which API,
    in which results format, with which free Vapi numbers, and the plan's id."""

    planned_at: datetime
    campaign: Campaign
    input: str  # the folder's copy of the input (INPUT_COPY + suffix)
    source: str  # where the input was read from
    api: str  # the API the run's calls go through ("" for the default)
    format: str | None  # the results sheet's format, if one was asked for
    free_numbers: frozenset[str]  # the free Vapi numbers its first planning was screened for
    plan_id: str = ""  # set by the ledger when it is created
    by: str = field(default_factory=user_name)  # who planned it (the Summary sheet says)

    def as_text(self) -> dict[str, str]:
        return {
            "planned_at": self.planned_at.isoformat(),
            "campaign": json.dumps(self.campaign.model_dump(mode="json")),
            "base_dir": str(self.campaign.base_dir.resolve()),
            "input": self.input,
            "source": self.source,
            "api": self.api,
            "format": self.format or "",
            "free_numbers": json.dumps(sorted(self.free_numbers)),
            "by": self.by,
        }

    @classmethod
    def of(cls, text: dict[str, str]) -> RunMeta | None:
        """The meta a ledger holds as text; None when it holds none (no run was made there yet).
        Keys later versions added are read at their defaults."""
        if "campaign" not in text:
            return None
        campaign = Campaign.model_validate({**json.loads(text["campaign"]), "base_dir": Path(text["base_dir"])})
        return cls(
            planned_at=datetime.fromisoformat(text["planned_at"].replace("Z", "+00:00")),
            campaign=campaign,
            input=text["input"],
            source=text.get("source", ""),
            api=text.get("api", ""),
            format=text.get("format") or None,
            free_numbers=frozenset(json.loads(text.get("free_numbers", "[]"))),
            plan_id=text.get("plan_id", ""),
            by=text.get("by", ""),
        )
