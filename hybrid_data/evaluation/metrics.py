"""Metrics per task that mean something at imbalance, each computed for many holdout resamples at once.

Every function takes a (B, n) matrix of row weights (how often each holdout row occurs in each resample; a row
of ones is the plain holdout) and returns one value per resample, so 1,000 bootstrap resamples cost a few
matrix products instead of 1,000 sklearn calls. tests/test_evaluation_statistics.py checks each one against
sklearn on explicitly resampled rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hybrid_data.plan import Task


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    meaning: str


METRICS: dict[Task, tuple[Metric, ...]] = {
    Task.binary: (
        Metric("pr_auc", True, "average precision of the minority class; no skill = its prevalence"),
        Metric("roc_auc", True, "chance a minority row scores above a majority row; no skill = 0.5"),
        Metric("minority_f1", True, "F1 of the minority class at the threshold chosen on real validation rows"),
        Metric("minority_recall", True, "share of minority rows caught at that threshold"),
        Metric("minority_precision", True, "share of flagged rows that are minority rows at that threshold"),
        Metric("brier_skill", True, "1 - Brier / Brier of always predicting the prevalence; 0 = no skill"),
    ),
    Task.multiclass: (
        Metric("macro_f1", True, "F1 averaged over classes, each class counting the same"),
        Metric("balanced_accuracy", True, "recall averaged over classes"),
        Metric("smallest_class_recall", True, "recall of the class rarest in real_train"),
    ),
    Task.regression: (
        Metric("rmse", False, "root mean squared error"),
        Metric("mae", False, "mean absolute error"),
        Metric("r2", True, "share of the holdout's variance explained"),
    ),
}
PRIMARY_METRIC = {Task.binary: "pr_auc", Task.multiclass: "macro_f1", Task.regression: "rmse"}


def metric(task: Task, name: str) -> Metric:
    for candidate in METRICS[task]:
        if candidate.name == name:
            return candidate
    known = ", ".join(m.name for m in METRICS[task])
    raise ValueError(f"'{name}' is not a {task.value} metric; use one of {known} (evaluation.primary_metric)")


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """numerator / denominator, `empty` where the denominator is 0 (sklearn's zero_division=0 convention)."""
    out = np.full(np.broadcast(numerator, denominator).shape, empty, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def ranking_metrics(score: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """ROC AUC (ties count half) and average precision (sklearn's step-wise definition) per resample.

    Only two sums over the negatives are needed per positive row: their weight scored below it (AUC, and its
    false positives for precision) and their weight tied with it. Both are read off one small matrix: each
    negative row falls in a bucket between or on the distinct positive scores, one sparse product sums every
    resample's weights per bucket, and a cumulative sum over the buckets gives "below". The positives are rare
    here, so the buckets are few; sorting every negative's weights in every resample instead (a cumulative sum
    over the whole weight matrix) was most of the scorecard's time at 200k holdout rows. The weights are counts,
    so the sums are exact whatever their order: the same numbers as that cumulative sum.
    """
    from scipy import sparse

    positive = positive.astype(bool)
    positive_scores = score[positive]
    negatives = np.flatnonzero(~positive)
    levels = np.unique(positive_scores)  # ascending; a NaN score sorts last, and ties with NaN as numpy's sort does
    negative_scores = score[negatives]
    left = np.searchsorted(levels, negative_scores, "left")
    tied_negative = np.searchsorted(levels, negative_scores, "right") > left
    # bucket 2k: between the (k-1)-th and k-th distinct positive score; bucket 2k+1: equal to the k-th
    buckets = sparse.csr_matrix(
        (np.ones(negatives.size), (2 * left + tied_negative, negatives)), shape=(2 * levels.size + 1, score.size)
    )
    per_bucket = np.asarray(buckets @ weights.T).T  # (B, buckets)
    cumulative = np.zeros((weights.shape[0], per_bucket.shape[1] + 1))
    np.cumsum(per_bucket, axis=1, out=cumulative[:, 1:])
    level = np.searchsorted(levels, positive_scores, "left")
    below = cumulative[:, 2 * level + 1]
    tied = per_bucket[:, 2 * level + 1]
    total_negative = cumulative[:, -1]
    positive_weights = weights[:, positive]
    total_positive = positive_weights.sum(axis=1)
    descending = np.argsort(-positive_scores, kind="stable")
    positives_cumulative = np.zeros((weights.shape[0], positive_scores.size + 1))
    np.cumsum(positive_weights[:, descending], axis=1, out=positives_cumulative[:, 1:])
    at_least = np.searchsorted(-positive_scores[descending], -positive_scores, "right")
    true_pos = positives_cumulative[:, at_least]
    false_pos = total_negative[:, None] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (positive_weights * (below + 0.5 * tied)).sum(axis=1) / (total_positive * total_negative)
        precision = _ratio(true_pos, true_pos + false_pos)
        average_precision = (positive_weights * precision).sum(axis=1) / total_positive
    return {"roc_auc": auc, "pr_auc": average_precision}


def binary_metrics(
    score: np.ndarray, positive: np.ndarray, threshold: float, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Every binary metric per resample; `score` is the predicted probability of the minority class."""
    positive = positive.astype(bool)
    flagged = score >= threshold
    true_pos = weights @ (positive & flagged).astype(float)
    false_pos = weights @ (~positive & flagged).astype(float)
    false_neg = weights @ (positive & ~flagged).astype(float)
    rows = weights.sum(axis=1)
    brier = weights @ (score - positive) ** 2 / rows
    prevalence = weights @ positive.astype(float) / rows
    with np.errstate(invalid="ignore", divide="ignore"):
        brier_skill = 1.0 - brier / (prevalence * (1.0 - prevalence))
    return {
        **ranking_metrics(score, positive, weights),
        "minority_f1": _ratio(2 * true_pos, 2 * true_pos + false_pos + false_neg),
        "minority_recall": _ratio(true_pos, true_pos + false_neg),
        "minority_precision": _ratio(true_pos, true_pos + false_pos),
        "brier_skill": brier_skill,
    }


def regression_metrics(predicted: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    error = predicted - truth
    centred = truth - truth.mean()  # centring first keeps the variance sum from cancelling digits
    rows = weights.sum(axis=1)
    squared = weights @ error**2
    total = weights @ centred**2 - (weights @ centred) ** 2 / rows
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1.0 - squared / total
    return {"rmse": np.sqrt(squared / rows), "mae": weights @ np.abs(error) / rows, "r2": r2}


def multiclass_metrics(
    predicted: np.ndarray, truth: np.ndarray, n_classes: int, smallest: int, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Macro F1 over the classes present in truth or prediction, balanced accuracy over the classes present in
    truth (both as sklearn defines them), and the recall of the class rarest in real_train; classes are codes."""
    classes = np.arange(n_classes)
    is_true = (truth[:, None] == classes).astype(float)
    is_predicted = (predicted[:, None] == classes).astype(float)
    support, flagged = weights @ is_true, weights @ is_predicted
    hits = weights @ (is_true * is_predicted)
    present = (support + flagged) > 0
    f1 = _ratio(2 * hits, support + flagged)
    recall = _ratio(hits, support, empty=np.nan)
    with np.errstate(invalid="ignore"):
        macro_f1 = (f1 * present).sum(axis=1) / present.sum(axis=1)
        balanced = np.nanmean(np.where(support > 0, recall, np.nan), axis=1)
    return {"macro_f1": macro_f1, "balanced_accuracy": balanced, "smallest_class_recall": recall[:, smallest]}


def choose_threshold(policy: str | float, score: np.ndarray, positive: np.ndarray) -> float:
    """The decision threshold from real validation rows: a fixed number, the cut that flags as many rows as
    there are minority rows ('prevalence'), or the cut with the best minority F1 ('max_f1')."""
    if not isinstance(policy, str):
        return float(policy)
    positive = positive.astype(bool)
    if not positive.any():
        raise ValueError(
            "the real validation slice has no row of the minority class, so no threshold can be chosen on it; "
            "raise evaluation.validation_fraction or set evaluation.threshold to a number"
        )
    if policy == "prevalence":
        return float(np.quantile(score, 1.0 - positive.mean(), method="higher"))
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(positive, score)
    f1 = _ratio(2 * precision * recall, precision + recall)[:-1]  # the last point has no threshold
    return float(thresholds[int(np.argmax(f1))])
