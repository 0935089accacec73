"""`run` and `status` at scale against a sandbox in its own process (not a test): issue 17's goal 3.

    python bench/scale_bench.py [--rows 1000000] [--batch-size 100]

Times, on one generated narrow sheet (phone, name, appointment, consent), each as the user runs it
from the command line with the default results format: `plan` (wall: the baseline), `run` (the
client's CPU seconds and peak RSS; the sandbox is another process, at zero latency, so its work
is not counted) and `status` of every call. Prints run CPU / plan wall and status CPU / plan wall
(goals: at most 5 and 3) and each peak RSS (goal: at most 2 GB).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from plan_bench import make_narrow

CAMPAIGN = """name = "Scale bench"
assistant_id = "asst_bench"
phone_number_id = "pn_bench"
batch_size = {batch_size}
concurrency = 8
requests_per_minute = 10000
[schedule]
calling_hours = "any"
[compliance]
require_consent = true
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in GB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0 and os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(command)}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "runner.cli"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_narrow(root / "leads.csv", args.rows)
        (root / "campaign.toml").write_text(CAMPAIGN.format(batch_size=args.batch_size))
        port = free_port()
        sandbox = subprocess.Popen(
            [
                *cli,
                "sandbox",
                "--port",
                str(port),
                "--dial-now",
                "--call-seconds",
                "1",
                "--concurrency-limit",
                "10000000",
            ],
            stdout=subprocess.DEVNULL,
        )
        # The call history in the temporary folder: a second bench run must not find the first's calls.
        env = {**os.environ, "VAPI_API_KEY": "sandbox-key", "XDG_STATE_HOME": str(root / "state")}
        try:
            time.sleep(2)
            url = f"http://127.0.0.1:{port}"
            sheet = [str(root / "leads.csv"), "-c", str(root / "campaign.toml")]
            plan = measured([*cli, "plan", *sheet, "-o", str(root / "plan"), "-q"], env)
            run = measured([*cli, "run", *sheet, "-o", str(root / "run"), "--base-url", url, "--yes", "-q"], env)
            time.sleep(2)  # every call has ended
            status = measured([*cli, "status", str(root / "run"), "--base-url", url, "-q"], env)
        finally:
            sandbox.terminate()
            sandbox.wait()
    print(f"rows: {args.rows:,}, batch_size {args.batch_size} ({-(-args.rows // args.batch_size):,} requests at most)")
    print(f"plan:   wall {plan[0]:.2f} s, peak RSS {plan[2]:.2f} GB (the baseline)")
    print(f"run:    wall {run[0]:.2f} s, client CPU {run[1]:.2f} s: {run[1] / plan[0]:.1f}x plan (goal <= 5), "
          f"peak RSS {run[2]:.2f} GB (goal <= 2)")  # fmt: skip
    print(f"status: wall {status[0]:.2f} s, client CPU {status[1]:.2f} s: {status[1] / plan[0]:.1f}x plan "
          f"(goal <= 3), peak RSS {status[2]:.2f} GB (goal <= 2)")  # fmt: skip


if __name__ == "__main__":
    main()
