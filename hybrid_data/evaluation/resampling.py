"""Paired bootstrap of the real holdout: one set of resamples shared by every cell, so each cell's difference to
real-only is measured on the same rows (paired), and metrics are computed for all resamples at once as
weighted sums over a (resamples x rows) count matrix instead of a Python loop of sklearn calls.

Memory: at 200k holdout rows and 1,000 resamples the count matrix alone is 1.6 GB (float64) and the metrics'
temporaries several copies of it. So positions are kept as int32, drawn a block of resamples at a time, and
scored a block at a time (`count_blocks`): no whole count matrix exists in the product. The draws are the same
numbers as one draw of the whole matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

BLOCK = 100  # resamples scored at a time: ~160 MB of counts at 200k holdout rows
# Resamples drawn at a time: the generator's int64 draws stay small enough (16 MB at 200k rows) for the allocator
# to reuse; 160 MB temporaries were fresh pages every block (1,000 draws of 200k: 3.5 s after a model fit).
DRAW_BLOCK = 10
TILE = 10  # resamples counted into a row-major tile before the copy into the column-major block


@dataclass(frozen=True)
class Resamples:
    """B bootstrap resamples of n holdout rows, and which of the K seeded fits each resample scores.

    Drawing the seed per resample (a two-level bootstrap) puts the fit-to-fit spread of the model into the
    interval as well as the holdout's sampling error: the interval answers "one model trained on this blend".
    """

    indices: np.ndarray  # (B, n) row positions drawn with replacement
    seed_choice: np.ndarray  # (B,) which repeat each resample scores

    @property
    def size(self) -> int:
        return self.indices.shape[0]

    def counts(self, rows: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """(B, n) how often each holdout row occurs in each resample; `rows` keeps only those resamples.

        Column-major: one holdout row's counts over the resamples are adjacent, the layout the ranking metrics'
        sparse product reads without copying the matrix (metrics.ranking_metrics). Counted a few resamples at a
        time into a small row-major tile, then copied into the column-major result (`out` when given)."""
        indices = self.indices if rows is None else self.indices[rows]
        b, n = indices.shape
        counts = np.empty((b, n), order="F") if out is None else out
        tile = np.empty((min(TILE, b), n))
        for start in range(0, b, TILE):
            stop = min(start + TILE, b)
            for k, drawn in enumerate(indices[start:stop]):  # one row at a time: it fits in cache as it is made
                tile[k] = np.bincount(drawn, minlength=n)
            counts[start:stop] = tile[: stop - start]
        return counts

    def count_blocks(self, size: int = BLOCK) -> Iterator[tuple[slice, np.ndarray]]:
        """The count matrix a block of resamples at a time: (which resamples, their (block, n) counts). Scoring
        block by block keeps the counts and the metric temporaries to the block's size: whole, they were several
        copies of a 1.6 GB matrix at the 1M-row shape. Every full block is written into the same array, so use a
        block before asking for the next (fresh 160 MB arrays cost page faults on every block: 1.4 s of a cell's
        5 s headline at 200k holdout rows)."""
        n = self.indices.shape[1]
        reused = np.empty((min(size, self.size), n), order="F")
        for start in range(0, self.size, size):
            span = slice(start, min(start + size, self.size))
            full = span.stop - span.start == reused.shape[0]
            yield span, self.counts(np.arange(span.start, span.stop), out=reused if full else None)


def pick_resamples(counts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The `chosen` resamples (rows) of a column-major count block, still column-major; the block itself when all
    are chosen. Plain row indexing copies it row-major, and the ranking metrics then copy it back (two copies of
    160 MB a cell at the 1M-row shape)."""
    if chosen.all():
        return counts
    picked = np.flatnonzero(chosen)
    out = np.empty((picked.size, counts.shape[1]), dtype=counts.dtype, order="F")
    return np.take(counts, picked, axis=0, out=out, mode="clip")  # "clip": unbuffered; every index is valid


def draw_resamples(n_rows: int, n_resamples: int, repeats: int, seed: int) -> Resamples:
    if n_rows < 2:
        raise ValueError(f"the real holdout has {n_rows} row(s); a bootstrap needs at least 2")
    rng = np.random.default_rng(seed)
    indices = np.empty((n_resamples, n_rows), dtype=np.int32 if n_rows < 2**31 else np.int64)
    for start in range(0, n_resamples, DRAW_BLOCK):  # the same stream as one draw of the whole matrix
        stop = min(start + DRAW_BLOCK, n_resamples)
        indices[start:stop] = rng.integers(0, n_rows, size=(stop - start, n_rows))
    return Resamples(indices, rng.integers(0, max(repeats, 1), size=n_resamples))


def percentile_interval(distribution: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile bootstrap interval; resamples where a metric is undefined (NaN) are left out."""
    finite = distribution[np.isfinite(distribution)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return (float(low), float(high))


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of 'no difference' from paired bootstrap differences: twice the smaller tail share at
    zero, with the +1 correction so a finite number of resamples never claims p = 0. It agrees with the
    percentile interval: the (1 - a) interval excludes 0 about when p < a."""
    finite = differences[np.isfinite(differences)]
    if finite.size == 0:
        return float("nan")
    below = (1 + np.count_nonzero(finite <= 0)) / (finite.size + 1)
    above = (1 + np.count_nonzero(finite >= 0)) / (finite.size + 1)
    return float(min(1.0, 2.0 * min(below, above)))


def holm_adjust(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: controls the chance of any false 'helps' or 'hurts' across all cells at the
    nominal level, uniformly more powerful than Bonferroni. NaN p-values (untrainable cells) stay NaN and do
    not count as tests."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def holm_levels(p_values: list[float] | np.ndarray, alpha: float) -> np.ndarray:
    """The error level each test faces at its Holm step, alpha / (m - rank): the level of its adjusted interval."""
    p = np.asarray(p_values, dtype=float)
    levels = np.full_like(p, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    levels[order] = alpha / (tested.size - np.arange(tested.size))
    return levels
