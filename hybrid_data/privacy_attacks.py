"""Attack-based privacy risks of synthetic data: singling out, linkability and attribute inference.

The method of Giomi et al., "A Unified Framework for Quantifying Privacy Risk in Synthetic Data" (PoPETs 2023),
the one behind the `anonymeter` library, reimplemented over polars frames because anonymeter 1.1 pins numpy <
1.27 and pyarrow < 22 (benchmarks/bench_privacy_attacks.py checks agreement with it in its own environment).

Each attack is run three times with the same budget of attacks:
- against real_train, the rows the synthesizer saw (the *main* attack),
- against real_holdout, real rows of the same kind it never saw (the *control*): what any data of this kind
  reveals about people, with or without this synthesizer,
- by an attacker guessing at random (the *baseline*): an attack no better than it says nothing.
Success rates come with Wilson score intervals; the risk is the main rate's excess over the control,
`(main - control) / (1 - control)`, with the error propagated to its interval, as anonymeter does. A risk near
0 means the synthetic rows help an attacker no more against the people in real_train than against anyone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import sqrt

import numpy as np
import polars as pl

from hybrid_data.privacy import GowerScaling, nearest, search_layout

MAX_ATTEMPTS_PER_ATTACK = 200  # multivariate query generation gives up after attacks * this many tries
REGRESSION_TOLERANCE = 0.05  # a numeric guess within 5% of the secret counts as inferred (anonymeter's)


@dataclass(frozen=True)
class Rate:
    """A success rate with its Wilson score interval (anonymeter's estimator: `value` is Wilson's centre)."""

    successes: float
    attacks: int
    value: float
    error: float

    @property
    def low(self) -> float:
        return min(max(self.value - self.error, 0.0), 1.0)

    @property
    def high(self) -> float:
        return min(max(self.value + self.error, 0.0), 1.0)


def wilson(successes: float, attacks: int, confidence_level: float = 0.95) -> Rate:
    """Wilson score estimate of a Bernoulli rate: robust at rates near 0 or 1 and for few attacks."""
    from scipy.stats import norm

    if attacks <= 0:
        return Rate(successes, attacks, 0.0, 1.0)
    z = float(norm.ppf(0.5 * (1.0 + confidence_level)))
    z2 = z * z
    variance = successes * (attacks - successes) / attacks
    denominator = attacks + z2
    return Rate(
        successes, attacks, (successes + 0.5 * z2) / denominator, z / denominator * sqrt(max(variance, 0.0) + 0.25 * z2)
    )


def residual_risk(main: Rate, control: Rate) -> tuple[float, float, float]:
    """(risk, low, high): the main rate's excess over the control, normalised by the control's failures, with
    the error propagated from both rates; clipped to [0, 1]."""
    room = 1.0 - control.value
    if room <= 0:
        return 0.0, 0.0, 1.0
    value = (main.value - control.value) / room
    error = sqrt((main.error / room) ** 2 + (control.error * (main.value - 1.0) / room**2) ** 2)
    clip = lambda x: min(max(x, 0.0), 1.0)  # noqa: E731
    return clip(value), clip(value - error), clip(value + error)


@dataclass(frozen=True)
class AttackRisk:
    """One attack's result: what was attacked, the three success rates, and the risk with its interval."""

    attack: str  # singling_out_univariate | singling_out_multivariate | linkability | inference
    about: str  # the secret column of an inference attack, the two column sets of a linkability attack
    attacks: int
    main: Rate
    control: Rate
    baseline: Rate
    risk: float
    risk_low: float
    risk_high: float
    confidence_level: float

    @property
    def name(self) -> str:
        return f"{self.attack}:{self.about}" if self.attack == "inference" else self.attack

    @property
    def beats_baseline(self) -> bool:
        """Whether the attack does better than random guessing; anonymeter distrusts results where it does not."""
        return self.main.value > self.baseline.value

    def metadata(self) -> dict:
        pct = f"{self.confidence_level:.0%}"
        rate = lambda r: f"{r.value:.3f} [{r.low:.3f}, {r.high:.3f}] ({r.successes:g}/{r.attacks})"  # noqa: E731
        return {
            "attack": self.name,
            "attacked": self.about or "(all columns)",
            "risk": round(self.risk, 4),
            "risk_interval": f"[{self.risk_low:.3f}, {self.risk_high:.3f}] ({pct} confidence)",
            "main_rate": rate(self.main),
            "control_rate": rate(self.control),
            "baseline_rate": rate(self.baseline),
            "rates": "main: against real_train (rows the synthesizer saw); control: against real_holdout (rows it "
            "never saw); baseline: random guessing. Each: value [interval] (successes/attacks)",
            "attack_beats_baseline": self.beats_baseline,
            "risk_formula": "(main - control) / (1 - control), Wilson score intervals (Giomi et al. 2023)",
        }

    def row(self) -> dict:
        """One row of the risk frame: every figure needed to rebuild this result (`risks_from_frame`)."""
        rates = {
            f"{side}_{part}": getattr(getattr(self, side), part)
            for side in ("main", "control", "baseline")
            for part in ("successes", "attacks", "error")
        }
        return {
            "risk_name": self.name,
            "attack": self.attack,
            "about": self.about,
            "risk": self.risk,
            "risk_low": self.risk_low,
            "risk_high": self.risk_high,
            "main_rate": self.main.value,
            "control_rate": self.control.value,
            "baseline_rate": self.baseline.value,
            "attacks": self.attacks,
            "confidence_level": self.confidence_level,
            "control": CONTROL,
            "method": METHODS[self.attack],
            **{k: float(v) for k, v in rates.items()},
        }


