"""Every private Dagster API the project uses, in one place (Dagster 1.13).

Public Dagster has no call for (a) "is this asset partition missing or stale?" outside a sensor's
`RunRequest(stale_assets_only=True)`, (b) "submit one asset backfill across differently partitioned
assets" outside the UI, nor (c) "the check evaluations a run recorded" (the instance's event-log reader is not
marked public), nor (d) "which check steps of this run have not finished".
tests/test_dagster_private.py exercises each function here, so a Dagster upgrade that
moves or changes them fails there, loudly, instead of somewhere in a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import dagster as dg

MISSING, STALE, FRESH = "MISSING", "STALE", "FRESH"


def stale_status(instance: dg.DagsterInstance, asset_graph) -> Callable[[dg.AssetKey, str | None], str]:
    """A function (asset key, partition key) -> MISSING, STALE or FRESH, from the data versions and code
    versions Dagster recorded (the same answer the UI's "stale" badge gives). Cached: make a new one after
    materializing anything."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._time import get_current_datetime

    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=asset_graph,
    )
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=asset_graph, loading_context=view)
    return lambda key, partition=None: resolver.get_status(key, partition).value


def check_evaluations_of_run(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    """Every asset check evaluation recorded by one run, in order."""
    entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return [entry.dagster_event.event_specific_data for entry in entries]


FINISHED_STEP = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}


def unfinished_check_steps(instance: dg.DagsterInstance, run_id: str, asset: dg.AssetKey) -> set[str]:
    """The steps of this run that planned a check on `asset` and have not finished (succeeded, failed or skipped).

    Dagster makes a downstream step wait for the blocking checks only; blend_model also reports the others (its
    MLflow run's checks table and tags, the scorecard's check column), so it must not read them while they run."""
    kinds = {dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, *FINISHED_STEP}
    planned, finished = set(), set()
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        if event.event_type in FINISHED_STEP:
            finished.add(entry.step_key)
        elif event.event_specific_data.asset_key == asset:
            planned.add(entry.step_key)
    return planned - finished


def backfill_subset(asset_graph, partitions: Mapping[dg.AssetKey, Iterable[str] | None]):
    """The asset partitions of one backfill, in the form Dagster's backfill daemon takes (`None`: unpartitioned)."""
    from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
    from dagster._core.definitions.events import AssetKeyPartitionKey

    wanted = set()
    for key, keys in partitions.items():
        if keys is None:
            wanted.add(AssetKeyPartitionKey(key, None))
        else:
            wanted.update(AssetKeyPartitionKey(key, k) for k in keys)
    return AssetGraphSubset.from_asset_partition_set(wanted, asset_graph)


def submit_backfill(instance: dg.DagsterInstance, asset_graph, subset, tags: Mapping[str, str], title: str) -> str:
    """Add one asset backfill to the instance (the daemon runs it through the run queue); returns its id."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    backfill_id = make_new_backfill_id()
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags=dict(tags),
            dynamic_partitions_store=instance,
            asset_graph_subset=subset,
            title=title,
            description=None,
            run_config=None,
        )
    )
    return backfill_id


def backfill_state(instance: dg.DagsterInstance, backfill_id: str) -> tuple[str, bool, bool]:
    """(status name, finished?, succeeded?) of a backfill."""
    from dagster._core.execution.backfill import BulkActionStatus

    status = instance.get_backfill(backfill_id).status
    finished = status in {
        BulkActionStatus.COMPLETED,
        BulkActionStatus.COMPLETED_SUCCESS,
        BulkActionStatus.COMPLETED_FAILED,
        BulkActionStatus.FAILED,
        BulkActionStatus.CANCELED,
    }
    return status.value, finished, status in {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS}


def executing_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process id that executed a run's steps (the multiprocess executor records it in an engine event),
    or None when the run never got that far. Exercised against a real run in
    tests/reliability/test_cli_interrupts.py (a multiprocess run takes too long for this module's tests)."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        pid = entry.dagster_event.engine_event_data.metadata.get("pid") if entry.dagster_event else None
        if pid is not None:
            return int(pid.value)
    return None
