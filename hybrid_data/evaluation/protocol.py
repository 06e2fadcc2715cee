"""One training protocol for every cell of the scorecard, so cells differ only by their training rows.

sklearn's HistGradientBoosting switches early stopping on by itself above 10,000 rows and then stops on a random
10% of whatever it is given: real-only trained 100 rounds while large blends stopped after ~20 rounds chosen on
mostly synthetic rows, so the comparison measured the protocol, not the data. Here every cell gets the same
estimator settings, early stopping is explicit (on or off, the same for all), and anything tuned (the stopping
round, the decision threshold) is tuned on one real validation slice, carved from real_train by a hash of each
row and removed from every cell's training rows, never on synthetic rows and never on the holdout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from hybrid_data.compute import fit_threads
from hybrid_data.evaluation.metrics import choose_threshold
from hybrid_data.features import target_labels
from hybrid_data.instance import step_threads
from hybrid_data.plan import Plan, Task
from hybrid_data.source import ORIGIN_COLUMN
from hybrid_data.training import TrainingError, _to_features, build_model, feature_columns

# Rounds without improvement on the real validation slice before boosting stops, unless the plan sets it.
PATIENCE = 10
MAX_ROUNDS = 200
# Column subsampling per tree: what makes seeded repeats differ (with explicit validation data, a
# HistGradientBoosting fit has no other randomness). model.params.max_features overrides it.
FEATURE_FRACTION = 0.8
# Added to the plan seed so the validation slice does not line up with any other seeded choice.
VALIDATION_SALT = 7919
# Training rows from which a HistGradientBoosting cell may take more than the per-step thread cap (_fit_threads):
# below it a fit takes a few seconds.
SHARED_FIT_ROWS = 200_000

Resample = Callable[[Any, np.ndarray, int], tuple[Any, np.ndarray]]


@dataclass(frozen=True)
class Protocol:
    """Everything that decides how a cell is trained and judged, except its training rows."""

    task: Task
    target: str
    model_kind: str
    estimator_params: dict[str, Any]  # identical for every cell; random_state is set per seed
    seeds: tuple[int, ...]
    validation_fraction: float
    validation_salt: int
    threshold: str | float
    seed_sensitive: bool  # False: the model ignores its seed, so one fit stands for every repeat

    @property
    def early_stopping(self) -> bool:
        return bool(self.estimator_params.get("early_stopping", False))

    def fitted_seeds(self, resampled: bool = False) -> tuple[int, ...]:
        """The seeds actually fitted: all of them, or one when neither model nor resampling uses the seed."""
        return self.seeds if self.seed_sensitive or resampled else self.seeds[:1]

    def describe(self) -> str:
        """The protocol in one paragraph, for the scorecard and MLflow."""
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.estimator_params.items()))
        stopping = (
            f"early stopping on the real validation slice (patience {self.estimator_params['n_iter_no_change']}, "
            f"at most {self.estimator_params['max_iter']} rounds)"
            if self.early_stopping
            else "no early stopping (a fixed number of iterations)"
        )
        repeats = (
            f"{len(self.seeds)} seeded fits per cell (seeds {self.seeds[0]}..{self.seeds[-1]})"
            if self.seed_sensitive
            else f"one fit per cell standing for {len(self.seeds)} repeats (the model does not use its seed)"
        )
        parts = [
            f"{self.model_kind} ({params})",
            stopping,
            f"validation slice = {self.validation_fraction:.0%} of real_train chosen by row hash, excluded from "
            "every cell's training rows",
            repeats,
        ]
        if self.task is Task.binary:
            chosen = "on the validation slice" if isinstance(self.threshold, str) else "fixed"
            parts.append(f"decision threshold: {self.threshold} ({chosen})")
        return "; ".join(parts) + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.value,
            "model_kind": self.model_kind,
            "estimator_params": self.estimator_params,
            "seeds": list(self.seeds),
            "validation_fraction": self.validation_fraction,
            "validation_salt": self.validation_salt,
            "threshold": self.threshold,
            "seed_sensitive": self.seed_sensitive,
        }

    def mlflow_params(self) -> dict[str, str]:
        flat = {f"protocol.{k}": v for k, v in self.as_dict().items() if k != "estimator_params"}
        flat.update({f"protocol.model.{k}": v for k, v in self.estimator_params.items()})
        return {k: json.dumps(v) if isinstance(v, list | dict) else str(v) for k, v in flat.items()}


def protocol_for(plan: Plan, task: Task) -> Protocol:
    """The plan's model with every setting that sklearn would otherwise decide per data size made explicit."""
    params = dict(plan.model.params)
    params.pop("random_state", None)  # the seed is the protocol's, one per repeat
    if plan.model.kind == "hist_gradient_boosting":
        stopping = params.pop("early_stopping", "auto")
        params.update(
            # 'auto' would switch on only above 10,000 rows; the protocol decides once for every cell.
            early_stopping=stopping is not False,
            validation_fraction=None,  # never a random slice of the (mostly synthetic) training rows
            max_iter=int(params.get("max_iter", MAX_ROUNDS)),
            n_iter_no_change=int(params.get("n_iter_no_change", PATIENCE)),
            max_features=float(params.get("max_features", FEATURE_FRACTION)),
            scoring="loss",
        )
        seed_sensitive = params["max_features"] < 1.0
    elif task is Task.regression:
        params = {}  # the linear kind of a regression plan is plain least squares: nothing to set
        seed_sensitive = False
    else:
        params.setdefault("max_iter", 1000)
        seed_sensitive = params.get("solver") in {"sag", "saga"}
    evaluation = plan.evaluation
    return Protocol(
        task=task,
        target=plan.target,
        model_kind=plan.model.kind,
        estimator_params=params,
        seeds=tuple(plan.seed + k for k in range(evaluation.repeats)),
        validation_fraction=evaluation.validation_fraction,
        validation_salt=plan.seed + VALIDATION_SALT,
        threshold=evaluation.threshold,
        seed_sensitive=seed_sensitive,
    )


