"""The default results sheet (results.xlsx) against results.csv of the same plan, in the same run
(not a test).

    python bench/write_bench.py [--rows 200000] [--repeat 3]

Plans the seeded messy bench sheet once, then times `write_results` to each format: what a user
waits for at the end of every `plan` and `run` (xlsx is the default). Prints the median of each,
their ratio, and the sizes. Then the whole `plan` command to each format, as a user waits for it
(issue 17 measured its "23x" that way), and that ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from plan_bench import make_input

from runner.planning.plan import plan_file
from runner.results.plan_sheet import plan_summary
from runner.results.write import plan_columns, results_table, write_results

CAMPAIGN = """name = "Write bench"
assistant_id = "asst_bench"
phone_number_id = "pn_bench"
[schedule]
calling_hours = "any"
[compliance]
require_consent = false
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pa.set_memory_pool(pa.system_memory_pool())  # as the command line does
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_input(root / "input.csv", args.rows)
        (root / "campaign.toml").write_text(CAMPAIGN)
        plan = plan_file(root / "input.csv", root / "campaign.toml")
        table, summary = results_table(plan.sheet.table, plan_columns(plan.result_columns())), plan_summary(plan)
        medians, sizes = {}, {}
        for fmt in ("csv", "xlsx"):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                write_results(table, root / f"results.{fmt}", summary)
                times.append(time.perf_counter() - start)
            medians[fmt], sizes[fmt] = statistics.median(times), (root / f"results.{fmt}").stat().st_size
        commands = {}
        for fmt in ("csv", "xlsx"):
            times = []
            for n in range(args.repeat):
                command = [sys.executable, "-m", "runner.cli", "plan", str(root / "input.csv"), "-q"]
                command += ["-c", str(root / "campaign.toml"), "-o", str(root / f"plan-{fmt}-{n}"), "--format", fmt]
                start = time.perf_counter()
                subprocess.run(command, check=True, env=os.environ, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - start)
            commands[fmt] = statistics.median(times)
    print(f"rows: {args.rows:,} x {table.num_columns} columns, median of {args.repeat}")
    for fmt in ("csv", "xlsx"):
        print(f"results.{fmt}: {medians[fmt]:.2f} s, {sizes[fmt] / 1e6:.0f} MB")
    print(f"ratio xlsx/csv: {medians['xlsx'] / medians['csv']:.1f}")
    print(f"the plan command: --format csv {commands['csv']:.2f} s, xlsx {commands['xlsx']:.2f} s: "
          f"ratio {commands['xlsx'] / commands['csv']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
