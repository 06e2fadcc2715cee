"""Automation: sensors and schedules that keep the blends in step with the plan and the real data.

- `plan_ratios_sensor`: the plan's ratios are the dynamic "ratio" partitions. New ratios are added and
  backfilled (with whatever upstream is missing or too small); removed ratios are reported, never deleted; a
  plan edit that fails validation is reported and nothing changes until it is fixed.
- `real_source_sensor`: the source file's content changed -> rerun the real-data stage once.
- `real_data_refresh_sensor`: real_train has a data version the synthesizers were not fitted on -> backfill
  everything downstream once.
- `nightly_real_data` schedule: reruns the real-data stage on the plan's cron (new rows of a SQL source); the
  refresh sensor takes it from there only if the data really changed.
"""

import json
import os
from collections.abc import Iterable, Mapping

import dagster as dg

from hybrid_data.blending import pool_size
from hybrid_data.lake import Lake, sha256_file
from hybrid_data.plan import Plan, PlanError, SynthesizerName
from hybrid_data.plan_snapshot import PinnedPlan
from hybrid_data.reuse import source_file

from .dagster_private import backfill_subset
from .jobs import PREPARE_REAL_DATA_JOB
from .partitions import RATIO_PARTITIONS, add_ratio_partitions, dims_key
from .resources import LAUNCHED_BY_TAG, HybridDataSettings, plan_tags

SENSOR_INTERVAL_ENV = "HYBRID_DATA_SENSOR_INTERVAL"
DEFAULT_SENSOR_INTERVAL = 30
# Tag on every run a sensor starts: why it was started, so the UI's run list answers "who launched this?".
TRIGGER_TAG = "hybrid_data/trigger"
BLEND_ASSETS = ("blend", "blend_model")
INPUT_VERSION_TAG = "dagster/input_data_version/real_train"
KNOWN_SYNTHESIZERS = {s.value for s in SynthesizerName}


class PlanNotUsable(Exception):
    """Raised by a sensor so the tick shows as failed (red, with this message) rather than as a quiet skip: the
    plan file or its source needs a fix; nothing was changed. The sensor keeps running and retries each tick."""


def run_tags(launched_by: str, trigger: str, pinned: PinnedPlan | None = None, **extra: str) -> dict[str, str]:
    """The tags of every run this project starts, whoever starts it (the CLI, a sensor, the schedule, a
    backfill): who launched it (`cli`, `sensor`, `schedule`), why (`trigger`), and the plan's name and fingerprint.
    One set of keys, so the UI's run list filters and groups them all alike."""
    return {LAUNCHED_BY_TAG: launched_by, TRIGGER_TAG: trigger, **(plan_tags(pinned) if pinned else {}), **extra}


def _plan_problem(settings: HybridDataSettings, exc: Exception, consequence: str) -> PlanNotUsable:
    return PlanNotUsable(
        f"plan file {settings.plan_path} is not usable: {exc}\n{consequence}\nFix the file (`hybrid-data plan "
        f"show --plan {settings.plan_path}` names the field); the next tick picks it up."
    )


def sensor_interval() -> int:
    """Seconds between sensor evaluations: $HYBRID_DATA_SENSOR_INTERVAL, default 30."""
    raw = os.environ.get(SENSOR_INTERVAL_ENV, str(DEFAULT_SENSOR_INTERVAL))
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"{SENSOR_INTERVAL_ENV}={raw!r} is not a whole number of seconds") from None


def backfill_request(
    asset_graph, partitions: Mapping[dg.AssetKey, Iterable[str] | None], tags: Mapping[str, str]
) -> dg.RunRequest:
    """A run request the daemon turns into one asset backfill, which runs the partitions in dependency order
    (a grown pool before the blends that need it) through the run queue. `None` = an unpartitioned asset."""
    return dg.RunRequest.for_asset_graph_subset(backfill_subset(asset_graph, partitions), tags=dict(tags))