def in_validation(frame: pl.DataFrame, real_schema: pl.Schema, protocol: Protocol) -> np.ndarray:
    """Whether each row is in the real validation slice: a hash of its values below the fraction.

    The values are read with real_train's types first, so a real row hashes the same inside a blend (where
    mixing in synthetic rows may have widened an integer column to float) as in real_train. Identical rows
    land on the same side, so no duplicate straddles training and validation.
    """
    keys = frame.select(list(real_schema)).cast(dict(real_schema), strict=False)
    hashes = keys.hash_rows(seed=protocol.validation_salt).to_numpy()
    return hashes / 2.0**64 < protocol.validation_fraction


def validation_slice(real_train: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    return real_train.filter(pl.Series(in_validation(real_train, real_train.schema, protocol)))


def training_rows(cell_rows: pl.DataFrame, real_train: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """A cell's rows minus the real validation slice; synthetic rows (by `_origin`) are never removed."""
    if cell_rows.height == 0:
        return cell_rows
    held = in_validation(cell_rows, real_train.schema, protocol)
    if ORIGIN_COLUMN in cell_rows.columns:
        held &= (cell_rows[ORIGIN_COLUMN] == "real").to_numpy()
    return cell_rows.filter(pl.Series(~held))


@dataclass
class CellFit:
    """One cell trained under the protocol: per fitted seed, its holdout predictions and what it decided."""

    seeds: list[int]
    rounds: list[int | None]  # boosting rounds (or solver iterations) each fit used
    thresholds: list[float | None]
    holdout_predictions: list[np.ndarray]  # probability of the minority class / value / label, holdout order
    train_rows: int
    validation_rows: int
    fit_seconds: float
    model: Any = None  # the first seed's fitted pipeline, for MLflow
    input_example: Any = None
    classes: list[str] = field(default_factory=list)


def _target(frame: pl.DataFrame, target: str, task: Task) -> np.ndarray:
    values = frame[target].to_numpy()
    return values.astype(float) if task is Task.regression else target_labels(frame[target])


def check_trainable(train: pl.DataFrame, protocol: Protocol, positive_label: str | None) -> None:
    """Raise TrainingError for a cell no model can learn from; the scorecard shows it as untrainable."""
    if train.height == 0:
        raise TrainingError("no training rows left once the real validation slice is held out")
    if protocol.task is Task.regression:
        return
    classes = set(target_labels(train[protocol.target].drop_nulls()).tolist())
    if len(classes) < 2:
        raise TrainingError(f"the training rows' target '{protocol.target}' has a single class {sorted(classes)}")
    if positive_label is not None and positive_label not in classes:
        raise TrainingError(f"the training rows have no row of the minority class '{positive_label}'")


def _fit_threads(plan: Plan, rows: int, resampled: bool = False):
    """Threads for a cell's fits: a large HistGradientBoosting fit takes the cores no other step computes on
    (hybrid_data/compute.py's rule; a 2M-row blend's fit ran alone on one of two cores at the end of a stage),
    since it grows the same trees on any number of threads (test_evaluation_protocol.py checks it); anything
    else keeps the per-step cap, as does a fit too small for the rule's look at the machine (0.25 s) to pay, and
    a resampled baseline (SMOTE-NC's neighbour distances are BLAS sums, whose ties could fall otherwise)."""
    from threadpoolctl import threadpool_limits

    if rows >= SHARED_FIT_ROWS and plan.model.kind == "hist_gradient_boosting" and not resampled:
        return fit_threads()
    return threadpool_limits(limits=step_threads())


def fit_cell(
    plan: Plan,
    protocol: Protocol,
    train: pl.DataFrame,
    validation: pl.DataFrame,
    holdout: pl.DataFrame,
    positive_label: str | None,
    resample: Resample | None = None,
    estimator_overrides: dict[str, Any] | None = None,
) -> CellFit:
    """Fit the protocol's model once per seed on `train` (validation rows already removed) and predict the
    holdout. Features are encoded once and shared by every seed, so a repeat costs one estimator fit.

    `resample` (a classical baseline's oversampler) reshapes the encoded training rows per seed; the
    validation and holdout rows are never resampled.
    """
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    train = train.drop_nulls(protocol.target)
    check_trainable(train, protocol, positive_label)
    started = time.perf_counter()
    columns = feature_columns(train, protocol.target)
    template = build_model(plan, protocol.task, train, columns)
    prep, estimator = Pipeline(template.steps[:-1]), template.steps[-1][1]
    estimator.set_params(**protocol.estimator_params, **(estimator_overrides or {}))
    y = _target(train, protocol.target, protocol.task)
    y_val = _target(validation, protocol.target, protocol.task)
    fit = CellFit([], [], [], [], train.height, validation.height, 0.0)
    with _fit_threads(plan, train.height, resampled=resample is not None):
        encoded = prep.fit_transform(_to_features(train, columns), y)
        encoded_val = prep.transform(_to_features(validation, columns))
        encoded_holdout = prep.transform(_to_features(holdout, columns))
        stop_kwargs = {}
        if protocol.early_stopping:
            known = np.isin(y_val, np.unique(y)) if protocol.task is not Task.regression else slice(None)
            stop_kwargs = {"X_val": encoded_val[known], "y_val": y_val[known]}
        for seed in protocol.fitted_seeds(resampled=resample is not None):
            model = clone(estimator).set_params(random_state=seed)
            rows, labels = resample(encoded, y, seed) if resample else (encoded, y)
            model.fit(rows, labels, **stop_kwargs)
            fit.seeds.append(seed)
            fit.rounds.append(int(np.max(model.n_iter_)) if hasattr(model, "n_iter_") else None)
            if protocol.task is Task.binary:
                column = list(model.classes_).index(positive_label)
                val_score = model.predict_proba(encoded_val)[:, column]
                fit.thresholds.append(choose_threshold(protocol.threshold, val_score, y_val == positive_label))
                fit.holdout_predictions.append(model.predict_proba(encoded_holdout)[:, column])
            else:
                fit.thresholds.append(None)
                fit.holdout_predictions.append(np.asarray(model.predict(encoded_holdout)))
            if fit.model is None:
                fit.model = Pipeline([*prep.steps, ("model", model)])
                fit.classes = [str(c) for c in getattr(model, "classes_", [])]
    fit.fit_seconds = time.perf_counter() - started
    fit.input_example = _to_features(holdout.head(5), columns)
    return fit
