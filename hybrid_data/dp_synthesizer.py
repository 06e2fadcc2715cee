"""A differentially private synthesizer: MST-style noisy marginals on a maximum spanning tree, with a budget ledger.

Why our own: smartnoise-synth (MST, AIM) does not install beside this project's pins: its smartnoise-sql
dependency pins antlr4-python3-runtime==4.9.3 while dagster needs 4.13.2, and it brings opacus 0.14 (torch 1.x
era) and jax through mbi < 2 (docs/privacy.md). This module follows MST (McKenna, Miklau, Sheldon, "Winning the
NIST Contest: A scalable and general approach to differentially private synthetic data", 2021):

1. Discretise every column: numeric columns into `bins` equal-width bins between bounds, text columns into
   their categories plus "other" and null. Bounds and categories come from the plan (`synthesis.dp.bounds`,
   `synthesis.dp.categories`, public knowledge, free) or are measured privately and charged to the budget:
   bounds from a noisy histogram over a fixed, data-independent grid of powers of two; categories by a
   thresholded noisy histogram (its threshold costs a share of delta). Nothing else looks at the real rows.
2. Measure every 1-way marginal with the Gaussian mechanism (a third of the remaining budget).
3. Choose the tree: r - 1 rounds of the exponential mechanism pick the column pairs whose true 2-way marginal is
   furthest from what the noisy 1-ways predict, never closing a cycle (a third).
4. Measure the chosen 2-way marginals with the Gaussian mechanism (a third).
5. Sample: the root from its noisy 1-way, every other column from its noisy 2-way conditional on its parent
   (MST fits a graphical model with Private-PGM instead; sampling the tree directly is post-processing, so the
   guarantee is the same, with less consistency between the marginals).

Accounting is zero-concentrated DP (Bun and Steinke 2016): the Gaussian mechanism with L2 sensitivity 1 and
noise sigma is 1/(2 sigma^2)-zCDP, the exponential mechanism with epsilon e is e^2/8-zCDP, rho adds up, and
rho-zCDP gives (rho + 2 sqrt(rho ln(1/delta)), delta)-DP. The privacy unit is one row of real_train: adding or
removing one row changes every marginal count by at most 1.
"""

from __future__ import annotations

import math
import pickle
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

NULL = "\x00null"
OTHER = "\x00other"
POWER_RANGE = range(-20, 64)  # the bounds grid: +-2^e for these e, and 0


class DPError(ValueError):
    """A DP synthesizer setting that cannot be honoured; the message names the plan key."""


