"""Benchmark of incremental runs: what `hybrid-data run` costs when little or nothing changed, as a share of a
full run measured in the same invocation.

Three runs of the command users type, each a fresh process on one new home folder, with the bundled plan:
1. full: everything from an empty home;
2. nothing changed: the same command again (goal <= 0.05 of the full run: nothing should be launched);
3. one ratio added (0.6) to the plan (goal <= 0.10: one blend, its checks and model, and the scorecard).

    python benchmarks/bench_incremental.py [--ratio 0.6] [--keep]

Wall-clock seconds include process start and Dagster's import, as the user waits for them. On a machine shared
with other work the figures move with its load; run it on an idle machine for the headline numbers.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from pipeline_process import run_command, run_env  # benchmarks/ is the script's folder

from hybrid_data.plan import BUNDLED_PLAN

GOALS = {"nothing changed": 0.05, "one ratio added": 0.10}


def write_plan(folder: Path, extra_ratio: float | None) -> Path:
    """The bundled plan, with its source made absolute, and optionally one more ratio."""
    plan = yaml.safe_load(BUNDLED_PLAN.read_text())
    plan["source"]["path"] = str((BUNDLED_PLAN.parent / plan["source"]["path"]).resolve())
    if extra_ratio is not None:
        plan["ratios"] = sorted({*plan["ratios"], extra_ratio})
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def run(plan: Path, home: Path, log: Path) -> float:
    """Seconds `hybrid-data run` takes, as a fresh process; its output goes to `log`."""
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call(run_command(plan), env=run_env(home), stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"hybrid-data run failed (exit {code}); see {log}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=0.6, help="the ratio added for the third run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, home)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    home = folder / "home"
    try:
        plan = write_plan(folder, None)
        seconds = {"full": run(plan, home, folder / "full.log")}
        seconds["nothing changed"] = run(plan, home, folder / "rerun.log")
        write_plan(folder, args.ratio)
        seconds["one ratio added"] = run(plan, home, folder / "add_ratio.log")
    finally:
        if args.keep:
            print(f"logs and home kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    full = seconds["full"]
    print(f"{'run':<18}{'seconds':>9}{'x full':>9}{'goal':>8}")
    for label, value in seconds.items():
        goal = GOALS.get(label)
        verdict = "" if goal is None else ("  ok" if value / full <= goal else "  MISSED")
        print(f"{label:<18}{value:>9.1f}{value / full:>9.3f}{'' if goal is None else f'<= {goal:.2f}':>8}{verdict}")


if __name__ == "__main__":
    main()
