"""A run folder's own files, besides its ledger and records: the lock that gives it one process at
a time, the copy of the input it was planned from, and the name a run folder gets by default."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from runner.campaign import Campaign
from runner.errors import FolderInUse, OutdirError
from runner.files import atomic_write

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


def take(folder: Path) -> IO[str]:
    """The folder's lock, held until the handle is closed: one process per run folder at a time (a
    second one gets FolderInUse, naming the holder's pid, not a race)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / LOCK_FILE).open("a")  # "w" would wipe the holder's pid before the lock is tried
    except OSError as exc:
        raise OutdirError(f"{folder}: cannot use as the run folder: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        holder = (folder / LOCK_FILE).read_text().strip()
        who = f" (process {holder})" if holder.isdigit() else ""
        raise FolderInUse(f"{folder}: another vapi-campaign run{who} is using this folder") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def held(folder: Path) -> bool:
    """Whether another process holds the folder's lock (without taking it)."""
    try:
        with (folder / LOCK_FILE).open("r") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def keep_input(folder: Path, source: Path) -> Path:
    """The folder's copy of the input (made once, whole or not at all): a resumed run plans it again
    even when the original has moved or changed."""
    copy = folder / f"{INPUT_COPY}{source.suffix.lower()}"
    if not copy.exists():
        with atomic_write(copy, "the copy of the input") as partial:
            shutil.copyfile(source, partial)
    return copy


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
        )