CONTROL = "real_holdout (real rows the synthesizer never saw)"
METHODS = {
    "singling_out_univariate": "one-column predicates built on synthetic rows isolating one real row",
    "singling_out_multivariate": "conjunctions of predicates built on synthetic rows isolating one real row",
    "linkability": "nearest synthetic rows (L1 Gower) on each party's columns share a row",
    "inference": "secret of the nearest synthetic row (L1 Gower on the auxiliary columns)",
}


def _risk(attack, about, attacks, main, control, baseline, confidence_level) -> AttackRisk:
    rates = [wilson(s, n, confidence_level) for s, n in (main, control, baseline)]
    risk, low, high = residual_risk(rates[0], rates[1])
    return AttackRisk(attack, about, attacks, *rates, risk, low, high, confidence_level)


# --- singling out --------------------------------------------------------------------------------------------

OPS = {"==": 0, "!=": 1, ">": 2, "<": 3, ">=": 4, "<=": 5, "is_null": 6, "not_null": 7}  # nearest_kernel's codes
NUMERIC_OPS = ["==", "!=", ">", "<", ">=", "<="]


@dataclass(frozen=True)
class Predicate:
    column: str
    op: str  # a key of OPS
    value: object = None

    def __str__(self) -> str:
        return f"{self.column} {self.op}" + ("" if self.op in ("is_null", "not_null") else f" {self.value!r}")


Query = tuple[Predicate, ...]  # a conjunction


def _is_ordered(dtype: pl.DataType) -> bool:
    """Numbers and dates take range predicates; text and Booleans only equality (anonymeter's split)."""
    return (dtype.is_numeric() or dtype.is_temporal()) and dtype != pl.Boolean


