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


def minority_share(blend: pl.DataFrame, real: pl.DataFrame, target: str, tolerance: float) -> CheckOutcome:
    """The real minority class keeps its share in the blend: neither removed nor inflated."""
    classes = real[target].cast(pl.String).value_counts(sort=True)
    if classes.height < 2 or real[target].dtype.is_float():
        return CheckOutcome(True, "no minority class to guard (regression or single-class target)", {})
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
    blend: pl.DataFrame, real: pl.DataFrame, target: str, rare_share: float, tolerance: float
) -> CheckOutcome:
    """Per categorical column, the real rare categories (each below `rare_share` of rows) are still there in the
    blend (coverage, weighted by real share) and each keeps about its real share (neither lost nor inflated)."""
    blend = _rows(blend)
    drifts: list[ShareDrift] = []
    uncovered: list[str] = []
    coverage_min, columns = 1.0, 0
    for name, dtype in real.schema.items():
        if name == target or dtype.is_numeric() or name not in blend.columns:
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


def tail_coverage(blend: pl.DataFrame, real: pl.DataFrame, target: str, tolerance: float) -> CheckOutcome:
    """Per numeric column, the share of blend rows below the real p1 and above the real p99 stays near the real
    share: clipped tails (the copula's truncation) and widened ones (noise, shifts) both fail."""
    blend = _rows(blend)
    drifts: list[ShareDrift] = []
    for name, dtype in real.schema.items():
        if name == target or not dtype.is_numeric() or name not in blend.columns:
            continue
        values = real[name].drop_nulls().cast(pl.Float64)
        if values.len() == 0:
            continue
        low, high = values.quantile(0.01), values.quantile(0.99)
        mixed = blend[name].drop_nulls().cast(pl.Float64)
        n_blend = max(mixed.len(), 1)
        for side, real_share, blend_share in (
            ("p01", float((values < low).mean()), float((mixed < low).sum()) / n_blend),
            ("p99", float((values > high).mean()), float((mixed > high).sum()) / n_blend),
        ):
            drifts.append(share_drift(f"{name} {side}", real_share, blend_share, values.len(), n_blend))
    drifted = [d.label() for d in drifts if d.fails(tolerance)]
    return CheckOutcome(
        not drifted,
        f"share of rows beyond the real p1/p99 of each numeric column within {tolerance:.0%} of the real share",
        {
            "tails_checked": len(drifts),
            "tail_drift_max": round(max((d.drift for d in drifts if d.significant), default=0.0), 4),
            "drifted_tails": drifted,
            "tail_tolerance": tolerance,
        },
    )
