"""The results sheet after a run, against the plan's own results in the same run (not a test).

    python bench/results_bench.py [--rows 200000] [--repeat 3] [--format csv]

What a user waits for at the end of every `run` and `status`: the plan's rows joined with the
ledger (requests, outcomes, fetched calls) and written out. The bench plans a seeded messy CSV,
opens a run folder, then fills the ledger as if every request had been sent and every call
fetched (SQL inserts, no network), and times `CampaignRun.write_results()` against
`write_plan` (the plan's results alone, no ledger) of the same plan. Prints the median of each
(CPU seconds of the process, all threads), their ratio, and the rows per second.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import polars as pl
from plan_bench import make_input

from runner.results.plan_sheet import write_plan
from runner.sending.run import CampaignRun
from runner.store.ledger import Ledger
from runner.vapi.call_fields import calls_of

CAMPAIGN = """name = "Results bench"
assistant_id = "asst_bench"
phone_number_id = "pn_bench"
batch_size = 100
[schedule]
calling_hours = "any"
[compliance]
require_consent = false
"""
REASONS = ["customer-ended-call", "customer-did-not-answer", "voicemail", "assistant-ended-call", "customer-busy"]


def fill_ledger(ledger: Path) -> int:
    """Every planned request sent, every customer's call created and fetched, ended."""
    with sqlite3.connect(ledger) as db:
        requests = db.execute("SELECT id, rows FROM requests").fetchall()
        outcomes, calls, rows_of = [], [], []
        for request_id, rows in requests:
            for row in json.loads(rows):
                call_id = str(uuid.UUID(int=row))
                outcomes.append((row, request_id, "ended", "", call_id))
                data = {
                    "id": call_id, "status": "ended", "endedReason": REASONS[row % len(REASONS)],
                    "startedAt": "2026-12-01T15:00:00.000Z", "endedAt": "2026-12-01T15:01:12.400Z",
                    "cost": 0.0123 * (row % 7), "analysis": {"summary": f"Talked with row {row}.",
                                                              "successEvaluation": "true"},
                }  # fmt: skip
                calls.append(data)
                rows_of.append(row)
        db.execute("UPDATE requests SET state = 'sent', attempts = 1")
        db.executemany("INSERT INTO outcomes VALUES (?, ?, ?, ?, ?)", outcomes)
    stored = Ledger(ledger)
    stored.store_calls(calls_of(calls, "optOut").with_columns(row=pl.Series(rows_of, dtype=pl.Int64)))
    stored.close()
    return len(outcomes)


def cpu(action: object) -> float:
    start = time.process_time()
    action()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", default="csv", choices=["csv", "xlsx"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_input(root / "input.csv", args.rows)
        (root / "campaign.toml").write_text(CAMPAIGN)
        with CampaignRun.open(root / "input.csv", root / "campaign.toml", root / "run", fmt=args.format) as run:
            called = fill_ledger(root / "run" / "ledger.sqlite")
            plan_times = [cpu(lambda: write_plan(run.plan, root / "plan", args.format)) for _ in range(args.repeat)]
            run_times = [cpu(run.write_results) for _ in range(args.repeat)]
    plan_s, run_s = statistics.median(plan_times), statistics.median(run_times)
    print(f"rows: {args.rows:,} ({called:,} with a fetched call), format {args.format}")
    print(f"plan's results (baseline): {plan_s:.2f} s CPU")
    print(f"run's results:             {run_s:.2f} s CPU ({args.rows / run_s:,.0f} rows/s)")
    print(f"ratio: {run_s / plan_s:.2f}")


if __name__ == "__main__":
    main()
