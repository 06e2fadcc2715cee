"""`hybrid-data run`: launch the code location's own jobs for what is missing or stale, and nothing else.

Stages run in order (assets/jobs.py STAGES): real data, one synthesize run per synthesizer, one blend_grid run
per synthesizer x ratio, the scorecard. Each run is the named job with its own executor (the forkserver
multiprocess executor the UI, sensors and backfills use) and the tags every launcher sets (who launched it, the
plan's name and fingerprint), so it looks in the UI exactly like a run started there. What runs is decided from
Dagster's records: an asset partition runs when it is missing or stale (its code version, or the data version
of something it reads, changed since it was materialized); independent partitions run side by side, one per core.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from hybrid_data.home import HOME_ENV, Home
from hybrid_data.instance import machine_cores
from hybrid_data.plan import PLAN_ENV
from hybrid_data.plan_snapshot import PinnedPlan, snapshot_plan
from hybrid_data_dagster import code_location_dir, use_code_location
from hybrid_data_dagster.forkserver import warm_forkserver_for_new_plan, worker_start

use_code_location()

from assets.automation import run_tags  # noqa: E402
from assets.dagster_private import FRESH, executing_pid, stale_status  # noqa: E402 (needs the code location on the path)
from assets.ingest import REAL_DATA_FINGERPRINT, source_sha256  # noqa: E402
from assets.jobs import (  # noqa: E402
    BLEND_GRID,
    BLEND_GRID_JOB,
    PREPARE_REAL_DATA_JOB,
    REAL_DATA,
    SCORECARD,
    SCORECARD_JOB,
    SYNTHESIS,
    SYNTHESIZE_JOB,
)
from assets.partitions import add_ratio_partitions, dims_key, key_dims  # noqa: E402
from assets.resources import LAUNCHED_BY_TAG, PLAN_FINGERPRINT_TAG  # noqa: E402
from hybrid_data.blending import blend_size, pool_size  # noqa: E402
from hybrid_data.plan import Plan, PlanError  # noqa: E402
from hybrid_data.plan_snapshot import load_snapshot  # noqa: E402
from hybrid_data.reuse import pool_decision, real_data_decision, real_data_fingerprint  # noqa: E402
from hybrid_data.tracking import kill_open_runs  # noqa: E402
from hybrid_data_dagster.plan_settings import settings_changed  # noqa: E402

SCORECARD_ASSET = dg.AssetKey("blend_scorecard")
# The CLI prints its own progress; Dagster's per-event console log would bury it (the UI keeps every event).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def job_for(job_name: str, plan_file: str, home_root: str) -> dg.JobDefinition:
    """Rebuild one job of the code location (run workers and step processes call this to find their job)."""
    from definitions import current_definitions

    return current_definitions(plan_file, home_root).resolve_job_def(job_name)


@dataclass
class Launch:
    """One run to launch: a job, an optional partition, the assets to materialize, and a label to print."""

    job: str
    label: str
    assets: Sequence[dg.AssetKey]
    partition: str | None = None


@dataclass
class Outcome:
    launch: Launch
    success: bool
    seconds: float
    message: str = ""
    warned: list[str] = field(default_factory=list)


class Scheduler:
    """Plans and launches the runs of one `hybrid-data run` against one home instance."""

    def __init__(
        self,
        plan_file: Path,
        home: Home,
        instance: dg.DagsterInstance,
        say: Callable[[str], None],
        trigger: str = "cli_run",
    ):
        from definitions import current_definitions

        self.plan_file, self.home, self.instance, self.say = plan_file, home, instance, say
        self.pinned: PinnedPlan = snapshot_plan(plan_file, home.root)
        self.plan = self.pinned.plan
        # The same cached build job_for returns, so a run executed in this process does not build them again.
        self.defs = current_definitions(plan_file, home.root)
        self.graph = self.defs.resolve_asset_graph()
        self.tags = run_tags("cli", trigger, self.pinned)
        self._plans: dict[str, Plan | None] = {}
        self._status_cache: Callable[[dg.AssetKey, str | None], str] | None = None
        self.batch_started = time.time()

    # --- what is missing or stale -------------------------------------------------------------------------------

    def _status(self) -> Callable[[dg.AssetKey, str | None], str]:
        """Dagster's stale status, one resolver (and its cache of records) for every stage planned since the last
        launch: a stage with nothing to run leaves the records as they were, so the next stage reuses them."""
        if self._status_cache is None:
            self._status_cache = stale_status(self.instance, self.graph)
        return self._status_cache

    def _stale(self, selection: dg.AssetSelection, partition: str | None, status) -> list[dg.AssetKey]:
        """Keys of `selection` whose partition is missing or stale to Dagster (data and code versions), or was
        made with plan settings it reads that have changed since (hybrid_data_dagster/plan_settings.py)."""
        keys = sorted(selection.resolve(self.graph), key=lambda k: k.to_user_string())
        stale = []
        for key in keys:
            own = partition if self.graph.get(key).is_partitioned else None
            if status(key, own) != FRESH or self._settings_changed(key, own):
                stale.append(key)
        return stale

    def _settings_changed(self, key: dg.AssetKey, partition: str | None) -> bool:
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
        ).records
        if not records:
            return False
        dims = key_dims(partition, self.graph.get(key).partitions_def) if partition else {}
        return settings_changed(key.path[-1], dims, self._plan_of_run(records[0].run_id), self.plan)

    def _plan_of_run(self, run_id: str) -> Plan | None:
        """The plan a run was pinned to (its tag, or the pin its first step recorded), None when unknown."""
        if run_id not in self._plans:
            run = self.instance.get_run_by_id(run_id)
            pin = self.home.plans / "runs" / run_id
            fingerprint = (run.tags.get(PLAN_FINGERPRINT_TAG) if run else None) or (
                pin.read_text().strip() if pin.exists() else None
            )
            try:
                self._plans[run_id] = load_snapshot(self.home.root, fingerprint).plan if fingerprint else None
            except (PlanError, OSError, ValueError):
                self._plans[run_id] = None
        return self._plans[run_id]

    def real_data_runs(self) -> list[Launch]:
        status = self._status()
        stale = self._stale(REAL_DATA, None, status)
        latest = self.instance.get_latest_materialization_event(dg.AssetKey("real_source"))
        recorded = latest.asset_materialization.metadata.get(REAL_DATA_FINGERPRINT) if latest else None
        current = real_data_fingerprint(self.plan, source_sha256(self.plan))
        decision = real_data_decision(recorded.value if recorded else None, current, bool(stale))
        if not decision.redo:
            return []
        return [Launch(PREPARE_REAL_DATA_JOB, f"real data ({decision.reason})", sorted(REAL_DATA.resolve(self.graph)))]

    def synthesis_runs(self, synths: Sequence[str]) -> list[Launch]:
        status, lake = self._status(), self.home.open_lake()
        needed = pool_size(self.plan, lake.frame_rows("real_train") or 0)
        runs = []
        for synth in synths:
            stale = self._stale(SYNTHESIS, synth, status)
            dims = {"synth": synth}
            rows, stored = lake.frame_rows("synthetic_pool", dims), lake.stored_fingerprint("synthetic_pool", dims)
            if not stale and pool_decision(stored, stored, rows, needed).to_sample:
                stale = [dg.AssetKey("synthetic_pool")]
            if dg.AssetKey("synthesizer_model") in stale:  # a new fit: its pool follows
                stale = sorted(SYNTHESIS.resolve(self.graph), key=lambda k: k.to_user_string())
            if stale:
                runs.append(Launch(SYNTHESIZE_JOB, f"synthesize {synth}", stale, synth))
        return runs

    def grid_runs(self, synths: Sequence[str]) -> list[Launch]:
        """The stale blend runs, largest blend first: the workers take runs in this order, and a long run started
        last leaves the other core idle while it finishes (at 1M rows the 3.2M-row blend's run alone took 143 s
        of a 277 s stage in plan order; largest first, the stage's two workers end within a small run of each
        other)."""
        status = self._status()
        runs = []
        for synth in synths:
            for ratio in self.plan.ratio_keys:
                key = str(dims_key({"synth": synth, "ratio": ratio}))
                stale = self._stale(BLEND_GRID, key, status)
                if dg.AssetKey("blend") in stale:  # a new blend: its checks and model follow
                    stale = sorted(BLEND_GRID.resolve(self.graph), key=lambda k: k.to_user_string())
                if stale:
                    runs.append((float(ratio), Launch(BLEND_GRID_JOB, f"blend {synth} r={ratio}", stale, key)))
        if len(runs) > 1:  # the order matters to workers only (and reading the lake costs a no-op run time)
            real_rows = self.home.open_lake().frame_rows("real_train") or 0
            runs.sort(key=lambda run: -blend_size(real_rows, run[0], self.plan.anchoring.mode).rows)  # stable sort
        return [launch for _, launch in runs]

    def scorecard_runs(self, grid_ran: bool) -> list[Launch]:
        """The scorecard when a blend model changed (Dagster does not track an unpartitioned asset's staleness
        against a dynamic partition set) or it is stale, with whatever else of its stage is stale (the classical
        baselines train on real data only: a new ratio leaves them as they are)."""
        status = self._status()
        stale = self._stale(SCORECARD, None, status)
        if grid_ran and SCORECARD_ASSET not in stale:
            stale = sorted([*stale, SCORECARD_ASSET], key=lambda k: k.to_user_string())
        return [Launch(SCORECARD_JOB, "scorecard", stale)] if stale else []

    # --- launching ----------------------------------------------------------------------------------------------

    def run_all(self, launches: Sequence[Launch]) -> list[Outcome]:
        """Launch independent runs side by side, one worker process per core (one alone runs here); print each
        as it finishes. Workers are processes, not threads: Dagster's in-process run orchestration is not
        thread-safe (concurrent runs from threads of one process hang)."""
        for launch in launches:
            self.say(f"  {launch.label} ...")
        if launches:
            self._status_cache = None  # what they materialize changes what is stale
        self.batch_started = time.time()
        jobs = [(launch, self._tags(launch)) for launch in launches]
        with InterruptWatch() as watch:
            if len(jobs) <= 1:
                outcomes = [
                    self._report(execute_launch(self.instance.get_ref(), launch, tags, self._target))
                    for launch, tags in jobs
                ]
            else:
                outcomes = self._run_in_workers(jobs)
            if watch.seen():  # Dagster turned the interrupt into a failed run and carried on: stop here
                raise KeyboardInterrupt
        return outcomes

    def _run_in_workers(self, jobs: list[tuple[Launch, dict[str, str]]]) -> list[Outcome]:
        workers = min(len(jobs), machine_cores())
        context, initializer, initargs = worker_start()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer, initargs=initargs)
        try:
            futures = [
                pool.submit(execute_launch, self.instance.get_ref(), launch, tags, self._target)
                for launch, tags in jobs
            ]
            return [self._report(future.result()) for future in as_completed(futures)]
        except KeyboardInterrupt:
            # A signal sent to this process alone (kill -INT) must reach the runs in the workers too.
            for process in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGINT)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def _target(self) -> tuple[str, str]:
        return str(self.plan_file), str(self.home.root)

    def _tags(self, launch: Launch) -> dict[str, str]:
        tags = dict(self.tags)
        if launch.partition is not None:
            partitions_def = self.defs.resolve_job_def(launch.job).partitions_def
            tags.update(partitions_def.get_tags_for_partition_key(launch.partition))
        return tags

    def _report(self, outcome: Outcome) -> Outcome:
        label = outcome.launch.label
        if outcome.success:
            warned = f" (warnings: {', '.join(outcome.warned)})" if outcome.warned else ""
            self.say(f"  {label}: done in {outcome.seconds:.1f}s{warned}")
        else:
            self.say(f"  {label}: FAILED in {outcome.seconds:.1f}s, {outcome.message}")
        return outcome


def execute_launch(instance_ref, launch: Launch, tags: dict[str, str], target: tuple[str, str]) -> Outcome:
    """Execute one run of a named job of the code location with its own executor (here or in a worker)."""
    started = time.perf_counter()
    plan_file, home_root = target
    job = dg.build_reconstructable_job(
        "hybrid_data_dagster.launch",
        "job_for",
        (launch.job, plan_file, home_root),
        reconstructor_working_directory=str(code_location_dir()),
    )
    with (
        dg.DagsterInstance.from_ref(instance_ref) as instance,
        dg.execute_job(job, instance, run_config=QUIET, tags=tags, asset_selection=list(launch.assets)) as result,
    ):
        seconds = time.perf_counter() - started
        if not result.success:
            return Outcome(launch, False, seconds, f"run {result.run_id}: {failure_message(result)}")
        warned = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        return Outcome(launch, True, seconds, warned=warned)


def failure_message(result) -> str:
    """What the user has to fix: the blocking checks that failed with what they observed, else the root cause
    of the first failed step (or of the run, when no step failed, e.g. its code did not load), without
    Dagster's wrapping."""
    blocked = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.event_specific_data.passed
        and e.event_specific_data.severity == dg.AssetCheckSeverity.ERROR
    ]
    if blocked:
        return "; ".join(_check_detail(evaluation) for evaluation in blocked)
    for kind in ("is_step_failure", "is_run_failure"):
        for event in result.all_events:
            error = _root_error(event) if getattr(event, kind) else None
            if error:
                return error
    return "see the run in the Dagster UI"


