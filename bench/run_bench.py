"""`run` overhead against the local sandbox with no latency (not a test): requests per second the
client sustains with concurrency 8, what the ledger costs per request, and what admission's claim
in the call history costs per request of 100 customers, against a history already holding
`--history` numbers (as a ratio to the ledger's cost, measured in the same run).

    python bench/run_bench.py [--requests 400] [--repeat 3] [--history 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runner.planning.requests import CallRequest
from runner.sandbox import Sandbox, SandboxConfig
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.store.history import Caps, History
from runner.store.ledger import Ledger
from runner.vapi.client import VapiClient

CAMPAIGN = """name = "Run bench"
assistant_id = "asst_bench"
phone_number_id = "pn_bench"
batch_size = 1
concurrency = 8
requests_per_minute = 10000
[schedule]
calling_hours = "any"
[compliance]
require_consent = false
"""


def one_run(folder: Path, count: int) -> float:
    os.environ["XDG_STATE_HOME"] = str(folder)  # the run's call history: in the temporary folder
    source = folder / "leads.csv"
    source.write_text("phone\n" + "".join(f"+1202555{n:04d}\n" for n in range(count)))
    (folder / "campaign.toml").write_text(CAMPAIGN)
    options = SubmitOptions(concurrency=8, requests_per_minute=10_000_000)  # pacing out of the way
    with (
        Sandbox(SandboxConfig(concurrency_limit=100_000)) as server,
        VapiClient("sandbox-key", server.url) as client,
        CampaignRun.open(source, folder / "campaign.toml", folder / "run", api=server.url) as run,
    ):
        start = time.perf_counter()
        run.send(client, options)
        return count / (time.perf_counter() - start)


def ledger_cost(folder: Path, count: int) -> float:
    """Seconds per request for the two committed writes around a send (intent, outcome)."""
    requests = [CallRequest.of(f"r{n}", (n,), {"customer": {"number": "+1"}}) for n in range(count)]
    ledger = Ledger.open(folder / "ledger", "bench", requests)
    start = time.perf_counter()
    for request in requests:
        ledger.mark_sending(request.id, request.body)
        ledger.record_sent(request.id, [])
    elapsed = time.perf_counter() - start
    ledger.close()
    return elapsed / count


def claim_cost(folder: Path, count: int, held: int, batch: int = 100) -> float:
    """Seconds per claim of a `batch`-customer request, against a history holding `held` numbers
    of other runs (claimed in requests of 1,000, as a large earlier run leaves them)."""
    history = History(folder / "history.sqlite")
    caps, api, now = Caps(1, 3), "https://api.vapi.ai", datetime.now(UTC)
    for first in range(0, held, 1000):
        numbers = {row: f"+1{3_000_000_000 + row}" for row in range(first, min(first + 1000, held))}
        history.claim(api, "/runs/earlier", f"e{first}", now - timedelta(hours=30), numbers, caps)
    start = time.perf_counter()
    for n in range(count):
        numbers = {row: f"+1{2_000_000_000 + row}" for row in range(n * batch, (n + 1) * batch)}
        history.claim(api, "/runs/this", f"r{n}", now, numbers, caps)
    elapsed = time.perf_counter() - start
    history.close()
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    rates, costs, claims = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            rates.append(one_run(Path(folder), args.requests))
        with tempfile.TemporaryDirectory() as folder:
            costs.append(ledger_cost(Path(folder), args.requests))
        with tempfile.TemporaryDirectory() as folder:
            claims.append(claim_cost(Path(folder), args.requests, args.history))
    print(f"requests: {args.requests} single-customer POST /call, concurrency 8, sandbox latency 0")
    print(f"sustained: {statistics.median(rates):.0f} requests/s (median of {args.repeat})")
    ledger = statistics.median(costs)
    print(f"ledger: {ledger * 1000:.2f} ms per request (intent + outcome, synchronous=FULL)")
    claim = statistics.median(claims)
    print(
        f"claim: {claim * 1000:.2f} ms per request of 100 customers, history of {args.history:,} numbers "
        f"({claim / ledger:.2f}x the ledger's)"
    )


if __name__ == "__main__":
    main()
