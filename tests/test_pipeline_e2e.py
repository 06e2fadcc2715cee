"""The whole pipeline on a few hundred real rows, through a real Dagster instance, lake and MLflow store."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from hybrid_data.cli import run_pipeline
from hybrid_data.lake import FRAME_FILE, OBJECT_FILE
from hybrid_data.plan import load_plan
from hybrid_data.source import ORIGIN_COLUMN

from .conftest import write_plan

CHECKS = ("blend_schema_matches_real", "blend_real_share_above_floor", "blend_excludes_holdout")


def mlflow_runs(home, experiment: str) -> list:
    import mlflow

    from hybrid_data.tracking import use_tracking_uri

    use_tracking_uri(home.mlflow_tracking_uri())
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


@pytest.mark.slow
def test_whole_pipeline_then_rerun_reuses_everything(tmp_path, tiny_csv, home, instance):
    plan_file = write_plan(tmp_path, tiny_csv)
    plan = load_plan(plan_file)
    assert run_pipeline(plan_file, home, instance=instance) == 0

    # Real data: train and holdout partition the staged rows, holdout near its fraction.
    train = home.open_lake().read_frame("real_train")
    holdout = home.open_lake().read_frame("real_holdout")
    staged = home.open_lake().read_frame("stg_real")
    assert train.height + holdout.height == staged.height == 400
    assert 0.1 < holdout.height / staged.height < 0.3
    assert train.join(holdout, on=train.columns, how="semi").height == 0
    assert train.columns == holdout.columns == pl.read_csv(tiny_csv).columns

    # Blends: one per ratio with the right real/synthetic split, never a holdout row.
    for ratio, real_rows, synthetic_rows in [
        ("0", train.height, 0),
        ("0.5", train.height, train.height),
        ("1", 0, train.height),
    ]:
        blend = home.open_lake().read_frame("blend", {"synth": "gaussian_copula", "ratio": ratio})
        assert (blend[ORIGIN_COLUMN] == "real").sum() == real_rows
        assert (blend[ORIGIN_COLUMN] == "synthetic").sum() == synthetic_rows
        assert blend.drop(ORIGIN_COLUMN).join(holdout, on=holdout.columns, how="semi").height == 0

    # Checks: every blocking check ran and passed on each of the three partitions.
    for check in CHECKS:
        history = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("blend"), check), limit=20
        )
        assert [r.status.value for r in history].count("SUCCEEDED") == 3, check

    # MLflow: one run per blend with holdout metrics, lineage tags and a logged model; plus the scorecard.
    runs = mlflow_runs(home, plan.name)
    blend_runs = [r for r in runs if "hybrid_data.ratio" in r.data.tags]
    assert sorted(r.data.tags["hybrid_data.ratio"] for r in blend_runs) == ["0", "0.5", "1"]
    for run in blend_runs:
        assert {"roc_auc", "average_precision", "minority_f1", "minority_recall", "brier"} <= set(run.data.metrics)
        assert run.data.tags["dagster.partition_key"].endswith("|gaussian_copula")
        assert run.data.tags["dagster.asset_key"] == "blend_model"
        assert instance.get_run_by_id(run.data.tags["dagster.run_id"]) is not None
        assert run.data.params["synthetic_rows"] == str(
            0 if run.data.tags["hybrid_data.ratio"] == "0" else train.height
        )
        assert len(run.outputs.model_outputs) == 1
    scorecard_runs = [r for r in runs if r.data.tags.get("hybrid_data.kind") == "scorecard"]
    assert len(scorecard_runs) == 1
    from mlflow.tracking import MlflowClient

    artifacts = {a.path for a in MlflowClient(home.mlflow_tracking_uri()).list_artifacts(scorecard_runs[0].info.run_id)}
    assert {"scorecard.md", "scorecard.csv", "scorecard.png"} <= artifacts

    card = home.open_lake().read_frame("blend_scorecard")
    assert card.filter(pl.col("is_baseline"))["ratio"].to_list() == [0.0]
    assert card["roc_auc_vs_real_only"][0] == 0.0
    assert card.height == 3

    # A second run with nothing changed neither refits, resamples nor logs duplicate blend runs.
    model_file = home.open_lake().path("synthesizer_model", {"synth": "gaussian_copula"}, OBJECT_FILE)
    pool_file = home.open_lake().path("synthetic_pool", {"synth": "gaussian_copula"}, FRAME_FILE)
    stamps = (model_file.stat().st_mtime_ns, pool_file.stat().st_mtime_ns)
    assert run_pipeline(plan_file, home, instance=instance) == 0
    assert (model_file.stat().st_mtime_ns, pool_file.stat().st_mtime_ns) == stamps
    rerun_blend_runs = [r for r in mlflow_runs(home, plan.name) if "hybrid_data.ratio" in r.data.tags]
    assert len(rerun_blend_runs) == 3
    latest = instance.get_latest_materialization_event(dg.AssetKey("synthesizer_model"))
    assert latest.asset_materialization.metadata["reused_fit"].value is True
