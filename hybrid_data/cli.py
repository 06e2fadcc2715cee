"""The `hybrid-data` command: run the whole pipeline, backfill blends, write a starter plan, open the UIs."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from hybrid_data.home import Home
from hybrid_data.instance import limit_step_threads, write_dagster_yaml
from hybrid_data.plan import PLAN_ENV, PlanError, load_plan, plan_path
from hybrid_data.starter_plan import write_starter_plan

# The CLI prints its own progress; Dagster's per-event console log would bury it (the UI keeps every event).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def use_home() -> Home:
    """The home folder, created, with DAGSTER_HOME pointed into it so CLI runs show up in `dagster dev`, its
    dagster.yaml (run queue, pools) written, and native thread pools capped for every process started from here."""
    home = Home.from_env().ensure()
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    write_dagster_yaml(home.dagster)
    limit_step_threads()
    return home


def _say(message: str) -> None:
    print(message, flush=True)


def run_pipeline(plan_file: Path, home: Home, only_synth: list[str] | None = None, instance=None) -> int:
    """Materialize every asset for every synthesizer x ratio of the plan into the home instance."""
    import dagster as dg

    from definitions import build_definitions

    plan = load_plan(plan_file)
    defs = build_definitions(plan_file, home)
    instance = instance or dg.DagsterInstance.get()
    existing = set(instance.get_dynamic_partitions("ratio"))
    new_keys = [k for k in plan.ratio_keys if k not in existing]
    if new_keys:
        instance.add_dynamic_partitions("ratio", new_keys)
    every = [*defs.assets, *defs.asset_checks]
    resources = defs.resources
    synths = only_synth or plan.synthesizer_names
    failures: list[str] = []

    def step(label: str, selection, partition_key=None) -> bool:
        started = time.perf_counter()
        _say(f"  {label} ...")
        result = dg.materialize(
            every,
            instance=instance,
            resources=resources,
            selection=selection,
            partition_key=partition_key,
            raise_on_error=False,
            tags={"hybrid_data/launched_by": "cli"},
            run_config=QUIET,
        )
        seconds = time.perf_counter() - started
        if result.success:
            warned = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
            _say(f"  {label}: done in {seconds:.1f}s" + (f" (warnings: {', '.join(warned)})" if warned else ""))
            return True
        failures.append(label)
        _say(f"  {label}: FAILED in run {result.run_id}: {_failure_message(result)}")
        return False

    _say(f"hybrid-data: plan '{plan.name}' ({plan_file}), home {home.root}")
    _say("[1/4] real data: ingest, stage, split, profile")
    prepare = dg.AssetSelection.groups("ingest", "staging", "split")
    if not step("real data", prepare):
        return 1
    _say(f"[2/4] synthesizers: {', '.join(synths)}")
    ready = [
        s for s in synths if step(f"synthesize {s}", dg.AssetSelection.assets("synthesizer_model", "synthetic_pool"), s)
    ]
    _say(f"[3/4] blends and models: {len(ready)} synthesizer(s) x {len(plan.ratio_keys)} ratio(s)")
    grid = dg.AssetSelection.assets("blend", "blend_model")
    for synth in ready:
        for ratio in plan.ratio_keys:
            step(f"blend {synth} r={ratio}", grid, dg.MultiPartitionKey({"synth": synth, "ratio": ratio}))
    _say("[4/4] scorecard")
    if step("scorecard", dg.AssetSelection.assets("blend_scorecard")):
        from hybrid_data.warehouse import refresh_views

        card = home.open_lake().read_frame("blend_scorecard")
        with_pl_config(lambda: print(card.drop("mlflow_run_id"), flush=True))
        refresh_views(home.open_lake(), home.warehouse)
    _say("")
    _say(f"Dagster UI:  DAGSTER_HOME={home.dagster} dagster dev   (or: hybrid-data ui)")
    _say(f"MLflow UI:   mlflow ui --backend-store-uri {home.mlflow_tracking_uri()}   (or: hybrid-data mlflow-ui)")
    _say(f"Warehouse:   duckdb {home.warehouse}")
    if failures:
        _say(f"{len(failures)} step(s) failed: {', '.join(failures)}")
        return 1
    return 0


def submit_backfill(
    plan_file: Path,
    home: Home,
    synths: list[str] | None = None,
    ratios: list[str] | None = None,
    instance=None,
) -> str:
    """Submit one asset backfill of the blend grid (default: every synthesizer x ratio of the plan), with any
    upstream that is missing or too small, to the home instance; the daemon runs it through the run queue.
    Returns the backfill id."""
    import dagster as dg
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    from assets.automation import TRIGGER_TAG, backfill_subset, grid_partitions
    from definitions import build_definitions
    from hybrid_data.plan import ratio_key

    plan = load_plan(plan_file)
    unknown = sorted(set(synths or []) - set(plan.synthesizer_names))
    if unknown:
        raise ValueError(f"synthesizer(s) {unknown} are not in the plan ({', '.join(plan.synthesizer_names)})")
    ratio_keys = [ratio_key(float(r)) for r in ratios] if ratios else plan.ratio_keys
    instance = instance or dg.DagsterInstance.get()
    existing = set(instance.get_dynamic_partitions("ratio"))
    new_keys = [k for k in ratio_keys if k not in existing]
    if new_keys:
        instance.add_dynamic_partitions("ratio", new_keys)
    asset_graph = build_definitions(plan_file, home).resolve_asset_graph()
    partitions = grid_partitions(asset_graph, plan, synths or plan.synthesizer_names, ratio_keys, home.open_lake())
    backfill_id = make_new_backfill_id()
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags={TRIGGER_TAG: "cli_backfill"},
            dynamic_partitions_store=instance,
            asset_graph_subset=backfill_subset(asset_graph, partitions),
            title=f"hybrid-data backfill: {len(ratio_keys)} ratio(s)",
            description=None,
            run_config=None,
        )
    )
    return backfill_id


def daemon_running(instance, within_seconds: float = 120.0) -> bool:
    """Whether a dagster-daemon (alone or inside `dagster dev`) heartbeat reached this instance recently."""
    beats = instance.get_daemon_heartbeats()
    beat = beats.get("BACKFILL") or beats.get("SENSOR")
    return beat is not None and time.time() - beat.timestamp < within_seconds


def wait_for_backfill(instance, backfill_id: str, timeout: float) -> int:
    """Poll a backfill until it is done; print run counts as they change. 0 when every run succeeded."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus

    FINISHED_BACKFILL = {  # noqa: N806 (a constant, local to keep the Dagster import lazy)
        BulkActionStatus.COMPLETED,
        BulkActionStatus.COMPLETED_SUCCESS,
        BulkActionStatus.COMPLETED_FAILED,
        BulkActionStatus.FAILED,
        BulkActionStatus.CANCELED,
    }
    deadline = time.time() + timeout
    shown = None
    while True:
        backfill = instance.get_backfill(backfill_id)
        runs = instance.get_runs(filters=RunsFilter.for_backfill(backfill_id))
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.status.value] = counts.get(run.status.value, 0) + 1
        summary = f"  backfill {backfill_id}: {backfill.status.value}; runs " + (
            ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items())) or "none yet"
        )
        if summary != shown:
            _say(summary)
            shown = summary
        if backfill.status in FINISHED_BACKFILL:
            failed = [r for r in runs if r.status != DagsterRunStatus.SUCCESS]
            succeeded = backfill.status in (BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS)
            return 0 if succeeded and not failed else 1
        if time.time() > deadline:
            _say(f"  still running after {timeout:.0f}s; follow it in the UI (Overview > Backfills)")
            return 1
        time.sleep(2.0)


