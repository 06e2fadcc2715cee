"""The whole pipeline on a few hundred real rows, through a real Dagster instance, lake and MLflow store, run the
way `hybrid-data run` runs it: the code location's named jobs on the multiprocess executor the daemon uses."""

from __future__ import annotations

import shutil

import dagster as dg
import polars as pl
import pytest

from hybrid_data.home import Home
from hybrid_data.lake import FRAME_FILE, OBJECT_FILE
from hybrid_data.plan import load_plan, ratio_key
from hybrid_data.source import ORIGIN_COLUMN
from hybrid_data_dagster.launch import Scheduler, run_pipeline

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
    printed: list[str] = []
    assert run_pipeline(plan_file, home, instance=instance, say=printed.append) == 0

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
        assert {"pr_auc", "roc_auc", "minority_f1", "minority_recall", "brier_skill"} <= set(run.data.metrics)
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
    assert card.filter(pl.col("kind") == "real_only")["ratio"].to_list() == [0.0]
    assert card["kind"].to_list() == ["real_only", "blend", "tstr", "baseline", "baseline", "baseline"]
    assert card["verdict"][0] == "baseline"

    # A second run with nothing changed neither refits, resamples nor logs duplicate blend runs.
    model_file = home.open_lake().path("synthesizer_model", {"synth": "gaussian_copula"}, OBJECT_FILE)
    pool_file = home.open_lake().path("synthetic_pool", {"synth": "gaussian_copula"}, FRAME_FILE)
    stamps = (model_file.stat().st_mtime_ns, pool_file.stat().st_mtime_ns)
    runs_before = len(instance.get_runs())
    rerun: list[str] = []
    assert run_pipeline(plan_file, home, instance=instance, say=rerun.append) == 0
    assert (model_file.stat().st_mtime_ns, pool_file.stat().st_mtime_ns) == stamps
    # Nothing changed, so nothing was launched: no check ran again, no MLflow run was logged again.
    assert [line for line in rerun if line.startswith("[")] == [
        "[1/4] real data: up to date",
        "[2/4] synthesizers: up to date",
        "[3/4] blends and models (1 x 3): up to date",
        "[4/4] scorecard: up to date",
    ]
    assert len(instance.get_runs()) == runs_before
    assert len(mlflow_runs(home, plan.name)) == len(runs)
    # Every run was one of the code location's named jobs, tagged with who launched it and the plan it used.
    launched = instance.get_runs()
    assert {r.job_name for r in launched} == {"prepare_real_data", "synthesize", "blend_grid", "scorecard"}
    assert all(r.tags["hybrid_data/plan"] == plan.name and r.tags["hybrid_data/launched_by"] == "cli" for r in launched)
    assert len({r.tags["hybrid_data/plan_fingerprint"] for r in launched}) == 1

    # A plan edit makes stale exactly what it changes (planned, not run): the model's settings -> every blend
    # model and nothing upstream; a synthesizer setting -> its fit, pool and privacy risks.
    edited = write_plan(tmp_path, tiny_csv, model={"kind": "hist_gradient_boosting", "params": {"max_iter": 31}})
    planner = Scheduler(edited, home, instance, say=lambda _: None)
    assert planner.real_data_runs() == [] and planner.synthesis_runs(["gaussian_copula"]) == []
    grid = planner.grid_runs(["gaussian_copula"])
    assert len(grid) == 3 and all([k.path[-1] for k in run.assets] == ["blend_model"] for run in grid)
    # Largest blend first (r=0.5 augments the real rows to twice as many; r=0 and r=1 hold as many as real_train),
    # so the stage's last run is a small one; equal sizes keep the plan's order.
    assert [run.partition.split("|")[0] for run in grid] == [ratio_key(0.5), ratio_key(0), ratio_key(1.0)]
    edited = write_plan(
        tmp_path, tiny_csv, synthesis={"synthesizers": ["gaussian_copula"], "default_distribution": "beta"}
    )
    (refit,) = Scheduler(edited, home, instance, say=lambda _: None).synthesis_runs(["gaussian_copula"])
    assert sorted(k.path[-1] for k in refit.assets) == ["privacy_risks", "synthesizer_model", "synthetic_pool"]


@pytest.mark.slow
def test_a_copied_home_reruns_with_nothing_recomputed_and_nothing_written_to_the_old_one(tmp_path, tiny_csv):
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    old = Home(tmp_path / "old").ensure()
    with dg.instance_for_test(temp_dir=str(old.dagster)) as instance:
        assert run_pipeline(plan_file, old, instance=instance, say=lambda _: None) == 0
    new = Home(tmp_path / "new")
    shutil.copytree(old.root, new.root)
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in old.root.rglob("*") if p.is_file()}
    assert new.ensure().rebase() is None  # ensure() already rewrote MLflow's artifact locations once
    printed: list[str] = []
    with dg.instance_for_test(temp_dir=str(new.dagster)) as instance:
        assert run_pipeline(plan_file, new, instance=instance, say=printed.append) == 0
    assert all(line.endswith("up to date") for line in printed if line.startswith("["))
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in old.root.rglob("*") if p.is_file()} == before
    import sqlite3

    with sqlite3.connect(new.mlflow / "mlflow.db") as con:
        locations = [row[0] for row in con.execute("SELECT artifact_location FROM experiments")]
    assert locations and all(str(old.root) not in loc for loc in locations)