class QueryTarget:
    """A frame ready to count query matches in compiled code: ordered columns as floats, the rest as codes of
    one dictionary shared by every frame attacked, so a value means the same code everywhere.

    Stored a column per row of the arrays (`values[column, row]`): a query scans its columns from top to bottom,
    so each predicate reads one contiguous stream. Row-major storage made every row a cache miss per predicate
    (2.4M pool rows x 23 columns: the univariate attack's counting took 12.1 s row-major, 1.2 s column-major in
    blocks, nearest_kernel.count_matches)."""

    def __init__(self, frame: pl.DataFrame, dictionary: dict[str, dict]):
        self.columns = {name: i for i, name in enumerate(frame.columns)}
        self.temporal = {name: dtype for name, dtype in frame.schema.items() if dtype.is_temporal()}
        self.dictionary = dictionary
        parts, nulls = [], []
        for name, dtype in frame.schema.items():
            column = frame[name]
            nulls.append(column.is_null().to_numpy())
            if name in dictionary:
                codes = column.replace_strict(dictionary[name], default=-1, return_dtype=pl.Float64)
                parts.append(codes.fill_null(np.nan).to_numpy())
            else:
                physical = column.to_physical() if dtype.is_temporal() else column
                parts.append(physical.cast(pl.Float64).fill_null(np.nan).to_numpy())
        self.values = np.stack(parts) if parts else np.zeros((0, frame.height))
        self.nulls = np.stack(nulls) if nulls else np.zeros((0, frame.height), bool)

    @property
    def height(self) -> int:
        return self.values.shape[1]

    def take(self, rows: np.ndarray) -> QueryTarget:
        taken = object.__new__(QueryTarget)
        taken.columns, taken.temporal, taken.dictionary = self.columns, self.temporal, self.dictionary
        taken.values = np.ascontiguousarray(self.values[:, rows])  # indexing gives column order
        taken.nulls = np.ascontiguousarray(self.nulls[:, rows])
        return taken

    def _threshold(self, predicate: Predicate) -> float:
        if predicate.op in ("is_null", "not_null"):
            return 0.0
        codes = self.dictionary.get(predicate.column)
        if codes is not None:
            return float(codes.get(predicate.value, -2))  # a value no frame has matches nothing
        if predicate.column in self.temporal:  # compared as the stored integer, like the column
            dtype = self.temporal[predicate.column]
            return float(pl.Series([predicate.value]).cast(dtype).to_physical()[0])
        return float(predicate.value)

    def counts(self, queries: Sequence[Query], stop_at: int = 2) -> np.ndarray:
        """Matches per query, counted up to `stop_at`."""
        from hybrid_data.nearest_kernel import count_matches

        if not queries:
            return np.zeros(0, dtype=np.int64)
        width = max(len(q) for q in queries)
        columns = np.zeros((len(queries), width), np.int64)
        ops = np.zeros((len(queries), width), np.int64)
        thresholds = np.zeros((len(queries), width), np.float64)
        for i, query in enumerate(queries):
            for j, predicate in enumerate(query):
                columns[i, j] = self.columns[predicate.column]
                ops[i, j] = OPS[predicate.op]
                thresholds[i, j] = self._threshold(predicate)
        widths = np.asarray([len(q) for q in queries], np.int64)
        return count_matches(self.values, self.nulls, columns, ops, thresholds, widths, stop_at)

    def singled_out(self, queries: Sequence[Query]) -> list[Query]:
        """The queries that match exactly one row."""
        return [q for q, n in zip(queries, self.counts(queries), strict=True) if n == 1]


def _dictionary(*frames: pl.DataFrame) -> dict[str, dict]:
    """One code per text or Boolean value across all the frames."""
    dictionary = {}
    for name, dtype in frames[0].schema.items():
        if not _is_ordered(dtype):
            values = pl.concat([f[name] for f in frames]).drop_nulls().unique(maintain_order=True).to_list()
            dictionary[name] = {value: i for i, value in enumerate(values)}
    return dictionary