def run_backfill(plan_file: Path, home: Home, args) -> int:
    import dagster as dg

    instance = dg.DagsterInstance.get()
    backfill_id = submit_backfill(plan_file, home, args.synth, args.ratio, instance)
    _say(f"submitted backfill {backfill_id} to {home.dagster} (UI: Overview > Backfills)")
    if not daemon_running(instance):
        _say("  no dagster-daemon is running for this home: start `hybrid-data ui` (or `dagster-daemon run`) to run it")
    if args.wait:
        return wait_for_backfill(instance, backfill_id, args.timeout)
    return 0


def _failure_message(result) -> str:
    """The root cause of the first failed step, without Dagster's wrapping: what the user has to fix."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_step_failure else None
        if error is not None:
            while error.cause is not None:
                error = error.cause
            return error.message.strip()
    failed_checks = [
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    if failed_checks:
        return f"blocking check(s) failed: {', '.join(failed_checks)}"
    return "see the run in the Dagster UI"


def with_pl_config(action) -> None:
    import polars as pl

    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=200, float_precision=4):
        action()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hybrid-data", description=__doc__)
    parser.add_argument("--plan", type=Path, help=f"plan file (default: ${PLAN_ENV} or the bundled plan)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize everything for every ratio of the plan")
    run.add_argument("--synth", action="append", help="only this synthesizer (repeatable)")
    plan_cmd = sub.add_parser("plan", help="plan files").add_subparsers(dest="plan_command", required=True)
    init = plan_cmd.add_parser("init", help="write a starter plan for a CSV or Parquet file")
    init.add_argument("--source", type=Path, required=True)
    init.add_argument("--target", required=True)
    init.add_argument("--output", type=Path, default=Path("plan.yaml"))
    plan_cmd.add_parser("show", help="validate the plan and print it")
    backfill = sub.add_parser(
        "backfill", help="submit a backfill of the blend grid to the home instance (the daemon runs it)"
    )
    backfill.add_argument("--synth", action="append", help="only this synthesizer (repeatable)")
    backfill.add_argument("--ratio", action="append", help="only this ratio, e.g. 0.25 (repeatable)")
    backfill.add_argument("--wait", action="store_true", help="wait until it finishes; exit 1 if a run failed")
    backfill.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits at most")
    sub.add_parser("ui", help="start the Dagster UI on the home instance (dagster dev)")
    sub.add_parser("mlflow-ui", help="start the MLflow UI on the home tracking store")
    args = parser.parse_args(argv)

    plan_file = (args.plan or plan_path()).resolve()
    try:
        if args.command == "plan" and args.plan_command == "init":
            written = write_starter_plan(args.source, args.target, args.output)
            _say(f"wrote {written}; check it, then: {PLAN_ENV}={written} hybrid-data run")
            return 0
        plan = load_plan(plan_file)
        if args.command == "plan":
            _say(plan.model_dump_json(indent=2))
            return 0
        home = use_home()
        os.environ[PLAN_ENV] = str(plan_file)
        if args.command == "run":
            return run_pipeline(plan_file, home, args.synth)
        if args.command == "backfill":
            return run_backfill(plan_file, home, args)
        repo = Path(__file__).resolve().parent.parent
        if args.command == "ui":
            return subprocess.call(["dagster", "dev", "-w", str(repo / "workspace.yaml")], cwd=repo)
        return subprocess.call(["mlflow", "ui", "--backend-store-uri", home.mlflow_tracking_uri()])
    except (PlanError, FileNotFoundError, ValueError) as exc:
        print(f"hybrid-data: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
