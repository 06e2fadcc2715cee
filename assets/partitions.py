"""Partitions: a static synthesizer dimension from the plan and a dynamic ratio dimension grown by a sensor."""

import dagster as dg

from hybrid_data.plan import Plan

RATIO_PARTITIONS = dg.DynamicPartitionsDefinition(name="ratio")


def synth_partitions(plan: Plan) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(plan.synthesizer_names)


def blend_partitions(plan: Plan) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({"synth": synth_partitions(plan), "ratio": RATIO_PARTITIONS})


def blend_key(synth: str, ratio_key: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"synth": synth, "ratio": ratio_key})


def partition_dims(context: dg.AssetExecutionContext) -> dict[str, str]:
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    return {"synth": key}