def grid_partitions(
    asset_graph, plan: Plan, synths: list[str], ratio_keys: list[str], lake: Lake
) -> dict[dg.AssetKey, list[str] | None]:
    """What a backfill of these synth x ratio blends must materialize: the blends and models, upstream that is
    missing or too small, and the scorecard that collects them."""
    partitions = _upstream_partitions(asset_graph, plan, synths, lake)
    keys = _blend_keys(synths, ratio_keys)
    partitions.update({dg.AssetKey(name): keys for name in BLEND_ASSETS})
    if asset_graph.has(dg.AssetKey("blend_scorecard")):
        partitions[dg.AssetKey("blend_scorecard")] = None
    return partitions


def _upstream_partitions(asset_graph, plan: Plan, synths: list[str], lake: Lake) -> dict[dg.AssetKey, list[str] | None]:
    """Upstream of the blends that is missing from the lake, plus pools too small for the plan's largest ratio
    (the synthetic_pool asset sizes itself from the plan when it runs)."""
    upstream = dg.AssetSelection.assets(*BLEND_ASSETS).upstream(include_self=False) | dg.AssetSelection.assets(
        "real_profile"
    )
    needed: dict[dg.AssetKey, list[str] | None] = {}
    n_real = lake.frame_rows("real_train")
    for key in upstream.resolve(asset_graph):
        name = key.path[-1]
        if asset_graph.get(key).partitions_def is None:
            if not lake.exists(name):
                needed[key] = None
            continue
        missing = [s for s in synths if not lake.exists(name, {"synth": s})]
        if name == "synthetic_pool" and n_real is not None:
            wanted_rows = pool_size(plan, n_real)
            missing += [
                s for s in synths if s not in missing and (lake.frame_rows(name, {"synth": s}) or 0) < wanted_rows
            ]
        if missing:
            needed[key] = missing
    return needed


def _blend_keys(synths: Iterable[str], ratios: Iterable[str]) -> list[str]:
    return [dims_key({"synth": s, "ratio": r}) for s in synths for r in ratios]


