"""Privacy of synthetic rows by distance: exact copies of real rows (calibrated to chance), DCR and NNDR.

One stated distance for every figure, the *Euclidean Gower distance*:

    d(x, y) = sqrt( (1/p) * sum_j delta_j(x, y)^2 )

over the p compared columns, with delta_j = |x_j - y_j| / range_j for a numeric or temporal column (the range
of real_train and real_holdout together: one shared scaling, so DCR to train, DCR to holdout and NNDR are in the
same units) and delta_j = 1 on a mismatch for a categorical column (a null is its own category; a null numeric
costs 1 more against a non-null one). 0 means identical rows, 1 means every column differs by its whole range.
The target is left out unless `privacy.distance_include_target` says otherwise: a distance dominated by the
label measures the label's entropy, not how close a record is.

Nearest rows are found exhaustively (every query row against every reference row) by a compiled kernel that
keeps a running top-2 per query row and skips only rows it proves cannot be nearer; that is exact (no float
cancellation: differences are taken directly) and runs 100k synthetic x 100k real rows in seconds
(benchmarks/bench_privacy_search.py). What bounds the work is the number of row pairs compared: above
`privacy.exhaustive_max_pairs`, seeded samples of the synthetic rows (and of the holdout rows of the yardstick)
sized to it are searched instead, and the DCR share's standard error is reported. The real-vs-real yardstick,
holdout rows against train rows, comes with every figure: a synthetic row as close to train as a fresh real row
is no sign of memorisation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hybrid_data.instance import step_threads
from hybrid_data.plan import Privacy
from hybrid_data.quality import CheckOutcome

DISTANCE = "euclidean_gower"


def _as_float(column: pl.Series) -> pl.Series:
    """Numbers as floats; dates and times as their underlying integer, so they are ranged like numbers."""
    return (column.to_physical() if column.dtype.is_temporal() else column).cast(pl.Float64)


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype.is_temporal()


@dataclass(frozen=True)
class Encoded:
    """Rows ready for the distance kernel: scaled numbers (n x numeric) and category codes (n x categorical)."""

    numeric: np.ndarray
    categorical: np.ndarray

    @property
    def rows(self) -> int:
        return self.numeric.shape[0]


@dataclass(frozen=True)
class GowerScaling:
    """The shared scaling of a Gower distance: numeric columns by a reference range, categoricals compared by
    value. Fitted once on the real rows and applied to every frame compared, so all distances share units."""

    numeric: dict[str, tuple[float, float]]  # column -> (low, range); a constant column gets range 1
    categorical: list[str]
    fitted_on: str = "real_train + real_holdout"
    excluded: list[str] = field(default_factory=list)

    @classmethod
    def fit(
        cls, reference: pl.DataFrame, exclude: list[str] | tuple[str, ...] = (), fitted_on: str = ""
    ) -> GowerScaling:
        numeric, categorical = {}, []
        for name, dtype in reference.schema.items():
            if name in exclude:
                continue
            if _is_numeric(dtype):
                values = _as_float(reference[name]).drop_nulls()
                low, high = (values.min(), values.max()) if values.len() else (0.0, 0.0)
                numeric[name] = (float(low), float(high - low) or 1.0)
            else:
                categorical.append(name)
        excluded = [c for c in exclude if c in reference.columns]
        return cls(numeric, categorical, fitted_on or "the reference rows", excluded)

    @property
    def n_columns(self) -> int:
        return len(self.numeric) + len(self.categorical)

    def describe(self) -> str:
        """What a reader of a check needs to know to interpret a distance."""
        left_out = f"; left out: {', '.join(self.excluded)}" if self.excluded else ""
        return (
            f"Euclidean Gower over {self.n_columns} columns (sqrt of the mean squared per-column distance): "
            f"{len(self.numeric)} numeric scaled by the range of {self.fitted_on}, {len(self.categorical)} "
            f"categorical costing 1 on a mismatch{left_out}"
        )

    def encode(self, *frames: pl.DataFrame) -> list[Encoded]:
        """Every frame with the same layout. Category codes are shared across the frames; a numeric null becomes
        the column's low value plus a null-indicator category, so null against non-null costs 1 more."""
        if not self.n_columns:
            raise ValueError("no columns to measure privacy distances on (every column is excluded)")
        numeric_parts = [[] for _ in frames]
        categorical_parts = [[] for _ in frames]
        for name, (low, span) in self.numeric.items():
            columns = [_as_float(frame[name]) for frame in frames]
            for part, values in zip(numeric_parts, columns, strict=True):
                part.append(((values.fill_null(low) - low) / span).to_numpy())
            if any(values.null_count() for values in columns):
                for part, values in zip(categorical_parts, columns, strict=True):
                    part.append(values.is_null().cast(pl.Int32).to_numpy())
        for name in self.categorical:
            joined = pl.concat([frame[name].cast(pl.String) for frame in frames]).fill_null("\x00null")
            codes = joined.cast(pl.Categorical).to_physical().cast(pl.Int32).to_numpy()
            start = 0
            for part, frame in zip(categorical_parts, frames, strict=True):
                part.append(codes[start : start + frame.height])
                start += frame.height
        return [
            Encoded(_stack(num, frame.height, np.float32), _stack(cat, frame.height, np.int32))
            for num, cat, frame in zip(numeric_parts, categorical_parts, frames, strict=True)
        ]


