"""Blocking checks on every blend partition: a blend that fails one never reaches training."""

import dagster as dg
import polars as pl

from assets.blending import parse_ratio
from assets.partitions import partition_dims
from assets.resources import HybridDataSettings
from hybrid_data.privacy import exact_copies_outcome
from hybrid_data.quality import holdout_isolation, real_share_floor, schema_matches
from hybrid_data.source import ORIGIN_COLUMN

from .outcomes import check_result


def synthetic_rows(blend: pl.DataFrame) -> pl.DataFrame:
    return blend.filter(pl.col(ORIGIN_COLUMN) == "synthetic").drop(ORIGIN_COLUMN)


def build_blend_checks(partitions_def: dg.MultiPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    common = {"asset": "blend", "blocking": True, "partitions_def": partitions_def}

    @dg.asset_check(**common, additional_ins={"real_train": dg.AssetIn("real_train")})
    def blend_schema_matches_real(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
    ) -> dg.AssetCheckResult:
        """The blend has the real columns with the real types: a synthesizer that drops or retypes a column
        would otherwise train a model on something else."""
        record = (settings.lake, partition_dims(context), blend)
        return check_result(schema_matches(blend, real_train), check_name="blend_schema_matches_real", record=record)

    @dg.asset_check(**common)
    def blend_real_share_above_floor(
        context: dg.AssetCheckExecutionContext, settings: HybridDataSettings, blend: pl.DataFrame
    ) -> dg.AssetCheckResult:
        """The real share of the blend is at least the plan's floor: real data anchors every blend."""
        plan = settings.plan
        dims = partition_dims(context)
        anchoring = plan.anchoring
        outcome = real_share_floor(
            blend, parse_ratio(dims["ratio"]), anchoring.min_real_share, anchoring.allow_synthetic_only_baseline
        )
        record = (settings.lake, dims, blend)
        return check_result(outcome, check_name="blend_real_share_above_floor", record=record)

    @dg.asset_check(**common, additional_ins={"real_holdout": dg.AssetIn("real_holdout")})
    def blend_excludes_holdout(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_holdout: pl.DataFrame,
    ) -> dg.AssetCheckResult:
        """No holdout row is in the blend: a leaked holdout row makes every score on it optimistic."""
        record = (settings.lake, partition_dims(context), blend)
        return check_result(holdout_isolation(blend, real_holdout), check_name="blend_excludes_holdout", record=record)

    @dg.asset_check(**common, additional_ins={"real_train": dg.AssetIn("real_train")})
    def blend_no_exact_copies(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
    ) -> dg.AssetCheckResult:
        """No synthetic row of the blend is a real training row copied whole: a memorised record is a privacy
        leak and no new information for the model. Checked on the blend, so a failure stops its model."""
        plan = settings.plan
        outcome = exact_copies_outcome(synthetic_rows(blend), real_train, plan.checks.max_exact_copies)
        record = (settings.lake, partition_dims(context), blend)
        return check_result(outcome, check_name="blend_no_exact_copies", record=record)

    return [blend_schema_matches_real, blend_real_share_above_floor, blend_excludes_holdout, blend_no_exact_copies]
