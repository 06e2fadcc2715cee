"""Every benchmark's headline ratio in one table: one command runs each benchmark script as its own process and
prints what it measured against the baseline it measured in the same run.

    python benchmarks/run_all.py [--quick] [--only bench_scale bench_checks ...]

`--quick` runs each at a small size (minutes, not hours); the headline figures in docs/performance.md come from
full runs. A benchmark reports its headline on a line `HEADLINE <name> <ratio> [key value ...]`; for the older
scripts that print a table instead, the line holding their ratio is picked out by a pattern below. The machine
load (`uptime`) is printed beside every row: on a shared machine times are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    script: str
    what: str  # the ratio it reports, in words
    quick: tuple[str, ...] | None  # arguments for --quick; None: left out of --quick (no small size)
    full: tuple[str, ...] = ()
    pattern: str | None = None  # regex whose group 1 is the ratio, for scripts without a HEADLINE line


BENCHES = [
    Bench("bench_scale.py", "1M rows end to end / floor (numpy copula + HGB + polars scans)", ("--rows", "20000")),
    Bench(
        "bench_checks.py",
        "full blend check set / one polars scan",
        ("--rows", "20000"),
        pattern=r"^full check set\s+[\d.]+\s+([\d.]+)",
    ),
    Bench("bench_overhead.py", "pipeline / plain Python loop, same core functions", ("--quick",)),
    Bench(
        "bench_privacy_search.py",
        "exhaustive DCR/NNDR search 100k x 100k / BLAS float32 brute force, same pairs (goal < 30 s)",
        ("--rows", "20000"),
    ),
    Bench(
        "bench_incremental.py",
        "one ratio added / full run (three bundled-plan runs)",
        None,
        pattern=r"^one ratio added\s+[\d.]+\s+([\d.]+)",
    ),
    Bench(
        "bench_evaluation.py",
        "scorecard repeats + bootstrap / single fits",
        ("--repeats", "2", "--bootstrap", "200", "--tries", "1"),
        pattern=r"^all cells: .*?: ([\d.]+)x",
    ),
]


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def headline(bench: Bench, output: str) -> str:
    for line in output.splitlines():
        if line.startswith("HEADLINE "):
            return " ".join(line.split()[2:])
    if bench.pattern:
        for line in output.splitlines():
            found = re.search(bench.pattern, line.strip())
            if found:
                return found.group(1)
    return "no headline found (see its output)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a first look")
    parser.add_argument("--only", nargs="*", help="script names (without .py) to run")
    args = parser.parse_args()
    rows = []
    for bench in BENCHES:
        name = bench.script.removesuffix(".py")
        if (args.only and name not in args.only) or (args.quick and bench.quick is None):
            continue
        if not (HERE / bench.script).exists():
            rows.append((name, bench.what, "script missing", 0.0, load()))
            continue
        before = load()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(HERE / bench.script), *((bench.quick or ()) if args.quick else bench.full)],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        result = headline(bench, done.stdout) if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        if done.returncode != 0:
            sys.stderr.write(f"--- {bench.script} ---\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}\n")
        rows.append((name, bench.what, result, seconds, f"{before} -> {load()}"))
    print(f"{'benchmark':<22}{'headline':<48}{'took s':>8}  {'load (1/5/15 min) before -> after'}")
    for name, what, result, seconds, machine in rows:
        print(f"{name:<22}{result:<48}{seconds:>8.0f}  {machine}")
        print(f"{'':<22}({what})")


if __name__ == "__main__":
    main()
