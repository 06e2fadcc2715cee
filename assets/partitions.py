"""Partitions: a static synthesizer dimension from the plan and a dynamic ratio dimension grown by a sensor.

The one place where a Dagster partition key becomes the lake's dimension values ({"synth": ..., "ratio": ...})
and back.
"""

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from hybrid_data.plan import Plan

RATIO_PARTITIONS = dg.DynamicPartitionsDefinition(name="ratio")


def synth_partitions(plan: Plan) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(plan.synthesizer_names)


def blend_partitions(plan: Plan) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({"synth": synth_partitions(plan), "ratio": RATIO_PARTITIONS})


def _numeric_first(key: str) -> tuple:
    try:
        return (0, float(key), key)
    except ValueError:  # a key added by hand in the UI: after the numbers, alphabetically
        return (1, 0.0, key)


def sorted_ratio_changes(known: Sequence[str], wanted: Iterable[str]) -> tuple[list[str], list[str]]:
    """(keys to delete, keys to add, in this order) so the ratio partitions become known + wanted in numeric
    order: Dagster lists dynamic partitions in the order they were added, so a new ratio below existing ones is
    added by taking off the ones above it and adding them back after it. Deleting a partition key removes only
    the key: its materializations, runs and MLflow runs stay and show again once it is back."""
    target = sorted(set(known) | set(wanted), key=_numeric_first)
    same = 0
    while same < len(known) and known[same] == target[same]:
        same += 1
    if same == len(target):
        return [], []
    return list(known[same:]), target[same:]


def add_ratio_partitions(instance: dg.DagsterInstance, ratio_keys: Sequence[str]) -> list[str]:
    """Add the ratios that have no partition yet, keeping the partition list in numeric order; returns them.
    (Done on the instance, not as a sensor's partition requests: one tick may not delete and re-add a key.)"""
    known = instance.get_dynamic_partitions(RATIO_PARTITIONS.name)
    to_delete, to_add = sorted_ratio_changes(known, ratio_keys)
    for key in to_delete:
        instance.delete_dynamic_partition(RATIO_PARTITIONS.name, key)
    if to_add:
        instance.add_dynamic_partitions(RATIO_PARTITIONS.name, to_add)
    return [k for k in to_add if k not in known]


def key_dims(key: str | dg.MultiPartitionKey, partitions_def: dg.PartitionsDefinition | None = None) -> dict[str, str]:
    """The dimension values of a partition key: a synth x ratio key, a ratio key, or a synthesizer."""
    if isinstance(partitions_def, dg.MultiPartitionsDefinition) and not isinstance(key, dg.MultiPartitionKey):
        key = partitions_def.get_partition_key_from_str(key)
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return {partitions_def.name: key}
    return {"synth": key}


def dims_key(dims: Mapping[str, str]) -> str | dg.MultiPartitionKey:
    """The Dagster partition key of dimension values (inverse of key_dims for this project's partitions)."""
    return dg.MultiPartitionKey(dict(dims)) if len(dims) > 1 else next(iter(dims.values()))


def partition_dims(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dict[str, str]:
    """The dimension values of the partition an asset or check runs on."""
    return key_dims(context.partition_key)
