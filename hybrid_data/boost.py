"""Rare-class boost: synthetic rows sampled conditionally towards a target class balance, reported honestly.

GaussianCopula conditions natively. SDV samples conditions of CTGAN, TVAE and CopulaGAN by rejection (generate
unconditionally, keep the rows that match), which fails for a class the model rarely produces ("Unable to sample
any rows"). CTGAN and CopulaGAN have better: the conditional vector their generator was trained with
(training-by-sampling pairs every real row with its class), so here they generate each class's rows with that
class in the vector and SDV's filter keeps nearly all of them. TVAE has no such vector and keeps rejection.
A shortfall is filled with unconditional rows and the balance actually reached is returned, never assumed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from hybrid_data.quality import CheckOutcome

if TYPE_CHECKING:  # pandas loads with the synthesizers, not with the code location
    import pandas as pd


class BoostError(ValueError):
    """A boost the real data cannot support; the message says what to change in the plan."""


@dataclass
class BoostResult:
    frame: pd.DataFrame
    requested: dict[str, float]
    achieved: dict[str, float]
    notes: list[str] = field(default_factory=list)


def resolve_classes(target: pl.Series, shares: Mapping[str, float]) -> dict[Any, float]:
    """The plan's shares keyed by the real target values (plan keys are text; the target may be numeric)."""
    classes = target.drop_nulls().unique().sort().to_list()
    by_text = {str(c): c for c in classes}
    unknown = [k for k in shares if k not in by_text]
    if unknown:
        raise BoostError(
            f"synthesis.boost_target_shares names {unknown}, which the target '{target.name}' of real_train "
            f"does not contain (classes: {', '.join(map(str, classes))}); fix the class names in the plan"
        )
    return {by_text[k]: v for k, v in shares.items()}


def class_counts(target: pl.Series, shares: Mapping[str, float], rows: int) -> dict[Any, int]:
    """Rows per class: listed classes get their share, unlisted ones split the rest by real frequency."""
    wanted = resolve_classes(target, shares)
    real = target.drop_nulls().value_counts()
    real_counts = dict(zip(real[target.name].to_list(), real["count"].to_list(), strict=True))
    rest = 1.0 - sum(wanted.values())
    others = {c: n for c, n in real_counts.items() if c not in wanted}
    if not others and abs(rest) > 1e-9:
        raise BoostError(
            f"synthesis.boost_target_shares lists every class of '{target.name}' but the shares add up to "
            f"{1 - rest:g}; make them add up to 1 or leave a class out to take the rest"
        )
    total_others = sum(others.values())
    exact = {**wanted, **{c: rest * n / total_others for c, n in others.items()}} if others else dict(wanted)
    # Largest remainder, so the counts add up to exactly `rows`.
    counts = {c: int(np.floor(s * rows)) for c, s in exact.items()}
    order = sorted(exact, key=lambda c: (-(exact[c] * rows - counts[c]), str(c)))
    for c in order[: rows - sum(counts.values())]:
        counts[c] += 1
    return counts


def sample_boosted(synthesizer, target: str, counts: Mapping[Any, int], max_tries: int) -> BoostResult:
    """Sample each class's rows conditionally; fill any shortfall unconditionally and say so."""
    from sdv.sampling import Condition

    parts, notes = [], []
    for value, wanted in counts.items():
        if wanted == 0:
            continue
        condition = Condition(num_rows=wanted, column_values={target: value})
        with generator_conditioned_on(synthesizer, target, value) as conditioned:
            got = _sample_condition(synthesizer, condition, max_tries)
        if len(got) < wanted:
            how = "through the generator's conditional vector" if conditioned else "by rejection"
            notes.append(
                f"conditional sampling ({how}) produced {len(got)} of {wanted} rows of {target}={value!r}; "
                f"the other {wanted - len(got)} were sampled unconditionally (raise synthesis.boost_max_tries or "
                "synthesis.epochs, or use gaussian_copula or ctgan, which condition without rejection)"
            )
        parts.append(got)
    shortfall = sum(counts.values()) - sum(len(p) for p in parts)
    if shortfall > 0:
        filler = synthesizer.sample(shortfall)
        parts.append(filler["real"] if isinstance(filler, dict) else filler)
    import pandas as pd

    frame = pd.concat(parts, ignore_index=True)
    total = sum(counts.values())
    requested = {str(c): n / total for c, n in counts.items()}
    return BoostResult(frame, requested, achieved_shares(frame[target]), notes)