def univariate_queries(
    synthetic: pl.DataFrame, target: QueryTarget, limit: int, rng: np.random.Generator
) -> list[Query]:
    """One-column predicates that single out one synthetic row: its only null, min or max, or a value seen once.

    Every candidate is numbered and a random order of the numbers is walked until `limit` are kept; a candidate
    is only made into a query when the walk reaches it (a continuous column of a 2.4M-row pool has millions of
    values seen once, and building them all took 5 s of the attack)."""
    parts: list[Sequence[Query] | tuple[str, pl.Series]] = []  # explicit queries, or a column's values seen once
    extremes: list[Query] = []
    for name, dtype in synthetic.schema.items():
        column, explicit = synthetic[name], []
        if column.null_count() == 1:
            explicit.append((Predicate(name, "is_null"),))
        if _is_ordered(dtype) and column.drop_nulls().len():
            explicit += [(Predicate(name, "<=", column.min()),), (Predicate(name, ">=", column.max()),)]
            extremes += explicit[-2:]
        counts = (
            synthetic.group_by(name, maintain_order=True)
            .len()
            .filter((pl.col("len") == 1) & pl.col(name).is_not_null())
        )
        parts += [explicit, (name, counts[name])]
    starts = np.cumsum([0] + [len(part) if isinstance(part, list) else part[1].len() for part in parts])

    def candidate(number: int) -> Query:
        at = int(np.searchsorted(starts, number, side="right")) - 1
        part, offset = parts[at], number - int(starts[at])
        if isinstance(part, list):
            return part[offset]
        name, values = part
        return (Predicate(name, "==", values[offset]),)

    order = rng.permutation(int(starts[-1]))
    # A value seen once singles out by construction; only the extremes (ties) need counting.
    singles = set(target.singled_out(extremes))
    kept: dict[Query, None] = {}
    for number in order:
        query = candidate(int(number))
        if query[0].op in ("<=", ">=") and query not in singles:
            continue
        kept.setdefault(query)
        if len(kept) >= limit:
            break
    return list(kept)


def _record_query(record: dict, schema: dict, columns, medians: dict) -> Query:
    """A conjunction that describes one synthetic row: equal on categories, towards the tail on numbers."""
    parts = []
    for name in sorted(columns):
        value = record[name]
        if value is None or value != value:  # null or NaN
            parts.append(Predicate(name, "is_null"))
        elif _is_ordered(schema[name]):
            median = medians[name]
            parts.append(Predicate(name, ">=" if median is not None and value > median else "<=", value))
        else:
            parts.append(Predicate(name, "==", value))
    return tuple(parts)


def _median(column: pl.Series):
    """The median as a value of the column's own type (a date's median is a date), so rows compare with it."""
    if not column.dtype.is_temporal():
        return column.median()
    middle = column.to_physical().median()
    return None if middle is None else pl.Series([round(middle)]).cast(column.to_physical().dtype).cast(column.dtype)[0]


def multivariate_queries(
    synthetic: pl.DataFrame,
    target: QueryTarget,
    limit: int,
    columns: int,
    rng: np.random.Generator,
    max_attempts: int,
) -> list[Query]:
    """`columns`-predicate conjunctions built from random synthetic rows, kept when they single one out."""
    schema = dict(synthetic.schema)
    medians = {name: _median(synthetic[name]) for name, dtype in schema.items() if _is_ordered(dtype)}
    names = np.asarray(synthetic.columns, dtype=object)
    columns = min(columns, synthetic.width)
    kept: dict[Query, None] = {}
    attempts, batch = 0, 1000
    while len(kept) < limit and attempts < max_attempts:
        rows = synthetic[rng.integers(0, synthetic.height, size=batch)].to_dicts()
        chosen = rng.permuted(np.tile(np.arange(len(names)), (batch, 1)), axis=1)[:, :columns]
        queries = [_record_query(row, schema, names[picks], medians) for row, picks in zip(rows, chosen, strict=True)]
        for query in target.singled_out(queries):
            kept.setdefault(query)
            if len(kept) >= limit:
                break
        attempts += batch
    return list(kept)


def random_queries(synthetic: pl.DataFrame, count: int, columns: int, rng: np.random.Generator) -> list[Query]:
    """The baseline attacker: predicates on random values with random operators, blind to any record."""
    values = {name: synthetic[name].unique(maintain_order=True).to_list() for name in synthetic.columns}
    queries = []
    for _ in range(count):
        parts = []
        for name in sorted(rng.choice(synthetic.columns, size=min(columns, synthetic.width), replace=False).tolist()):
            value = values[name][int(rng.integers(len(values[name])))]
            ops = NUMERIC_OPS if _is_ordered(synthetic.schema[name]) else ["==", "!="]
            op = ops[int(rng.integers(len(ops)))]
            if value is None:
                parts.append(Predicate(name, "is_null" if op == "==" else "not_null"))
            else:
                parts.append(Predicate(name, op, value))
        queries.append(tuple(parts))
    return queries


