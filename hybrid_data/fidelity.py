"""Fidelity of synthetic rows to real_train: SDMetrics' quality score over every column pair, and a
discriminator's AUC at telling real rows from synthetic ones."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import polars as pl

from hybrid_data.column_types import Kind, decide_types
from hybrid_data.plan import Plan
from hybrid_data.quality import CheckOutcome


def sdmetrics_metadata(frame: pl.DataFrame, plan: Plan | None = None) -> dict:
    """SDMetrics' single-table metadata from the type decision the synthesizer also used (hybrid_data.column_types);
    without a plan, from the storage types alone."""
    types = decide_types(frame, plan)
    # SDMetrics has no ID scoring: an identifier is scored as the categorical it is stored as.
    return {"columns": {c: {"sdtype": "categorical" if t.kind is Kind.id else t.sdtype} for c, t in types.items()}}


def _paired_samples(real: pl.DataFrame, synthetic: pl.DataFrame, rows: int, seed: int):
    synthetic = synthetic.select(real.columns)
    n = min(rows, real.height, synthetic.height)
    return real.sample(n=n, seed=seed), synthetic.sample(n=n, seed=seed)


@dataclass(frozen=True)
class QualityScore:
    score: float
    column_shapes: float
    column_pair_trends: float
    pairs_scored: int
    worst_pairs: list[str] = field(default_factory=list)
    target_pairs_min: float | None = None
    seconds: float = 0.0
    constant_columns: list[str] = field(default_factory=list)


def quality_score(
    real: pl.DataFrame, synthetic: pl.DataFrame, target: str, rows: int, seed: int, plan: Plan | None = None
) -> QualityScore:
    """SDMetrics' QualityReport with every column pair scored, each column read as the type layer decided.

    The report's default skips pairs whose real correlation is below 0.5 (Cramér's V below 0.3); the weak
    target-feature relations of a rare class are exactly those pairs, so both thresholds are set to 0 here.
    SDMetrics silently drops the pairs of a constant column: they are listed in `constant_columns` instead.
    """
    from sdmetrics.reports import QualityReport

    started = time.perf_counter()
    real_sample, synthetic_sample = _paired_samples(real, synthetic, rows, seed)
    report = QualityReport()
    report.real_correlation_threshold = 0
    report.real_association_threshold = 0
    with warnings.catch_warnings():
        # SDMetrics' KSComplement asks scipy for an exact p-value it never reads; scipy falls back to the
        # asymptotic one on ties and warns in every step's log (the statistic, all that is used, is the same).
        warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
        report.generate(
            {"real": real_sample.to_pandas()},
            {"real": synthetic_sample.to_pandas()},
            {"tables": {"real": sdmetrics_metadata(real, plan)}},
            verbose=False,
        )
    properties = report.get_properties().set_index("Property")["Score"]
    pairs = report.get_details("Column Pair Trends").dropna(subset=["Score"])
    ranked = pairs.sort_values("Score")
    worst = [f"{r['Column 1']}~{r['Column 2']}: {r['Score']:.3f}" for _, r in ranked.head(5).iterrows()]
    with_target = pairs[(pairs["Column 1"] == target) | (pairs["Column 2"] == target)]
    return QualityScore(
        score=float(report.get_score()),
        column_shapes=float(properties.get("Column Shapes", float("nan"))),
        column_pair_trends=float(properties.get("Column Pair Trends", float("nan"))),
        pairs_scored=int(len(pairs)),
        worst_pairs=worst,
        target_pairs_min=float(with_target["Score"].min()) if len(with_target) else None,
        seconds=time.perf_counter() - started,
        constant_columns=[c for c in real.columns if real[c].n_unique() <= 1],
    )


def stable_codes(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as numbers that depend only on the frame: temporal columns by their physical value, any other
    non-numeric column by the rank of its text among the sorted distinct values (nulls stay null).

    polars' Categorical codes come from a process-wide mapping filled in order of first sight, by several
    threads at once: the same rows got different codes in different processes, and a tree model's AUC moved
    (0.9462 / 0.9496 / 0.9501 against a 0.95 threshold).
    """
    return frame.with_columns(
        pl.col(c).to_physical() if t.is_temporal() else pl.col(c).cast(pl.String).rank("dense").cast(pl.Int32)
        for c, t in frame.schema.items()
        if not t.is_numeric()
    )


def detection_auc(real: pl.DataFrame, synthetic: pl.DataFrame, rows: int, seed: int) -> float:
    """Cross-validated ROC AUC of a gradient-boosted classifier telling real from synthetic rows: 0.5 means
    indistinguishable, 1.0 means every synthetic row gives itself away."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from threadpoolctl import threadpool_limits

    real_sample, synthetic_sample = _paired_samples(real, synthetic, rows, seed)
    both = pl.concat([real_sample, synthetic_sample], how="vertical_relaxed")
    x = stable_codes(both).to_numpy().astype(np.float64)
    y = np.r_[np.zeros(real_sample.height), np.ones(synthetic_sample.height)]
    # Category codes as ordinal features: half the cost of native categorical splits, and a discriminator only
    # needs to find some difference, not the best-calibrated one.
    model = HistGradientBoostingClassifier(max_iter=40, early_stopping=False, random_state=seed)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    # One OpenMP thread: on a few thousand rows threads only add spin-waits, which on a busy machine (a
    # backfill running other steps) made this 30x slower.
    with threadpool_limits(1):
        return float(np.mean(cross_val_score(model, x, y, cv=folds, scoring="roc_auc")))


def quality_outcome(score: QualityScore, min_score: float) -> CheckOutcome:
    return CheckOutcome(
        score.score >= min_score,
        f"SDMetrics quality score (all {score.pairs_scored} column pairs scored) >= {min_score:g}",
        {
            "quality_score": round(score.score, 4),
            "column_shapes": round(score.column_shapes, 4),
            "column_pair_trends": round(score.column_pair_trends, 4),
            "pairs_scored": score.pairs_scored,
            "target_pairs_min": None if score.target_pairs_min is None else round(score.target_pairs_min, 4),
            "worst_pairs": score.worst_pairs,
            "constant_columns_not_scored": score.constant_columns,
            "min_quality_score": min_score,
        },
    )


def detection_outcome(auc: float, max_auc: float, rows: int) -> CheckOutcome:
    return CheckOutcome(
        auc <= max_auc,
        f"a discriminator tells real from synthetic rows with ROC AUC <= {max_auc:g} (0.5 is indistinguishable)",
        {"detection_auc": round(auc, 4), "rows_per_side": rows, "max_detection_auc": max_auc},
    )