@contextmanager
def generator_conditioned_on(synthesizer, column: str, value) -> Iterator[bool]:
    """While open, a fitted CTGAN or CopulaGAN generates every row with `column = value` set in its conditional
    vector; yields False, changing nothing, for a synthesizer without one (TVAE, GaussianCopula) or a column or
    value the vector does not cover.

    SDV never passes a condition to the ctgan model (it samples unconditionally and filters), so the model's
    `sample` is pointed at the conditioned call for the block. ctgan 0.12 builds that vector from
    `_discrete_column_matrix_st`, which it never fills (all zeros: every condition would land in the first
    discrete column; CTGAN issues 169 and 273); the offsets it needs are `_discrete_column_cond_st`."""
    model = getattr(synthesizer, "_model", None)
    sampler = getattr(model, "_data_sampler", None)
    transformer = getattr(model, "_transformer", None)
    if sampler is None or transformer is None or not _covers(transformer, column, value):
        yield False
        return
    plain_sample = type(model).sample
    offsets = sampler._discrete_column_matrix_st
    sampler._discrete_column_matrix_st = sampler._discrete_column_cond_st
    model.sample = lambda rows, *_args, **_kwargs: plain_sample(
        model, rows, condition_column=column, condition_value=value
    )
    try:
        yield True
    finally:
        del model.sample
        sampler._discrete_column_matrix_st = offsets


def _covers(transformer, column: str, value) -> bool:
    """The ctgan data transformer one-hot encodes `column` (a discrete column) and knows `value`."""
    infos = [i for i in transformer._column_transform_info_list if i.column_name == column]
    if not infos or infos[0].column_type != "discrete":
        return False
    try:
        transformer.convert_column_name_value_to_id(column, value)
    except ValueError:
        return False
    return True


def _sample_condition(synthesizer, condition, max_tries: int) -> pd.DataFrame:
    try:
        sampled = synthesizer.sample_from_conditions([condition], max_tries_per_batch=max_tries)
    except ValueError as exc:
        if "Unable to sample any rows" in str(exc):
            import pandas as pd

            return pd.DataFrame()
        raise
    frame = next(iter(sampled.values())) if isinstance(sampled, dict) else sampled
    return frame


def achieved_shares(target: pd.Series | pl.Series) -> dict[str, float]:
    series = target.to_pandas() if isinstance(target, pl.Series) else target
    shares = series.astype(str).value_counts(normalize=True).sort_index()
    return {str(k): round(float(v), 4) for k, v in shares.items()}


def classes_kept(pool_target: pl.Series, real_target: pl.Series, min_ratio: float) -> CheckOutcome:
    """Every real class is still in the pool at no less than `min_ratio` of its real share, the rare-class half
    of model collapse (a synthesizer that lost the minority class makes blends without it and models that
    never predict it). A class counts as lost only when the whole 95% Wilson interval of its pool share is below
    the threshold, so a small pool does not raise a false alarm. Regression targets have no classes to lose."""
    from scipy.stats import binomtest

    if real_target.dtype.is_float():
        return CheckOutcome(True, f"'{real_target.name}' is numeric: no classes to keep", {})
    real = real_target.cast(pl.String).drop_nulls().value_counts(sort=True)
    if real.height < 2:
        return CheckOutcome(True, f"'{real_target.name}' has a single class in real_train: nothing to keep", {})
    pool = pool_target.cast(pl.String)
    real_rows, pool_rows = int(real["count"].sum()), pool.len()
    rows = []
    for value, count in real.iter_rows():
        real_share, pool_count = count / real_rows, int((pool == value).sum())
        low, high = binomtest(pool_count, max(pool_rows, 1)).proportion_ci(method="wilson") if pool_rows else (0, 0)
        threshold = min_ratio * real_share
        rows.append(
            {
                "class": value,
                "real_share": round(real_share, 4),
                "pool_share": round(pool_count / max(pool_rows, 1), 4),
                "pool_share_ci95_low": round(float(low), 4),
                "pool_share_ci95_high": round(float(high), 4),
                "threshold": round(threshold, 4),
                "lost": pool_rows > 0 and float(high) < threshold,
            }
        )
    minority = rows[-1]  # value_counts sorts by count, largest first
    lost = [r for r in rows if r["lost"]]
    metadata = {
        "minority_class": minority["class"],
        "minority_share_real": minority["real_share"],
        "minority_share_pool": minority["pool_share"],
        "minority_share_pool_ci95_low": minority["pool_share_ci95_low"],
        "minority_share_pool_ci95_high": minority["pool_share_ci95_high"],
        "threshold": minority["threshold"],
        "min_minority_share_ratio": min_ratio,
        "pool_rows": pool_rows,
        "classes": rows,
    }
    if not lost:
        return CheckOutcome(
            True,
            f"every class keeps at least {min_ratio:.0%} of its real share (minority '{minority['class']}': "
            f"{minority['pool_share']:.1%} of the pool vs {minority['real_share']:.1%} of real_train)",
            metadata,
        )
    what = "the minority class" if minority["lost"] else "a class"
    details = "; ".join(
        f"'{r['class']}': {r['pool_share']:.1%} of {pool_rows:,} pool rows (95% CI {r['pool_share_ci95_low']:.1%}-"
        f"{r['pool_share_ci95_high']:.1%}) vs {r['real_share']:.1%} of real_train, below the threshold "
        f"{r['threshold']:.1%}"
        for r in lost
    )
    return CheckOutcome(
        False,
        f"synthesizer lost {what}: {details}. Boost it (synthesis.boost_target_shares) or train longer "
        "(synthesis.epochs, patience)",
        metadata,
    )