def _singling_out_curve(control: QueryTarget, queries: list[Query], rng: np.random.Generator):
    """How the number of queries singling out grows with a data set's size (Cohen and Nissim 2020): the model
    n * w * (1 - w)^(n - 1) integrated over query weights up to w_eff, fitted on subsamples of the control."""
    from scipy.optimize import curve_fit

    def integral(n, w_max):
        return (1 - (n * w_max + 1) * (1 - w_max) ** n) / (n + 1)

    def model(n, w_eff, norm):
        return norm * integral(n, w_eff)

    sizes, successes = [], []
    for rows in np.linspace(min(1000, control.height), control.height, 10).astype(int):
        for _ in range(5):
            # Sorted: the same rows (a count does not depend on their order), gathered front to back.
            sample = control.take(np.sort(rng.choice(control.height, size=int(rows), replace=False)))
            sizes.append(rows)
            successes.append(len(sample.singled_out(queries)))
    sizes_array, successes_array = np.asarray(sizes, float), np.asarray(successes, float)
    w_guess = 1 / sizes_array.max()
    start = (w_guess, 1 / integral(sizes_array.max(), w_guess))
    params, _ = curve_fit(model, sizes_array, successes_array, p0=start, bounds=(0, (1, np.inf)))
    return lambda n: model(n, *params)


@dataclass(frozen=True)
class SinglingOutData:
    """The distinct rows of the pool and of both real sides, ready to count queries on. Built once for both
    singling-out modes: on a 2.4M-row pool the distinct rows and the counting arrays took 3.5 s each time."""

    synthetic: pl.DataFrame  # distinct rows: the queries are built on them
    on_synthetic: QueryTarget
    on_train: QueryTarget
    on_control: QueryTarget

    @classmethod
    def of(cls, train: pl.DataFrame, synthetic: pl.DataFrame, control: pl.DataFrame) -> SinglingOutData:
        train, synthetic, control = (frame.unique(maintain_order=True) for frame in (train, synthetic, control))
        dictionary = _dictionary(synthetic, train, control)
        return cls(synthetic, *(QueryTarget(f, dictionary) for f in (synthetic, train, control)))


def singling_out(
    data: SinglingOutData,
    mode: str = "multivariate",
    attacks: int = 500,
    columns: int = 3,
    seed: int = 0,
    confidence_level: float = 0.95,
) -> AttackRisk:
    """Singling-out risk: predicates that isolate one synthetic row, tried on the real rows.

    A query "singles out" when exactly one row matches it. The attacker builds queries on the synthetic rows
    (one column each in `univariate` mode, `columns` in `multivariate` mode) and succeeds when a query isolates
    exactly one real_train row. The control counts the same queries on real_holdout, rescaled to train's size by
    the fitted singling-out curve; the baseline uses random predicates.
    """
    if mode not in ("univariate", "multivariate"):
        raise ValueError(f"singling-out mode is 'univariate' or 'multivariate', not {mode!r}")
    rng = np.random.default_rng(seed)
    synthetic, on_synthetic, on_train, on_control = data.synthetic, data.on_synthetic, data.on_train, data.on_control
    if mode == "univariate":
        queries, width = univariate_queries(synthetic, on_synthetic, attacks, rng), 1
    else:
        limit = attacks * MAX_ATTEMPTS_PER_ATTACK
        queries, width = multivariate_queries(synthetic, on_synthetic, attacks, columns, rng, limit), columns
    main = len(on_train.singled_out(queries))
    baseline = len(on_train.singled_out(random_queries(synthetic, attacks, width, rng)))
    control_hits = float(len(on_control.singled_out(queries)))
    if queries and on_control.height != on_train.height and control_hits > 0:
        try:
            curve = _singling_out_curve(on_control, queries, rng)
            control_hits *= float(curve(on_train.height) / curve(on_control.height))
        except RuntimeError:  # the fit did not converge: keep the raw count, which overstates the risk if anything
            pass
    control_hits = min(control_hits, attacks)
    rates = ((main, attacks), (control_hits, attacks), (baseline, attacks))
    return _risk(f"singling_out_{mode}", "", attacks, *rates, confidence_level)


