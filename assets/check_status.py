"""The check -> model path through Dagster's own records: which checks ran on the blend a model trains on.

`blend_model` reads the check evaluations of its partition from the instance's event log (the runs that
materialized the current blend and the current run), keeping those that target the blend's current
materialization. No side files: the UI's check history and the model's MLflow run show the same results.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from .dagster_private import check_evaluations_of_run

BLEND = dg.AssetKey("blend")
_LOG = logging.getLogger(__name__)


def _plain(value: dg.MetadataValue):
    """A metadata value as the plain number, text or structure the check put in."""
    return value.value if isinstance(value, dg.MetadataValue) else value


def current_check_records(evaluations: Iterable[dg.AssetCheckEvaluation], partition: str, blend_storage_id: int):
    """The latest evaluation of each check on this partition whose target is the blend materialization
    `blend_storage_id` (a stale result of an earlier blend is left out), shaped {check, passed, severity,
    description, metadata}, sorted by check name."""
    latest: dict[str, dg.AssetCheckEvaluation] = {}
    for evaluation in evaluations:
        if evaluation.asset_key != BLEND or evaluation.partition != partition:
            continue
        target = evaluation.target_materialization_data
        if target is None or target.storage_id != blend_storage_id:
            continue
        latest[evaluation.check_name] = evaluation
    return [
        {
            "check": name,
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "description": evaluation.description or "",
            "metadata": {k: _plain(v) for k, v in evaluation.metadata.items()},
        }
        for name, evaluation in sorted(latest.items())
    ]


def blend_check_records(context: dg.AssetExecutionContext) -> list[dict]:
    """The check results of this partition's current blend, from the instance (for blend_model and its MLflow
    run). Empty when the blend was never materialized or no check ran on its current version."""
    instance = context.instance
    partition = str(context.partition_key)
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BLEND, asset_partitions=[partition]), limit=20
    ).records
    if not found:
        return []
    # The blend the model trained on is the lake's current version: a later, rejected materialization's checks
    # (or an older one's) must not be reported as this model's.
    published = _published_run(context, "blend")
    blend = next((r for r in found if r.run_id == published), found[0])
    runs = dict.fromkeys([blend.run_id, context.run_id])
    evaluations = [e for run_id in runs for e in check_evaluations_of_run(instance, run_id)]
    return current_check_records(evaluations, partition, blend.storage_id)


def _published_run(context: dg.AssetExecutionContext, asset: str) -> str | None:
    """The run that wrote the lake's current version of this partition (None: unknown, e.g. an older lake)."""
    from .partitions import key_dims

    settings = getattr(context.resources, "settings", None)
    if settings is None:
        return None
    receipt = settings.lake.current_receipt(asset, key_dims(context.partition_key))
    return receipt.version if receipt else None


# --- publish only what passed ------------------------------------------------------------------------------------


def blocking_checks(job_def: dg.JobDefinition, run: dg.DagsterRun, asset_key: dg.AssetKey) -> tuple[str, ...]:
    """Names of the blocking checks on `asset_key` that this run executes: what a version it writes must pass
    before it becomes current (empty: the version is published at once)."""
    graph = job_def.asset_layer.asset_graph
    selected = run.asset_check_selection
    keys = graph.get_check_keys_for_assets({asset_key})
    return tuple(sorted(k.name for k in keys if graph.get(k).blocking and (selected is None or k in selected)))


def check_outcomes(instance: dg.DagsterInstance, run_id: str, asset: str, partition_key: str | None) -> dict:
    """The latest result of each check a run recorded on one asset partition, as plain CheckOutcomes."""
    from hybrid_data.publication import CheckOutcome

    outcomes = {}
    for evaluation in check_evaluations_of_run(instance, run_id):
        if evaluation.asset_key.path[-1] != asset or evaluation.partition != partition_key:
            continue
        blocks = not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        outcomes[evaluation.check_name] = CheckOutcome(evaluation.passed, blocks, evaluation.description or "")
    return outcomes


def dagster_settler(instance: dg.DagsterInstance, log=None):
    """A Lake `settle` callback judging candidates by what their run's checks recorded in the instance; every
    decision is logged and reported on the asset as an observation (current version, rejected one and why)."""
    from hybrid_data.publication import publish_decision, settle_partition

    def settle(lake, asset: str, partition) -> None:
        def verdict_of(candidate):
            run = instance.get_run_by_id(candidate.version)
            outcomes = check_outcomes(instance, candidate.version, asset, candidate.receipt.partition_key)
            return publish_decision(candidate.receipt.awaiting, outcomes, run is None or run.is_finished)

        report = settle_partition(lake, asset, partition, verdict_of)
        if not report.changed:
            return
        partition_key = next(
            (c.receipt.partition_key for c in lake.candidates(asset, partition) if c.receipt.partition_key), None
        )
        metadata = {"lake_current_version": report.current or "(none)"}
        for version, reason in report.published:
            metadata["lake_published"] = f"{version}: {reason}"
        for version, reason in report.rejected:
            metadata["lake_rejected"] = f"{version}: {reason}"
            (log or _LOG).warning(
                f"{lake.path(asset, partition)}: version {version} rejected, "
                f"{report.current or 'nothing'} stays current: {reason}"
            )
        # an observation is for people; a store that refuses it must not stop the read
        with contextlib.suppress(Exception):
            instance.report_runless_asset_event(
                dg.AssetObservation(asset_key=asset, partition=partition_key, metadata=metadata)
            )

    return settle


def settle_lake(instance: dg.DagsterInstance, lake, log=None) -> None:
    """Settle every waiting candidate in the lake (for the CLI after its runs: what it then reads is current)."""
    from hybrid_data.lake import CANDIDATES

    base = lake.root / CANDIDATES
    if not base.exists():
        return
    settle = dagster_settler(instance, log)
    seen = set()
    for receipt in base.glob("**/*.receipt.json"):
        parts = Path(receipt.parent.parent.path).relative_to(Path(base.path)).parts
        asset, dims = parts[0], dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        key = (asset, tuple(sorted(dims.items())))
        if key not in seen:
            seen.add(key)
            settle(lake, asset, dims or None)
