"""Where planning time goes, stage by stage, in one process (not a test; for profiling).

python bench/plan_stages.py [--rows 200000] [--shape messy|narrow|narrow-split|narrow-scheduled]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from plan_bench import CAMPAIGN, NARROW_CAMPAIGN, SHAPES, make_input, make_narrow

from runner.campaign import load_campaign
from runner.planning.customers import build_rows
from runner.planning.plan import plan_file
from runner.planning.requests import plan_requests
from runner.planning.roles import with_roles
from runner.planning.screen import Screen, mark_duplicates
from runner.results.plan_sheet import write_plan
from runner.sheets.read import load_sheet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shape", default="messy", choices=["messy", *SHAPES])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source, campaign_path = work / f"{args.shape}.csv", work / "campaign.toml"
        if args.shape == "messy":
            make_input(source, args.rows)
            campaign_path.write_text(CAMPAIGN)
        else:
            make_narrow(source, args.rows)
            campaign_path.write_text(NARROW_CAMPAIGN.format(**SHAPES[args.shape]))
        campaign = load_campaign(campaign_path)
        marks = [("start", time.perf_counter())]

        def mark(name: str) -> None:
            marks.append((name, time.perf_counter()))

        sheet = with_roles(load_sheet(source, campaign.columns, campaign.sheet), campaign.columns)
        mark("load")
        rows = build_rows(sheet, campaign, "bench000")
        mark("build_rows (normalize + customers)")
        rows = mark_duplicates(rows)
        mark("duplicates")
        rows, _ = Screen(campaign, sheet.roles, datetime(2030, 12, 2, 11, tzinfo=UTC), {}).apply(rows)
        mark("screen (consent, facts, windows)")
        plan_requests(rows, campaign, "bench")
        mark("request groups and ids")
        plan = plan_file(source, campaign)
        mark("plan_file (all of the above again)")
        plan.result_columns()
        mark("result_columns")
        write_plan(plan, work / "out", "csv")
        mark("write_plan (requests.jsonl + results.csv)")
    print(f"rows: {args.rows:,}")
    for (_, before), (name, after) in pairwise(marks):
        print(f"{name:<45} {after - before:6.2f} s")


if __name__ == "__main__":
    main()
