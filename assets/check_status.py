"""The check -> model path through Dagster's own records: which checks ran on the blend a model trains on.

`blend_model` reads the check evaluations of its partition from the instance's event log (the runs that
materialized the current blend and the current run), keeping those that target the blend's current
materialization. No side files: the UI's check history and the model's MLflow run show the same results.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from .dagster_private import check_evaluations_of_run

BLEND = dg.AssetKey("blend")


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
        dg.AssetRecordsFilter(asset_key=BLEND, asset_partitions=[partition]), limit=1
    ).records
    if not found:
        return []
    blend = found[0]
    runs = dict.fromkeys([blend.run_id, context.run_id])
    evaluations = [e for run_id in runs for e in check_evaluations_of_run(instance, run_id)]
    return current_check_records(evaluations, partition, blend.storage_id)