# --- linkability and inference: nearest synthetic rows on what the attacker knows ----------------------------


def _nearest_synthetic(
    target_sets: list[pl.DataFrame], synthetic: pl.DataFrame, columns: list[str], k: int, scale_on, threads
) -> list[np.ndarray]:
    """Rows of `synthetic` nearest to each target of each set on `columns`, by the L1 Gower distance
    (anonymeter's). The sets are encoded together and the synthetic rows laid out for the search once: on a
    2.4M-row pool the layout took 1.4 s, and the main and control attacks search the same rows."""
    scaling = GowerScaling.fit(scale_on.select(columns), fitted_on="real and synthetic rows")
    frames = [t.select(columns) for t in target_sets] + [synthetic.select(columns)]
    *encoded_sets, encoded_synthetic = scaling.encode(*frames)
    layout = search_layout(encoded_synthetic)
    return [nearest(e, encoded_synthetic, k, power=1, threads=threads, layout=layout).indices for e in encoded_sets]


def _targets(frame: pl.DataFrame, attacks: int, rng: np.random.Generator) -> pl.DataFrame:
    return frame.sample(n=min(attacks, frame.height), seed=int(rng.integers(2**31)))


def linkability(
    train: pl.DataFrame,
    synthetic: pl.DataFrame,
    control: pl.DataFrame,
    split: tuple[list[str], list[str]],
    attacks: int = 500,
    neighbours: int = 1,
    seed: int = 0,
    confidence_level: float = 0.95,
    threads: int | None = None,
) -> AttackRisk:
    """Linkability risk: two parties each hold some columns of the same person; can the synthetic rows join
    them? For each target, the `neighbours` nearest synthetic rows on each column set are found; the attack
    succeeds when the two sets share a row. Baseline: random synthetic rows."""
    rng = np.random.default_rng(seed)
    scale_on = pl.concat([train, control, synthetic], how="vertical_relaxed")
    target_sets = [_targets(train, attacks, rng), _targets(control, attacks, rng)]
    left, right = (_nearest_synthetic(target_sets, synthetic, list(c), neighbours, scale_on, threads) for c in split)
    main, control_links = (
        (sum(bool(set(a) & set(b)) for a, b in zip(lefts, rights, strict=True)), targets.height)
        for lefts, rights, targets in zip(left, right, target_sets, strict=True)
    )
    size = min(neighbours, synthetic.height)
    guesses = [
        (rng.choice(synthetic.height, size, replace=False), rng.choice(synthetic.height, size, replace=False))
        for _ in range(main[1])
    ]
    baseline = sum(bool(set(a) & set(b)) for a, b in guesses)
    about = f"{'+'.join(split[0])} | {'+'.join(split[1])}"
    return _risk("linkability", about, main[1], main, control_links, (baseline, main[1]), confidence_level)


def _inferred(guesses: pl.Series, secrets: pl.Series, regression: bool) -> int:
    both_null = guesses.is_null() & secrets.is_null()
    if regression:
        g, s = guesses.cast(pl.Float64), secrets.cast(pl.Float64)
        match = (g - s).abs() <= REGRESSION_TOLERANCE * g.abs()
    else:
        match = guesses.cast(pl.String) == secrets.cast(pl.String)
    return int((match.fill_null(False) | both_null).sum())


