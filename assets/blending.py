"""Blending: real and synthetic rows per synthesizer x ratio, anchored to the real data."""

import dagster as dg
import polars as pl

from hybrid_data.blending import compose_blend, real_share
from hybrid_data.lake import frame_fingerprint
from hybrid_data.source import ORIGIN_COLUMN

from .metadata import frame_metadata
from .partitions import partition_dims
from .resources import HybridDataSettings


def parse_ratio(key: str) -> float:
    try:
        ratio = float(key)
    except ValueError:
        raise ValueError(f"ratio partition '{key}' is not a number; ratio keys look like '0.25'") from None
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio partition '{key}' is outside [0, 1]; remove it and fix the plan's ratios")
    return ratio


def build_blend_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name="blending",
        kinds={"polars"},
        partitions_def=partitions_def,
        code_version="1",
        ins={
            "synthetic_pool": dg.AssetIn(
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="synth")
            )
        },
    )
    def blend(
        context: dg.AssetExecutionContext,
        settings: HybridDataSettings,
        real_train: pl.DataFrame,
        synthetic_pool: pl.DataFrame,
    ) -> dg.Output[pl.DataFrame]:
        """The training set for one synthesizer x ratio: every real row the anchoring keeps plus synthetic rows
        from the pool, each marked in `_origin`. Checks guard it before any model trains on it."""
        plan = settings.plan
        dims = partition_dims(context)
        ratio = parse_ratio(dims["ratio"])
        frame = compose_blend(real_train, synthetic_pool, ratio, plan)
        counts = frame[ORIGIN_COLUMN].value_counts()
        by_origin = dict(zip(counts[ORIGIN_COLUMN].to_list(), counts["count"].to_list(), strict=True))
        target_shares = frame[plan.target].cast(pl.String).value_counts(normalize=True, sort=True)
        return dg.Output(
            frame,
            data_version=dg.DataVersion(frame_fingerprint(frame)),
            metadata={
                **frame_metadata(frame),
                "ratio": ratio,
                "synthesizer": dims["synth"],
                "anchoring": plan.anchoring.mode,
                "real_rows": by_origin.get("real", 0),
                "synthetic_rows": by_origin.get("synthetic", 0),
                "real_share": round(real_share(frame), 4),
                "target_shares": {str(k): round(v, 4) for k, v in target_shares.iter_rows()},
            },
        )

    return blend
