"""Benchmark of scale on one machine: the bundled plan's shape on a large real table, end to end through
`hybrid-data run`, with wall time and memory per stage, against a floor measured in the same invocation.

The table is the bundled LendingClub data upsampled to `--rows` (seeded draws with replacement; continuous
columns jittered by 2% so rows are distinct; counts, codes and categories kept as drawn), 23 columns. The plan
is the bundled one with ratios 0/0.1/0.25/0.5/0.75/1.0 in augment mode (GaussianCopula) and, by default, one
model fit per cell and no classical baselines (`--repeats`, `--baselines` to change that): the shape issue 16
measured at 10 min 57 s and 7.0 GB for 1M rows.

The floor is what the work costs with no pipeline around it, measured here on the same rows: a numpy Gaussian
copula fit + sample of the pool, HistGradientBoosting over the grid's training rows (one fit on the real rows,
scaled by the grid's total rows), and one polars statistics scan per blend.

    python benchmarks/bench_scale.py [--rows 1000000] [--keep]

Memory is read from /proc every 0.5 s over the `hybrid-data` process and all its descendants: the peak of the
summed proportional set size (PSS: shared pages split between the processes sharing them, so forked workers are
not counted twice) and the peak resident set (RSS) of the largest single process. Stage times come from the
Dagster instance's own step events. On a machine shared with other work times are upper bounds: the load is
printed beside them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_data.instance import limit_step_threads

# The floor runs under the thread cap the pipeline's steps get (set before numpy loads), so the two compare.
limit_step_threads()

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import yaml  # noqa: E402
from pipeline_process import run_command, run_env  # noqa: E402 (benchmarks/ is the script's folder)

from hybrid_data.plan import BUNDLED_DATA_DIR, BUNDLED_PLAN  # noqa: E402

RATIOS = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
GOAL_SECONDS, GOAL_GB = 360.0, 4.0
JITTER = 0.02
PAGE = os.sysconf("SC_PAGE_SIZE")


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


# --- the table ---------------------------------------------------------------------------------------------------


def upsampled_table(rows: int, seed: int = 0) -> pl.DataFrame:
    """The bundled table drawn `rows` times with replacement; each continuous column (more than 50 distinct
    values) multiplied by 1 + N(0, 2%), rounded back to integers where it was integer."""
    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv", infer_schema_length=100_000)
    rng = np.random.default_rng(seed)
    drawn = real[rng.integers(0, real.height, rows)]
    jittered = []
    for name, dtype in drawn.schema.items():
        if not dtype.is_numeric() or real[name].n_unique() <= 50:
            continue
        noise = pl.Series(rng.normal(1.0, JITTER, rows))
        column = drawn[name].cast(pl.Float64) * noise
        jittered.append((column.round(0) if dtype.is_integer() else column.round(4)).cast(dtype).alias(name))
    return drawn.with_columns(jittered)


def write_plan(folder: Path, source: Path, repeats: int, baselines: list[str]) -> Path:
    plan = yaml.safe_load(BUNDLED_PLAN.read_text())
    plan["source"] = {"path": str(source)}
    plan["ratios"] = RATIOS
    plan["anchoring"]["mode"] = "augment"
    plan.setdefault("evaluation", {}).update({"repeats": repeats, "baselines": baselines})
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


# --- memory of a process tree ------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = Path(f"/proc/{current}/task").iterdir()
            kids = [int(k) for t in tasks for k in (t / "children").read_text().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def _memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in bytes of one process, (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1]) * 1024
    return values.get("Pss:", 0), values.get("Rss:", 0)


@dataclass
class MemoryTrace:
    """Samples (time, summed PSS, largest RSS) of a process and its descendants, taken on a thread."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> MemoryTrace:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = [_memory(p) for p in [self.pid, *_children(self.pid)]]
            self.samples.append((time.time(), sum(s[0] for s in sizes), max((s[1] for s in sizes), default=0)))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()

    def peak(self, start: float = 0.0, end: float = float("inf")) -> tuple[int, int]:
        inside = [s for s in self.samples if start <= s[0] <= end] or [(0, 0, 0)]
        return max(s[1] for s in inside), max(s[2] for s in inside)


