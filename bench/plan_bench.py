"""Planning speed and memory against a baseline measured in the same run (not a test).

    python bench/plan_bench.py [--rows 1000000] [--repeat 3] [--shape messy|narrow|narrow-split|narrow-scheduled|all]

Generates a seeded messy CSV, then times as whole processes: a bare
`pandas.read_csv(dtype=str, keep_default_na=False)` of it (the baseline) and
`vapi-campaign plan … --format csv`. Prints the median of each, their ratio (goal ≤ 3, stretch
≤ 2) and the plan's peak RSS (goal ≤ 2 GB).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AREAS = ["202", "212", "305", "312", "401", "404", "415", "512", "602", "617", "713", "206", "208", "303", "800"]
EXCHANGES = [f"{n}" for n in range(201, 1000) if n % 100 != 11 and n != 555]


def messy_number(rng: random.Random) -> str:
    """One phone cell the way CRM exports really hold them."""
    area, line = rng.choice(AREAS), rng.randrange(0, 10_000)
    exchange = rng.choice(EXCHANGES)
    digits = f"{area}{exchange}{line:04d}"
    shape = rng.random()
    if shape < 0.25:
        return f"({area}) {exchange}-{line:04d}"
    if shape < 0.40:
        return f"+1{digits}"
    if shape < 0.50:
        return f"1{digits}.0"
    if shape < 0.55:
        return f"1.{digits}E+10"
    if shape < 0.62:
        return f"{area}.{exchange}.{line:04d} x{rng.randrange(1, 999)}"
    if shape < 0.64:
        return f"+44 7{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}"
    if shape < 0.66:
        return rng.choice(["", "n/a", "call me", "555-01", "2.02555E+09", "(123) 456-7890"])
    if shape < 0.67:
        return f"tel:+1-{area}-{exchange}-{line:04d}"
    return f"{area}-{exchange}-{line:04d}"


def make_input(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Phone,First Name,Email,Appointment,Consent\n")
        for n in range(rows):
            consent = "yes" if rng.random() < 0.95 else "no"
            slot = rng.choice(["Mon 10:00", "Tue 14:30", "Wed 09:15"])
            handle.write(f'"{messy_number(rng)}",Person {n},p{n}@example.com,{slot},{consent}\n')


CAMPAIGN = """name = "Bench"
assistant_id = "asst_bench"
phone_number_id = "pn_bench"
batch_size = 100
[variables]
appointment = "Appointment"
[schedule]
earliest_at = "2030-12-02T06:00:00-05:00"
"""


NARROW_CAMPAIGN = """name = "Bench narrow"
assistant_id = "asst_bench"
phone_number_id = "pn_bench"
batch_size = 100
overrides = "{overrides}"
[schedule]
{schedule}
[compliance]
require_consent = true
"""
# Issue 17's shapes beside the messy sheet: a narrow four-column export, 2% junk numbers.
SHAPES = {
    "narrow": {"overrides": "per-customer", "schedule": 'calling_hours = "any"'},
    "narrow-split": {"overrides": "split", "schedule": 'calling_hours = "any"'},
    "narrow-scheduled": {"overrides": "per-customer", "schedule": 'earliest_at = "2030-12-02T06:00:00-05:00"'},
}


def make_narrow(path: Path, rows: int, seed: int = 5) -> None:
    """phone, name, appointment, consent: clean +1 numbers but for 2% junk."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("phone,name,appointment,consent\n")
        for n in range(rows):
            number = f"+1{rng.choice(AREAS)}{rng.choice(EXCHANGES)}{rng.randrange(10_000):04d}"
            if rng.random() < 0.02:
                number = rng.choice(["n/a", "call me", "555-01", ""])
            slot = rng.choice(["Mon 10:00", "Tue 14:30", "Wed 09:15"])
            handle.write(f"{number},Person {n},{slot},yes\n")


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return elapsed, usage.ru_maxrss * 1024


def bench(work: Path, shape: str, rows: int, repeat: int) -> None:
    source = work / f"{shape}.csv"
    campaign = work / f"{shape}.toml"
    if shape == "messy":
        make_input(source, rows)
        campaign.write_text(CAMPAIGN)
    else:
        make_narrow(source, rows)
        campaign.write_text(NARROW_CAMPAIGN.format(**SHAPES[shape]))
    read = [sys.executable, "-c",
            f"import pandas; pandas.read_csv({str(source)!r}, dtype=str, keep_default_na=False)"]  # fmt: skip
    plan = [sys.executable, "-m", "runner.cli", "plan", str(source), "-c", str(campaign), "-o",
            str(work / f"out-{shape}"), "--format", "csv", "-q"]  # fmt: skip
    reads, plans, peaks = [], [], []
    for _ in range(repeat):
        reads.append(timed(read)[0])
        seconds, peak = timed(plan)
        plans.append(seconds)
        peaks.append(peak)
    baseline, planned = statistics.median(reads), statistics.median(plans)
    size = source.stat().st_size / 1e6
    print(f"[{shape}] rows: {rows:,} ({size:.0f} MB), median of {repeat}")
    print(f"read_csv baseline: {baseline:.2f} s")
    print(f"vapi-campaign plan: {planned:.2f} s")
    print(f"ratio: {planned / baseline:.2f} (goal <= 3, stretch <= 2)")
    print(f"plan peak RSS: {max(peaks) / 2**30:.2f} GB (goal <= 2)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shape", default="messy", choices=["messy", *SHAPES, "all"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for shape in ["messy", *SHAPES] if args.shape == "all" else [args.shape]:
            bench(Path(folder), shape, args.rows, args.repeat)


if __name__ == "__main__":
    main()
