"""Paired bootstrap of the real holdout: one set of resamples shared by every cell, so each cell's difference to
real-only is measured on the same rows (paired), and metrics are computed for all resamples at once as
weighted sums over a (resamples x rows) count matrix instead of a Python loop of sklearn calls.

Memory: at 200k holdout rows and 1,000 resamples the count matrix alone is 1.6 GB (float64) and the metrics'
temporaries several copies of it, and the drawn row positions another 800 MB. So positions are drawn a block of
resamples at a time, again when each block is counted (only the generator's state per block is kept), and scored
a block at a time (`count_blocks`): neither whole matrix exists. The draws are the same numbers as one draw of
the whole matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

BLOCK = 100  # resamples scored at a time: ~160 MB of counts at 200k holdout rows
# Resamples drawn at a time: the generator's int64 draws stay small enough (16 MB at 200k rows) for the allocator
# to reuse, where 160 MB temporaries were fresh pages every block.
DRAW_BLOCK = 10
TILE = 10  # resamples counted into a row-major tile before the copy into the column-major block


@dataclass(frozen=True)
class Resamples:
    """B bootstrap resamples of n holdout rows, and which of the K seeded fits each resample scores.

    Drawing the seed per resample (a two-level bootstrap) puts the fit-to-fit spread of the model into the
    interval as well as the holdout's sampling error: the interval answers "one model trained on this blend".

    The drawn row positions are not kept: the generator's state before every `DRAW_BLOCK` resamples is, and a
    block's positions are drawn again when it is counted. At 200k holdout rows and 1,000 resamples the positions
    were 800 MB per process (a model step and the scorecard each held them), and touching that much new memory
    took 2.4 s on its own.
    """

    n_rows: int
    seed_choice: np.ndarray  # (B,) which repeat each resample scores
    states: tuple[dict, ...]  # the generator's state before each block of DRAW_BLOCK resamples

    @property
    def size(self) -> int:
        return self.seed_choice.shape[0]

    @property
    def position_dtype(self) -> type:
        return np.int32 if self.n_rows < 2**31 else np.int64

    def drawn(self, start: int = 0, stop: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """(stop - start, n) row positions of resamples start..stop, the numbers one draw of the whole matrix
        gives (int32 below 2**31 rows)."""
        stop = self.size if stop is None else stop
        positions = np.empty((stop - start, self.n_rows), dtype=self.position_dtype) if out is None else out
        rng = np.random.Generator(np.random.PCG64())
        first = start // DRAW_BLOCK * DRAW_BLOCK
        for block_start in range(first, stop, DRAW_BLOCK):
            rng.bit_generator.state = self.states[block_start // DRAW_BLOCK]
            block_stop = min(block_start + DRAW_BLOCK, self.size)
            block = rng.integers(0, self.n_rows, size=(block_stop - block_start, self.n_rows))
            low, high = max(block_start, start), min(block_stop, stop)
            positions[low - start : high - start] = block[low - block_start : high - block_start]
        return positions

    @property
    def indices(self) -> np.ndarray:
        """(B, n) every resample's row positions (small data and tests; large data counts a block at a time)."""
        return self.drawn()

    def counts(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(B, n) how often each holdout row occurs in each resample; `rows` keeps only those resamples.

        Column-major: one holdout row's counts over the resamples are adjacent, the layout the ranking metrics'
        sparse product reads without copying the matrix (metrics.ranking_metrics)."""
        return _count(self.indices if rows is None else self.indices[rows])

    def count_blocks(self, size: int = BLOCK) -> Iterator[tuple[slice, np.ndarray]]:
        """The count matrix a block of resamples at a time: (which resamples, their (block, n) counts). Scoring
        block by block keeps the counts and the metric temporaries to the block's size: whole, they were several
        copies of a 1.6 GB matrix at the 1M-row shape. Every full block is drawn and counted into the same arrays,
        so use a block before asking for the next (fresh 160 MB arrays cost page faults on every block: 1.4 s of
        a cell's 5 s headline at 200k holdout rows)."""
        rows = min(size, self.size)
        counts = np.empty((rows, self.n_rows), order="F")
        positions = np.empty((rows, self.n_rows), dtype=self.position_dtype)
        for start in range(0, self.size, size):
            span = slice(start, min(start + size, self.size))
            if span.stop - span.start == rows:
                yield span, _count(self.drawn(span.start, span.stop, out=positions), counts)
            else:
                yield span, _count(self.drawn(span.start, span.stop))


def _count(positions: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Column-major (B, n) counts of each row position per resample: counted a few resamples at a time into a
    small row-major tile (each row fits in cache as it is made), then copied into the result."""
    b, n = positions.shape
    counts = np.empty((b, n), order="F") if out is None else out
    tile = np.empty((min(TILE, b), n))
    for start in range(0, b, TILE):
        stop = min(start + TILE, b)
        for k, drawn in enumerate(positions[start:stop]):
            tile[k] = np.bincount(drawn, minlength=n)
        counts[start:stop] = tile[: stop - start]
    return counts


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
    """The resamples of a seed: drawn once here (a block at a time, the same stream as one draw of the whole
    matrix) to reach the seed choices drawn after them, keeping only the generator's state at each block."""
    if n_rows < 2:
        raise ValueError(f"the real holdout has {n_rows} row(s); a bootstrap needs at least 2")
    rng = np.random.default_rng(seed)
    states = []
    for start in range(0, n_resamples, DRAW_BLOCK):
        states.append(rng.bit_generator.state)
        rng.integers(0, n_rows, size=(min(start + DRAW_BLOCK, n_resamples) - start, n_rows))
    return Resamples(n_rows, rng.integers(0, max(repeats, 1), size=n_resamples), tuple(states))


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