def inference(
    train: pl.DataFrame,
    synthetic: pl.DataFrame,
    control: pl.DataFrame,
    auxiliary: list[str],
    secret: str,
    regression: bool | None = None,
    attacks: int = 500,
    seed: int = 0,
    confidence_level: float = 0.95,
    threads: int | None = None,
) -> AttackRisk:
    """Attribute-inference risk: an attacker who knows a person's `auxiliary` columns guesses their `secret`
    from the nearest synthetic row. Success is an exact match (within 5% for a numeric secret when
    `regression`; by default, for a float column). Baseline: the secret of a random synthetic row."""
    rng = np.random.default_rng(seed)
    if regression is None:
        regression = train.schema[secret].is_float()
    scale_on = pl.concat([train, control, synthetic], how="vertical_relaxed")
    target_sets = [_targets(train, attacks, rng), _targets(control, attacks, rng)]
    nearest_rows = _nearest_synthetic(target_sets, synthetic, auxiliary, 1, scale_on, threads)
    main, on_control = (
        (_inferred(synthetic[secret].gather(rows[:, 0]), targets[secret], regression), targets.height)
        for rows, targets in zip(nearest_rows, target_sets, strict=True)
    )
    targets = _targets(train, min(attacks, synthetic.height), rng)
    random_rows = rng.choice(synthetic.height, targets.height, replace=synthetic.height < targets.height)
    baseline = (_inferred(synthetic[secret].gather(random_rows), targets[secret], regression), targets.height)
    return _risk("inference", secret, main[1], main, on_control, baseline, confidence_level)


# --- the report ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttackPlan:
    """Which columns each attack uses, resolved from the plan's `privacy` section and the data."""

    sensitive: list[str]
    auxiliary: list[str]
    split: tuple[list[str], list[str]]


def resolve_attack_columns(privacy, target: str, columns: list[str]) -> AttackPlan:
    """The plan's choices, or the defaults: the target is sensitive, every other column auxiliary, and the
    auxiliary columns split alternately between the two linking parties."""
    for key in ("sensitive_columns", "auxiliary_columns"):
        missing = [c for c in getattr(privacy, key) if c not in columns]
        if missing:
            raise ValueError(
                f"privacy.{key} names {missing}, which the data does not have (columns: {', '.join(columns)}); "
                "fix the plan"
            )
    sensitive = list(privacy.sensitive_columns) or ([target] if target in columns else [])
    auxiliary = list(privacy.auxiliary_columns) or [c for c in columns if c not in sensitive]
    if privacy.linkability_columns:
        missing = [c for part in privacy.linkability_columns for c in part if c not in columns]
        if missing:
            raise ValueError(f"privacy.linkability_columns names {missing}, which the data does not have; fix the plan")
        split = (list(privacy.linkability_columns[0]), list(privacy.linkability_columns[1]))
    else:
        split = (auxiliary[0::2], auxiliary[1::2])
    if not auxiliary:
        raise ValueError("no auxiliary columns left for the attacks; set privacy.auxiliary_columns in the plan")
    return AttackPlan(sensitive, auxiliary, split)


def attack_report(
    train: pl.DataFrame,
    synthetic: pl.DataFrame,
    control: pl.DataFrame,
    privacy,
    target: str,
    seed: int,
    threads: int | None = None,
) -> list[AttackRisk]:
    """Every attack of the plan's `privacy` section: singling out (univariate, multivariate), linkability, and
    inference of each sensitive column. `threads` for the nearest-row searches (exact on any count; default the
    per-step cap)."""
    if min(train.height, synthetic.height, control.height) == 0:
        raise ValueError("privacy attacks need rows in real_train, real_holdout and the synthetic pool")
    synthetic = synthetic.select(train.columns)
    control = control.select(train.columns)
    columns = resolve_attack_columns(privacy, target, train.columns)
    common = {"attacks": privacy.attacks, "seed": seed, "confidence_level": privacy.confidence_level}
    distinct = SinglingOutData.of(train, synthetic, control)
    risks = [
        singling_out(distinct, "univariate", **common),
        singling_out(distinct, "multivariate", columns=privacy.singling_out_columns, **common),
    ]
    if columns.split[0] and columns.split[1]:
        risks.append(linkability(train, synthetic, control, columns.split, threads=threads, **common))
    for secret in columns.sensitive:
        auxiliary = [c for c in columns.auxiliary if c != secret]
        risks.append(inference(train, synthetic, control, auxiliary, secret, threads=threads, **common))
    return risks


