"""Bias audit: does a blend shift who is in the data, or how well the model serves each group?

For each column named in `evaluation.groups`, every group's share of rows and of the minority class in real_train
is compared with the blend's synthetic rows (a shift whose 95% Newcombe interval excludes 0 is a warning),
and the scorecard compares each cell's metric within the group with real-only's on the same resamples.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from hybrid_data.features import target_labels
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


def difference_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of share a - share b (his method 10), built from the two Wilson
    intervals: both the real and the synthetic share are samples, so a shift is judged against both errors."""
    if not trials_a or not trials_b:
        return (float("nan"), float("nan"))
    share_a, share_b = successes_a / trials_a, successes_b / trials_b
    low_a, high_a = wilson_interval(successes_a, trials_a, confidence)
    low_b, high_b = wilson_interval(successes_b, trials_b, confidence)
    difference = share_a - share_b
    return (
        difference - math.sqrt((share_a - low_a) ** 2 + (high_b - share_b) ** 2),
        difference + math.sqrt((high_a - share_a) ** 2 + (share_b - low_b) ** 2),
    )


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
            flags = pl.Series(target_labels(frame[target])) == minority if minority is not None else None
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
    interval of their difference excludes 0: the blend shifts the group beyond sampling noise."""
    found: dict = {}
    warnings = []
    comparisons = [("share", "share of rows", "rows", "total")]
    if minority:
        comparisons.append(("minority_share", "minority share", "minority_rows", "rows"))
    for name, label, part, whole in comparisons:
        real = (record[f"real_{part}"], record[f"real_{whole}"])
        synthetic = (record[f"synthetic_{part}"], record[f"synthetic_{whole}"])
        found[f"real_{name}"] = real[0] / real[1] if real[1] else float("nan")
        found[f"synthetic_{name}"] = synthetic[0] / synthetic[1] if synthetic[1] else float("nan")
        low, high = difference_interval(*synthetic, *real, confidence)
        found[f"{name}_shift_low"], found[f"{name}_shift_high"] = low, high
        if low > 0 or high < 0:
            warnings.append(
                f"{label} {found[f'real_{name}']:.3f} real vs {found[f'synthetic_{name}']:.3f} synthetic "
                f"(shift [{low:+.3f}, {high:+.3f}])"
            )
    found["share_warning"] = "; ".join(warnings)
    return found
