"""Checks calibrated to the data: regression targets get a distribution check, zero mass is watched, integer codes
are categories, generated suites live in the home folder, and classification targets stay labels in synthesis."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from hybrid_data.expectations import generate_suite, write_generated_suite
from hybrid_data.plan import Plan, Task
from hybrid_data.profile import profile_frame
from hybrid_data.tails import minority_share, rare_categories, tail_coverage


def blend_of(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit("synthetic").alias("_origin"))


@pytest.fixture
def houses() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    n = 3000
    return pl.DataFrame(
        {
            "extras": np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(6, 1, n)),
            "region": rng.choice([101, 205, 310, 422] + [999] * 2, n),
            "price": rng.lognormal(12, 0.4, n).round(0).astype(np.int64),
        }
    )


def test_regression_target_gets_a_distribution_check_not_class_shares(houses):
    same = minority_share(blend_of(houses.sample(fraction=1.0, seed=1)), houses, "price", 0.5, Task.regression)
    assert same.passed
    assert "regression target 'price'" in same.description
    # One entry per statistic, never one per distinct price (those became thousands of MLflow metrics).
    assert len(same.metadata) < 10 and "minority_class" not in same.metadata
    shifted = houses.with_columns(pl.col("price") * 2)
    moved = minority_share(blend_of(shifted), houses, "price", 0.5, Task.regression)
    assert not moved.passed and moved.metadata["target_median_shift_iqr"] > 0.5
    # The task comes from the real target when the caller does not pass it.
    assert "regression target" in minority_share(blend_of(houses), houses, "price", 0.5).description


def test_lost_zero_mass_is_visible(houses):
    spread = houses.with_columns(pl.col("extras") + 50.0)  # what a copula marginal did to a zero spike
    outcome = tail_coverage(blend_of(spread), houses, "price", 0.5)
    assert not outcome.passed
    assert outcome.metadata["zero_inflated_columns"] == 1
    assert any(d.startswith("extras zero share: real 0.6") for d in outcome.metadata["drifted_tails"])
    assert tail_coverage(blend_of(houses), houses, "price", 0.5).passed


def test_integer_codes_are_checked_as_categories(houses):
    without_rare = houses.filter(pl.col("region") != 422)
    rare = rare_categories(blend_of(without_rare), houses, "price", 0.2, 0.5)
    assert rare.metadata["columns_with_rare_categories"] == 1
    assert not rare.passed and any(d.startswith("region=422: real 0.1") for d in rare.metadata["drifted"])
    tails = tail_coverage(blend_of(houses), houses, "price", 0.5)
    assert tails.metadata["tails_checked"] == 3  # extras p01, p99 and zero share; region codes have no tails


def test_profile_and_suite_hold_codes_to_their_domain(houses):
    profile = profile_frame(houses)
    region = profile.filter(pl.col("column") == "region").row(0, named=True)
    assert region["column_type"] == "categorical" and region["min"] is None
    suite = generate_suite(profile, "h", "price", 0.1)
    domain = next(
        e["kwargs"]["value_set"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "region"
    )
    assert domain == [101, 205, 310, 422, 999]


def test_generated_suites_live_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_DATA_HOME", str(tmp_path / "home"))
    path = write_generated_suite({"name": "x", "expectations": []}, "demo")
    assert path == tmp_path / "home" / "suites" / "generated" / "demo.json"


@pytest.mark.slow
def test_zero_one_target_keeps_its_share_through_synthesis():
    """A 0/1 integer target (2.5% positives) is a label for the synthesizer: the pool keeps its share (modeled as
    a number it fell to 0.2%), and integer codes come back as real codes only."""
    from hybrid_data.synthesis import detect_metadata, fit_synthesizer, sample_pool

    rng = np.random.default_rng(6)
    n = 4000
    real = pl.DataFrame(
        {
            "x": rng.normal(size=n),
            "branch_code": rng.choice([3, 8, 15, 21, 42, 77], n),
            "member": rng.random(n) < 0.4,
            "default": (rng.random(n) < 0.025).astype(np.int64),
        }
    )
    plan = Plan.model_validate(
        {"name": "t", "source": {"path": "x.csv"}, "target": "default", "synthesis": {"max_fit_rows": 4000}}
    )
    metadata, _ = detect_metadata(real, plan)
    sdtypes = {c: i["sdtype"] for c, i in metadata.tables["real"].columns.items()}
    assert sdtypes == {
        "x": "numerical",
        "branch_code": "categorical",
        "member": "categorical",
        "default": "categorical",
    }
    pool = sample_pool(fit_synthesizer("gaussian_copula", real, plan), 8000, seed=1).frame
    share = float(pool["default"].mean())
    error = np.sqrt(0.025 * 0.975 / 8000 + 0.025 * 0.975 / n)
    assert abs(share - float(real["default"].mean())) < 4 * error, share
    assert set(pool["branch_code"].unique()) <= {3, 8, 15, 21, 42, 77}
    assert pool.schema == real.schema
