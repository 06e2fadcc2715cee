"""Classical fixes for imbalance in the same grid as the blends: class weighting, random oversampling and
SMOTE / SMOTE-NC, trained on the same real rows as real-only under the same protocol and holdout, so the
question "does synthesis beat the classic fixes?" is answered on equal terms."""

from __future__ import annotations

import numpy as np
import polars as pl

from hybrid_data.evaluation.cell_training import cell_info, positive_label, train_cell
from hybrid_data.evaluation.protocol import Resample, protocol_for
from hybrid_data.plan import Plan, Task
from hybrid_data.training import TrainingError

LABELS = {"class_weight": "class weighting", "random_oversampling": "random oversampling", "smote": "SMOTE"}


def random_oversampler() -> Resample:
    def resample(rows, labels, seed):
        from imblearn.over_sampling import RandomOverSampler

        return RandomOverSampler(random_state=seed).fit_resample(rows, labels)

    return resample


def smote_oversampler(categorical: np.ndarray | None) -> Resample:
    """SMOTE on the encoded training rows (SMOTE-NC when some columns are categorical codes, SMOTEN when all are).

    SMOTE cannot read missing values: for the neighbour search numeric gaps take the column median and
    categorical gaps a code of their own; the original rows are kept as they were, only new rows are added.
    """

    def resample(rows, labels, seed):
        from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

        rows = np.asarray(rows.toarray() if hasattr(rows, "toarray") else rows, dtype=float)
        is_code = np.zeros(rows.shape[1], dtype=bool) if categorical is None else categorical
        smallest = int(np.unique(labels, return_counts=True)[1].min())
        if smallest < 2:
            raise TrainingError(f"SMOTE needs at least 2 rows of every class; the rarest has {smallest}")
        k = min(5, smallest - 1)
        missing = np.isnan(rows)
        with np.errstate(all="ignore"):
            fill = np.where(is_code, -1.0, np.nan_to_num(np.nanmedian(np.where(missing.all(0), 0.0, rows), axis=0)))
        filled = np.where(missing, fill, rows)
        if is_code.all():
            sampler = SMOTEN(k_neighbors=k, random_state=seed)
        elif is_code.any():
            sampler = SMOTENC(categorical_features=np.flatnonzero(is_code).tolist(), k_neighbors=k, random_state=seed)
        else:
            sampler = SMOTE(k_neighbors=k, random_state=seed)
        resampled, resampled_labels = sampler.fit_resample(filled, labels)
        added = resampled[rows.shape[0] :]
        added[:, is_code] = np.where(added[:, is_code] == -1.0, np.nan, added[:, is_code])
        return np.vstack([rows, added]), resampled_labels

    return resample


def _categorical_mask(plan: Plan, task: Task, real_train: pl.DataFrame) -> np.ndarray | None:
    """Which encoded columns are categorical codes: the boosting model's own native-categorical mask, so it stays
    aligned with however the features are encoded (datetimes become several numeric parts). None for the linear
    model, whose one-hot and scaled columns plain SMOTE interpolates."""
    from hybrid_data.training import build_model, feature_columns

    if plan.model.kind != "hist_gradient_boosting":
        return None
    model = build_model(plan, task, real_train, feature_columns(real_train, plan.target))
    return np.asarray(model.steps[-1][1].categorical_features, dtype=bool)


def smote_label(mask: np.ndarray | None) -> str:
    if mask is None or not mask.any():
        return "SMOTE"
    return "SMOTEN" if mask.all() else "SMOTE-NC"


def train_baseline_cells(plan: Plan, task: Task, real_train: pl.DataFrame, holdout: pl.DataFrame) -> pl.DataFrame:
    """One cell per classical method of the plan, trained on real_train minus the validation slice; empty for
    regression plans, where none of these fixes applies."""
    if task is Task.regression or not plan.evaluation.baselines:
        return pl.DataFrame(schema={"cell": pl.String, "kind": pl.String, "status": pl.String})
    protocol = protocol_for(plan, task)
    positive = positive_label(real_train, plan, task)
    mask = _categorical_mask(plan, task, real_train)
    frames = []
    for method in plan.evaluation.baselines:
        overrides, resample, label = None, None, LABELS[method]
        if method == "class_weight":
            overrides = {"class_weight": "balanced"}
        elif method == "random_oversampling":
            resample = random_oversampler()
        else:
            label = smote_label(mask)
            resample = smote_oversampler(mask)
        info = cell_info(label, "baseline", method, real_train, real_train, holdout, protocol, positive)
        frame, _ = train_cell(plan, task, info, real_train, real_train, holdout, resample, overrides)
        frames.append(frame)
    return pl.concat(frames, how="diagonal_relaxed")
