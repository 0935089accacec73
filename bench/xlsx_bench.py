"""XLSX reading speed against pandas' openpyxl engine, measured in the same run (not a test).

python bench/xlsx_bench.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import openpyxl
import pandas as pd

from runner.sheets.read import load_sheet


def make_book(path: Path, rows: int) -> None:
    rng = random.Random(11)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append(["Phone", "First Name", "Email", "Appointment", "Consent"])
    for n in range(rows):
        sheet.append([12025550000 + rng.randrange(10_000), f"Person {n}", f"p{n}@example.com", "Mon 10:00", "yes"])
    book.save(path)


def seconds(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "leads.xlsx"
        make_book(path, args.rows)
        ours = [seconds(lambda: load_sheet(path)) for _ in range(args.repeat)]
        baseline = [
            seconds(lambda: pd.read_excel(path, engine="openpyxl", dtype=str, keep_default_na=False))
            for _ in range(args.repeat)
        ]
    print(f"xlsx rows: {args.rows:,}, median of {args.repeat}")
    print(f"pandas openpyxl engine: {statistics.median(baseline):.2f} s")
    print(f"vapi-campaign load_sheet (calamine): {statistics.median(ours):.2f} s")
    print(f"speed-up: {statistics.median(baseline) / statistics.median(ours):.1f}x (goal >= 4)")


if __name__ == "__main__":
    main()
