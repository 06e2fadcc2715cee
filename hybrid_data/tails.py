"""Tails and rare classes, the model-collapse guard: a blend must keep the real minority-class share, the real
rare categories and the real extreme quantiles, in both directions.

A Gaussian copula inflates rare classes in some settings and clips tails in others, and each generation trained
on such data loses more of them. A share is judged by its relative drift from the real share, but only when the
difference is also statistically clear (more than Z standard errors), so small blends do not raise false alarms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from hybrid_data.column_types import ZERO_INFLATED_SHARE, ColumnType, Kind, decide_types, infer_task
from hybrid_data.plan import Task
from hybrid_data.quality import CheckOutcome
from hybrid_data.source import ORIGIN_COLUMN

Z = 3.0  # standard errors a drift must also exceed to count
SHARE_FLOOR = 0.01  # shares below this are compared as if they were this large (a p1 tail is 1% by definition)


@dataclass(frozen=True)
class ShareDrift:
    name: str
    real: float
    blend: float
    drift: float  # |blend - real| / max(real, SHARE_FLOOR)
    significant: bool

    def fails(self, tolerance: float) -> bool:
        return self.significant and self.drift > tolerance

    def label(self) -> str:
        return f"{self.name}: real {self.real:.4f} -> blend {self.blend:.4f}"


def share_drift(name: str, real: float, blend: float, n_real: int, n_blend: int) -> ShareDrift:
    base = max(real, SHARE_FLOOR)
    error = math.sqrt(base * (1 - base) * (1 / max(n_real, 1) + 1 / max(n_blend, 1)))
    return ShareDrift(name, real, blend, abs(blend - real) / base, abs(blend - real) > Z * error)


def _rows(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(ORIGIN_COLUMN) if ORIGIN_COLUMN in frame.columns else frame


def _types(real: pl.DataFrame, types: dict[str, ColumnType] | None) -> dict[str, ColumnType]:
    return types if types is not None else decide_types(real, None)


def minority_share(
    blend: pl.DataFrame, real: pl.DataFrame, target: str, tolerance: float, task: Task | None = None
) -> CheckOutcome:
    """The real minority class keeps its share in the blend: neither removed nor inflated. A regression target
    has no classes: its distribution is checked instead (`target_distribution`)."""
    if (task or infer_task(real[target])) is Task.regression:
        return target_distribution(blend, real, target, tolerance)
    # Ties broken by label: value_counts' order among equal counts varies from run to run.
    classes = real[target].cast(pl.String).value_counts().sort(["count", target], descending=[True, True])
    if classes.height < 2:
        return CheckOutcome(True, "no minority class to guard (single-class target)", {})
    minority = classes[target][-1]
    real_share = classes["count"][-1] / real.height
    blend_share = float((blend[target].cast(pl.String) == minority).sum()) / max(blend.height, 1)
    drift = share_drift(minority, real_share, blend_share, real.height, blend.height)
    return CheckOutcome(
        not drift.fails(tolerance),
        f"minority class '{minority}' share within {tolerance:.0%} of its real share",
        {
            "minority_class": str(minority),
            "minority_share_real": round(real_share, 4),
            "minority_share_blend": round(blend_share, 4),
            "minority_share_drift": round(drift.drift, 4),
            "significant": drift.significant,
            "tail_tolerance": tolerance,
        },
    )


def rare_categories(
    blend: pl.DataFrame,
    real: pl.DataFrame,
    target: str,
    rare_share: float,
    tolerance: float,
    types: dict[str, ColumnType] | None = None,
) -> CheckOutcome:
    """Per categorical column (text, Booleans, integer codes: as the type layer decided), the real rare categories
    (each below `rare_share` of rows) are still there in the blend (coverage, weighted by real share) and each
    keeps about its real share (neither lost nor inflated)."""
    blend = _rows(blend)
    types = _types(real, types)
    drifts: list[ShareDrift] = []
    uncovered: list[str] = []
    coverage_min, columns = 1.0, 0
    for name in real.columns:
        if name == target or not types[name].is_category or name not in blend.columns:
            continue
        real_counts = real[name].cast(pl.String).drop_nulls().value_counts(name="real")
        rare = real_counts.with_columns(real=pl.col("real") / real.height).filter(pl.col("real") < rare_share)
        if rare.height == 0:
            continue
        columns += 1
        blend_counts = blend[name].cast(pl.String).drop_nulls().value_counts(name="blend")
        shares = rare.join(blend_counts, on=name, how="left").with_columns(
            blend=pl.col("blend").fill_null(0) / max(blend.height, 1)
        )
        for category, real_part, blend_part in shares.iter_rows():
            drifts.append(share_drift(f"{name}={category}", real_part, blend_part, real.height, blend.height))
        coverage = float(shares.filter(pl.col("blend") > 0)["real"].sum()) / float(shares["real"].sum())
        coverage_min = min(coverage_min, coverage)
        if coverage < 1.0 - tolerance:
            missing = sorted(shares.filter(pl.col("blend") == 0)[name].to_list())
            uncovered.append(f"{name}: {coverage:.0%} of rare mass covered, missing {missing[:5]}")
    drifted = sorted((d for d in drifts if d.fails(tolerance)), key=lambda d: -d.drift)
    return CheckOutcome(
        not drifted and not uncovered,
        f"rare categories (< {rare_share:.0%} of real rows) covered and each within {tolerance:.0%} of its real share",
        {
            "columns_with_rare_categories": columns,
            "rare_categories": len(drifts),
            "rare_coverage_min": round(coverage_min, 4),
            "rare_drift_max": round(max((d.drift for d in drifts if d.significant), default=0.0), 4),
            "drifted_categories": len(drifted),
            "drifted": [d.label() for d in drifted[:20]],
            "uncovered_columns": uncovered,
            "tail_tolerance": tolerance,
        },
    )


def _tail_drifts(name: str, values: pl.Series, mixed: pl.Series) -> list[ShareDrift]:
    """Shares below the real p1 and above the real p99 (and at exactly zero for a zero-inflated column)."""
    low, high = values.quantile(0.01), values.quantile(0.99)
    n_blend = max(mixed.len(), 1)
    sides = [
        ("p01", float((values < low).mean()), float((mixed < low).sum()) / n_blend),
        ("p99", float((values > high).mean()), float((mixed > high).sum()) / n_blend),
    ]
    zeros = float((values == 0).mean())
    if zeros >= ZERO_INFLATED_SHARE:
        sides.append(("zero share", zeros, float((mixed == 0).sum()) / n_blend))
    return [share_drift(f"{name} {side}", real, blend, values.len(), n_blend) for side, real, blend in sides]


def tail_coverage(
    blend: pl.DataFrame, real: pl.DataFrame, target: str, tolerance: float, types: dict[str, ColumnType] | None = None
) -> CheckOutcome:
    """Per numeric column, the share of blend rows below the real p1 and above the real p99 stays near the real
    share: clipped tails (the copula's truncation) and widened ones (noise, shifts) both fail. A zero-inflated
    column's share of exact zeros is held the same way (a copula marginal spreads a zero spike into positives)."""
    blend = _rows(blend)
    types = _types(real, types)
    drifts: list[ShareDrift] = []
    for name in real.columns:
        if name == target or types[name].kind is not Kind.numeric or name not in blend.columns:
            continue
        values = real[name].drop_nulls().cast(pl.Float64)
        if values.len() == 0:
            continue
        drifts += _tail_drifts(name, values, blend[name].drop_nulls().cast(pl.Float64))
    drifted = [d.label() for d in drifts if d.fails(tolerance)]
    zero = [d for d in drifts if d.name.endswith("zero share")]
    return CheckOutcome(
        not drifted,
        f"share of rows beyond the real p1/p99 (and at zero, for zero-inflated columns) of each numeric column "
        f"within {tolerance:.0%} of the real share",
        {
            "tails_checked": len(drifts),
            "tail_drift_max": round(max((d.drift for d in drifts if d.significant), default=0.0), 4),
            "zero_inflated_columns": len(zero),
            "zero_share_drift_max": round(max((d.drift for d in zero if d.significant), default=0.0), 4),
            "drifted_tails": drifted,
            "tail_tolerance": tolerance,
        },
    )


def target_distribution(blend: pl.DataFrame, real: pl.DataFrame, target: str, tolerance: float) -> CheckOutcome:
    """A regression target keeps its real distribution in the blend: its tails (and zero mass) as in
    `tail_coverage`, and its median within `tolerance` of the real interquartile range. The Kolmogorov-Smirnov
    distance is reported too. Never one value per distinct target value: a price is not a set of classes."""
    from scipy.stats import ks_2samp

    values = real[target].drop_nulls().cast(pl.Float64)
    mixed = _rows(blend)[target].drop_nulls().cast(pl.Float64)
    if values.len() == 0 or mixed.len() == 0:
        return CheckOutcome(True, f"regression target '{target}': no values to compare", {})
    drifts = _tail_drifts(target, values, mixed)
    spread = float(values.quantile(0.75) - values.quantile(0.25)) or float(values.std() or 0.0) or 1.0
    median_shift = abs(float(mixed.median()) - float(values.median())) / spread
    drifted = [d.label() for d in drifts if d.fails(tolerance)]
    ks = ks_2samp(values.to_numpy(), mixed.to_numpy())
    return CheckOutcome(
        not drifted and median_shift <= tolerance,
        f"regression target '{target}': tails within {tolerance:.0%} of their real share and median within "
        f"{tolerance:g} interquartile ranges of the real median",
        {
            "target_median_real": round(float(values.median()), 6),
            "target_median_blend": round(float(mixed.median()), 6),
            "target_median_shift_iqr": round(median_shift, 4),
            "target_ks_statistic": round(float(ks.statistic), 4),
            "target_tail_drift_max": round(max((d.drift for d in drifts if d.significant), default=0.0), 4),
            "drifted_tails": drifted,
            "tail_tolerance": tolerance,
        },
    )
