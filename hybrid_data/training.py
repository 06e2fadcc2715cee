"""The downstream model trained on a blend and judged on real holdout rows only."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import polars as pl

from hybrid_data import features
from hybrid_data.plan import Plan, Task
from hybrid_data.source import ORIGIN_COLUMN


class TrainingError(ValueError):
    """A blend or holdout a model cannot be trained or scored on."""


@dataclass
class TrainedModel:
    model: object
    metrics: dict[str, float]
    input_example: object  # a few rows of pandas features, for the MLflow signature
    train_rows: int
    positive_label: str | None


def step_threads() -> int:
    """Threads one step may use: concurrent steps each taking every core oversubscribe them badly."""
    return max(1, int(os.environ.get("HYBRID_DATA_THREADS", "1")))


def feature_columns(frame: pl.DataFrame, target: str) -> list[str]:
    return [c for c in frame.columns if c not in {target, ORIGIN_COLUMN}]


def _to_features(frame: pl.DataFrame, columns: list[str]):
    return features.to_features(frame, columns)


def minority_label(real: pl.DataFrame, target: str) -> str:
    return features.minority_label(real, target)


def build_model(plan: Plan, task: Task, frame: pl.DataFrame, columns: list[str]):
    return features.build_model(plan, task, frame, columns)


def score(model, task: Task, features, truth: np.ndarray, positive_label: str | None) -> dict[str, float]:
    from sklearn import metrics

    if task is Task.regression:
        predicted = model.predict(features)
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(truth, predicted))),
            "mae": float(metrics.mean_absolute_error(truth, predicted)),
            "r2": float(metrics.r2_score(truth, predicted)),
        }
    predicted = model.predict(features).astype(str)
    truth = truth.astype(str)
    if task is Task.multiclass:
        return {
            "macro_f1": float(metrics.f1_score(truth, predicted, average="macro")),
            "balanced_accuracy": float(metrics.balanced_accuracy_score(truth, predicted)),
        }
    classes = [str(c) for c in model.classes_]
    if positive_label not in classes:
        raise TrainingError(
            f"the blend has no rows of the minority class '{positive_label}'; the model cannot predict it"
        )
    probability = model.predict_proba(features)[:, classes.index(positive_label)]
    is_positive = (truth == positive_label).astype(int)
    return {
        "roc_auc": float(metrics.roc_auc_score(is_positive, probability)),
        "average_precision": float(metrics.average_precision_score(is_positive, probability)),
        "minority_f1": float(metrics.f1_score(truth, predicted, pos_label=positive_label, average="binary")),
        "minority_recall": float(metrics.recall_score(truth, predicted, pos_label=positive_label, average="binary")),
        "brier": float(metrics.brier_score_loss(is_positive, probability)),
    }


def train_and_score(blend: pl.DataFrame, holdout: pl.DataFrame, plan: Plan, task: Task) -> TrainedModel:
    """Fit the plan's model on the blend, then score it on the real holdout (never on synthetic rows)."""
    from threadpoolctl import threadpool_limits

    if blend.height == 0:
        raise TrainingError("the blend is empty; nothing to train on")
    if holdout.height == 0:
        raise TrainingError("real_holdout is empty; raise holdout.fraction in the plan")
    columns = feature_columns(blend, plan.target)
    train = blend.drop_nulls(plan.target)
    if task is not Task.regression and train[plan.target].n_unique() < 2:
        raise TrainingError(f"the blend's target '{plan.target}' has a single class; a classifier needs two")
    positive = minority_label(holdout, plan.target) if task is Task.binary else None
    model = build_model(plan, task, blend, columns)
    features = _to_features(train, columns)
    target = train[plan.target].to_numpy()
    if task is not Task.regression:
        target = target.astype(str)
    with threadpool_limits(limits=step_threads()):
        model.fit(features, target)
        holdout_features = _to_features(holdout, columns)
        metrics = score(model, task, holdout_features, holdout[plan.target].to_numpy(), positive)
    return TrainedModel(model, metrics, holdout_features.head(5), train.height, positive)