def _check_detail(evaluation) -> str:
    """`blocking check <name> failed on <asset>: <description> (observed: a=1, b=2)`."""
    observed = ", ".join(
        f"{name}={value.value}"
        for name, value in list(evaluation.metadata.items())[:6]
        if isinstance(value.value, (int, float, str, bool)) and len(str(value.value)) < 80
    )
    text = f"blocking check {evaluation.check_name} failed on {evaluation.asset_key.to_user_string()}"
    text += f": {evaluation.description}" if evaluation.description else ""
    return text + (f" (observed: {observed})" if observed else "")


def _root_error(event) -> str | None:
    error = getattr(event.event_specific_data, "error", None)
    if error is None:
        return None
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


ACTIVE = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


def stop_after_interrupt(instance: dg.DagsterInstance, home: Home, tags: dict[str, str], since: float, say) -> int:
    """After Ctrl-C (or SIGTERM): nothing further is launched; the runs this invocation launched since `since`
    (the interrupted batch) that did not succeed are marked CANCELED, whether still going or already failed by
    the interrupt, and their MLflow runs left open KILLED. Returns the shell's exit code for an interrupt (130)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            tags={k: tags[k] for k in (LAUNCHED_BY_TAG, PLAN_FINGERPRINT_TAG)},
            created_after=datetime.fromtimestamp(since, tz=UTC),
        )
    )
    canceled = [run.run_id for run in runs if run.status in ACTIVE or run.status == dg.DagsterRunStatus.FAILURE]
    for run_id in canceled:
        instance.report_run_canceled(instance.get_run_by_id(run_id), message="interrupted: hybrid-data run was stopped")
    killed = kill_open_runs(home.mlflow_tracking_uri(), canceled)
    say(
        f"interrupted: nothing further was started; {len(canceled)} run(s) marked canceled in Dagster"
        + (f" ({', '.join(canceled)})" if canceled else "")
        + f", {killed} MLflow run(s) marked killed. Finished results are kept: run `hybrid-data run` again to do "
        "the rest."
    )
    return 130


class InterruptWatch:
    """Notices SIGINT and SIGTERM even while Dagster's in-process execution has its own handler installed (it
    records an interrupt as a failed run and returns normally): `signal.set_wakeup_fd` sees every signal that
    has a Python handler, whichever handler that is. Outside the main thread it notices nothing."""

    def __enter__(self) -> InterruptWatch:
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        try:
            self._previous: int | None = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            self._previous = None
        self._seen = False
        return self

    def seen(self) -> bool:
        with contextlib.suppress(BlockingIOError):
            received = os.read(self._read, 512)
            self._seen |= any(number in (signal.SIGINT, signal.SIGTERM) for number in received)
        return self._seen

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.set_wakeup_fd(self._previous)
        os.close(self._read)
        os.close(self._write)


def fail_orphaned_runs(instance: dg.DagsterInstance, home: Home) -> list[str]:
    """CLI runs still STARTED whose executing process is gone (the CLI was killed, e.g. kill -9 or a closed
    terminal): marked failed, with their open MLflow runs KILLED, so nothing looks as if it were still running."""
    orphans = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(ACTIVE[2:]), tags={LAUNCHED_BY_TAG: "cli"})):
        pid = executing_pid(instance, run.run_id)
        if pid is None or _alive(pid):
            continue
        instance.report_run_failed(
            run, message=f"the process that ran it (pid {pid}) is gone: marked failed by the next hybrid-data run"
        )
        orphans.append(run.run_id)
    kill_open_runs(home.mlflow_tracking_uri(), orphans)
    return orphans


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def exported(plan_file: Path, home: Home) -> Iterator[None]:
    """The plan and home in the environment while runs launch: the forkserver reads them to build the
    definitions before any step forks from it (assets/preload.py)."""
    saved = {name: os.environ.get(name) for name in (PLAN_ENV, HOME_ENV)}
    os.environ.update({PLAN_ENV: str(plan_file), HOME_ENV: str(home.root)})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_pipeline(
    plan_file: Path,
    home: Home,
    only_synth: list[str] | None = None,
    instance: dg.DagsterInstance | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Bring every synthesizer x ratio of the plan up to date in the home instance; 0 when every run succeeded.
    With nothing changed since the last run, nothing is launched."""
    instance = instance or dg.DagsterInstance.get()
    with exported(plan_file, home):
        warm_forkserver_for_new_plan(plan_file, home)  # a no-op when `hybrid-data run` started it already
        return _run_stages(plan_file, home, only_synth, instance, say)