def build_plan_ratios_sensor(plan: Plan) -> dg.SensorDefinition:
    loaded_synths = plan.synthesizer_names

    @dg.sensor(
        name="plan_ratios_sensor",
        minimum_interval_seconds=sensor_interval(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=dg.AssetSelection.all(),
        description="Adds the plan's new ratios as partitions and, once the home is built, backfills exactly "
        "those; reports removed ratios and fails its tick on an invalid plan edit, without acting on either.",
    )
    def plan_ratios_sensor(context: dg.SensorEvaluationContext, settings: HybridDataSettings):
        last_good = json.loads(context.cursor) if context.cursor else None
        try:
            pinned = settings.current_plan()
        except (PlanError, OSError) as exc:
            kept = f"ratios {last_good}" if last_good else "the partitions already added"
            raise _plan_problem(
                settings, exc, f"Nothing changed: keeping the last good plan ({kept}) until the plan is fixed."
            ) from None
        current = pinned.plan
        known = context.instance.get_dynamic_partitions(RATIO_PARTITIONS.name)
        new = [k for k in current.ratio_keys if k not in known]
        notes = []
        removed = [k for k in known if k not in current.ratio_keys]
        if removed:
            notes.append(
                f"ratio(s) {', '.join(removed)} no longer in the plan: their partitions, runs and MLflow runs are "
                "kept as history (delete a partition in the UI's partitions view if you really want it gone)"
            )
        unknown_synths = sorted(set(current.synthesizer_names) - set(loaded_synths))
        if unknown_synths:
            notes.append(
                f"synthesizer(s) {', '.join(unknown_synths)} are new in the plan: reload the code location "
                "(Deployment > Reload, or restart `hybrid-data ui`) to add their partitions"
            )
        synths = [s for s in current.synthesizer_names if s in loaded_synths]
        for note in notes:
            context.log.warning(note)
        cursor = json.dumps(current.ratio_keys)
        if not new or not synths:
            summary = f"ratios {', '.join(current.ratio_keys)} all have partitions"
            return dg.SensorResult(skip_reason="; ".join([summary, *notes]), cursor=cursor)
        if context.instance.get_latest_materialization_event(dg.AssetKey("real_train")) is None:
            # An unbuilt home: opening the UI must not start hours of compute by itself.
            add_ratio_partitions(context.instance, new)
            return dg.SensorResult(
                skip_reason=f"nothing is built in this home yet, so nothing was started: ratio partitions "
                f"{', '.join(new)} added. Build it with `hybrid-data run --plan {settings.plan_path}` (or Materialize "
                "all in the UI); after that, ratios added to the plan are built here automatically.",
                cursor=cursor,
            )
        asset_graph = context.repository_def.asset_graph
        partitions = grid_partitions(asset_graph, current, synths, new, settings.lake)
        context.log.info(
            f"adding ratio partition(s) {new}; backfilling {sorted(k.to_user_string() for k in partitions)}"
        )
        add_ratio_partitions(context.instance, new)  # the partition list stays in numeric order
        return dg.SensorResult(
            run_requests=[
                backfill_request(
                    asset_graph,
                    partitions,
                    run_tags("sensor", "plan_ratios", pinned, **{"hybrid_data/new_ratios": ",".join(new)}),
                )
            ],
            cursor=cursor,
        )

    return plan_ratios_sensor


def source_state(plan: Plan, previous: Mapping | None) -> dict | None:
    """The source's content hash, rehashing only when size or modification time moved (a cheap check per tick).
    None for a query without a database file (only running it tells whether it changed: the nightly schedule
    does). A file source that does not exist raises FileNotFoundError naming the path."""
    if plan.source_path is not None and not plan.source_path.exists():
        raise FileNotFoundError(
            f"the real source {plan.source_path} (plan key source.path; a relative path is read from the plan's "
            "folder) does not exist, so it is not watched"
        )
    path = source_file(plan)
    if path is None:
        return None
    stat = path.stat()
    signature = [str(path), stat.st_size, stat.st_mtime_ns]
    if previous and previous.get("signature") == signature:
        return dict(previous)
    return {"signature": signature, "sha256": sha256_file(path)[0]}


def build_real_source_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name="real_source_sensor",
        job_name=PREPARE_REAL_DATA_JOB,
        minimum_interval_seconds=sensor_interval(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Reruns the real-data stage when the source file's content changes (not its timestamp).",
    )
    def real_source_sensor(context: dg.SensorEvaluationContext, settings: HybridDataSettings):
        previous = json.loads(context.cursor) if context.cursor else None
        try:
            pinned = settings.current_plan()
            state = source_state(pinned.plan, previous)
        except (PlanError, OSError) as exc:
            raise _plan_problem(settings, exc, "The real source is not watched until this is fixed.") from None
        if state is None:
            return dg.SkipReason(
                f"the source of {settings.plan_path} is a query ({pinned.plan.source.format}): only running it "
                "tells whether its rows changed, so the nightly_real_data schedule re-reads it on the plan's cron"
            )
        cursor = json.dumps(state)
        if previous is None or previous.get("sha256") == state["sha256"]:
            # First look: remember the content (building the home is the user's first `hybrid-data run`).
            return dg.SensorResult(skip_reason=f"source unchanged (sha256 {state['sha256'][:12]})", cursor=cursor)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"source-{state['sha256']}", tags=run_tags("sensor", "real_source_changed", pinned)
                )
            ],
            cursor=cursor,
        )

    return real_source_sensor


def _latest_tags(instance: dg.DagsterInstance, asset: str) -> Mapping[str, str] | None:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None:
        return None
    return event.asset_materialization.tags or {}


