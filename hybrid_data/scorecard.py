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


def scorecard_png(card: pl.DataFrame, metric: str, path) -> None:
    """A chart of the primary metric against the synthetic ratio, one line per synthesizer, the real-only
    baseline dashed: the shape (does more synthetic data help, and where does it start to hurt) at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    for (synth,), rows in card.sort("ratio").group_by("synthesizer", maintain_order=True):
        axes.plot(rows["ratio"], rows[metric], marker="o", label=synth)
    baseline = card.filter(pl.col("is_baseline"))[metric]
    if baseline.len():
        axes.axhline(baseline[0], linestyle="--", color="grey", label="real only (r = 0)")
    axes.set_xlabel("share of synthetic rows in the blend (ratio)")
    axes.set_ylabel(f"{metric} on the real holdout")
    axes.set_title("Blends judged on real data")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
