"""Partitions: a static synthesizer dimension from the plan and a dynamic ratio dimension grown by a sensor.

The one place where a Dagster partition key becomes the lake's dimension values ({"synth": ..., "ratio": ...})
and back.
"""

from collections.abc import Mapping

import dagster as dg

from hybrid_data.plan import Plan

RATIO_PARTITIONS = dg.DynamicPartitionsDefinition(name="ratio")


def synth_partitions(plan: Plan) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(plan.synthesizer_names)


def blend_partitions(plan: Plan) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({"synth": synth_partitions(plan), "ratio": RATIO_PARTITIONS})


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
