"""Dialling: how busy a run keeps the account's lines (not a test).

    python bench/dial_bench.py [--rows 100] [--lines 10] [--call-seconds 10] [--mode fail|queue|both]

Runs a campaign of N rows against the in-process sandbox with L lines and D-second calls (every
call rings at once: dial_now), and waits until every call has ended. The baseline is the physical
limit, measured in the same run's terms: N x D / L seconds of line time. Prints the utilization
(that ideal over the time taken, goal >= 90% at 10 lines and 10-second calls), the most calls the
sandbox had live at once (it must not pass L), and how many calls never rang (failed for want of a
line, or queued waiting for one). 100 rows of 10 s on 10 lines take about 100 s a mode.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from runner.ended_reasons import Ending, ending
from runner.sandbox import Sandbox, SandboxConfig
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.vapi.client import VapiClient

CAMPAIGN = """name = "Dial bench"
assistant_id = "asst_bench"
phone_number_id = "pn_bench"
batch_size = 50

[compliance]
require_consent = false

[schedule]
calling_hours = "any"
"""


def dial(work: Path, rows: int, lines: int, seconds: float, mode: str) -> None:
    source, campaign = work / f"{mode}.csv", work / f"{mode}.toml"
    source.write_text("phone\n" + "".join(f"+1202555{n % 10_000:04d}\n" for n in range(rows)))
    campaign.write_text(CAMPAIGN)
    config = SandboxConfig(concurrency_limit=lines, over_limit=mode, dial_now=True, call_seconds=seconds)
    most, done = 0, threading.Event()
    with Sandbox(config) as server, VapiClient(config.api_key, server.url) as client:

        def sample() -> None:
            nonlocal most
            while not done.is_set():
                most = max(most, server.store.active_count())
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        with CampaignRun.open(source, campaign, work / f"run-{mode}", "csv", server.url) as run:
            run.send(client, SubmitOptions(requests_per_minute=6000))
        while server.store.active_count() or server.store.queued_count():
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        calls = server.store.list({"limit": "100000"})
    ideal = rows * seconds / lines
    never = sum(1 for call in calls if ending(call.get("endedReason")) is Ending.NEVER_RANG)
    print(f"[{mode}] rows {rows}, lines {lines}, calls of {seconds:g} s")
    print(f"ideal (rows x seconds / lines): {ideal:.1f} s")
    print(f"taken (first POST to last call ended): {elapsed:.1f} s")
    print(f"utilization: {ideal / elapsed:.0%} (goal >= 90%)")
    print(f"most live at once (the sandbox's count): {most} of {lines}")
    print(f"never rang: {never} of {len(calls)} calls")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--call-seconds", type=float, default=10.0)
    parser.add_argument("--mode", choices=["fail", "queue", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        os.environ["XDG_STATE_HOME"] = str(Path(work) / "state")  # never the user's call history
        for mode in ("fail", "queue") if args.mode == "both" else (args.mode,):
            dial(Path(work), args.rows, args.lines, args.call_seconds, mode)


if __name__ == "__main__":
    main()
