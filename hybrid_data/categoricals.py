"""Taming high-cardinality text columns before a synthesizer sees them, and restoring real levels afterwards.

CTGAN and CopulaGAN one-hot encode every categorical level: a column with thousands of levels makes thousands
of network inputs (SDV warns at 1000 encoded columns) and fits that take hours. A column with more than
`max_categories` levels keeps its most frequent `max_categories - 1` levels plus one `__other__` level for the
rest. After sampling, each `__other__` is replaced by a tail level drawn with its real frequency, so the pool
keeps the real column domain (the blend checks compare category domains) and the tail's overall mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hybrid_data.column_types import is_text

OTHER = "__other__"
# A text column with at least this share of distinct values is almost surely an identifier or free text.
NEAR_UNIQUE_SHARE = 0.5


@dataclass(frozen=True)
class CappedColumn:
    """One capped column: the levels modeled as themselves and the tail folded into `__other__`."""

    column: str
    levels: int
    kept: tuple[str, ...]
    tail: tuple[str, ...]
    tail_weights: tuple[float, ...]


def cap_categoricals(
    frame: pl.DataFrame, max_categories: int, exclude: set[str] | frozenset[str] = frozenset()
) -> tuple[pl.DataFrame, list[CappedColumn], list[str]]:
    """The frame with every text column above `max_categories` levels capped, the caps, and notes to report."""
    caps: list[CappedColumn] = []
    notes: list[str] = []
    replacements = []
    for column, dtype in frame.schema.items():
        if column in exclude or not is_text(dtype):
            continue
        values = frame[column].cast(pl.String)
        counts = values.drop_nulls().value_counts(sort=True)
        levels = counts.height
        if levels <= max_categories:
            continue
        # Ties in frequency are broken by value, so the same data always keeps the same levels.
        counts = counts.sort(["count", column], descending=[True, False])
        kept = counts[column].head(max_categories - 1).to_list()
        tail = counts.slice(max_categories - 1)
        weights = (tail["count"] / tail["count"].sum()).to_list()
        caps.append(CappedColumn(column, levels, tuple(kept), tuple(tail[column].to_list()), tuple(weights)))
        replacements.append(
            pl.when(values.is_in(kept) | values.is_null()).then(values).otherwise(pl.lit(OTHER)).alias(column)
        )
        share = tail["count"].sum() / max(values.drop_nulls().len(), 1)
        notes.append(
            f"'{column}' has {levels} levels; modeled as its top {max_categories - 1} plus '{OTHER}' "
            f"({share:.1%} of rows), tail levels redrawn by real frequency (synthesis.max_categories)"
        )
        if levels >= NEAR_UNIQUE_SHARE * frame.height:
            notes.append(
                f"'{column}' has a distinct value in {levels / frame.height:.0%} of rows: it looks like an "
                "identifier or personal data; list it in synthesis.id_columns or synthesis.pii_columns"
            )
    if replacements:
        frame = frame.with_columns(replacements)
    return frame, caps, notes


def restore_categoricals(frame: pl.DataFrame, caps: list[CappedColumn], seed: int) -> pl.DataFrame:
    """Replace every sampled `__other__` with a tail level drawn by its real frequency (seeded, so repeatable)."""
    rng = np.random.default_rng(seed)
    for cap in caps:
        if cap.column not in frame.columns:
            continue
        values = frame[cap.column].cast(pl.String)
        is_other = (values == OTHER).fill_null(False).to_numpy()
        if not is_other.any():
            continue
        drawn = rng.choice(np.array(cap.tail, dtype=object), size=int(is_other.sum()), p=np.array(cap.tail_weights))
        out = values.to_numpy().astype(object)
        out[is_other] = drawn
        frame = frame.with_columns(pl.Series(cap.column, out, dtype=pl.String))
    return frame