def refresh_partitions(asset_graph, instance: dg.DagsterInstance, plan: Plan) -> dict[dg.AssetKey, list[str] | None]:
    """Every asset downstream of real_train, for the plan's synthesizers and ratios (removed ratios stay as they
    were: they are history)."""
    # The collapse study is an experiment a user starts on purpose (minutes of fits), not part of the refresh.
    refreshed = dg.AssetSelection.assets("real_train").downstream(include_self=False) - dg.AssetSelection.groups(
        "collapse_study"
    )
    downstream = refreshed.resolve(asset_graph)
    synths, ratios = set(plan.synthesizer_names), set(plan.ratio_keys)
    partitions: dict[dg.AssetKey, list[str] | None] = {}
    for key in downstream:
        partitions_def = asset_graph.get(key).partitions_def
        if partitions_def is None:
            partitions[key] = None
            continue
        keys = []
        for partition in partitions_def.get_partition_keys(dynamic_partitions_store=instance):
            if isinstance(partition, dg.MultiPartitionKey):
                dims = dict(partition.keys_by_dimension)
            else:
                dims = {"synth": partition} if partition in KNOWN_SYNTHESIZERS else {}
            if dims.get("synth", "") in synths | {""} and dims.get("ratio", "") in ratios | {""}:
                keys.append(partition)
        if keys:
            partitions[key] = keys
    return partitions


def build_real_data_refresh_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name="real_data_refresh_sensor",
        minimum_interval_seconds=sensor_interval(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=dg.AssetSelection.all(),
        description="When real_train gets a data version the synthesizers were not fitted on, backfills everything "
        "downstream of it once.",
    )
    def real_data_refresh_sensor(context: dg.SensorEvaluationContext, settings: HybridDataSettings):
        train_tags = _latest_tags(context.instance, "real_train")
        current = (train_tags or {}).get("dagster/data_version")
        if current is None:
            return dg.SkipReason(
                "real_train not materialized yet: nothing to refresh until the home is built (`hybrid-data run`)"
            )
        used = (_latest_tags(context.instance, "synthesizer_model") or {}).get(INPUT_VERSION_TAG)
        if used is None:
            return dg.SkipReason("no synthesizer fitted yet: nothing to refresh until the blends are built")
        if used == current:
            return dg.SensorResult(skip_reason=f"downstream is up to date with real data {current}", cursor=current)
        if context.cursor == current:
            return dg.SkipReason(f"refresh for real data {current} already requested")
        try:
            pinned = settings.current_plan()
        except (PlanError, OSError) as exc:
            raise _plan_problem(
                settings, exc, f"Real data changed ({used} -> {current}) but nothing downstream is refreshed."
            ) from None
        partitions = refresh_partitions(context.repository_def.asset_graph, context.instance, pinned.plan)
        context.log.info(f"real data {used} -> {current}: refreshing {len(partitions)} asset(s) downstream")
        return dg.SensorResult(
            run_requests=[
                backfill_request(
                    context.repository_def.asset_graph,
                    partitions,
                    run_tags("sensor", "real_data_changed", pinned),
                )
            ],
            cursor=current,
        )

    return real_data_refresh_sensor


def build_nightly_schedule(plan: Plan) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="nightly_real_data",
        job_name=PREPARE_REAL_DATA_JOB,
        cron_schedule=plan.schedule.cron,
        execution_timezone=plan.schedule.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Re-reads the real source on the plan's cron; unchanged data stops there, changed data is "
        "refreshed downstream by real_data_refresh_sensor.",
    )
    def nightly_real_data(context: dg.ScheduleEvaluationContext, settings: HybridDataSettings):
        try:
            pinned = settings.current_plan()
        except (PlanError, OSError) as exc:
            raise _plan_problem(settings, exc, "The nightly re-read of the real data is skipped.") from None
        return dg.RunRequest(tags=run_tags("schedule", "nightly", pinned))

    return nightly_real_data


def build_automation(plan: Plan, blend_partitions: dg.MultiPartitionsDefinition) -> tuple[list, list]:
    """(sensors, schedules) for the code location."""
    sensors = [build_plan_ratios_sensor(plan), build_real_source_sensor(), build_real_data_refresh_sensor()]
    return sensors, [build_nightly_schedule(plan)]
