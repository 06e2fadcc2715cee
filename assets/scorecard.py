"""The scorecard: every cell judged against real-only with intervals and verdicts, in the Dagster UI and MLflow."""

import dagster as dg
import polars as pl

from hybrid_data import lake
from hybrid_data.column_types import decide_task
from hybrid_data.evaluation.mlflow_records import scorecard_runs
from hybrid_data.evaluation.report import markdown_scorecard, scorecard_png
from hybrid_data.evaluation.scorecard import build_scorecard, save_scorecard
from hybrid_data.lake import Lake
from hybrid_data.tracking import FINGERPRINT_TAG, find_run, log_nested_runs

from .metadata import markdown_table
from .resources import HybridDataSettings, MlflowTracking


def collect_cells(store: Lake, plan) -> tuple[pl.DataFrame, bool]:
    """The stored cells of the plan's grid (blend_model partitions) and the classical baselines if materialized."""
    wanted_synths, wanted_ratios = set(plan.synthesizer_names), set(plan.ratios)
    frames = [
        store.read_frame("blend_model", dims)
        for dims in store.partitions("blend_model")
        if dims.get("synth") in wanted_synths and float(dims.get("ratio", "nan")) in wanted_ratios
    ]
    if not frames:
        raise ValueError("no blend_model partition of the plan is materialized yet; materialize blend_model first")
    has_baselines = store.exists("classical_baselines")
    if has_baselines:
        frames.append(store.read_frame("classical_baselines"))
    return pl.concat([f for f in frames if f.height], how="diagonal_relaxed"), has_baselines


@dg.asset(
    group_name="training", kinds={"polars", "mlflow"}, deps=["blend_model", "classical_baselines"], code_version="3"
)
def blend_scorecard(
    context: dg.AssetExecutionContext,
    settings: HybridDataSettings,
    mlflow: MlflowTracking,
    real_train: pl.DataFrame,
    real_holdout: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """The answer to "do synthetic rows help my model, and at which ratio?": every cell (blends, real-only,
    TSTR, classical fixes) with its metric, 95% interval, paired difference to real-only (Holm-adjusted) and a
    verdict, its blend's check status, a plan-level verdict, a bias audit, and a chart. One MLflow parent run per
    scorecard version with a nested run per cell; an unchanged scorecard logs nothing new."""
    plan, store = settings.plan, settings.lake
    task = decide_task(plan, real_train)
    cells, has_baselines = collect_cells(store, plan)
    card = build_scorecard(cells, real_holdout, real_train, plan, task)
    save_scorecard(card, store)
    chart = store.publish("blend_scorecard", None, "scorecard.png", lambda tmp: scorecard_png(card, tmp))
    table = markdown_scorecard(card)
    version = lake.fingerprint(lake.frame_fingerprint(cells), plan.evaluation.model_dump(), plan.target, task.value)
    exp_id = mlflow.experiment_id(plan.name)
    existing = find_run(mlflow.tracking_uri, exp_id, version)
    if existing is not None:
        context.log.info(f"scorecard unchanged since MLflow run {existing.info.run_id}; not logging a duplicate")
        run_id = existing.info.run_id
    else:
        tags = {"hybrid_data.plan": plan.name, "dagster.run_id": context.run_id, FINGERPRINT_TAG: version}
        parent, children = scorecard_runs(card, cells, tags, chart)
        run_id = log_nested_runs(mlflow.tracking_uri, exp_id, parent, children)
    failed_cells = card.table.filter(pl.col("failed_gates") != "")["cell"].to_list()
    metadata = {
        "dagster/row_count": card.table.height,
        "verdict": card.verdict,
        "scorecard": dg.MetadataValue.md(table),
        "primary_metric": card.metric,
        "protocol": card.protocol,
        "cells_failing_checks": ", ".join(failed_cells) or "none",
        "classical_baselines": "included" if has_baselines else "not materialized: materialize classical_baselines",
        "chart": dg.MetadataValue.path(str(chart)),
        "mlflow_run_id": run_id,
        "mlflow_reused": existing is not None,
    }
    if plan.evaluation.groups:
        warned = card.bias.filter(pl.col("warning") != "") if card.bias.height else card.bias
        metadata["bias_warnings"] = len(card.bias_warnings)
        metadata["bias_audit"] = dg.MetadataValue.md(
            markdown_table(warned.head(50)) if warned.height else "no warnings"
        )
    return dg.Output(card.table, metadata=metadata)