def risk_frame(
    risks: list[AttackRisk], synthesizer: str, epsilon: float | None = None, attacked: str = "synthetic_pool"
) -> pl.DataFrame:
    """The risks as one small frame a scorecard can join on `synthesizer` (and `epsilon` for DP synthesizers):
    one row per risk with its value, interval, the rates behind it, the control, and the rows attacked with.
    Columns are only ever added (the scorecard reads it)."""
    schema = {"synthesizer": pl.String, "epsilon": pl.Float64, "attacked_with": pl.String}
    rows = [{"synthesizer": synthesizer, "epsilon": epsilon, "attacked_with": attacked, **r.row()} for r in risks]
    return pl.DataFrame(rows, schema_overrides=schema) if rows else pl.DataFrame(schema=schema)


def risks_from_frame(frame: pl.DataFrame) -> list[AttackRisk]:
    """The results a risk frame was written from, so a check reads the stored attacks instead of rerunning them."""
    risks = []
    for row in frame.iter_rows(named=True):
        main, control, baseline = (
            Rate(row[f"{side}_successes"], int(row[f"{side}_attacks"]), row[f"{side}_rate"], row[f"{side}_error"])
            for side in ("main", "control", "baseline")
        )
        risks.append(
            AttackRisk(
                row["attack"],
                row["about"],
                int(row["attacks"]),
                main,
                control,
                baseline,
                row["risk"],
                row["risk_low"],
                row["risk_high"],
                row["confidence_level"],
            )
        )
    return risks


@dataclass(frozen=True)
class BlendRisks:
    """The attack report of one blend, and what it measured.

    A blend is real_train rows plus the pool's first synthetic rows. Its real rows are real_train records as
    they are: against those people every attack succeeds by construction, which says how the blend must be
    handled (like the real data), not what synthesis leaks; so they are counted (`real_rows_disclosed`), not
    attacked. What synthesis adds is in the synthetic rows, attacked exactly as the pool's are (main against
    real_train, control real_holdout): `attacked_with` says whether that is the pool's own report (the blend
    holds the whole pool, or `privacy.blend_attacks` is off) or a rerun on the blend's synthetic rows.
    """

    risks: list[AttackRisk]
    attacked_with: str  # "none" | "synthetic_pool" | "blend_synthetic_rows" | "not_measured"
    synthetic_rows: int
    pool_rows: int
    real_rows_disclosed: int
    real_train_rows: int


def blend_risks(
    blend_synthetic: pl.DataFrame,
    real_rows: int,
    pool_rows: int,
    pool_risks: list[AttackRisk] | None,
    train: pl.DataFrame,
    control: pl.DataFrame,
    privacy,
    target: str,
    seed: int,
) -> BlendRisks:
    """The blend's report: none without synthetic rows; the pool's risks where the blend holds the whole pool
    or reruns are off (`privacy.blend_attacks`); the attacks rerun on its synthetic rows where they are on;
    "not_measured" where they are off and the pool has no report."""
    common = (blend_synthetic.height, pool_rows, real_rows, train.height)
    if blend_synthetic.is_empty():
        return BlendRisks([], "none", *common)
    whole_pool = blend_synthetic.height >= pool_rows
    if pool_risks is not None and (whole_pool or not privacy.blend_attacks):
        return BlendRisks(pool_risks, "synthetic_pool", *common)
    if not privacy.blend_attacks:  # the pool's report is missing: say so rather than pay for the attacks here
        return BlendRisks([], "not_measured", *common)
    risks = attack_report(train, blend_synthetic, control, privacy, target, seed)
    return BlendRisks(risks, "blend_synthetic_rows", *common)