def run_collapse_study(
    plan_file: Path, home: Home, instance: dg.DagsterInstance | None = None, say: Callable[[str], None] = print
) -> int:
    """`hybrid-data collapse`: the real-data stage when it is missing or stale, then the code location's collapse
    job once per synthesizer of the plan's collapse section (launched like every other job); prints each study's
    verdicts. 0 when every study succeeded."""
    from assets.collapse import COLLAPSE_GROUP, COLLAPSE_JOB, REPORT

    instance = instance or dg.DagsterInstance.get()
    with exported(plan_file, home):
        scheduler = Scheduler(plan_file, home, instance, say, trigger="cli_collapse")
        real = scheduler.real_data_runs()
        if real:
            say("collapse: real data first (ingest, stage, split)")
            if not all(o.success for o in scheduler.run_all(real)):
                say("collapse: the real-data stage failed; fix what it names and run `hybrid-data collapse` again")
                return 1
        study = scheduler.plan.collapse
        keys = sorted(
            dg.AssetSelection.groups(COLLAPSE_GROUP).resolve(scheduler.graph), key=lambda k: k.to_user_string()
        )
        say(
            f"collapse: {study.generations} generations x {len(study.modes)} modes x {study.repeats} repeats per "
            "synthesizer"
        )
        launches = [Launch(COLLAPSE_JOB, f"collapse {s.value}", keys, s.value) for s in study.synthesizers]
        try:
            outcomes = scheduler.run_all(launches)
        except KeyboardInterrupt:
            return stop_after_interrupt(instance, home, scheduler.tags, scheduler.batch_started, say)
    for outcome in outcomes:
        if outcome.success:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(REPORT), asset_partitions=[outcome.launch.partition]),
                limit=1,
            ).records
            metadata = records[0].asset_materialization.metadata
            for name in ("verdicts", "published_shapes"):
                say(str(metadata[name].value))
            say(f"MLflow: {metadata['mlflow_run'].value}")
    return 0 if all(o.success for o in outcomes) else 1


