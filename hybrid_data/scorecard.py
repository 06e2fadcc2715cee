"""The scorecard: every blend's holdout metrics in one table, judged against the real-only baseline."""

from __future__ import annotations

import polars as pl

from hybrid_data.plan import Task

PRIMARY_METRIC = {Task.binary: "roc_auc", Task.multiclass: "macro_f1", Task.regression: "rmse"}
LOWER_IS_BETTER = {"rmse", "mae", "brier"}


def build_scorecard(rows: list[pl.DataFrame], task: Task) -> pl.DataFrame:
    """One row per blend, sorted by synthesizer and ratio, with the primary metric's change against r = 0."""
    if not rows:
        return pl.DataFrame()
    card = pl.concat(rows, how="diagonal_relaxed").sort("synthesizer", "ratio")
    metric = PRIMARY_METRIC[task]
    baseline = card.filter(pl.col("ratio") == 0.0).select("synthesizer", pl.col(metric).alias("_baseline"))
    card = card.join(baseline, on="synthesizer", how="left")
    return card.with_columns(
        (pl.col("ratio") == 0.0).alias("is_baseline"),
        (pl.col(metric) - pl.col("_baseline")).alias(f"{metric}_vs_real_only"),
    ).drop("_baseline")
