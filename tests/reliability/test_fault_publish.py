"""Publish only what passed: a version a blocking check rejects never becomes current."""

from __future__ import annotations

import polars as pl
import pytest

from hybrid_data.lake import Lake

from .conftest import PREPARE, lake_checksums, materialize


@pytest.mark.slow
def test_blocking_check_failure_keeps_last_good_version(prepared, tiny_csv, home, instance):
    """A real_source a blocking check rejects is kept as a rejected candidate; the last good version stays current."""
    plan_file, before = prepared
    good = home.open_lake().current_receipt("real_source")
    assert good.reason.startswith("blocking checks passed: real_source_enough_rows")  # published by its own run
    from tests.conftest import tiny_frame

    tiny_frame().with_columns(pl.lit(None, pl.String).alias("term")).write_csv(tiny_csv)  # a column of nulls
    result = materialize(plan_file, home, instance, PREPARE)
    assert not result.success
    assert lake_checksums(home) == before  # real_source, stg_real, real_train and real_holdout untouched
    lake = Lake(home.open_lake().root, settle=None)
    [candidate] = [c for c in lake.candidates("real_source") if c.receipt.version == result.run_id]
    assert candidate.verdict is None  # undecided until settled by the next reader
    # the next reader (any later step, or the CLI's settle_lake) records why it was rejected
    from assets.check_status import settle_lake

    settle_lake(instance, lake)
    [candidate] = [c for c in lake.candidates("real_source") if c.receipt.version == result.run_id]
    assert candidate.verdict["state"] == "rejected"
    assert "blocking check failed (real_source_no_all_null_column" in candidate.verdict["reason"]
    assert lake.read_frame("real_source").height == 400
    assert lake.current_receipt("real_source").version == good.version
    assert lake_checksums(home) == before


@pytest.mark.slow
def test_rejected_blend_leaves_blend_model_and_mlflow_as_they_were(tmp_path, tiny_csv, home, instance):
    """A blend a blocking check rejects stays a candidate: the last good blend, its model and MLflow are unchanged."""
    import dagster as dg

    from assets.check_status import settle_lake
    from tests.conftest import write_plan

    from .conftest import mlflow_run_count

    instance.add_dynamic_partitions("ratio", ["0.5"])
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    assert materialize(plan_file, home, instance, dg.AssetSelection.groups("ingest", "staging", "split")).success
    lake, dims = home.open_lake(), {"synth": "gaussian_copula", "ratio": "0.5"}
    train = lake.read_frame("real_train")
    lake.write_frame("synthetic_pool", {"synth": "gaussian_copula"}, train.with_columns(pl.col("int_rate") + 0.001))
    grid, key = dg.AssetSelection.assets("blend", "blend_model"), dg.MultiPartitionKey(dims)

    def run_grid():
        return materialize(plan_file, home, instance, grid, key)

    assert run_grid().success

    def downstream_of_the_pool():
        return {k: v for k, v in lake_checksums(home).items() if not k.startswith("synthetic_pool/")}

    before, runs = downstream_of_the_pool(), mlflow_run_count(home)
    lake.write_frame("synthetic_pool", {"synth": "gaussian_copula"}, train)  # exact copies of real rows
    rejected = run_grid()
    assert not rejected.success
    assert downstream_of_the_pool() == before and mlflow_run_count(home) == runs
    settle_lake(instance, lake)
    [verdict] = [c.verdict for c in lake.candidates("blend", dims) if c.version == rejected.run_id]
    assert verdict["state"] == "rejected" and "blend_no_exact_copies" in verdict["reason"]
    assert lake.current_receipt("blend", dims).version != rejected.run_id
