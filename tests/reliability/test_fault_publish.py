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
    assert lake_checksums(home) == before


@pytest.mark.slow
def test_passed_version_is_published_by_its_run(prepared, tiny_csv, home, instance):
    """A real_source whose blocking checks passed is current at the end of its run, its receipt saying why."""
    plan_file, before = prepared
    from tests.conftest import tiny_frame

    tiny_frame(good=300, bad=60).write_csv(tiny_csv)
    result = materialize(plan_file, home, instance, PREPARE)
    assert result.success
    receipt = home.open_lake().current_receipt("real_source")
    assert receipt.version == result.run_id
    assert receipt.reason.startswith("blocking checks passed: real_source_enough_rows")
    assert pl.read_parquet(home.open_lake().path("real_source")).height == 360
    assert lake_checksums(home) != before
