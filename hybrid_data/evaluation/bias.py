"""Bias audit: does a blend shift who is in the data, or how well the model serves each group?

For each column named in `evaluation.groups`, every group's share of rows and of the minority class in real_train
is compared with the blend's synthetic rows (a share outside the real share's 95% Wilson interval is a warning),
and the scorecard compares each cell's metric within the group with real-only's on the same resamples.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from hybrid_data.source import ORIGIN_COLUMN

# A numeric column with more distinct values than this is audited in quartile bands of real_train.
MAX_LEVELS = 10
BANDS = 4


class GroupError(ValueError):
    """An evaluation.groups entry the data cannot be grouped by."""


def check_groups(groups: list[str], real_train: pl.DataFrame, target: str) -> None:
    for column in groups:
        if column not in real_train.columns:
            raise GroupError(
                f"evaluation.groups names column '{column}', which real_train does not have "
                f"(columns: {', '.join(real_train.columns)}); fix the plan"
            )
        if column == target:
            raise GroupError(f"evaluation.groups names the target '{target}'; name a column that describes people")


def group_labels(values: pl.Series, reference: pl.Series) -> pl.Series:
    """Each row's group as text: the value itself, or for a many-valued numeric column its quartile band of the
    reference (real_train) values, so real, synthetic and holdout rows fall into the same bands."""
    if values.dtype.is_numeric() and reference.n_unique() > MAX_LEVELS:
        cuts = sorted(set(np.quantile(reference.drop_nulls().to_numpy(), np.linspace(0, 1, BANDS + 1)[1:-1])))
        return values.cast(pl.Float64).cut(cuts).cast(pl.String).fill_null("(missing)").alias(values.name)
    return values.cast(pl.String).fill_null("(missing)")


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion: sound near 0 and 1 where small groups live, unlike the normal one."""
    if trials == 0:
        return (float("nan"), float("nan"))
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (centre - half, centre + half)


def _shares(labels: pl.Series, is_minority: pl.Series | None) -> dict[str, tuple[int, int]]:
    """group -> (rows, minority rows)."""
    frame = pl.DataFrame({"group": labels, "minority": is_minority if is_minority is not None else False})
    counted = frame.group_by("group").agg(pl.len().alias("rows"), pl.col("minority").sum().alias("minority"))
    return {g: (int(r), int(m)) for g, r, m in counted.iter_rows()}


def group_shares(
    blend: pl.DataFrame, real_train: pl.DataFrame, groups: list[str], target: str, minority: str | None
) -> list[dict]:
    """Per group: rows and minority rows among real_train and among the blend's synthetic rows."""
    synthetic = blend.filter(pl.col(ORIGIN_COLUMN) == "synthetic") if ORIGIN_COLUMN in blend.columns else blend[:0]
    records = []
    for column in groups:
        sides = {}
        for side, frame in (("real", real_train), ("synthetic", synthetic)):
            flags = frame[target].cast(pl.String) == minority if minority is not None else None
            sides[side] = _shares(group_labels(frame[column], real_train[column]), flags)
        for group in sorted(set(sides["real"]) | set(sides["synthetic"])):
            real_rows, real_minority = sides["real"].get(group, (0, 0))
            synthetic_rows, synthetic_minority = sides["synthetic"].get(group, (0, 0))
            records.append(
                {
                    "group_column": column,
                    "group": group,
                    "real_rows": real_rows,
                    "real_minority_rows": real_minority,
                    "real_total": real_train.height,
                    "synthetic_rows": synthetic_rows,
                    "synthetic_minority_rows": synthetic_minority,
                    "synthetic_total": synthetic.height,
                }
            )
    return records


def share_findings(record: dict, minority: bool, confidence: float) -> dict:
    """Real vs synthetic share of rows (and of the minority class within the group), with a warning when the
    synthetic share falls outside the real share's interval."""
    low, high = wilson_interval(record["real_rows"], record["real_total"], confidence)
    real_share = record["real_rows"] / record["real_total"] if record["real_total"] else float("nan")
    synthetic_share = (
        record["synthetic_rows"] / record["synthetic_total"] if record["synthetic_total"] else float("nan")
    )
    warnings = []
    if record["synthetic_total"] and not low <= synthetic_share <= high:
        warnings.append(f"share of rows {real_share:.3f} real vs {synthetic_share:.3f} synthetic")
    found = {
        "real_share": real_share,
        "real_share_low": low,
        "real_share_high": high,
        "synthetic_share": synthetic_share,
    }
    if minority:
        m_low, m_high = wilson_interval(record["real_minority_rows"], record["real_rows"], confidence)
        real_minority = record["real_minority_rows"] / record["real_rows"] if record["real_rows"] else float("nan")
        synthetic_minority = (
            record["synthetic_minority_rows"] / record["synthetic_rows"] if record["synthetic_rows"] else float("nan")
        )
        if record["synthetic_rows"] and record["real_rows"] and not m_low <= synthetic_minority <= m_high:
            warnings.append(f"minority share {real_minority:.3f} real vs {synthetic_minority:.3f} synthetic")
        found.update(real_minority_share=real_minority, synthetic_minority_share=synthetic_minority)
    found["share_warning"] = "; ".join(warnings)
    return found
