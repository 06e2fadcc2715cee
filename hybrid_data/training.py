"""The downstream model trained on a blend and judged on real holdout rows only."""

from __future__ import annotations

from dataclasses import dataclass

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


def feature_columns(frame: pl.DataFrame, target: str) -> list[str]:
    return [c for c in frame.columns if c not in {target, ORIGIN_COLUMN}]


def _to_features(frame: pl.DataFrame, columns: list[str]):
    return features.to_features(frame, columns)


def minority_label(real: pl.DataFrame, target: str) -> str:
    return features.minority_label(real, target)


def build_model(plan: Plan, task: Task, frame: pl.DataFrame, columns: list[str]):
    return features.build_model(plan, task, frame, columns)


def train_and_score(blend: pl.DataFrame, holdout: pl.DataFrame, plan: Plan, task: Task) -> TrainedModel:
    """Fit the plan's model on the blend under the evaluation protocol (one seed; early stopping and threshold
    on a hash-chosen slice of the blend's real rows) and score it on the real holdout, never on synthetic rows.

    For a single comparison-free model (e.g. a study outside the scorecard); the scorecard's cells go through
    hybrid_data.evaluation, which carves the validation slice from real_train so it is the same for every cell.
    """
    from hybrid_data.evaluation.cells import CellInfo, cell_frame
    from hybrid_data.evaluation.protocol import fit_cell, protocol_for, training_rows, validation_slice
    from hybrid_data.evaluation.scorecard import headline_metrics

    if blend.height == 0:
        raise TrainingError("the blend is empty; nothing to train on")
    if holdout.height == 0:
        raise TrainingError("real_holdout is empty; raise holdout.fraction in the plan")
    protocol = protocol_for(
        plan.model_copy(update={"evaluation": plan.evaluation.model_copy(update={"repeats": 1})}), task
    )
    real = (
        blend.filter(pl.col(ORIGIN_COLUMN) == "real").drop(ORIGIN_COLUMN) if ORIGIN_COLUMN in blend.columns else blend
    )
    if real.height == 0:
        raise TrainingError("the blend has no real rows to carve a validation slice from; use the scorecard's cells")
    validation = validation_slice(real, protocol)
    positive = minority_label(real, plan.target) if task is Task.binary else None
    fit = fit_cell(plan, protocol, training_rows(blend, real, protocol), validation, holdout, positive)
    info = CellInfo(
        "model", "blend", "synthesis", None, None, real.height, blend.height - real.height, "", "", positive
    )
    metrics = headline_metrics(cell_frame(info, protocol, fit), holdout, real, plan.target, task)
    return TrainedModel(fit.model, metrics, fit.input_example, fit.train_rows, positive)
