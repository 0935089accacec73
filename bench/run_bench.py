"""`run` overhead against the local sandbox with no latency (not a test): requests per second the
client sustains with concurrency 8, and what the ledger costs per request.

    python bench/run_bench.py [--requests 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from runner.planning.requests import CallRequest
from runner.sandbox import Sandbox, SandboxConfig
from runner.sending.client import VapiClient
from runner.sending.ledger import Ledger
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rates, costs = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            rates.append(one_run(Path(folder), args.requests))
        with tempfile.TemporaryDirectory() as folder:
            costs.append(ledger_cost(Path(folder), args.requests))
    print(f"requests: {args.requests} single-customer POST /call, concurrency 8, sandbox latency 0")
    print(f"sustained: {statistics.median(rates):.0f} requests/s (median of {args.repeat})")
    print(f"ledger: {statistics.median(costs) * 1000:.2f} ms per request (intent + outcome, synchronous=FULL)")


if __name__ == "__main__":
    main()
