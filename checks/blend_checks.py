"""Blocking checks on every blend partition: a blend that fails one never reaches training.

One step (`blend_correctness_checks`) loads the blend and the real data once and reports the four results; its
name does not repeat the asset's (a single `@asset_check` would be the step `blend_blend_...`)."""

import dagster as dg
import polars as pl

from assets.blending import parse_ratio
from assets.partitions import partition_dims
from assets.resources import HybridDataSettings
from hybrid_data.plan import Plan
from hybrid_data.privacy import exact_copies_outcome
from hybrid_data.quality import holdout_isolation, real_share_floor, schema_matches
from hybrid_data.source import ORIGIN_COLUMN

from .descriptions import describe
from .outcomes import check_result

CORRECTNESS = (
    "blend_schema_matches_real",
    "blend_real_share_above_floor",
    "blend_excludes_holdout",
    "blend_no_exact_copies",
)


def synthetic_rows(blend: pl.DataFrame) -> pl.DataFrame:
    return blend.filter(pl.col(ORIGIN_COLUMN) == "synthetic").drop(ORIGIN_COLUMN)


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
        plan = settings.plan
        checks, anchoring = plan.checks, plan.anchoring
        ratio = parse_ratio(partition_dims(context)["ratio"])
        outcomes = {
            "blend_schema_matches_real": schema_matches(blend, real_train),
            "blend_real_share_above_floor": real_share_floor(
                blend, ratio, anchoring.min_real_share, anchoring.allow_synthetic_only_baseline
            ),
            "blend_excludes_holdout": holdout_isolation(blend, real_holdout, real_train, checks.max_copy_ratio),
            "blend_no_exact_copies": exact_copies_outcome(
                synthetic_rows(blend), real_train, checks.max_exact_copies, real_holdout, checks.max_copy_ratio
            ),
        }
        for name, outcome in outcomes.items():
            yield check_result(outcome, check_name=name)

    return [blend_correctness_checks]