# --- the pipeline run --------------------------------------------------------------------------------------------


def run_pipeline(plan: Path, home: Path, log: Path) -> tuple[float, MemoryTrace]:
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(run_command(plan), env=run_env(home), stdout=out, stderr=subprocess.STDOUT)
        trace = MemoryTrace(process.pid).start()
        code = process.wait()
        trace.stop()
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"hybrid-data run failed (exit {code}); see {log}")
    return seconds, trace


@dataclass
class Step:
    job: str
    key: str
    start: float
    end: float


def step_times(dagster_home: Path) -> list[Step]:
    """Every step of every run in the home's instance, from its STEP_START and STEP_SUCCESS events."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    steps = []
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            starts = {}
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None or entry.step_key is None:
                    continue
                if event.event_type_value == "STEP_START":
                    starts[entry.step_key] = entry.timestamp
                elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in starts:
                    steps.append(Step(run.job_name, entry.step_key, starts[entry.step_key], entry.timestamp))
    return steps


# --- the floor ---------------------------------------------------------------------------------------------------


def numpy_copula_seconds(real: pl.DataFrame, pool_rows: int, seed: int = 0) -> float:
    """A Gaussian copula in plain numpy: normal scores of each column's ranks, their correlation, a sample,
    and each column back through its empirical quantiles (categories as their codes)."""
    started = time.perf_counter()
    from scipy.special import ndtr, ndtri

    columns = [
        real[c].cast(pl.String).rank("dense").cast(pl.Float64) if not t.is_numeric() else real[c].cast(pl.Float64)
        for c, t in real.schema.items()
    ]
    x = np.column_stack([c.fill_null(strategy="mean").to_numpy() for c in columns])
    ranks = (np.argsort(np.argsort(x, axis=0), axis=0) + 0.5) / x.shape[0]
    correlation = np.corrcoef(ndtri(ranks), rowvar=False)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((pool_rows, x.shape[1])) @ np.linalg.cholesky(correlation + 1e-9 * np.eye(x.shape[1])).T
    u = ndtr(z)
    _sample = np.column_stack([np.quantile(x[:, j], u[:, j], method="inverted_cdf") for j in range(x.shape[1])])
    return time.perf_counter() - started


def hgb_seconds(real: pl.DataFrame, target: str, seed: int = 0) -> float:
    """One HistGradientBoosting fit on the real rows, as the plan's model (codes for categories)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = real.drop(target)
    x = x.with_columns(pl.col(c).cast(pl.String).rank("dense") for c, t in x.schema.items() if not t.is_numeric())
    y = real[target].cast(pl.String).to_numpy()
    started = time.perf_counter()
    HistGradientBoostingClassifier(early_stopping=False, random_state=seed).fit(x.to_numpy().astype(np.float32), y)
    return time.perf_counter() - started


def scan_seconds(real: pl.DataFrame) -> float:
    """One polars statistics pass: count, nulls, min, max, mean and distinct count of every column."""
    started = time.perf_counter()
    real.select(
        [pl.len()]
        + [pl.col(c).null_count().alias(f"{c}_n") for c in real.columns]
        + [pl.col(c).n_unique().alias(f"{c}_u") for c in real.columns]
        + [pl.col(c).min().alias(f"{c}_min") for c in real.columns]
        + [pl.col(c).max().alias(f"{c}_max") for c in real.columns]
        + [pl.col(c).mean().alias(f"{c}_mean") for c, t in real.schema.items() if t.is_numeric()]
    )
    return time.perf_counter() - started


