"""Benchmark of orchestration overhead: the same plan run twice, once as a plain Python loop over the core functions
the assets and checks call (no Dagster, no IO manager, no MLflow), once through the pipeline (`hybrid-data run` in
a fresh process), with the ratio of their wall times (goal <= 1.10) and where the difference goes.

Both sides are fresh processes started here, with the same thread cap and the same plan, and do the same work:
ingest, the SQL models, the profile, each synthesizer's fit, pool and privacy attacks, every blend with all its
checks (correctness, expectations, fidelity, privacy, tails, attacks), the plan's K seeded fits per cell, the
classical baselines, the scorecard's bootstrap and its charts. The plain loop preloads the libraries its work
needs (as the pipeline's forkserver does), loops one step after another on one core, and runs the SQL models
with the core's runner (it writes their Parquet files: the only files the plain loop writes besides the charts).

The split of the difference reads the pipeline's own records: Dagster's event log (step start/success, the IO
manager's LOADED_INPUT/HANDLED_OUTPUT) and MLflow's run windows (create to terminate). Each moment of the
pipeline's wall time is shared equally among the steps running or starting then, so the parts add up to its
wall time. The parts of the difference: the CLI's own start, imports, definitions and choice of runs (no run
going; minus the plain process's start and imports), run launch (a run going, no step), step processes starting
(STEP_WORKER_STARTING to STEP_START), IO manager reads and writes, MLflow logging, checks (check steps minus the
same checks in the loop) and other (asset steps minus the same core work in the loop: what asset bodies do
beyond core calls, MLflow calls outside a run window, file IO inside asset bodies, less the gain from running
steps on both cores).
CPU seconds of every process (orphans included: this process is their subreaper) are printed beside wall time:
they compare the work done whatever the parallelism.

    python benchmarks/bench_overhead.py [--quick] [--repeats N] [--keep]

The default runs the bundled plan; `--quick` a smaller one (ratios 0 and 0.5, 2 fits per cell, 200 bootstrap
resamples, one classical baseline, 100 attacks per privacy risk), and says so. On a machine shared with other
work the figures move with its load: `uptime` is printed beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_data.instance import limit_step_threads

# Both sides run under the thread cap the pipeline's steps get (set before numpy loads; children inherit it).
limit_step_threads()

import polars as pl  # noqa: E402
import yaml  # noqa: E402
from pipeline_process import run_command, run_env  # noqa: E402 (benchmarks/ is the script's folder)

from hybrid_data.plan import BUNDLED_PLAN  # noqa: E402

GOAL = 1.10
QUICK = {
    "ratios": [0, 0.5],
    "evaluation": {"repeats": 2, "bootstrap": 200, "baselines": ["class_weight"]},
    "privacy": {"attacks": 100},
}
# What the plain process imports before its loop, as the pipeline's forkserver does before its steps
# (assets/jobs.py HEAVY_MODULES, without MLflow and Great Expectations, which the plain loop does not use).
PRELOAD = ("sklearn.ensemble", "sdmetrics.reports", "sdv.single_table")
CHECKS, EXTRAS = "checks", "extras"


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def write_plan(folder: Path, quick: bool) -> Path:
    """The bundled plan with its source made absolute; with `quick`, the smaller settings above."""
    plan = yaml.safe_load(BUNDLED_PLAN.read_text())
    plan["source"]["path"] = str((BUNDLED_PLAN.parent / plan["source"]["path"]).resolve())
    if quick:
        for key, value in QUICK.items():
            plan[key] = {**plan.get(key, {}), **value} if isinstance(value, dict) else value
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


# --- the plain loop (runs in its own process: `--plain-loop PLAN WORK`) -------------------------------------------


@dataclass
class Stopwatch:
    """Seconds per stage; `extras` is work only the pipeline does, measured here to explain its part of 'other'."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextlib.contextmanager
    def __call__(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started


def check_record(name: str, outcome, severity: str) -> dict:
    """A check's outcome as blend_model receives it from Dagster's records (assets/check_status.py)."""
    return {
        "check": name,
        "passed": outcome.passed,
        "severity": severity,
        "description": outcome.description,
        "metadata": outcome.metadata,
    }


def blend_checks(plan, ratio, blend, real_train, real_holdout, real_profile, pool_risks, pool_rows, suites_root):
    """Every check the pipeline runs on a blend (checks/*.py), as core calls, with the severity each gets."""
    from hybrid_data.blend_check_groups import (
        correctness_outcomes,
        fidelity_outcomes,
        privacy_outcomes,
        synthetic_rows,
        tail_outcomes,
    )
    from hybrid_data.expectations import (
        expectations_outcome,
        generate_suite,
        hand_written_suites,
        run_suites,
        write_generated_suite,
    )
    from hybrid_data.privacy_attacks import blend_risks

    checks, target = plan.checks, plan.target
    synthetic = synthetic_rows(blend)
    errors = correctness_outcomes(blend, real_train, real_holdout, ratio, plan)
    suite = generate_suite(real_profile, plan.name, target, checks.range_margin)
    generated = write_generated_suite(suite, plan.name, suites_root)
    suites = [(f"generated/{generated.name}", suite), *((p.name, s) for p, s in hand_written_suites(plan.name))]
    warnings = {"blend_expectations": expectations_outcome(run_suites(blend, suites))}
    warnings |= fidelity_outcomes(blend, real_train, plan) | privacy_outcomes(blend, real_train, real_holdout, plan)
    warnings |= tail_outcomes(blend, real_train, plan)
    # the attack risks of the blend's synthetic rows (judged against the plan in checks/privacy_checks.py)
    blend_risks(
        synthetic,
        blend.height - synthetic.height,
        pool_rows,
        pool_risks,
        real_train,
        real_holdout,
        plan.privacy,
        target,
        plan.seed,
    )
    return [check_record(n, o, "ERROR") for n, o in errors.items()] + [
        check_record(n, o, checks.severity(n)) for n, o in warnings.items()
    ]


def plain_loop(plan_file: Path, work: Path) -> dict:
    """The pipeline's work as one loop of core calls; seconds per stage, and the scorecard table's file."""
    import importlib

    from hybrid_data.instance import step_threads

    clock, process_started = Stopwatch(), time.perf_counter()
    with clock("startup (imports)"):
        for module in PRELOAD:
            importlib.import_module(module)
        from hybrid_data.blending import compose_blend, pool_size
        from hybrid_data.boost import classes_kept
        from hybrid_data.column_types import decide_task
        from hybrid_data.evaluation.baselines import train_baseline_cells
        from hybrid_data.evaluation.cell_training import cell_version, headline_with_interval, train_blend_cell
        from hybrid_data.evaluation.currency import current_inputs
        from hybrid_data.evaluation.frontier import build_frontier, frontier_png, markdown_frontier, plotted_points
        from hybrid_data.evaluation.report import scorecard_png
        from hybrid_data.evaluation.scorecard import build_scorecard, headline_metrics
        from hybrid_data.ingest_checks import enough_rows, no_all_null_column, split_scorable, target_usable, unique_key
        from hybrid_data.lake import Lake, frame_fingerprint
        from hybrid_data.plan import load_plan
        from hybrid_data.plan_snapshot import plan_fingerprint
        from hybrid_data.privacy_attacks import attack_report, risk_frame
        from hybrid_data.profile import profile_frame
        from hybrid_data.source import load_real_source
        from hybrid_data.sql_models import discover_models, read_result, run_model, sql_dir
        from hybrid_data.synthesis import fit_synthesizer, sample_pool

    with clock("real data"):
        plan = load_plan(plan_file)
        real_source = load_real_source(plan).frame
    with clock(CHECKS):
        target_usable(real_source, plan), enough_rows(real_source, plan.checks.min_rows)
        no_all_null_column(real_source), unique_key(real_source, plan.holdout.key_columns)
    with clock("real data"):
        lake, threads = Lake(work / "lake"), step_threads()
        lake.write_frame("real_source", None, real_source)
        models = {model.name: model for model in discover_models(sql_dir())}
        # the SQL's variables, as assets/sql_models.py sql_variables gives them (that function imports Dagster)
        variables = {
            "holdout_fraction": plan.holdout.fraction,
            "split_seed": str(plan.seed),
            "split_key": list(plan.holdout.key_columns),
            "target": plan.target,
        }
        for model in models.values():
            run_model(model, lake, variables, threads=threads, models=models)
        real_train, real_holdout = (
            read_result(models[name], lake, variables, models, threads) for name in ("real_train", "real_holdout")
        )
    with clock(CHECKS):
        split_scorable(real_train, real_holdout, plan)
    with clock("real data"):
        real_profile = profile_frame(real_train)
        task = decide_task(plan, real_train)

    pools, risks = {}, {}
    for synth in plan.synthesizer_names:
        with clock("synthesis"):
            fitted = fit_synthesizer(synth, real_train, plan)
            pools[synth] = sample_pool(
                fitted,
                pool_size(plan, real_train.height),
                plan.seed,
                real=real_train,
                boost_target_shares=dict(plan.synthesis.boost_target_shares),
                boost_max_tries=plan.synthesis.boost_max_tries,
            ).frame
            risks[synth] = attack_report(real_train, pools[synth], real_holdout, plan.privacy, plan.target, plan.seed)
        with clock(CHECKS):
            classes_kept(pools[synth][plan.target], real_train[plan.target], plan.synthesis.min_minority_share_ratio)

    cells = []
    for synth in plan.synthesizer_names:
        for ratio in plan.ratios:
            with clock("blends"):
                blend = compose_blend(real_train, pools[synth], ratio, plan)
            with clock(CHECKS):
                records = blend_checks(
                    plan,
                    ratio,
                    blend,
                    real_train,
                    real_holdout,
                    real_profile,
                    risks[synth],
                    pools[synth].height,
                    work / "suites",
                )
            if any(not r["passed"] and r["severity"] == "ERROR" for r in records):
                continue  # a blocking check failed: the pipeline trains no model on this blend either
            with clock("models (K seeded fits per cell)"):
                cell, _ = train_blend_cell(plan, task, synth, ratio, blend, real_train, real_holdout, records)
                cells.append(cell)
            with clock(EXTRAS):  # what blend_model computes for MLflow and Dagster besides the cell itself
                cell_version(plan, task, blend, real_train, real_holdout)
                headline_with_interval(cell, real_holdout, real_train, plan, task)
                headline_metrics(cell, real_holdout, real_train, plan.target, task)
    with clock("models (K seeded fits per cell)"):
        cells.append(train_baseline_cells(plan, task, real_train, real_holdout))
    with clock("scorecard (bootstrap, charts)"):
        inputs = current_inputs(
            plan, plan_fingerprint(plan_file.read_text(), plan_file.parent), task, real_train, real_holdout
        )
        all_cells = pl.concat([c for c in cells if c.height], how="diagonal_relaxed")
        card = build_scorecard(all_cells, real_holdout, real_train, plan, task, inputs, [])
        scorecard_png(card, work / "scorecard.png")
        frontier = build_frontier(
            card, {s: risk_frame(r, s) for s, r in risks.items()}, dict.fromkeys(plan.synthesizer_names)
        )
        markdown_frontier(frontier)
        if plotted_points(frontier):
            frontier_png(frontier, work / "frontier.png")
    card.table.write_parquet(work / "scorecard.parquet")
    with clock(EXTRAS):
        frame_fingerprint(real_source), frame_fingerprint(real_train), frame_fingerprint(real_holdout)
    return {
        "stages": dict(clock.seconds),
        "loop_seconds": time.perf_counter() - process_started,
        "scorecard": str(work / "scorecard.parquet"),
    }


# --- running both sides -------------------------------------------------------------------------------------------


def become_subreaper() -> None:
    """Orphaned descendants (the forkservers Dagster leaves behind) are re-parented to this process, so their CPU
    time reaches RUSAGE_CHILDREN once they are reaped (Linux only; elsewhere CPU time may be undercounted)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_orphans(wait: float = 30.0) -> None:
    deadline = time.time() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.time() > deadline:
                return
            time.sleep(0.2)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measured:
    wall: float
    cpu: float
    started: float  # epoch seconds, for the event-log timeline
    ended: float


def timed(command: list[str], env: dict[str, str], log: Path) -> Measured:
    cpu, started, clock = children_cpu(), time.time(), time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall, ended = time.perf_counter() - clock, time.time()
    if code != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed (exit {code}); see {log}")
    reap_orphans()
    return Measured(wall, children_cpu() - cpu, started, ended)


def run_plain(plan: Path, folder: Path, home: Path) -> tuple[Measured, dict]:
    work = folder / "plain"
    work.mkdir(parents=True, exist_ok=True)
    log = folder / "plain.log"
    measured = timed([sys.executable, __file__, "--plain-loop", str(plan), str(work)], run_env(home), log)
    result = json.loads(log.read_text().strip().splitlines()[-1])
    # the pipeline-only work it measured on the side is not the loop's: taken out of its time (one thread)
    extras = result["stages"].get(EXTRAS, 0.0)
    return Measured(measured.wall - extras, measured.cpu - extras, measured.started, measured.ended), result


# --- the pipeline's records ---------------------------------------------------------------------------------------


@dataclass
class StepRecord:
    key: str
    start: float
    end: float
    kind: str  # "asset" or CHECKS
    launched: float  # STEP_WORKER_STARTING: the step's process being started (its start when not recorded)
    io: list[tuple[float, float]] = field(default_factory=list)  # IO manager loads and writes


def pipeline_records(dagster_home: Path) -> tuple[list[StepRecord], list[tuple[float, float]]]:
    """Every run's window (start to end) in the home's instance, and every step of it: its window (STEP_START to
    STEP_SUCCESS/FAILURE) and its process's launch before it (from STEP_WORKER_STARTING), whether it is a check
    step (it records check evaluations and no materialization), and the IO manager's windows: each LOADED_INPUT
    from the event before it, each HANDLED_OUTPUT from its STEP_OUTPUT."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    steps, runs = [], []
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records():
            if record.start_time and record.end_time:
                runs.append((record.start_time, record.end_time))
            events: dict[str, list[tuple[str, float]]] = defaultdict(list)
            for entry in instance.all_logs(record.dagster_run.run_id):
                if entry.dagster_event is not None and entry.step_key is not None:
                    events[entry.step_key].append((entry.dagster_event.event_type_value, entry.timestamp))
            steps += [step for key, seen in events.items() if (step := _step(key, seen))]
    return steps, runs


def _step(key: str, seen: list[tuple[str, float]]) -> StepRecord | None:
    types = {t for t, _ in seen}
    starts = [ts for t, ts in seen if t == "STEP_START"]
    ends = [ts for t, ts in seen if t in ("STEP_SUCCESS", "STEP_FAILURE")]
    if not starts or not ends:
        return None
    launched = [ts for t, ts in seen if t == "STEP_WORKER_STARTING"] or starts
    check = "ASSET_CHECK_EVALUATION" in types and "ASSET_MATERIALIZATION" not in types
    step = StepRecord(key, starts[0], ends[-1], CHECKS if check else "asset", launched[0])
    previous, output = starts[0], None
    for kind, ts in seen:
        if kind == "LOADED_INPUT":
            step.io.append((previous, ts))
        elif kind == "STEP_OUTPUT":
            output = ts
        elif kind == "HANDLED_OUTPUT" and output is not None:
            step.io.append((output, ts))
        if starts[0] <= ts:
            previous = ts
    return step


def mlflow_windows(tracking_uri: str) -> list[tuple[float, float]]:
    """Each top-level MLflow run's window, create to terminate (nested runs fall inside their parent's)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    windows = []
    for run in client.search_runs(ids, max_results=50_000) if ids else []:
        if "mlflow.parentRunId" not in run.data.tags and run.info.end_time:
            windows.append((run.info.start_time / 1000, run.info.end_time / 1000))
    return windows


CLI, RUN, STEP_START = "cli", "run", "step start"


def attribute(
    steps: list[StepRecord],
    windows: list[tuple[float, float]],
    runs: list[tuple[float, float]],
    start: float,
    end: float,
) -> tuple[dict[str, float], dict[str, float]]:
    """The pipeline's wall time split so its parts add up to it, and the same per step name (partitions
    together, process start left out). Each moment is shared equally among the steps running then or having
    their process started (STEP_START); within a running step it is IO, MLflow (a run window inside the step)
    or the step's own kind. A moment with no step is RUN when a run is going (run launch, scheduling its
    steps), else CLI (the command's start, imports and definitions, choosing what to run between stages)."""
    owned = defaultdict(list)  # MLflow windows by the smallest asset step window holding them (checks log none)
    for low, high in windows:
        holders = [s for s in steps if s.kind != CHECKS and s.start <= low and high <= s.end]
        if holders:
            owned[id(min(holders, key=lambda s: s.end - s.start))].append((low, high))
    points = {start, end, *(t for run in runs for t in run)}
    for step in steps:
        points.update((step.launched, step.start, step.end))
        points.update(t for w in step.io + owned[id(step)] for t in w)
    points = sorted(p for p in points if start <= p <= end)
    parts: dict[str, float] = defaultdict(float)
    by_step: dict[str, float] = defaultdict(float)
    for low, high in zip(points, points[1:], strict=False):
        middle = (low + high) / 2
        active = [s for s in steps if s.launched <= middle <= s.end]
        if not active:
            parts[RUN if any(a <= middle <= b for a, b in runs) else CLI] += high - low
        for step in active:
            if middle < step.start:
                label = STEP_START
            elif any(a <= middle <= b for a, b in step.io):
                label = "io"
            elif any(a <= middle <= b for a, b in owned[id(step)]):
                label = "mlflow"
            else:
                label = step.kind
            parts[label] += (high - low) / len(active)
            if label != STEP_START:
                by_step[step.key.split("[")[0]] += (high - low) / len(active)
    return parts, by_step


def scorecard_difference(plain_file: Path, home: Path) -> str:
    """Whether both sides scored the same cells the same: the largest difference of any metric or bound."""
    from hybrid_data.evaluation.scorecard import load_scorecard
    from hybrid_data.home import Home

    plain = pl.read_parquet(plain_file)
    piped = load_scorecard(Home(home).open_lake()).table
    numbers = [c for c, t in plain.schema.items() if t.is_float() and c in piped.columns]
    if sorted(plain["cell"]) != sorted(piped["cell"]):
        return f"DIFFERENT cells: plain {sorted(plain['cell'])}, pipeline {sorted(piped['cell'])}"
    joined = plain.select("cell", *numbers).join(piped.select("cell", *numbers), on="cell", suffix="_p")
    worst = max(
        ((joined[c] - joined[f"{c}_p"]).abs().max() or 0.0 for c in numbers if joined[c].null_count() < len(joined)),
        default=0.0,
    )
    verdict = "same" if worst < 1e-9 else "DIFFERENT"
    return f"{verdict} ({plain.height} cells, {len(numbers)} numbers each, largest difference {worst:.2g})"


# --- report -------------------------------------------------------------------------------------------------------


def split(plain: Measured, result: dict, parts: dict) -> dict[str, float]:
    """The difference pipeline - plain in parts that add up to it (see the module docstring)."""
    stages = result["stages"]
    plain_checks = stages.get(CHECKS, 0.0)
    plain_work = sum(v for k, v in stages.items() if k not in (CHECKS, EXTRAS, "startup (imports)"))
    plain_start = plain.wall - plain_checks - plain_work
    return {
        "CLI: start, imports, definitions, choosing runs (- the loop's start)": parts.get(CLI, 0.0) - plain_start,
        "run launch and step scheduling (a run going, no step)": parts.get(RUN, 0.0),
        "step processes starting (forkserver boot + imports, fork, resources)": parts.get(STEP_START, 0.0),
        "IO manager reads and writes": parts.get("io", 0.0),
        "MLflow logging (run windows, create to terminate)": parts.get("mlflow", 0.0),
        "checks (check steps - the same checks in the loop)": parts.get(CHECKS, 0.0) - plain_checks,
        "other (asset steps - the same core work in the loop)": parts.get("asset", 0.0) - plain_work,
    }


def report(quick: bool, plains: list, pipelines: list, parts: dict, by_step: dict, same: str) -> None:
    plain, result = plains[-1]
    pipeline = pipelines[-1]
    print(f"\nplan: {'QUICK (ratios 0/0.5, 2 fits per cell, 200 resamples, 1 baseline)' if quick else 'bundled'}")
    print(f"load average {load_average()}; {os.cpu_count()} cores; {len(plains)} run(s) of each side")
    print(f"\n{'plain loop stage':<60}{'seconds':>9}")
    for stage, seconds in result["stages"].items():
        label = "pipeline-only work (measured aside, not in the loop's time)" if stage == EXTRAS else stage
        print(f"{label:<60}{seconds:>9.1f}")
    rest = plain.wall + result["stages"].get(EXTRAS, 0.0) - result["loop_seconds"]
    print(f"{'process start + interpreter (rest)':<60}{rest:>9.1f}")
    print(f"\n{'pipeline steps (all partitions; wall time shared when parallel)':<60}{'seconds':>9}")
    for name, seconds in sorted(by_step.items(), key=lambda kv: -kv[1]):
        print(f"{name:<60}{seconds:>9.1f}")
    ratios = [p.wall / q.wall for p, (q, _) in zip(pipelines, plains, strict=True)]
    cpu_ratios = [p.cpu / q.cpu for p, (q, _) in zip(pipelines, plains, strict=True)]
    spread = f" (runs: {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else ""
    ratio = sum(ratios) / len(ratios)
    print(f"\n{'':<28}{'wall s':>9}{'CPU s':>9}")
    print(f"{'plain loop':<28}{plain.wall:>9.1f}{plain.cpu:>9.1f}")
    print(f"{'pipeline (hybrid-data run)':<28}{pipeline.wall:>9.1f}{pipeline.cpu:>9.1f}")
    verdict = "ok" if ratio <= GOAL else "MISSED"
    print(f"ratio pipeline / plain: wall {ratio:.2f}{spread} (goal <= {GOAL:.2f}: {verdict}), CPU {cpu_ratios[-1]:.2f}")
    if plain.cpu < 0.7 * plain.wall:  # one thread of work that got less than 70% of a core: others took the rest
        print(
            f"the plain loop got {plain.cpu / plain.wall:.0%} of a core: the machine is busy and the wall ratio "
            "follows its load; the CPU ratio compares the work done"
        )
    print(f"\n{'split of the difference (pipeline - plain)':<68}{'seconds':>9}{'share':>8}")
    total = pipeline.wall - plain.wall
    for label, seconds in split(plain, result, parts).items():
        print(f"{label:<68}{seconds:>9.1f}{seconds / total if total else 0:>8.0%}")
    print(f"{'total':<68}{total:>9.1f}")
    print(f"scorecard values, plain loop vs pipeline: {same}")
    print(f"load average after: {load_average()}")
    print(
        f"HEADLINE overhead {ratio:.3f} cpu_ratio {cpu_ratios[-1]:.3f} plain_s {plain.wall:.1f} "
        f"pipeline_s {pipeline.wall:.1f} plan {'quick' if quick else 'bundled'} {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller plan (minutes, not tens of minutes)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side, alternating (the ratio's spread)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, homes)")
    parser.add_argument("--plain-loop", nargs=2, metavar=("PLAN", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_loop:
        print(json.dumps(plain_loop(Path(args.plain_loop[0]), Path(args.plain_loop[1]))))
        return
    become_subreaper()
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # the pipeline's own store is read below, never the user's
    folder = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    print(f"load average before: {load_average()}", flush=True)
    try:
        plan = write_plan(folder, args.quick)
        plains, pipelines = [], []
        for attempt in range(args.repeats):
            run = folder / f"run{attempt}"
            home = run / "home"
            plains.append(run_plain(plan, run, home))
            print(f"plain loop: {plains[-1][0].wall:.1f} s", flush=True)
            pipelines.append(timed(run_command(plan), run_env(home), run / "pipeline.log"))
            print(f"pipeline: {pipelines[-1].wall:.1f} s", flush=True)
        from hybrid_data.home import Home

        last = pipelines[-1]
        steps, runs = pipeline_records(home / "dagster")
        windows = mlflow_windows(Home(home).mlflow_tracking_uri())
        parts, by_step = attribute(steps, windows, runs, last.started, last.ended)
        same = scorecard_difference(Path(plains[-1][1]["scorecard"]), home)
        report(args.quick, plains, pipelines, parts, by_step, same)
    finally:
        if args.keep:
            print(f"logs and homes kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