def rho_for(epsilon: float, delta: float) -> float:
    """The zCDP rho whose conversion gives exactly (epsilon, delta)-DP: rho + 2 sqrt(rho ln(1/delta)) = epsilon."""
    log_term = math.log(1.0 / delta)
    return (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2


def epsilon_for(rho: float, delta: float) -> float:
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


@dataclass
class BudgetLedger:
    """Every access to the real rows, with the zCDP rho and the delta it cost; the totals are what was spent."""

    delta_conversion: float
    entries: list[tuple[str, float, float]] = field(default_factory=list)  # (what, rho, delta)

    def charge(self, what: str, rho: float, delta: float = 0.0) -> None:
        self.entries.append((what, rho, delta))

    @property
    def rho(self) -> float:
        return sum(rho for _, rho, _ in self.entries)

    @property
    def epsilon(self) -> float:
        return epsilon_for(self.rho, self.delta_conversion)

    @property
    def delta(self) -> float:
        return self.delta_conversion + sum(delta for _, _, delta in self.entries)

    def summary(self) -> dict:
        return {
            "privacy_unit": "one row of real_train",
            "epsilon_spent": round(self.epsilon, 6),
            "delta_spent": self.delta,
            "rho_spent": round(self.rho, 8),
            "spent_on": {what: {"rho": round(rho, 8), "delta": delta} for what, rho, delta in self.entries},
        }


def _sigma(rho: float) -> float:
    """Gaussian noise for a count vector of L2 sensitivity 1 at rho-zCDP."""
    return math.sqrt(1.0 / (2.0 * rho))


def _as_float(column: pl.Series) -> np.ndarray:
    return (column.to_physical() if column.dtype.is_temporal() else column).cast(pl.Float64).to_numpy()


def private_bounds(values: np.ndarray, rho: float, rng: np.random.Generator) -> tuple[float, float]:
    """(low, high) of a numeric column at rho-zCDP: a noisy count of rows per cell of a fixed grid (0 and
    +-[2^e, 2^(e+1))), bounds at the outermost cells whose noisy count clears 3 sigma. Coarse (a factor of 2)
    but it never reads a value's exact size."""
    values = values[~np.isnan(values)]
    exponents = np.clip(np.floor(np.log2(np.abs(values), where=values != 0, out=np.zeros_like(values))), -20, 63)
    cells = np.where(values == 0, 0, np.sign(values) * (exponents - POWER_RANGE.start + 1)).astype(int)
    width = len(POWER_RANGE)
    counts = np.bincount(cells + width, minlength=2 * width + 1).astype(float)
    sigma = _sigma(rho)
    noisy = counts + rng.normal(0.0, sigma, counts.size)
    passing = np.flatnonzero(noisy > 3 * sigma) - width
    if not passing.size:
        return 0.0, 1.0

    def edge(cell: int, upper: bool) -> float:
        if cell == 0:
            return 0.0
        exponent = abs(cell) + POWER_RANGE.start - 1
        size = 2.0 ** (exponent + (1 if upper == (cell > 0) else 0))
        return math.copysign(size, cell)

    low, high = edge(int(passing.min()), upper=False), edge(int(passing.max()), upper=True)
    return (low, high) if high > low else (low, low + 1.0)


def private_categories(values: pl.Series, rho: float, delta: float, rng: np.random.Generator) -> list[str]:
    """Categories released by a thresholded noisy histogram: a category only one row has crosses the threshold
    with probability at most `delta`; the others' counts are a Gaussian mechanism at rho-zCDP."""
    from scipy.stats import norm

    counts = values.drop_nulls().cast(pl.String).value_counts()
    sigma = _sigma(rho)
    threshold = 1.0 + sigma * float(norm.ppf(1.0 - delta))
    noisy = counts["count"].to_numpy() + rng.normal(0.0, sigma, counts.height)
    return sorted(counts[values.name].filter(pl.Series(noisy > threshold)).to_list())


@dataclass
class ColumnCoder:
    """One column's discrete domain: equal-width bins (numeric) or categories, plus null (and "other")."""

    name: str
    dtype: pl.DataType
    edges: np.ndarray | None = None  # numeric: bins + 1 edges
    categories: list | None = None  # categorical: released values

    @property
    def size(self) -> int:
        if self.edges is not None:
            return len(self.edges)  # bins, then null
        return len(self.categories) + 2  # categories, other, null

    def encode(self, column: pl.Series) -> np.ndarray:
        if self.edges is not None:
            values = _as_float(column)
            bins = len(self.edges) - 1
            span = self.edges[-1] - self.edges[0]
            codes = np.clip(np.floor((values - self.edges[0]) / span * bins), 0, bins - 1)
            return np.where(np.isnan(values), bins, codes).astype(np.int64)
        lookup = {value: i for i, value in enumerate(self.categories)}
        other, null = len(self.categories), len(self.categories) + 1
        return np.asarray([null if v is None else lookup.get(v, other) for v in column.to_list()], dtype=np.int64)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        if self.edges is not None:
            bins = len(self.edges) - 1
            inside = np.minimum(codes, bins - 1)
            values = self.edges[inside] + rng.random(codes.size) * (self.edges[inside + 1] - self.edges[inside])
            if self.dtype.is_integer() or self.dtype.is_temporal():
                values = np.round(values)
            series = pl.Series(self.name, np.where(codes == bins, np.nan, values)).fill_nan(None)
            if self.dtype.is_temporal():
                return series.cast(pl.Int64).cast(self.dtype)
            return series.cast(self.dtype, strict=False)
        # "other" and null both come back as null: the released categories are all this synthesizer knows.
        values = [self.categories[c] if c < len(self.categories) else None for c in codes.tolist()]
        return pl.Series(self.name, values).cast(self.dtype, strict=False)


@dataclass
class DPMarginalSynthesizer:
    """Fitted state: column domains, noisy marginals of the tree, and the ledger of what the fit spent."""

    coders: list[ColumnCoder]
    root: int
    root_marginal: np.ndarray
    edges: list[tuple[int, int, np.ndarray]]  # (parent, child, noisy 2-way counts parent x child), tree order
    one_way: list[np.ndarray]
    support: list[np.ndarray]  # cells whose noisy 1-way count clears 2 sigma: the rest is noise, never sampled
    ledger: BudgetLedger
    schema: dict[str, pl.DataType]

    def sample(self, rows: int, seed: int) -> pl.DataFrame:
        """`rows` synthetic rows: the root from its noisy marginal, each child given its parent. Sampling only
        post-processes released noisy counts, so it spends nothing."""
        rng = np.random.default_rng(seed)
        root = _distribution(self.root_marginal * self.support[self.root])
        codes: dict[int, np.ndarray] = {self.root: _draw(root, rows, rng)}
        for parent, child, joint in self.edges:
            fallback = _distribution(self.one_way[child] * self.support[child])
            conditional = np.clip(joint, 0.0, None) * self.support[child][None, :]
            totals = conditional.sum(axis=1, keepdims=True)
            conditional = np.where(totals > 0, conditional / np.where(totals > 0, totals, 1.0), fallback[None, :])
            cumulative = np.cumsum(conditional, axis=1)[codes[parent]]
            draws = rng.random(rows)[:, None]
            codes[child] = np.minimum((draws > cumulative).sum(axis=1), joint.shape[1] - 1)
        columns = [coder.decode(codes[i], rng) for i, coder in enumerate(self.coders)]
        return pl.DataFrame(columns).select(list(self.schema))


def _distribution(counts: np.ndarray) -> np.ndarray:
    clipped = np.clip(counts, 0.0, None)
    total = clipped.sum()
    return clipped / total if total > 0 else np.full(counts.size, 1.0 / counts.size)


def _draw(probabilities: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(probabilities.size, size=rows, p=probabilities)


def _joint(a: np.ndarray, b: np.ndarray, size_a: int, size_b: int) -> np.ndarray:
    return np.bincount(a * size_b + b, minlength=size_a * size_b).reshape(size_a, size_b).astype(float)


def _coders(frame: pl.DataFrame, settings, ledger: BudgetLedger, rho_each: float, delta_each: float, rng) -> list:
    coders = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Boolean:
            coders.append(ColumnCoder(name, dtype, categories=[False, True]))
        elif dtype.is_numeric() or dtype.is_temporal():
            if name in settings.bounds:
                low, high = settings.bounds[name]
            else:
                low, high = private_bounds(_as_float(frame[name]), rho_each, rng)
                ledger.charge(f"bounds of {name}", rho_each)
            coders.append(ColumnCoder(name, dtype, edges=np.linspace(low, high, settings.bins + 1)))
        elif name in settings.categories:
            coders.append(ColumnCoder(name, dtype, categories=list(settings.categories[name])))
        else:
            categories = private_categories(frame[name], rho_each, delta_each, rng)
            ledger.charge(f"categories of {name}", rho_each, delta_each)
            coders.append(ColumnCoder(name, dtype, categories=categories))
    return coders


def _needs_measuring(frame: pl.DataFrame, settings) -> tuple[int, int]:
    """(columns whose bounds or categories must be measured, of which text columns)."""
    numeric = [
        c
        for c, t in frame.schema.items()
        if t != pl.Boolean and (t.is_numeric() or t.is_temporal()) and c not in settings.bounds
    ]
    text = [
        c
        for c, t in frame.schema.items()
        if not (t == pl.Boolean or t.is_numeric() or t.is_temporal()) and c not in settings.categories
    ]
    return len(numeric) + len(text), len(text)


def _check_plan_columns(frame: pl.DataFrame, settings) -> None:
    for key in ("bounds", "categories"):
        missing = [c for c in getattr(settings, key) if c not in frame.columns]
        if missing:
            raise DPError(f"synthesis.dp.{key} names {missing}, which real_train does not have; fix the plan")
    for name, (low, high) in settings.bounds.items():
        if not high > low:
            raise DPError(f"synthesis.dp.bounds of '{name}' is ({low}, {high}); the upper bound must exceed the lower")


def fit_dp(frame: pl.DataFrame, settings, seed: int) -> DPMarginalSynthesizer:
    """Fit on the real rows within the plan's (epsilon, delta); the ledger records every charge."""
    if frame.width == 0 or frame.height == 0:
        raise DPError("real_train has no rows or columns to fit the dp_mst synthesizer on")
    if settings.delta <= 0:
        raise DPError("synthesis.dp.delta must be > 0 for dp_mst (zCDP accounting); e.g. 1e-6, well below 1/rows")
    _check_plan_columns(frame, settings)
    rng = np.random.default_rng(seed)
    measured, text = _needs_measuring(frame, settings)
    delta_conversion = settings.delta / 2 if text else settings.delta
    ledger = BudgetLedger(delta_conversion)
    rho_total = rho_for(settings.epsilon, delta_conversion)
    rho_pre = settings.preprocessing_share * rho_total if measured else 0.0
    coders = _coders(frame, settings, ledger, rho_pre / max(measured, 1), (settings.delta / 2) / max(text, 1), rng)
    codes = [coder.encode(frame[coder.name]) for coder in coders]
    sizes = [coder.size for coder in coders]
    width = len(coders)
    rho_model = rho_total - rho_pre
    rho_one = rho_model if width == 1 else rho_model / 3
    sigma_one = _sigma(rho_one / width)
    one_way = [np.bincount(c, minlength=s) + rng.normal(0.0, sigma_one, s) for c, s in zip(codes, sizes, strict=True)]
    ledger.charge("1-way marginals (Gaussian)", rho_one)
    # Post-processing of released counts (free): cells no bigger than the noise are taken as empty.
    support = [(m > 2 * sigma_one) if (m > 2 * sigma_one).any() else np.ones(m.size, bool) for m in one_way]
    tree: list[tuple[int, int]] = []
    edges = []
    if width > 1:
        tree = _select_tree(codes, sizes, one_way, rho_model / 3, rng)
        ledger.charge("tree selection (exponential mechanism)", rho_model / 3)
        sigma_two = _sigma((rho_model / 3) / len(tree))
        noisy = {
            pair: _joint(codes[pair[0]], codes[pair[1]], sizes[pair[0]], sizes[pair[1]])
            + rng.normal(0.0, sigma_two, (sizes[pair[0]], sizes[pair[1]]))
            for pair in tree
        }
        ledger.charge("2-way marginals of the tree (Gaussian)", rho_model / 3)
        edges = _orient(tree, noisy, root=0)
    return DPMarginalSynthesizer(coders, 0, one_way[0], edges, one_way, support, ledger, dict(frame.schema))


def _select_tree(codes, sizes, one_way, rho: float, rng) -> list[tuple[int, int]]:
    """r - 1 exponential-mechanism rounds over pairs that join two components (Kruskal), scored by the L1 gap
    between the true 2-way counts and the product of the noisy 1-ways (sensitivity 1)."""
    width = len(codes)
    total = max(sum(np.clip(m, 0, None).sum() for m in one_way) / width, 1.0)
    scores = {}
    for i in range(width):
        for j in range(i + 1, width):
            estimate = np.outer(_distribution(one_way[i]), _distribution(one_way[j])) * total
            scores[(i, j)] = np.abs(_joint(codes[i], codes[j], sizes[i], sizes[j]) - estimate).sum()
    epsilon_round = math.sqrt(8.0 * rho / (width - 1))
    component = list(range(width))

    def find(x: int) -> int:
        while component[x] != x:
            component[x] = component[component[x]]
            x = component[x]
        return x

    tree = []
    for _ in range(width - 1):
        candidates = [pair for pair in scores if find(pair[0]) != find(pair[1])]
        weights = np.asarray([scores[p] for p in candidates]) * epsilon_round / 2.0
        probabilities = np.exp(weights - weights.max())
        chosen = candidates[rng.choice(len(candidates), p=probabilities / probabilities.sum())]
        component[find(chosen[0])] = find(chosen[1])
        tree.append(chosen)
    return tree


def _orient(tree, noisy, root: int) -> list[tuple[int, int, np.ndarray]]:
    """The tree's edges as (parent, child, parent x child counts), breadth first from the root."""
    ordered, reached, frontier = [], {root}, [root]
    while frontier:
        node = frontier.pop(0)
        for a, b in tree:
            for parent, child, joint in ((a, b, noisy[(a, b)]), (b, a, noisy[(a, b)].T)):
                if parent == node and child not in reached:
                    ordered.append((parent, child, joint))
                    reached.add(child)
                    frontier.append(child)
    return ordered


class DPSynthesizerAdapter:
    """The fitted DP synthesizer behind hybrid_data.synthesis's SDV-shaped calls: `sample(n)` returns a pandas
    frame, `_set_random_state` sets the next sample's seed, `save` pickles it."""

    def __init__(self, fitted: DPMarginalSynthesizer):
        self.fitted = fitted
        self.seed = 0

    def _set_random_state(self, seed: int) -> None:
        self.seed = seed

    def sample(self, rows: int):
        return self.fitted.sample(rows, self.seed).to_pandas()

    def save(self, path: str) -> None:
        with open(path, "wb") as handle:
            pickle.dump(self.fitted, handle)


def _schema_sdtype(dtype: pl.DataType) -> str:
    """The sdtype reported for a column, read from its storage type only: looking at the values would be a
    measurement of the real data outside the privacy budget."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numerical"
    return "datetime" if dtype.is_temporal() else "categorical"


def fit_dp_synthesizer(frame: pl.DataFrame, plan):
    """The `dp_mst` synthesizer as a FittedSynthesizer. Runs before any of synthesis.py's data-dependent
    preparation (category capping, SDV type detection), which would spend privacy without accounting for it;
    ID and PII columns are left out and regenerated as for every synthesizer."""
    from hybrid_data.identifiers import plan_regeneration
    from hybrid_data.synthesis import FittedSynthesizer, SynthesisError

    synth = plan.synthesis
    if synth.dp is None:
        raise SynthesisError("dp_mst needs synthesis.dp.epsilon in the plan")
    if synth.boost_target_shares:
        raise SynthesisError("dp_mst samples without boosts; remove synthesis.boost_target_shares for it")
    ids = list(dict.fromkeys([*synth.id_columns, *(c for c, t in synth.sdtypes.items() if t == "id")]))
    regenerated = plan_regeneration(frame, ids, synth.pii_columns, synth.pii_fill)
    modeled = frame.drop([*ids, *synth.pii_columns])
    started = time.perf_counter()
    try:
        fitted = fit_dp(modeled, synth.dp, plan.seed)
    except DPError as exc:
        raise SynthesisError(str(exc)) from None
    spent = fitted.ledger
    measured = [what for what, _, _ in spent.entries if what.startswith(("bounds of", "categories of"))]
    note = (
        f"differentially private: epsilon {spent.epsilon:.4g}, delta {spent.delta:.3g} spent of the plan's "
        f"({synth.dp.epsilon:g}, {synth.dp.delta:g}); privacy unit: one row; zCDP rho {spent.rho:.4g}, of which "
        f"{len(measured)} bounds/category lists measured privately (not in synthesis.dp.bounds/categories)"
    )
    return FittedSynthesizer(
        "dp_mst",
        DPSynthesizerAdapter(fitted),
        dict(frame.schema),
        {c: _schema_sdtype(t) for c, t in modeled.schema.items()},
        time.perf_counter() - started,
        [note],
        target=plan.target,
        regenerated=regenerated,
    )