def _run_stages(plan_file: Path, home: Home, only_synth, instance: dg.DagsterInstance, say) -> int:
    scheduler = Scheduler(plan_file, home, instance, say)
    orphans = fail_orphaned_runs(instance, home)
    if orphans:
        say(f"marked {len(orphans)} run(s) failed that a killed hybrid-data left STARTED: {', '.join(orphans)}")
    try:
        return _stages(scheduler, plan_file, home, only_synth, instance, say)
    except KeyboardInterrupt:
        return stop_after_interrupt(instance, home, scheduler.tags, scheduler.batch_started, say)


def _stages(scheduler: Scheduler, plan_file: Path, home: Home, only_synth, instance: dg.DagsterInstance, say) -> int:
    plan = scheduler.plan
    add_ratio_partitions(instance, plan.ratio_keys)
    synths = only_synth or plan.synthesizer_names
    say(f"hybrid-data: plan '{plan.name}' ({plan_file}, fingerprint {scheduler.pinned.fingerprint}), home {home.root}")
    failed: list[str] = []

    def stage(title: str, launches: list[Launch]) -> list[Outcome]:
        say(f"{title}: " + ("up to date" if not launches else f"{len(launches)} run(s)"))
        outcomes = scheduler.run_all(launches)
        failed.extend(o.launch.label for o in outcomes if not o.success)
        return outcomes

    stage("[1/4] real data", scheduler.real_data_runs())
    if failed:
        return 1
    stage("[2/4] synthesizers", scheduler.synthesis_runs(synths))
    ready = [s for s in synths if f"synthesize {s}" not in failed]
    grid = stage(f"[3/4] blends and models ({len(ready)} x {len(plan.ratio_keys)})", scheduler.grid_runs(ready))
    if failed:  # a scorecard now would show the failed cells' old numbers as current
        say(f"[4/4] scorecard: not run, {len(failed)} run(s) above failed")
    else:
        stage("[4/4] scorecard", scheduler.scorecard_runs(any(o.success for o in grid)))
    say("")
    say(f"Dagster UI:  DAGSTER_HOME={home.dagster} dagster dev   (or: hybrid-data ui)")
    say(f"MLflow UI:   mlflow ui --backend-store-uri {home.mlflow_tracking_uri()}   (or: hybrid-data mlflow-ui)")
    say(f"Warehouse:   duckdb {home.warehouse}")
    if failed:
        say(f"{len(failed)} run(s) failed: {', '.join(failed)}")
        return 1
    return 0
