"""Blocking checks on every blend partition: a blend that fails one never reaches training."""

import dagster as dg
import polars as pl

from assets.blending import parse_ratio
from assets.partitions import partition_dims
from assets.resources import HybridDataSettings
from hybrid_data.quality import CheckOutcome, holdout_isolation, real_share_floor, schema_matches


def _result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.passed,
        description=outcome.description,
        metadata={k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in outcome.metadata.items()},
    )


def build_blend_checks(partitions_def: dg.MultiPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    common = {"asset": "blend", "blocking": True, "partitions_def": partitions_def}

    @dg.asset_check(**common, additional_ins={"real_train": dg.AssetIn("real_train")})
    def blend_schema_matches_real(blend: pl.DataFrame, real_train: pl.DataFrame) -> dg.AssetCheckResult:
        """The blend has the real columns with the real types: a synthesizer that drops or retypes a column
        would otherwise train a model on something else."""
        return _result(schema_matches(blend, real_train))

    @dg.asset_check(**common)
    def blend_real_share_above_floor(
        context: dg.AssetCheckExecutionContext, settings: HybridDataSettings, blend: pl.DataFrame
    ) -> dg.AssetCheckResult:
        """The real share of the blend is at least the plan's floor: real data anchors every blend."""
        plan = settings.load_plan()
        ratio = parse_ratio(partition_dims(context)["ratio"])
        anchoring = plan.anchoring
        return _result(
            real_share_floor(blend, ratio, anchoring.min_real_share, anchoring.allow_synthetic_only_baseline)
        )

    @dg.asset_check(**common, additional_ins={"real_holdout": dg.AssetIn("real_holdout")})
    def blend_excludes_holdout(blend: pl.DataFrame, real_holdout: pl.DataFrame) -> dg.AssetCheckResult:
        """No holdout row is in the blend: a leaked holdout row makes every score on it optimistic."""
        return _result(holdout_isolation(blend, real_holdout))

    return [blend_schema_matches_real, blend_real_share_above_floor, blend_excludes_holdout]
