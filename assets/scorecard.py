"""The scorecard: every blend's holdout metrics side by side, in the Dagster UI and in MLflow."""

import dagster as dg
import polars as pl

from hybrid_data.scorecard import LOWER_IS_BETTER, PRIMARY_METRIC, build_scorecard, scorecard_png
from hybrid_data.source import infer_task
from hybrid_data.tracking import log_run

from .metadata import markdown_table
from .resources import HybridDataSettings, MlflowTracking

SHOWN = ("synthesizer", "ratio", "real_rows", "synthetic_rows", "is_baseline")


@dg.asset(group_name="training", kinds={"polars", "mlflow"}, deps=["blend_model"], code_version="2")
def blend_scorecard(
    context: dg.AssetExecutionContext,
    settings: HybridDataSettings,
    mlflow: MlflowTracking,
    real_train: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Every blend's holdout metrics in one table with the real-only baseline marked: the answer to "does
    synthetic data help, and how much of it?". Also an MLflow run with the table and a chart."""
    plan, lake = settings.plan, settings.lake
    task = plan.task or infer_task(real_train[plan.target])
    wanted_synths, wanted_ratios = set(plan.synthesizer_names), set(plan.ratios)
    rows = [
        lake.read_frame("blend_model", dims)
        for dims in lake.partitions("blend_model")
        if dims.get("synth") in wanted_synths and float(dims.get("ratio", "nan")) in wanted_ratios
    ]
    if not rows:
        raise ValueError("no blend_model partition of the plan is materialized yet; materialize blend_model first")
    card = build_scorecard(rows, task)
    metric = PRIMARY_METRIC[task]
    # The UI table keeps the utility metrics; check metrics stay in the stored frame and in MLflow.
    utility = [c for c in card.columns if c in SHOWN or c == metric or c.endswith("_vs_real_only")]
    utility += [
        c
        for c in ("average_precision", "minority_recall", "brier", "rmse", "mae", "r2", "macro_f1", "balanced_accuracy")
        if c in card.columns and c not in utility
    ]
    table = markdown_table(card.select(utility))
    chart = lake.publish("blend_scorecard", None, "scorecard.png", lambda tmp: scorecard_png(card, metric, tmp))
    exp_id = mlflow.experiment_id(plan.name)
    run_id = log_run(
        mlflow.tracking_uri,
        exp_id,
        "scorecard",
        {"blends": card.height, "task": task.value, "primary_metric": metric},
        {},
        {"hybrid_data.kind": "scorecard", "hybrid_data.plan": plan.name, "dagster.run_id": context.run_id},
        artifacts={"scorecard.md": table, "scorecard.csv": card.write_csv()},
        files=[chart],
    )
    best = card.sort(metric, descending=metric not in LOWER_IS_BETTER).row(0, named=True)
    return dg.Output(
        card,
        metadata={
            "dagster/row_count": card.height,
            "scorecard": dg.MetadataValue.md(table),
            "primary_metric": metric,
            "best_blend": f"{best['synthesizer']} r={best['ratio']:g} ({metric} {best[metric]:.4f})",
            "chart": dg.MetadataValue.path(str(chart)),
            "mlflow_run_id": run_id,
        },
    )
