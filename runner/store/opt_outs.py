"""The campaign's own do-not-call list of people who said, on a call, not to be called again
(TCPA: a revoked consent must be honoured by any reasonable means).

Every look at the calls finds them (`status`, and `run` before it plans follow-ups): an ended
call whose analysis.structuredData holds the campaign's opt-out field ([compliance]
opt_out_field) set to true. Their numbers are appended to opt-outs.csv beside the campaign file
(number, when, call id, run folder), in one write per look, never rewriting what is there: lines
a person adds by hand are kept, and honoured as well."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path

from runner.campaign import Campaign
from runner.errors import unwritable
from runner.planning.screen import load_opt_outs
from runner.store.ledger import Ledger

HEADER = ["number", "opted_out_at", "call_id", "run"]


def record_opt_outs(ledger: Ledger, campaign: Campaign, run_dir: Path) -> int:
    """Append the numbers of this run's ended calls that opted out and are not on the list yet;
    returns how many were added."""
    listed = load_opt_outs(campaign)
    new: list[list[str]] = []
    for call_id, number, ended_at in ledger.opted_out_calls():
        if number and number not in listed:
            listed[number] = ""
            new.append([number, ended_at or datetime.now().astimezone().isoformat(), call_id, str(run_dir)])
    if not new:
        return 0
    path = campaign.opt_outs_path()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if not path.exists() or path.stat().st_size == 0:
        writer.writerow(HEADER)
    writer.writerows(new)
    try:
        # One write to a file opened for appending: lines from another process never interleave.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, text.getvalue().encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise unwritable(path.parent, f"the opt-out list {path.name}", exc) from None
    return len(new)
