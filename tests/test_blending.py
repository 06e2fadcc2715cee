"""Ratio arithmetic and blend composition under the anchoring rules."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hybrid_data.blending import BlendError, blend_size, compose_blend, pool_size, real_share
from hybrid_data.plan import parse_plan
from hybrid_data.source import ORIGIN_COLUMN


def plan_with(**fields):
    extra = "".join(f"{k}: {v}\n" for k, v in fields.items())
    return parse_plan("name: t\nsource: {path: x.csv}\ntarget: y\n" + extra, Path("."))


@pytest.mark.parametrize(
    ("mode", "ratio", "expected"),
    [
        ("augment", 0.0, (1000, 0)),
        ("augment", 0.25, (1000, 333)),
        ("augment", 0.5, (1000, 1000)),
        ("augment", 0.75, (1000, 3000)),
        ("augment", 1.0, (0, 1000)),
        ("replace", 0.25, (750, 250)),
        ("replace", 0.5, (500, 500)),
        ("replace", 1.0, (0, 1000)),
    ],
)
def test_blend_size(mode, ratio, expected):
    size = blend_size(1000, ratio, mode)
    assert (size.real_rows, size.synthetic_rows) == expected
    if 0 < ratio < 1:
        assert size.real_share == pytest.approx(1 - ratio, abs=1e-3)


def test_ratio_outside_range_is_an_error():
    with pytest.raises(BlendError, match="outside \\[0, 1\\]"):
        blend_size(10, 1.2, "augment")


def test_pool_is_sized_for_the_largest_ratio():
    assert pool_size(plan_with(ratios="[0, 0.25, 0.75]"), 100) == 300
    assert pool_size(plan_with(ratios="[0, 0.5]", anchoring="{mode: replace}"), 100) == 50


def frames(n_real: int = 200, n_pool: int = 600):
    real = pl.DataFrame({"x": range(n_real), "y": ["a", "b"] * (n_real // 2)})
    pool = pl.DataFrame({"x": range(10_000, 10_000 + n_pool), "y": ["b", "a"] * (n_pool // 2)})
    return real, pool


def test_augment_keeps_every_real_row_and_marks_origin():
    real, pool = frames()
    blend = compose_blend(real, pool, 0.5, plan_with(ratios="[0.5]"))
    assert blend.height == 400
    assert real_share(blend) == 0.5
    assert set(blend.filter(pl.col(ORIGIN_COLUMN) == "real")["x"]) == set(real["x"])


def test_larger_ratio_contains_the_smaller_ratios_synthetic_rows():
    real, pool = frames()
    plan = plan_with(ratios="[0.25, 0.5]")
    small = compose_blend(real, pool, 0.25, plan).filter(pl.col(ORIGIN_COLUMN) == "synthetic")
    large = compose_blend(real, pool, 0.5, plan).filter(pl.col(ORIGIN_COLUMN) == "synthetic")
    assert set(small["x"]) < set(large["x"])


def test_replace_keeps_size_and_samples_real_rows():
    real, pool = frames()
    blend = compose_blend(real, pool, 0.25, plan_with(ratios="[0.25]", anchoring="{mode: replace}"))
    assert blend.height == real.height
    assert real_share(blend) == 0.75


def test_blend_below_floor_is_refused_even_for_a_ratio_outside_the_plan():
    # A ratio partition added by hand (not through the plan) still meets the floor.
    real, pool = frames()
    plan = plan_with(ratios="[0.25]", anchoring="{min_real_share: 0.6}")
    with pytest.raises(BlendError, match="below anchoring.min_real_share=0.6"):
        compose_blend(real, pool, 0.5, plan)


def test_pool_too_small_says_what_to_do():
    real, pool = frames(n_pool=10)
    with pytest.raises(BlendError, match="re-materialize synthetic_pool"):
        compose_blend(real, pool, 0.5, plan_with(ratios="[0.5]"))
