"""Checks on every synthesizer's pool: a synthesizer that lost a rare class is reported before any blend uses it."""

import dagster as dg
import polars as pl

from assets.resources import HybridDataSettings
from hybrid_data.boost import classes_kept
from hybrid_data.plan import Plan

from .descriptions import describe
from .outcomes import check_result

NAME = "synthetic_pool_keeps_minority"


def build_pool_checks(blend_partitions: dg.MultiPartitionsDefinition, loaded: Plan) -> list[dg.AssetChecksDefinition]:
    """Declared blocking only when the plan's `synthesis.minority_loss_blocking` makes a failure stop the pool's
    blends; otherwise a warning the UI shows in yellow."""
    synth_partitions = blend_partitions.get_partitions_def_for_dimension("synth")
    blocking = loaded.synthesis.minority_loss_blocking
    spec = dg.AssetCheckSpec(
        NAME,
        asset="synthetic_pool",
        description=describe(
            NAME,
            loaded,
            blocking,
            "set `synthesis.minority_loss_blocking: true` in the plan",
            stops="every blend of this pool",
        ),
        blocking=blocking,
        partitions_def=synth_partitions,
        additional_deps=["real_train"],
    )

    # a multi-check only to name the step after the check (not `synthetic_pool_synthetic_pool_keeps_minority`)
    @dg.multi_asset_check(name=NAME, specs=[spec], ins={"synthetic_pool": "synthetic_pool", "real_train": "real_train"})
    def synthetic_pool_keeps_minority(
        settings: HybridDataSettings, synthetic_pool: pl.DataFrame, real_train: pl.DataFrame
    ):
        """Every real class, the minority first, keeps at least `synthesis.min_minority_share_ratio` of its real
        share in the pool (rare classes vanish first when synthesizers degrade)."""
        plan = settings.plan
        synth = plan.synthesis
        outcome = classes_kept(synthetic_pool[plan.target], real_train[plan.target], synth.min_minority_share_ratio)
        yield check_result(outcome, "ERROR" if synth.minority_loss_blocking else "WARN", check_name=NAME)

    return [synthetic_pool_keeps_minority]