def floor(real: pl.DataFrame, target: str, holdout: float) -> dict[str, float]:
    """Seconds of the floor's three parts, each scaled to the grid's amount of work."""
    from hybrid_data.blending import blend_size

    n_train = round(real.height * (1 - holdout))
    sizes = [blend_size(n_train, r, "augment") for r in RATIOS]
    pool = max(s.synthetic_rows for s in sizes)
    grid_rows = sum(s.rows for s in sizes)
    return {
        "copula fit + sample (numpy)": numpy_copula_seconds(real, pool),
        "HGB over the grid's rows": hgb_seconds(real, target) * grid_rows / real.height,
        "polars scan of each blend": scan_seconds(real) * grid_rows / real.height,
    }


# --- report ------------------------------------------------------------------------------------------------------

KINDS = {
    "prepare_real_data": "real data (ingest, SQL, split, profile)",
    "synthesize": "synthesizer fit + pool",
}


def stage_of(step: Step) -> str:
    if step.job in KINDS:
        return KINDS[step.job]
    if step.job == "blend_grid":
        name = step.key.split("[")[0]
        if name == "blend":
            return "blend: compose + write"
        if name == "blend_model":
            return "blend: model fit + MLflow"
        return f"blend checks: {name}"
    return step.job


def report(seconds: float, trace: MemoryTrace, steps: list[Step], floor_parts: dict[str, float], rows: int) -> None:
    by_stage: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        by_stage[stage_of(step)].append(step)
    print(f"\n{rows:,} real rows, ratios {RATIOS}; load average {load_average()}; {os.cpu_count()} cores")
    print(f"{'stage':<48}{'steps':>6}{'step-s':>9}{'span-s':>9}{'peak PSS GB':>13}")
    for stage, members in sorted(by_stage.items(), key=lambda kv: min(s.start for s in kv[1])):
        start, end = min(s.start for s in members), max(s.end for s in members)
        pss, _ = trace.peak(start, end)
        busy = sum(s.end - s.start for s in members)
        print(f"{stage:<48}{len(members):>6}{busy:>9.1f}{end - start:>9.1f}{pss / 1e9:>13.2f}")
    pss, rss = trace.peak()
    floor_total = sum(floor_parts.values())
    print(f"\n{'floor part':<48}{'seconds':>9}")
    for label, value in floor_parts.items():
        print(f"{label:<48}{value:>9.1f}")
    print(f"{'floor total':<48}{floor_total:>9.1f}")
    print(
        f"\nend to end {seconds:.1f} s ({seconds / floor_total:.2f}x the floor; goal < {GOAL_SECONDS:.0f} s: "
        f"{'met' if seconds < GOAL_SECONDS else 'MISSED'}), peak PSS of all processes {pss / 1e9:.2f} GB "
        f"(goal < {GOAL_GB:g} GB: {'met' if pss / 1e9 < GOAL_GB else 'MISSED'}), largest single RSS "
        f"{rss / 1e9:.2f} GB; load average {load_average()}"
    )
    print(f"HEADLINE scale_vs_floor {seconds / floor_total:.3f} seconds {seconds:.1f} peak_gb {pss / 1e9:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="real rows of the upsampled table")
    parser.add_argument("--repeats", type=int, default=1, help="evaluation.repeats of the plan")
    parser.add_argument("--baselines", nargs="*", default=[], help="evaluation.baselines of the plan")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, home)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    print(f"load average before: {load_average()}", flush=True)
    try:
        table = upsampled_table(args.rows)
        source = folder / "lending_club_upsampled.parquet"
        table.write_parquet(source)
        plan = write_plan(folder, source, args.repeats, args.baselines)
        home = folder / "home"
        seconds, trace = run_pipeline(plan, home, folder / "run.log")
        print((folder / "run.log").read_text()[-4000:])
        steps = step_times(home / "dagster")
        target = yaml.safe_load(plan.read_text())["target"]
        floor_parts = floor(table, target, 0.2)
        report(seconds, trace, steps, floor_parts, args.rows)
    finally:
        if args.keep:
            print(f"logs and home kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
