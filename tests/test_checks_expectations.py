"""Expectation suites generated from the real profile, run with GX 1.x: a blend of real-like rows passes, a
broken one fails with the failed expectations and observed values named. GX imports slowly: two runs only."""

import json

import polars as pl
import pytest

from hybrid_data.expectations import (
    expectations_outcome,
    generate_suite,
    hand_written_suites,
    run_suites,
    write_generated_suite,
)
from hybrid_data.profile import profile_frame
from hybrid_data.source import ORIGIN_COLUMN
from tests.conftest import BUNDLED_CSV


@pytest.fixture(scope="module")
def real() -> pl.DataFrame:
    return pl.read_csv(BUNDLED_CSV, infer_schema_length=100_000).sample(fraction=1.0, shuffle=True, seed=2)


def test_generated_suite_is_a_stable_file_beside_hand_written_ones(tmp_path, real):
    suite = generate_suite(profile_frame(real[:3000]), "demo", "Class", 0.1)
    types = {e["type"] for e in suite["expectations"]}
    assert {
        "expect_table_columns_to_match_set",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_values_to_be_in_type_list",
    } <= types
    path = write_generated_suite(suite, "demo", tmp_path)
    assert path == tmp_path / "generated" / "demo.json"
    before = path.stat().st_mtime_ns
    write_generated_suite(suite, "demo", tmp_path)
    assert path.stat().st_mtime_ns == before  # unchanged content is not rewritten: a clean diff
    (tmp_path / "mine.json").write_text(json.dumps({"name": "mine", "expectations": [], "meta": {"plans": ["demo"]}}))
    (tmp_path / "other.json").write_text(json.dumps({"name": "other", "expectations": [], "meta": {"plans": ["x"]}}))
    assert [p.name for p, _ in hand_written_suites("demo", tmp_path)] == ["mine.json"]


def test_suites_pass_real_like_rows_and_name_what_breaks(real):
    train, fresh = real[:5000], real[5000:]
    suite = generate_suite(profile_frame(train), "demo", "Class", 0.1)
    hand = {
        "name": "hand",
        "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "int_rate", "min_value": 0}}
        ],
    }
    good = fresh.with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN))
    broken = fresh.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("ZZ")).otherwise(pl.col("addr_state")).alias("addr_state"),
        (pl.col("int_rate") * 4).alias("int_rate"),
        pl.lit("good").alias("Class"),
    )
    outcomes = [expectations_outcome(run_suites(f, [("generated", suite), ("hand", hand)])) for f in (good, broken)]
    passed, failed = outcomes
    assert passed.passed, passed.metadata["failures"]
    assert not failed.passed
    by_column = {(f["column"], f["expectation"]): f["observed"] for f in failed.metadata["failures"]}
    assert "ZZ" in by_column[("addr_state", "expect_column_values_to_be_in_set")]  # unknown category injected
    assert ("int_rate", "expect_column_values_to_be_between") in by_column  # column widened
    assert ("Class", "expect_column_distinct_values_to_contain_set") in by_column  # minority class removed
    assert failed.metadata["evaluated_expectations"] == passed.metadata["evaluated_expectations"]
