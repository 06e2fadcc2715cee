"""Zero-inflated number columns through a copula: a zero flag plus the positive part, so the zero mass survives.

A Gaussian copula gives each column one continuous marginal; a spike of exact zeros (70% of rows in a claims
column) is smeared into small positives, so a truncnorm marginal kept 0% zeros and gaussian_kde 36%. Before the
fit, each zero-inflated column (hybrid_data.column_types) becomes two: a Boolean flag `<column>__is_zero`, a
category whose share the copula reproduces exactly and whose correlation with the other columns it keeps, and
the column itself with its zeros replaced by values redrawn from its own non-zero values (seeded), so its
marginal is that of the non-zero part and no null is invented. After sampling, a flagged row is set to 0 and the
flag dropped. Nulls stay nulls in the positive part; they are modeled as the synthesizer models any null.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

FLAG_SUFFIX = "__is_zero"


@dataclass(frozen=True)
class ZeroSplit:
    """One column split into its zero flag and positive part."""

    column: str
    flag: str
    zero_share: float


def flag_name(column: str, taken: set[str]) -> str:
    """`<column>__is_zero`, with underscores added until no column of the frame has the name."""
    name = f"{column}{FLAG_SUFFIX}"
    while name in taken:
        name = f"_{name}"
    return name


def split_zero_inflated(frame: pl.DataFrame, columns: list[str], seed: int) -> tuple[pl.DataFrame, list[ZeroSplit]]:
    """The frame with each of `columns` split into a zero flag and its non-zero values; columns without any
    non-zero value (nothing to redraw from) are left as they are."""
    rng = np.random.default_rng(seed)
    splits, replacements = [], []
    taken = set(frame.columns)
    for column in columns:
        values = frame[column]
        is_zero = (values == 0).fill_null(False)
        others = values.filter(~is_zero).drop_nulls()
        if others.len() == 0 or not is_zero.any():
            continue
        flag = flag_name(column, taken)
        taken.add(flag)
        redrawn = pl.Series(column, others.to_numpy()[rng.integers(0, others.len(), frame.height)], values.dtype)
        replacements += [pl.when(is_zero).then(redrawn).otherwise(values).alias(column), is_zero.alias(flag)]
        nonnull = values.drop_nulls().len()
        splits.append(ZeroSplit(column, flag, float(is_zero.sum()) / nonnull))
    return (frame.with_columns(replacements) if replacements else frame), splits


def restore_zero_inflated(frame: pl.DataFrame, splits: list[ZeroSplit]) -> pl.DataFrame:
    """Sampled rows with each flagged value set to 0 and the flags removed."""
    present = [s for s in splits if s.flag in frame.columns and s.column in frame.columns]
    if not present:
        return frame
    zeroed = [
        pl.when(pl.col(s.flag).cast(pl.Boolean, strict=False).fill_null(False))
        .then(pl.lit(0).cast(frame.schema[s.column]))
        .otherwise(pl.col(s.column))
        .alias(s.column)
        for s in present
    ]
    return frame.with_columns(zeroed).drop([s.flag for s in present])
