"""Rare-class boost: synthetic rows sampled conditionally towards a target class balance, reported honestly.

GaussianCopula conditions natively. CTGAN, TVAE and CopulaGAN sample unconditionally and keep the rows that
match (reject sampling), which fails for a class the model rarely produces ("Unable to sample any rows").
A shortfall is filled with unconditional rows and the balance actually reached is returned, never assumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl


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
        got = _sample_condition(synthesizer, Condition(num_rows=wanted, column_values={target: value}), max_tries)
        if len(got) < wanted:
            notes.append(
                f"conditional sampling produced {len(got)} of {wanted} rows of {target}={value!r}; "
                f"the other {wanted - len(got)} were sampled unconditionally (raise synthesis.boost_max_tries, "
                "or use gaussian_copula, which conditions without rejection)"
            )
        parts.append(got)
    shortfall = sum(counts.values()) - sum(len(p) for p in parts)
    if shortfall > 0:
        filler = synthesizer.sample(shortfall)
        parts.append(filler["real"] if isinstance(filler, dict) else filler)
    frame = pd.concat(parts, ignore_index=True)
    total = sum(counts.values())
    requested = {str(c): n / total for c, n in counts.items()}
    return BoostResult(frame, requested, achieved_shares(frame[target]), notes)


def _sample_condition(synthesizer, condition, max_tries: int) -> pd.DataFrame:
    try:
        sampled = synthesizer.sample_from_conditions([condition], max_tries_per_batch=max_tries)
    except ValueError as exc:
        if "Unable to sample any rows" in str(exc):
            return pd.DataFrame()
        raise
    frame = next(iter(sampled.values())) if isinstance(sampled, dict) else sampled
    return frame


def achieved_shares(target: pd.Series | pl.Series) -> dict[str, float]:
    series = target if isinstance(target, pd.Series) else target.to_pandas()
    shares = series.astype(str).value_counts(normalize=True).sort_index()
    return {str(k): round(float(v), 4) for k, v in shares.items()}
