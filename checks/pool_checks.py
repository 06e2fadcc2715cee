"""Checks on every synthesizer's pool: a synthesizer that lost a rare class is reported before any blend uses it."""

import dagster as dg
import polars as pl

from assets.resources import HybridDataSettings
from hybrid_data.boost import classes_kept

from .outcomes import check_result


def build_pool_checks(blend_partitions: dg.MultiPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    synth_partitions = blend_partitions.get_partitions_def_for_dimension("synth")

    @dg.asset_check(
        asset="synthetic_pool",
        blocking=True,
        partitions_def=synth_partitions,
        additional_ins={"real_train": dg.AssetIn("real_train")},
    )
    def synthetic_pool_keeps_minority(
        settings: HybridDataSettings, synthetic_pool: pl.DataFrame, real_train: pl.DataFrame
    ) -> dg.AssetCheckResult:
        """Every real class, the minority first, keeps at least `synthesis.min_minority_share_ratio` of its real
        share in the pool (rare classes vanish first when synthesizers degrade). A warning unless
        `synthesis.minority_loss_blocking` makes it stop the pool's blends."""
        plan = settings.plan
        synth = plan.synthesis
        outcome = classes_kept(synthetic_pool[plan.target], real_train[plan.target], synth.min_minority_share_ratio)
        return check_result(outcome, "ERROR" if synth.minority_loss_blocking else "WARN")

    return [synthetic_pool_keeps_minority]