def _stack(columns: list[np.ndarray], rows: int, dtype) -> np.ndarray:
    if not columns:
        return np.zeros((rows, 0), dtype=dtype)
    return np.ascontiguousarray(np.column_stack(columns).astype(dtype))


def thread_count(threads: int | None = None) -> int:
    """Threads for the search: the caller's, else the per-step cap ($HYBRID_DATA_THREADS, default 1)."""
    return max(1, threads) if threads else step_threads()


MIN_GROUP_ROWS = 32  # grouping stops before groups get smaller than this on average


def _combined_key(codes: np.ndarray, columns: list[int]) -> np.ndarray:
    """One int64 per row, equal exactly when the rows' codes (non-negative) in `columns` are: mixed-radix
    digits, renumbered only if the next digit could overflow (np.unique(axis=0) is ~50x slower)."""
    key = np.zeros(codes.shape[0], dtype=np.int64)
    span = 1
    for column in columns:
        values = codes[:, column].astype(np.int64)
        width = int(values.max(initial=0)) + 1
        if span * width >= 2**62:
            key = np.unique(key, return_inverse=True)[1].ravel().astype(np.int64)
            span = int(key.max(initial=0)) + 1
        key = key * width + values
        span *= width
    return key


def _grouping_columns(codes: np.ndarray) -> list[int]:
    """Categorical columns to group references by: lowest cardinality first, while groups keep MIN_GROUP_ROWS
    rows on average. Fine groups pay: a query skips every group whose mismatches exceed its k-th best distance
    (on the bundled data's shape, 16-32 rather than 256 took about 0.7x the time at 40k x 40k rows, under load)."""
    rows = codes.shape[0]
    chosen: list[int] = []
    for column in sorted(range(codes.shape[1]), key=lambda c: len(np.unique(codes[:, c]))):
        groups = len(np.unique(_combined_key(codes, [*chosen, column])))
        if groups > max(1, rows // MIN_GROUP_ROWS):
            break
        chosen.append(column)
    return chosen


LEAF_ROWS = 128  # reference rows per leaf: its bound costs about as much as scanning one row


@dataclass(frozen=True)
class Leaves:
    """The reference rows laid out for the search: sorted by group, then by the other categorical columns (so a
    leaf of consecutive rows mostly holds one value of them) and by the widest-spread number; cut into leaves of
    at most LEAF_ROWS rows within a group, each with the ranges of its numbers and its one value of a
    categorical column (-1 where it holds several), from which the kernel bounds how near any of its rows can be."""

    grouping: list[int]  # the categorical columns that define the groups
    order: np.ndarray  # reference rows in search order
    group_keys: np.ndarray  # (groups, grouping columns) codes
    group_leaves: np.ndarray  # group g holds leaves group_leaves[g] .. group_leaves[g + 1]
    leaf_start: np.ndarray  # leaf l holds sorted rows leaf_start[l] .. leaf_start[l + 1]
    leaf_low: np.ndarray  # (leaves, numeric columns)
    leaf_high: np.ndarray
    leaf_code: np.ndarray  # (leaves, categorical columns)
    numeric_t: np.ndarray  # (numeric columns, rows) in search order, as the kernel reads them
    categorical_t: np.ndarray  # (categorical columns, rows) in search order


def search_layout(reference: Encoded) -> Leaves:
    """The reference rows' search layout; build it once for a reference searched by several query sets."""
    return _leaves(reference, _grouping_columns(reference.categorical))


def _leaves(reference: Encoded, grouping: list[int]) -> Leaves:
    codes, numbers = reference.categorical, reference.numeric
    _, first_of_group, group_of = np.unique(_combined_key(codes, grouping), return_index=True, return_inverse=True)
    group_of = group_of.ravel()
    group_keys = codes[first_of_group][:, grouping]
    others = sorted((c for c in range(codes.shape[1]) if c not in grouping), key=lambda c: len(np.unique(codes[:, c])))
    sort_keys = [codes[:, c] for c in others]
    if numbers.shape[1]:
        sort_keys.append(numbers[:, int(np.argmax(numbers.std(axis=0)))])
    order = np.lexsort([*reversed(sort_keys), group_of]) if sort_keys else np.argsort(group_of, kind="stable")
    group_start = np.searchsorted(group_of[order], np.arange(len(group_keys) + 1))
    starts = [np.arange(group_start[g], group_start[g + 1], LEAF_ROWS) for g in range(len(group_keys))]
    group_leaves = np.concatenate([[0], np.cumsum([len(s) for s in starts])]).astype(np.int64)
    leaf_start = np.concatenate([*starts, [reference.rows]]).astype(np.int64)
    sorted_numbers, sorted_codes = numbers[order], codes[order]
    cuts = leaf_start[:-1]

    def reduce(values: np.ndarray, how) -> np.ndarray:
        if values.shape[1] == 0:
            return np.zeros((len(cuts), 0), dtype=values.dtype)
        return np.ascontiguousarray(how.reduceat(values, cuts, axis=0))

    low, high = reduce(sorted_numbers, np.minimum), reduce(sorted_numbers, np.maximum)
    code_low, code_high = reduce(sorted_codes, np.minimum), reduce(sorted_codes, np.maximum)
    leaf_code = np.where(code_low == code_high, code_low, -1).astype(np.int32)
    return Leaves(
        grouping,
        order,
        np.ascontiguousarray(group_keys.astype(np.int32)),
        group_leaves,
        leaf_start,
        low,
        high,
        leaf_code,
        np.ascontiguousarray(sorted_numbers.T),
        np.ascontiguousarray(sorted_codes.T),
    )


@dataclass(frozen=True)
class Neighbours:
    distances: np.ndarray  # (queries, k), nearest first
    indices: np.ndarray  # (queries, k), rows of the reference


def nearest(
    queries: Encoded,
    reference: Encoded,
    k: int = 1,
    power: int = 2,
    threads: int | None = None,
    n_columns: int | None = None,
    layout: Leaves | None = None,
) -> Neighbours:
    """The k nearest reference rows of every query row, exact (hybrid_data/nearest_kernel.py says how).

    `power=2` gives the Euclidean Gower distance (divided by sqrt(n_columns) when given, so 1 = every column
    differs completely); `power=1` the L1 Gower distance (the sum of per-column distances, as anonymeter uses).
    """
    import numba

    from hybrid_data.nearest_kernel import search

    if reference.rows == 0:
        raise ValueError("no reference rows to search")
    k = min(k, reference.rows)
    layout = layout or search_layout(reference)
    grouping, order = layout.grouping, layout.order
    # Queries sorted by their group key: the kernel ranks the groups once per key, and consecutive queries
    # scan the same reference rows, which then stay in cache.
    query_key = _combined_key(queries.categorical, grouping)
    query_order = np.argsort(query_key, kind="stable")
    sorted_key = query_key[query_order]
    key_start = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1], True]).astype(np.int64)
    if queries.rows == 0:
        key_start = np.zeros(1, dtype=np.int64)
    key_codes = np.ascontiguousarray(queries.categorical[query_order[key_start[:-1]]][:, grouping].astype(np.int32))
    before = numba.get_num_threads()
    numba.set_num_threads(min(thread_count(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        best, where = search(
            np.ascontiguousarray(queries.numeric[query_order]),
            np.ascontiguousarray(queries.categorical[query_order]),
            key_start,
            key_codes,
            np.random.default_rng(0).permutation(len(key_codes)).astype(np.int64),
            layout.numeric_t,
            layout.categorical_t,
            layout.group_keys,
            layout.group_leaves,
            layout.leaf_start,
            layout.leaf_low,
            layout.leaf_high,
            layout.leaf_code,
            k,
            power,
        )
    finally:
        numba.set_num_threads(before)
    unsorted = np.empty_like(query_order)
    unsorted[query_order] = np.arange(len(query_order))
    best, where = best[unsorted], where[unsorted]
    if power == 2:
        best = np.sqrt(best) / (math.sqrt(n_columns) if n_columns else 1.0)
    return Neighbours(best, np.where(where >= 0, order[np.maximum(where, 0)], -1))


def exact_copies(synthetic: pl.DataFrame, real: pl.DataFrame) -> int:
    """Synthetic rows identical to some real row in every column (nulls equal): memorised records."""
    columns = [c for c in real.columns if c in synthetic.columns]
    if synthetic.height == 0 or real.height == 0:
        return 0
    real_rows = real.select(columns).unique()
    return synthetic.select(columns).join(real_rows, on=columns, how="semi", nulls_equal=True).height


def _matches(rows: pl.DataFrame, real: pl.DataFrame) -> pl.DataFrame:
    """The rows of `rows` equal to some row of `real` in every shared column."""
    columns = [c for c in real.columns if c in rows.columns]
    if rows.height == 0 or real.height == 0:
        return rows.select(columns).head(0)
    return rows.select(columns).join(real.select(columns).unique(), on=columns, how="semi", nulls_equal=True)


COPY_TEST_ALPHA = 0.001  # false-alarm rate of the copy tests per check (Bonferroni over its two tests)


def near_duplicate_rate(real: pl.DataFrame) -> float:
    """Share of pairs of real rows that differ in exactly one column: how close real rows come to colliding.

    Real rows are distinct after staging, so the real-vs-real *collision* rate is 0 by construction and says
    nothing; rows one column apart are what remains of it. On low-entropy data (few, mostly categorical columns)
    they are common; on high-entropy data (a continuous column or several wide ones) there are none. For
    independent columns with collision rates c_j, P(one column apart) = P(equal) x sum_j (1 - c_j) / c_j, which is
    at least P(equal) as soon as one column has c_j <= 1/2: the rate is a ceiling on chance collisions.
    """
    n = real.height
    if n < 2 or real.width < 2:
        return 1.0 if n >= 2 else 0.0  # one column: rows "one column apart" are any two rows
    # A row's key without column j is a 64-bit hash sum minus column j's term (wrapping arithmetic), so each
    # column costs one sort rather than a group-by over all the others (100k rows x 23 columns: ~0.3 s).
    hashes = real.select(pl.all().hash(seed=0)).to_numpy().astype(np.uint64)
    weights = (np.arange(real.width, dtype=np.uint64) * np.uint64(2) + np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
    with np.errstate(over="ignore"):
        terms = hashes * weights
        total = terms.sum(axis=1, dtype=np.uint64)
        pairs = 0
        for j in range(real.width):
            _, counts = np.unique(total - terms[:, j], return_counts=True)
            pairs += int((counts * (counts - 1) // 2).sum())
    return pairs / (n * (n - 1) / 2)


@dataclass(frozen=True)
class CopyTest:
    """Whether the synthetic rows reproduce the real rows of one side of the split (`side`) more often than
    chance explains, judged two ways (docs/privacy.md, "Exact copies"):

    - **rates**: the split is a hash of row content, so the two sides are random shares of the same distinct
      rows; given the hits on both sides, a generator that treats them alike lands each hit on `side` with
      probability rows / (rows + other_rows). One-sided binomial test (scipy.stats.binomtest) of the hits on
      `side`, and the rate ratio (hits / rows) / (other_hits / other_rows) with its exact conditional interval.
    - **chance ceiling**: the most distinct rows a non-memorising generator would hit by chance, synthetic rows x
      rows x the real near-duplicate rate (`near_duplicate_rate`); Poisson test of the hits against it. On
      high-entropy data the ceiling is 0 and any hit is a finding, which the rates test alone (1 hit vs 0 is
      p = rows / (rows + other_rows)) could never say.

    A finding is a p-value below alpha / 2 (Bonferroni over the two tests) and, for the rates, a rate ratio above
    `max_ratio`. The check fails on a finding once the hits exceed `allowed`; `max_ratio` 0 makes `allowed`
    absolute.
    """

    side: str
    other: str
    hits: int  # distinct rows of `side` reproduced by some synthetic row
    rows: int
    other_hits: int
    other_rows: int
    synthetic_rows: int
    near_duplicate_rate: float
    allowed: int
    max_ratio: float
    alpha: float = COPY_TEST_ALPHA
    confidence_level: float = 0.95

    @property
    def chance_ceiling(self) -> float:
        return self.synthetic_rows * self.rows * self.near_duplicate_rate

    @property
    def share_under_chance(self) -> float:
        """Probability that a hit lands on `side` when the generator treats both sides alike."""
        return self.rows / max(self.rows + self.other_rows, 1)

    @property
    def p_rates(self) -> float:
        from scipy.stats import binomtest

        total = self.hits + self.other_hits
        if total == 0:
            return 1.0
        return float(binomtest(self.hits, total, self.share_under_chance, alternative="greater").pvalue)

    @property
    def p_chance(self) -> float:
        from scipy.stats import poisson

        if self.hits == 0:
            return 1.0
        if self.chance_ceiling <= 0:
            return 0.0
        return float(poisson.sf(self.hits - 1, self.chance_ceiling))

    @property
    def p_value(self) -> float:
        return min(1.0, 2 * min(self.p_rates, self.p_chance))

    def rate_ratio(self) -> tuple[float, float, float]:
        """(ratio, low, high): the hit rate on `side` over the rate on the other side, with its exact interval
        from the Clopper-Pearson interval of the share of hits on `side`; inf where the other side has none."""
        from scipy.stats import binomtest

        total = self.hits + self.other_hits
        if total == 0:
            return math.nan, 0.0, math.inf
        interval = binomtest(self.hits, total).proportion_ci(self.confidence_level, method="exact")
        scale = self.other_rows / max(self.rows, 1)

        def odds(share: float) -> float:
            return math.inf if share >= 1 else share / (1 - share) * scale

        return odds(self.hits / total), odds(interval.low), odds(interval.high)

    @property
    def finding(self) -> str:
        """What makes the hits more than chance, or '' when nothing does."""
        ratio = self.rate_ratio()[0]
        if self.max_ratio == 0:
            return "any hit beyond the allowance (checks.max_copy_ratio is 0)" if self.hits else ""
        found = []
        if self.p_rates < self.alpha / 2 and ratio > self.max_ratio:
            found.append(f"hit rate on {self.side} above {self.max_ratio:g}x the rate on {self.other}")
        if self.p_chance < self.alpha / 2:
            found.append(
                "more hits than chance can make on data whose real rows are never one column apart"
                if self.chance_ceiling == 0
                else "more hits than the chance ceiling"
            )
        return "; ".join(found)

    @property
    def passed(self) -> bool:
        return self.hits <= self.allowed or not self.finding

    def metadata(self) -> dict:
        ratio, low, high = self.rate_ratio()
        show = lambda x: "inf" if math.isinf(x) else ("n/a" if math.isnan(x) else f"{x:.3g}")  # noqa: E731
        return {
            f"distinct_{self.side}_rows_hit": self.hits,
            f"distinct_{self.other}_rows_hit": self.other_hits,
            "rate_ratio": f"{show(ratio)} [{show(low)}, {show(high)}] ({self.confidence_level:.0%} exact "
            f"conditional interval; hits per {self.side} row / hits per {self.other} row)",
            "p_rates": round(self.p_rates, 6),
            "rates_test": f"one-sided binomial: hits on {self.side} ~ Binomial(all hits, "
            f"{self.share_under_chance:.3f} = {self.side} share of distinct real rows)",
            "chance_ceiling": round(self.chance_ceiling, 3),
            "near_duplicate_rate": self.near_duplicate_rate,
            "p_chance": round(self.p_chance, 6),
            "chance_test": "Poisson: hits vs synthetic rows x rows x share of real row pairs one column apart",
            "p_value": round(self.p_value, 6),
            "alpha": self.alpha,
            "finding": self.finding or "none: within chance",
        }


@dataclass(frozen=True)
class Collisions:
    """Synthetic rows equal to real rows, on both sides of the split, and how close real rows come to each
    other (the near-duplicate rate that sets the chance ceiling). Real holdout rows never equal real train rows
    here: staging removes duplicates and identical rows hash to one side; `real_collisions` says so."""

    copies: int  # synthetic rows equal to a train row
    distinct_train_copied: int
    holdout_hits: int  # synthetic rows equal to a holdout row
    distinct_holdout_hit: int
    real_collisions: int  # holdout rows equal to a train row
    synthetic_rows: int
    train_rows: int
    holdout_rows: int
    near_duplicate_rate: float = 0.0

    def copy_test(self, allowed: int, max_ratio: float, alpha: float = COPY_TEST_ALPHA) -> CopyTest:
        """Train rows reproduced beyond chance: memorisation."""
        return CopyTest(
            "real_train",
            "real_holdout",
            self.distinct_train_copied,
            self.train_rows,
            self.distinct_holdout_hit,
            self.holdout_rows,
            self.synthetic_rows,
            self.near_duplicate_rate,
            allowed,
            max_ratio,
            alpha,
        )

    def holdout_test(self, max_ratio: float, alpha: float = COPY_TEST_ALPHA) -> CopyTest:
        """Holdout rows reproduced beyond chance: the synthesizer saw the holdout."""
        return CopyTest(
            "real_holdout",
            "real_train",
            self.distinct_holdout_hit,
            self.holdout_rows,
            self.distinct_train_copied,
            self.train_rows,
            self.synthetic_rows,
            self.near_duplicate_rate,
            0,
            max_ratio,
            alpha,
        )


@dataclass(frozen=True)
class RealPairs:
    """What the real rows alone say about collisions on `columns`: holdout rows equal to a train row, and the
    near-duplicate rate of all real rows. The same for every blend of one split, so a blend's checks compute
    it once (the holdout and copy checks each took 1.8 s for it on 1M real rows)."""

    columns: tuple[str, ...]
    real_collisions: int
    near_duplicate_rate: float


def real_pairs(train: pl.DataFrame, holdout: pl.DataFrame, columns: list[str]) -> RealPairs:
    real = pl.concat([train.select(columns), holdout.select(columns)], how="vertical_relaxed")
    return RealPairs(
        tuple(columns), _matches(holdout.select(columns), train).height, near_duplicate_rate(real.unique())
    )


def collisions(
    synthetic: pl.DataFrame, train: pl.DataFrame, holdout: pl.DataFrame, real: RealPairs | None = None
) -> Collisions:
    """`real`, when given for the same columns, is reused instead of recomputed from train and holdout."""
    columns = [c for c in train.columns if c in synthetic.columns]
    if real is None or list(real.columns) != columns:
        real = real_pairs(train, holdout, columns)
    on_train = _matches(synthetic, train)
    on_holdout = _matches(synthetic, holdout)
    return Collisions(
        copies=on_train.height,
        distinct_train_copied=on_train.unique().height,
        holdout_hits=on_holdout.height,
        distinct_holdout_hit=on_holdout.unique().height,
        real_collisions=real.real_collisions,
        synthetic_rows=synthetic.height,
        train_rows=train.height,
        holdout_rows=holdout.height,
        near_duplicate_rate=real.near_duplicate_rate,
    )


def exact_copies_outcome(
    synthetic: pl.DataFrame,
    train: pl.DataFrame,
    max_copies: int,
    holdout: pl.DataFrame | None = None,
    max_copy_ratio: float = 1.5,
    alpha: float = COPY_TEST_ALPHA,
    real: RealPairs | None = None,
) -> CheckOutcome:
    """At most `max_copies` synthetic rows equal a real training row, beyond chance when the holdout is given.

    On low-entropy data rows coincide by chance; the synthesizer never saw real_holdout, so its hits there say
    how often. With the holdout, the check fails only when the distinct train rows copied exceed `max_copies`
    and `CopyTest` finds them beyond chance (rates against the holdout's, or above the chance ceiling).
    """
    if holdout is None:
        copies = exact_copies(synthetic, train)
        return CheckOutcome(
            copies <= max_copies,
            f"at most {max_copies} synthetic rows are exact copies of real training rows (checks.max_exact_copies)",
            {"exact_copies": copies, "synthetic_rows": synthetic.height, "max_exact_copies": max_copies},
        )
    seen = collisions(synthetic, train, holdout, real)
    test = seen.copy_test(max_copies, max_copy_ratio, alpha)
    return CheckOutcome(
        test.passed,
        f"distinct real_train rows copied <= checks.max_exact_copies ({max_copies}), or not beyond chance: "
        f"rate ratio vs real_holdout <= checks.max_copy_ratio ({max_copy_ratio:g}) or not significant, and "
        f"within the chance ceiling (alpha {alpha:g})",
        {
            "exact_copies": seen.copies,
            "distinct_train_rows_copied": seen.distinct_train_copied,
            "yardstick_distinct_holdout_rows_hit": seen.distinct_holdout_hit,
            **test.metadata(),
            "real_holdout_rows_equal_to_train": seen.real_collisions,
            "synthetic_rows": seen.synthetic_rows,
            "max_exact_copies": max_copies,
            "max_copy_ratio": max_copy_ratio,
            "plan_keys": "checks.max_exact_copies, checks.max_copy_ratio",
        },
    )


DEFAULT_MAX_PAIRS = Privacy().exhaustive_max_pairs


@dataclass(frozen=True)
class SearchPlan:
    """How much of the nearest-row search runs: every row, or seeded samples sized to the pair budget.

    A search costs its query rows x reference rows ("pairs"). Each synthetic row is compared with every
    real_train row (its two nearest), every row of the holdout-sized train sample and every real_holdout row
    (the DCR share's two sides); each real_holdout row with every real_train row (the yardstick). When that
    exceeds `max_pairs`, synthetic and holdout query rows are sampled by the same fraction (never below
    `min_rows` of each), so the pairs stay within the budget whatever the size of the real data.
    """

    synthetic_rows: int
    train_rows: int
    holdout_rows: int
    searched_synthetic: int
    searched_holdout: int  # holdout rows searched for the yardstick
    max_pairs: int
    reason: str = ""  # why rows were sampled; "" when the search is exhaustive

    @property
    def side_rows(self) -> int:
        """Rows on each side of the DCR share: the holdout-sized train sample and the holdout."""
        return min(self.train_rows, self.holdout_rows)

    def pairs_for(self, synthetic: int, holdout: int) -> int:
        return synthetic * (self.train_rows + 2 * self.side_rows) + holdout * self.train_rows

    @property
    def pairs(self) -> int:
        return self.pairs_for(self.searched_synthetic, self.searched_holdout)

    @property
    def exhaustive_pairs(self) -> int:
        return self.pairs_for(self.synthetic_rows, self.holdout_rows)

    @property
    def exhaustive(self) -> bool:
        return self.searched_synthetic == self.synthetic_rows and self.searched_holdout == self.holdout_rows

    def describe(self) -> str:
        if self.exhaustive:
            return (
                f"exhaustive: every synthetic row ({self.synthetic_rows:,}) against every real_train and "
                f"real_holdout row, every real_holdout row against every real_train row ({self.pairs:,} pairs)"
            )
        return (
            f"sampled: seeded samples of {self.searched_synthetic:,} of {self.synthetic_rows:,} synthetic rows "
            f"and {self.searched_holdout:,} of {self.holdout_rows:,} real_holdout rows (yardstick), each against "
            f"every real row ({self.pairs:,} pairs), because {self.reason}; the DCR share's standard error says "
            "how far the sample may be from the exhaustive figure"
        )


def search_plan(
    synthetic_rows: int,
    train_rows: int,
    holdout_rows: int,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    min_rows: int = 5000,
    max_synthetic_rows: int | None = None,
) -> SearchPlan:
    """Exhaustive when the pairs fit `max_pairs` (privacy.exhaustive_max_pairs), else seeded samples of the
    synthetic and holdout query rows scaled down together to fit it. `max_synthetic_rows` is the older bound
    (privacy.exhaustive_max_rows): above it, `min_rows` synthetic rows are searched, as before."""
    full = SearchPlan(synthetic_rows, train_rows, holdout_rows, synthetic_rows, holdout_rows, max_pairs)
    too_many_rows = max_synthetic_rows is not None and synthetic_rows > max_synthetic_rows
    if full.exhaustive_pairs <= max_pairs and not too_many_rows:
        return full
    fraction = min(1.0, max_pairs / max(full.exhaustive_pairs, 1))

    def scaled(rows: int) -> int:
        return min(rows, max(min(min_rows, rows), math.floor(rows * fraction)))

    synthetic, holdout = scaled(synthetic_rows), scaled(holdout_rows)
    if too_many_rows:
        synthetic = min(synthetic, min_rows)
        reason = f"{synthetic_rows:,} synthetic rows exceed privacy.exhaustive_max_rows ({max_synthetic_rows:,})"
    else:
        reason = (
            f"the exhaustive search would compare {full.exhaustive_pairs:,} pairs, above "
            f"privacy.exhaustive_max_pairs ({max_pairs:,})"
        )
    return SearchPlan(synthetic_rows, train_rows, holdout_rows, synthetic, holdout, max_pairs, reason)


def share_standard_error(share: float, sampled: int, population: int) -> float:
    """Standard error of a share measured on a simple random sample (without replacement) of `sampled` of
    `population` rows, as an estimate of the share over all of them: sqrt(p(1-p)/(n-1) * (1 - n/N)), the
    unbiased variance estimate with the finite-population correction (0 when every row was measured)."""
    if sampled >= population or sampled < 2:
        return 0.0
    return math.sqrt(share * (1 - share) / (sampled - 1) * (1 - sampled / population))


@dataclass(frozen=True)
class PrivacyScores:
    exact_copies: int
    synthetic_rows: int
    sampled_rows: int  # synthetic rows searched: all of them unless the search plan sampled them
    dcr_share: float  # share of searched synthetic rows closer to a holdout-sized train sample than to holdout
    dcr_train_median: float
    dcr_holdout_median: float
    nndr_p05: float
    nndr_median: float
    seconds: float
    dcr_share_se: float = 0.0  # sampling error of the share (0 when every row was searched)
    dcr_train_p05: float = 0.0
    yardstick_dcr_median: float = 0.0  # the same figures for real_holdout rows against real_train
    yardstick_dcr_p05: float = 0.0
    yardstick_nndr_p05: float = 0.0
    yardstick_nndr_median: float = 0.0
    distance: str = ""  # what the distance is, in words
    search: SearchPlan | None = None  # what was searched: exhaustive or sampled, how many pairs

    @property
    def exhaustive(self) -> bool:
        return self.search.exhaustive if self.search else self.sampled_rows == self.synthetic_rows


def _nndr(neighbours: Neighbours) -> np.ndarray:
    first, second = neighbours.distances[:, 0], neighbours.distances[:, -1]
    # Both distances 0 means a copy of a real row (real rows are distinct after staging): ratio 0, the riskiest.
    return np.divide(first, second, out=np.zeros_like(first), where=second > 0)


def privacy_scores(
    synthetic: pl.DataFrame,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    sample_rows: int,
    seed: int,
    common_scale: bool = True,
    *,
    exclude: list[str] | tuple[str, ...] = (),
    exhaustive_max_pairs: int = DEFAULT_MAX_PAIRS,
    exhaustive_max_rows: int | None = None,
    threads: int | None = None,
) -> PrivacyScores:
    """Exact copies, DCR and NNDR of the synthetic rows, with the holdout-to-train yardstick.

    Every synthetic row is searched against every train and holdout row, and every holdout row against every
    train row, while those pairs fit `exhaustive_max_pairs`; above, seeded samples (`search_plan`, at least
    `sample_rows` rows each) are searched and `dcr_share_se` says how far the share may be from the exhaustive
    one. The DCR share compares against a seeded train sample as large as the holdout, so that 0.5 means "no
    closer to the rows the generator saw than to rows it never saw" whatever the split fraction; the medians
    and NNDR use all of train. `common_scale=False` scales each side by its own range instead, as SDMetrics
    does (only to compare with it). `exclude` lists columns left out of the distance.
    """
    started = time.perf_counter()
    columns = train.columns
    synthetic, holdout = synthetic.select(columns), holdout.select(columns)
    copies = exact_copies(synthetic, train)
    same_size = min(train.height, holdout.height)
    if same_size == 0 or synthetic.height == 0:
        raise ValueError("privacy checks need rows in real_train, real_holdout and the synthetic sample")
    plan = search_plan(
        synthetic.height, train.height, holdout.height, exhaustive_max_pairs, sample_rows, exhaustive_max_rows
    )
    sample = _seeded_rows(synthetic, plan.searched_synthetic, seed)
    train_sample, holdout_sample = _seeded_rows(train, same_size, seed), _seeded_rows(holdout, same_size, seed)
    yardstick_rows = _seeded_rows(holdout, plan.searched_holdout, seed)
    real = pl.concat([train, holdout], how="vertical_relaxed")
    scaling = GowerScaling.fit(real, exclude, "real_train + real_holdout")
    p = scaling.n_columns
    queries, train_rows, yardstick_queries, train_side, holdout_side = scaling.encode(
        sample, train, yardstick_rows, train_sample, holdout_sample
    )
    train_layout = search_layout(train_rows)  # searched twice: by the synthetic rows and by the yardstick
    to_train = nearest(queries, train_rows, 2, threads=threads, n_columns=p, layout=train_layout)
    if common_scale:
        to_train_side = nearest(queries, train_side, 1, threads=threads, n_columns=p).distances[:, 0]
        to_holdout_side = nearest(queries, holdout_side, 1, threads=threads, n_columns=p).distances[:, 0]
    else:
        to_train_side = _own_scale_nearest(sample, train_sample, exclude, threads)
        to_holdout_side = _own_scale_nearest(sample, holdout_sample, exclude, threads)
    yardstick = nearest(yardstick_queries, train_rows, 2, threads=threads, n_columns=p, layout=train_layout)
    nndr, real_nndr = _nndr(to_train), _nndr(yardstick)
    share = float(np.mean(to_train_side < to_holdout_side))
    return PrivacyScores(
        exact_copies=copies,
        synthetic_rows=synthetic.height,
        sampled_rows=sample.height,
        dcr_share=share,
        dcr_train_median=float(np.median(to_train.distances[:, 0])),
        dcr_holdout_median=float(np.median(to_holdout_side)),
        nndr_p05=float(np.quantile(nndr, 0.05)),
        nndr_median=float(np.median(nndr)),
        seconds=time.perf_counter() - started,
        dcr_share_se=share_standard_error(share, sample.height, synthetic.height),
        dcr_train_p05=float(np.quantile(to_train.distances[:, 0], 0.05)),
        yardstick_dcr_median=float(np.median(yardstick.distances[:, 0])),
        yardstick_dcr_p05=float(np.quantile(yardstick.distances[:, 0], 0.05)),
        yardstick_nndr_p05=float(np.quantile(real_nndr, 0.05)),
        yardstick_nndr_median=float(np.median(real_nndr)),
        distance=scaling.describe(),
        search=plan,
    )


def _seeded_rows(frame: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    """`rows` rows of `frame` drawn without replacement with `seed`, or the frame itself when that is all of it."""
    return frame if rows >= frame.height else frame.sample(n=rows, seed=seed)


def _own_scale_nearest(queries: pl.DataFrame, reference: pl.DataFrame, exclude, threads) -> np.ndarray:
    """Distance to the nearest reference row with the reference scaled by its own range (SDMetrics' way)."""
    scaling = GowerScaling.fit(reference, exclude, "the reference side alone")
    encoded_queries, encoded_reference = scaling.encode(queries, reference)
    found = nearest(encoded_queries, encoded_reference, 1, threads=threads, n_columns=scaling.n_columns)
    return found.distances[:, 0]


def _search_metadata(scores: PrivacyScores) -> dict:
    """What DCR and NNDR alike were measured with: the distance, exhaustive or sampled, how many pairs."""
    plan = scores.search
    return {
        "yardstick": "the same figures for real_holdout rows against real_train (real-vs-real)",
        "distance_kind": DISTANCE,
        "distance": scores.distance,
        "search": plan.describe() if plan else f"{scores.sampled_rows} of {scores.synthetic_rows} synthetic rows",
        "search_exhaustive": scores.exhaustive,
        "searched_rows": scores.sampled_rows,
        "synthetic_rows": scores.synthetic_rows,
        **(
            {
                "searched_holdout_rows": plan.searched_holdout,
                "pairs_compared": plan.pairs,
                "exhaustive_pairs": plan.exhaustive_pairs,
                "max_pairs": plan.max_pairs,
                "plan_key": "privacy.exhaustive_max_pairs",
            }
            if plan
            else {}
        ),
        "search_seconds": round(scores.seconds, 2),
    }


def dcr_outcome(scores: PrivacyScores, max_share: float) -> CheckOutcome:
    return CheckOutcome(
        scores.dcr_share <= max_share,
        f"share of synthetic rows closer to real_train than to real_holdout <= {max_share:g} (0.5 is ideal)",
        {
            "dcr_share": round(scores.dcr_share, 4),
            "dcr_share_sampling_se": round(scores.dcr_share_se, 4),
            "dcr_train_median": round(scores.dcr_train_median, 5),
            "dcr_train_p05": round(scores.dcr_train_p05, 5),
            "yardstick_dcr_median": round(scores.yardstick_dcr_median, 5),
            "yardstick_dcr_p05": round(scores.yardstick_dcr_p05, 5),
            "dcr_holdout_median": round(scores.dcr_holdout_median, 5),
            "sampled_rows": scores.sampled_rows,
            "max_dcr_share": max_share,
            **_search_metadata(scores),
        },
    )


def nndr_outcome(scores: PrivacyScores, min_p05: float) -> CheckOutcome:
    return CheckOutcome(
        scores.nndr_p05 >= min_p05,
        f"5th percentile of nearest/second-nearest real distance ratio >= {min_p05:g} (low = a row singles out "
        "one real record)",
        {
            "nndr_p05": round(scores.nndr_p05, 4),
            "nndr_median": round(scores.nndr_median, 4),
            "yardstick_nndr_p05": round(scores.yardstick_nndr_p05, 4),
            "yardstick_nndr_median": round(scores.yardstick_nndr_median, 4),
            "sampled_rows": scores.sampled_rows,
            "min_nndr_p05": min_p05,
            **_search_metadata(scores),
        },
    )
