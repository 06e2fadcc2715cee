"""Blending real and synthetic rows at a ratio, anchored to real data by a floor on the real share.

Ratio r is the share of synthetic rows in a blend. `augment` keeps every real training row and adds
n_real * r / (1 - r) synthetic ones; `replace` keeps the size at n_real with (1 - r) of it real, which is
what scarce real data looks like. r = 1 is the pure-synthetic (train-synthetic-test-real) baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hybrid_data.plan import Plan
from hybrid_data.source import ORIGIN_COLUMN


class BlendError(ValueError):
    """A blend that the plan's anchoring forbids or that the inputs cannot supply."""


@dataclass(frozen=True)
class BlendSize:
    real_rows: int
    synthetic_rows: int

    @property
    def rows(self) -> int:
        return self.real_rows + self.synthetic_rows

    @property
    def real_share(self) -> float:
        return self.real_rows / self.rows if self.rows else 0.0


def blend_size(n_real: int, ratio: float, mode: str) -> BlendSize:
    if not 0.0 <= ratio <= 1.0:
        raise BlendError(f"ratio {ratio} is outside [0, 1]; a ratio is the share of synthetic rows")
    if ratio == 1.0:
        return BlendSize(0, n_real)
    if mode == "augment":
        return BlendSize(n_real, round(n_real * ratio / (1.0 - ratio)))
    real_rows = round(n_real * (1.0 - ratio))
    return BlendSize(real_rows, n_real - real_rows)


def check_floor(ratio: float, plan: Plan) -> None:
    """Refuse a blend whose real share is below the plan's floor (the pure-synthetic baseline excepted)."""
    anchoring = plan.anchoring
    if not anchoring.allows(ratio):
        raise BlendError(
            f"ratio {ratio:g} gives a real share of {1 - ratio:g}, below anchoring.min_real_share="
            f"{anchoring.min_real_share:g}; lower the ratio or the floor in the plan"
        )


def pool_size(plan: Plan, n_real: int) -> int:
    """Synthetic rows enough for the largest ratio of the plan, so the pool is sampled once."""
    return max([blend_size(n_real, r, plan.anchoring.mode).synthetic_rows for r in plan.ratios] + [1])


def compose_blend(real_train: pl.DataFrame, pool: pl.DataFrame, ratio: float, plan: Plan) -> pl.DataFrame:
    """Real and synthetic rows for one ratio, each marked in `_origin`, in a seeded shuffled order.

    Synthetic rows are the pool's first rows, so a larger ratio's blend contains a smaller one's: blends
    differ by how much synthetic data they add, not by which draw they got.
    """
    check_floor(ratio, plan)
    size = blend_size(real_train.height, ratio, plan.anchoring.mode)
    if size.synthetic_rows > pool.height:
        raise BlendError(
            f"ratio {ratio:g} needs {size.synthetic_rows} synthetic rows but the pool has {pool.height}; "
            "re-materialize synthetic_pool after changing ratios"
        )
    real = real_train.sample(n=size.real_rows, seed=plan.seed) if size.real_rows < real_train.height else real_train
    parts = [
        real.with_columns(pl.lit("real").alias(ORIGIN_COLUMN)),
        pool.head(size.synthetic_rows)
        .select(real_train.columns)
        .with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN)),
    ]
    blend = pl.concat(parts, how="vertical_relaxed")
    return blend.sample(fraction=1.0, shuffle=True, seed=plan.seed)


def real_share(blend: pl.DataFrame) -> float:
    if blend.height == 0:
        return 0.0
    return float((blend[ORIGIN_COLUMN] == "real").sum()) / blend.height
