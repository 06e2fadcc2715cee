"""Synthesis assets against a real Dagster instance, lake and MLflow store: fit once, top up, never refit."""

from pathlib import Path

import dagster as dg
import polars as pl

from definitions import build_definitions
from hybrid_data.lake import OBJECT_FILE
from hybrid_data.plan import load_plan
from hybrid_data.synthesizer_tracking import MODEL_ARTIFACT

from .conftest import tiny_frame, write_plan

SYNTHESIS = dg.AssetSelection.assets("synthesizer_model", "synthetic_pool")


def _materialize(plan_file: Path, home, instance, selection, partition_key=None) -> dg.ExecuteInProcessResult:
    """Materialize `selection` with the code location's assets and resources (the blend checks are other
    engineers' subject and need the holdout, so they are left out)."""
    defs = build_definitions(plan_file, home)
    return dg.materialize(
        list(defs.assets),
        instance=instance,
        resources=defs.resources,
        selection=selection,
        partition_key=partition_key,
    )


def _store_real_train(home) -> None:
    """real_train as the split stage leaves it in the lake; these tests are about what synthesis does with it."""
    home.open_lake().write_frame("real_train", None, tiny_frame().sample(fraction=0.8, seed=1))


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [event] = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_adding_a_ratio_tops_up_the_pool_without_refitting(tmp_path, tiny_csv, home, instance):
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    _store_real_train(home)
    first = _materialize(plan_file, home, instance, SYNTHESIS, "gaussian_copula")
    model_meta = _metadata(first, "synthesizer_model")
    assert model_meta["reused_fit"] is False
    model_file = home.open_lake().path("synthesizer_model", {"synth": "gaussian_copula"}, OBJECT_FILE)
    pool = ("synthetic_pool", {"synth": "gaussian_copula"})
    fitted_at = model_file.stat().st_mtime_ns
    small_pool = home.open_lake().read_frame(*pool)

    # The fitted synthesizer is in MLflow, tagged with its synthesizer and the real-data version.
    from mlflow import MlflowClient

    client = MlflowClient(home.mlflow_tracking_uri())
    run = client.get_run(model_meta["mlflow_run_id"])
    assert run.data.tags["hybrid_data.synthesizer"] == "gaussian_copula"
    assert run.data.tags["hybrid_data.data_version.real_train"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert MODEL_ARTIFACT in artifacts

    # A larger ratio: the model is reused, the pool keeps its rows and only gains new ones.
    write_plan(tmp_path, tiny_csv, ratios=[0, 0.5, 0.75])
    second = _materialize(plan_file, home, instance, SYNTHESIS, "gaussian_copula")
    assert _metadata(second, "synthesizer_model")["reused_fit"] is True
    assert _metadata(second, "synthesizer_model")["mlflow_run_id"] == model_meta["mlflow_run_id"]
    assert model_file.stat().st_mtime_ns == fitted_at
    big_pool = home.open_lake().read_frame(*pool)
    pool_meta = _metadata(second, "synthetic_pool")
    assert big_pool.height > small_pool.height
    assert pool_meta["rows_sampled_now"] == big_pool.height - small_pool.height
    assert big_pool.head(small_pool.height).equals(small_pool)
    # The new rows are fresh draws, not a repeat of the first ones.
    assert not big_pool.slice(small_pool.height, 20).equals(small_pool.head(20))

    # Going back to the smaller plan keeps the bigger pool: blends take its head, which is unchanged.
    write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    third = _materialize(plan_file, home, instance, SYNTHESIS, "gaussian_copula")
    assert _metadata(third, "synthetic_pool")["rows_sampled_now"] == 0
    assert home.open_lake().read_frame(*pool).equals(big_pool)


def test_blend_grid_reads_pools_per_synthesizer_from_the_lake(tmp_path, tiny_csv, home, instance):
    """synth x ratio partitions with a dynamic dimension, stored in the lake (dagster#32631 breaks database IO
    managers on exactly this), with a boost reaching the blend."""
    plan_file = write_plan(
        tmp_path,
        tiny_csv,
        ratios=[0, 0.5],
        synthesis={
            "synthesizers": ["gaussian_copula", "tvae"],
            "epochs": 1,
            "batch_size": 100,
            "boost_target_shares": {"bad": 0.5},
        },
    )
    plan = load_plan(plan_file)
    instance.add_dynamic_partitions("ratio", plan.ratio_keys)
    _store_real_train(home)
    for synth in plan.synthesizer_names:
        result = _materialize(plan_file, home, instance, SYNTHESIS, synth)
        shares = _metadata(result, "synthetic_pool")["target_shares"]
        assert abs(shares["bad"] - 0.5) < 0.02, (synth, shares)
        # The achieved balance is on the synthesizer's MLflow run too.
        from mlflow import MlflowClient

        run = MlflowClient(home.mlflow_tracking_uri()).get_run(_metadata(result, "synthesizer_model")["mlflow_run_id"])
        assert run.data.metrics["pool_achieved_share.bad"] == shares["bad"]
        key = dg.MultiPartitionKey({"synth": synth, "ratio": "0.5"})
        assert _materialize(plan_file, home, instance, dg.AssetSelection.assets("blend"), key).success
    blends = {
        synth: home.open_lake().read_frame("blend", {"synth": synth, "ratio": "0.5"})
        for synth in plan.synthesizer_names
    }
    real_train = home.open_lake().read_frame("real_train")
    for synth, blend in blends.items():
        synthetic = blend.filter(pl.col("_origin") == "synthetic").drop("_origin")
        pool = home.open_lake().read_frame("synthetic_pool", {"synth": synth})
        assert synthetic.height == real_train.height
        assert synthetic.sort(synthetic.columns).equals(pool.head(synthetic.height).sort(synthetic.columns))
    assert not blends["gaussian_copula"].equals(blends["tvae"])
