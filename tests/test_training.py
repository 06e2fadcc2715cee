"""The downstream model: trained on a blend, scored on real holdout rows, metrics per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hybrid_data.plan import Task, parse_plan
from hybrid_data.source import ORIGIN_COLUMN, infer_task
from hybrid_data.training import TrainingError, minority_label, train_and_score


def plan_for(target: str, kind: str = "hist_gradient_boosting"):
    return parse_plan(f"name: t\nsource: {{path: x.csv}}\ntarget: {target}\nmodel: {{kind: {kind}}}\n", Path("."))


def separable(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    label = np.where(x + rng.normal(scale=0.3, size=n) > 1.0, "rare", "common")
    return pl.DataFrame(
        {"x": x, "noise": rng.normal(size=n), "color": rng.choice(["red", "blue"], size=n), "label": label}
    ).with_columns(pl.lit("real").alias(ORIGIN_COLUMN))


@pytest.mark.parametrize("kind", ["hist_gradient_boosting", "logistic_regression"])
def test_binary_metrics_reward_a_real_signal(kind):
    train, holdout = separable(600, 1), separable(300, 2).drop(ORIGIN_COLUMN)
    trained = train_and_score(train, holdout, plan_for("label", kind), Task.binary)
    assert trained.positive_label == "rare"
    assert set(trained.metrics) == {
        "pr_auc",
        "roc_auc",
        "minority_f1",
        "minority_recall",
        "minority_precision",
        "brier_skill",
    }
    assert trained.metrics["roc_auc"] > 0.9
    assert trained.metrics["brier_skill"] > 0.3  # far better than always predicting the prevalence


def test_noise_only_scores_near_chance():
    train, holdout = separable(600, 1), separable(300, 2).drop(ORIGIN_COLUMN)
    trained = train_and_score(train.drop("x"), holdout.drop("x"), plan_for("label"), Task.binary)
    assert trained.metrics["roc_auc"] < 0.7


def test_unseen_category_in_holdout_is_scored_not_crashed():
    train, holdout = separable(400, 1), separable(200, 2).drop(ORIGIN_COLUMN)
    holdout = holdout.with_columns(pl.lit("green").alias("color"))
    assert train_and_score(train, holdout, plan_for("label"), Task.binary).metrics["roc_auc"] > 0.8


def test_regression_and_multiclass_metrics():
    frame = separable(500, 3).with_columns((pl.col("x") * 3 + 1).alias("amount"))
    reg = train_and_score(frame.drop("label"), frame.drop("label", ORIGIN_COLUMN), plan_for("amount"), Task.regression)
    assert set(reg.metrics) == {"rmse", "mae", "r2"} and reg.metrics["r2"] > 0.9
    multi = frame.with_columns(pl.col("x").qcut(3, labels=["lo", "mid", "hi"]).cast(pl.String).alias("band"))
    multi = multi.drop("label", "amount")
    scored = train_and_score(multi, multi.drop(ORIGIN_COLUMN), plan_for("band"), Task.multiclass)
    assert set(scored.metrics) == {"macro_f1", "balanced_accuracy", "smallest_class_recall"}
    assert scored.metrics["macro_f1"] > 0.8


def test_blend_without_the_minority_class_is_a_clear_error():
    train, holdout = separable(400, 1), separable(200, 2).drop(ORIGIN_COLUMN)
    with pytest.raises(TrainingError, match="single class"):
        train_and_score(train.filter(pl.col("label") == "common"), holdout, plan_for("label"), Task.binary)


def test_task_inference_and_minority_label():
    assert infer_task(pl.Series(["a", "b", "a"])) is Task.binary
    assert infer_task(pl.Series(["a", "b", "c"])) is Task.multiclass
    assert infer_task(pl.Series([0.5, 1.5, 2.5])) is Task.regression
    assert minority_label(pl.DataFrame({"y": ["good"] * 9 + ["bad"]}), "y") == "bad"
