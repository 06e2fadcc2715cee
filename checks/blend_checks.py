"""Blocking checks on every blend partition: a blend that fails one never reaches training.

One step (`blend_correctness_checks`) loads the blend and the real data once and reports the four results; its
name does not repeat the asset's (a single `@asset_check` would be the step `blend_blend_...`)."""

import dagster as dg
import polars as pl

from assets.blending import parse_ratio
from assets.partitions import partition_dims
from assets.resources import HybridDataSettings
from hybrid_data.blend_check_groups import CORRECTNESS, correctness_outcomes
from hybrid_data.plan import Plan

from .descriptions import describe
from .outcomes import check_result


def build_blend_checks(partitions_def: dg.MultiPartitionsDefinition, loaded: Plan) -> list[dg.AssetChecksDefinition]:
    specs = [
        dg.AssetCheckSpec(
            name,
            asset="blend",
            description=describe(name, loaded, blocking=True),
            blocking=True,
            partitions_def=partitions_def,
            additional_deps=["real_train", "real_holdout"],
        )
        for name in CORRECTNESS
    ]

    @dg.multi_asset_check(
        name="blend_correctness_checks",
        specs=specs,
        ins={"blend": "blend", "real_train": dg.AssetIn("real_train"), "real_holdout": dg.AssetIn("real_holdout")},
    )
    def blend_correctness_checks(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
        real_holdout: pl.DataFrame,
    ):
        """The blend is what training may trust: real schema, real share above the floor, no holdout row, no
        memorised training row."""
        ratio = parse_ratio(partition_dims(context)["ratio"])
        outcomes = correctness_outcomes(blend, real_train, real_holdout, ratio, settings.plan)
        for name, outcome in outcomes.items():
            yield check_result(outcome, check_name=name)

    return [blend_correctness_checks]
