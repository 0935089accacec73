"""Following a run's calls: each look fetches every call not yet seen ended into the ledger, from
Vapi's call list (runner.vapi.call_list), then by id only what the list did not return; and it
records who asked on the call not to be called again, before anything plans a follow-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from runner.campaign import Campaign
from runner.errors import NetworkError
from runner.store.call_store import STORE_SCHEMA
from runner.store.ledger import Ledger, now_utc
from runner.store.opt_outs import record_opt_outs
from runner.vapi.call_fields import calls_of, shown
from runner.vapi.call_list import fetch_calls, list_calls
from runner.vapi.client import VapiClient

CLOCK_SKEW = timedelta(minutes=5)  # how far Vapi's clock may be from ours when searching its call list
# Vapi's call statuses that are final without being `ended`: a watch waits no longer for them.
NEVER_ENDING = ("not-found", "deletion-failed")


class CallWatch:
    """The looks one process takes at a run's calls, and what the last one found: the calls the API
    answered 404 for, how many list pages it read, how many people it added to the opt-out list."""

    def __init__(self, ledger: Ledger, campaign: Campaign, folder: Path) -> None:
        self._ledger = ledger
        self._campaign = campaign
        self._folder = folder
        self.not_found: set[str] = set()  # call ids the API answered 404 for at the last look
        self.list_requests = 0  # GET /call pages the last look asked for
        self.opted_out = 0  # numbers the last look added to the campaign's opt-out list
        self._last_look: datetime | None = None  # when this process last looked (for --watch)

    def unfinished(self) -> pl.DataFrame:
        """(row, call_id) of every call the rows were given that has not been seen ended."""
        return self._ledger.unfinished_frame()

    def look(self, client: VapiClient, concurrency: int = 4) -> int:
        """Fetch every call that has not ended yet into the ledger; returns how many were fetched.

        The first look in a process reads the call list (a page per 1,000 calls of the run's
        from-numbers and send times) and fetches by id the calls it did not return. Later looks
        (--watch) ask the list only for what changed since the last one (updatedAtGe)."""
        unfinished = self.unfinished()
        started = now_utc()
        search = self._ledger.call_search(CLOCK_SKEW) if unfinished.height else None
        field = self._campaign.compliance.opt_out_field
        try:
            pages = list(list_calls(client, search, unfinished, field, self._last_look) if search else ())
            found = [shown(pl.concat(pages), field) if pages else pl.DataFrame(schema=STORE_SCHEMA)]
            left = unfinished.join(found[0], on="call_id", how="anti")
            lookup = left.get_column("call_id").to_list() if self._last_look is None else []
            fetched = fetch_calls(client, lookup, concurrency)
        except NetworkError as exc:
            raise NetworkError(
                f"cannot fetch the calls at {client.base_url}: {exc}; nothing was changed: "
                "run the same command again when the API answers",
                maybe_sent=False,
            ) from None
        self.list_requests = len(pages)
        if self._last_look is None:
            by_id = calls_of([{**data, "id": call_id} for call_id, data in fetched.items()], field)
            found.append(by_id.join(left, on="call_id"))
            self.not_found = set(left.get_column("call_id")) - set(fetched)
        else:  # the list gave every call that changed since the last look
            still = unfinished.filter(pl.col("call_id").is_in(list(self.not_found))).get_column("call_id")
            self.not_found = set(still)
        stored = pl.concat(frame.select(*STORE_SCHEMA) for frame in found)
        self._ledger.store_calls(stored)
        self._last_look = started - CLOCK_SKEW
        # Before anything plans a follow-up: whoever asked not to be called again is not.
        self.opted_out = record_opt_outs(self._ledger, self._campaign, self._folder)
        return stored.height

    def notes(self, api: str) -> list[str]:
        """What the last look found that a person should know: who opted out, what the API (`api`,
        as shown) did not know."""
        notes = []
        if self.opted_out:
            notes.append(
                f"{self.opted_out} person(s) asked on the call not to be called again: added to "
                f"{self._campaign.opt_outs_path()}, which every later plan of this campaign honours"
            )
        if self.not_found:
            notes.append(
                f"{len(self.not_found)} call(s) not known to {api} (it answered 404): is this the API "
                "the run sent them to? (--sandbox, --base-url, $VAPI_BASE_URL)"
            )
        return notes

    def never_ending(self, unfinished: pl.DataFrame) -> pl.DataFrame:
        """(row, call_id, why) of the unfinished calls that will not end: the API answered 404 for
        them, or gives them a status that is final without `ended`."""
        statuses = self._ledger.calls.frame().select("row", "call_id", "status")
        joined = unfinished.join(statuses, on=["row", "call_id"], how="left")
        missing = pl.col("call_id").is_in(list(self.not_found))
        final = pl.col("status").is_in(list(NEVER_ENDING))
        return joined.filter(missing | final).select(
            "row", "call_id", why=pl.when(missing).then(pl.lit("the API answered 404")).otherwise("status")
        )


def stuck_note(stuck: pl.DataFrame) -> str:
    """Why --watch stops waiting: the calls (never_ending's) that will never end, the first ten named."""
    shown = ", ".join(f"row {row} (call {call}: {why})" for row, call, why in stuck.head(10).iter_rows())
    more = f" and {stuck.height - 10} more" if stuck.height > 10 else ""
    return f"--watch stops: {stuck.height} call(s) will never end as far as the API says: {shown}{more}"
