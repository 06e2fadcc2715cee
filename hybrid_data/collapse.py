"""The model-collapse study: synthesizers fitted generation after generation on their predecessors' output,
measured against the real data, so a user sees on their own data what anchoring to real rows buys.

Generation 0 is fitted on a sample of the real rows and shared by every mode. Generation g+1 is fitted on the
*fit set* of generation g, which the mode decides (Shumailov et al. 2024; Gerstgrasser et al. 2024; Bertrand
et al. 2024):

- replace:    only generation g's synthetic rows;
- accumulate: the real rows plus every synthetic row so far (fitted on a uniform sample of them);
- anchored:   generation g's synthetic rows plus real rows making up `anchored_real_share` of the fit set.

Every frame carries two provenance columns, `_repeat` (the independent repeat, its own seeds) and `_generation`
(-1 for real rows), so one frame holds all repeats and a fit set says where each row came from. Everything is a
pure function of plain frames and the plan; the Dagster assets in assets/collapse.py only call these.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hybrid_data.evaluation.metrics import METRICS
from hybrid_data.plan import CollapseMode, Plan, Task
from hybrid_data.source import infer_task

# The study's downstream metric: ROC AUC for binary targets, so a generation that lost the minority class scores
# chance (0.5) on a scale that does not move with the prevalence.
MODEL_METRIC = {Task.binary: "roc_auc", Task.multiclass: "macro_f1", Task.regression: "rmse"}
LOWER_IS_BETTER = {m.name for metrics in METRICS.values() for m in metrics if not m.higher_is_better}

REPEAT = "_repeat"
GENERATION = "_generation"
PROVENANCE = [REPEAT, GENERATION]
REAL_GENERATION = -1  # provenance of real rows; also the generation of the real reference in the metrics
REAL_MODE = "real"  # the mode label of the real reference rows in the metrics table
NULL_CATEGORY = "<null>"
CHANCE_AUC = 0.5

Progress = Callable[[str], None]


class CollapseError(ValueError):
    """A study that cannot run as planned; the message names the plan key or input to change."""


@dataclass(frozen=True)
class MetricInfo:
    label: str
    percent: bool  # shown as a percentage
    higher_is_better: bool | None = None  # None: closer to the real value is better


def metric_infos(model_metric: str) -> dict[str, MetricInfo]:
    """The metrics of every generation, in chart order; the last one is the downstream model's."""
    return {
        "minority_share": MetricInfo("minority-class share", True),
        "tail_share": MetricInfo("rows beyond the real p1/p99", True),
        "tail_coverage": MetricInfo("real tail mass still covered (p1/p99)", True, True),
        "categories_kept": MetricInfo("real categories still present", True, True),
        "correlation_distance": MetricInfo("correlation-matrix distance to real (RMS)", False, False),
        "distribution_distance": MetricInfo("distribution distance to real (mean KS / TV)", False, False),
        model_metric: MetricInfo(
            f"downstream {model_metric} on the real holdout", False, model_metric not in LOWER_IS_BETTER
        ),
    }


# ---------------------------------------------------------------------------------------------------------------
# Generations


def study_seed(plan: Plan, *parts: object) -> int:
    """A seed for one step of the study (repeat, generation, purpose), derived from the plan's seed. It leaves the
    mode out on purpose: every mode samples with the same random numbers, so their differences are the modes'."""
    text = ":".join(str(p) for p in (plan.seed, "collapse", *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def study_plan(plan: Plan, seed: int) -> Plan:
    """The plan one generation's fit uses: its own seed, the study's epochs, no boost (the study shows what naive
    reuse does) and no further row cap (the study samples its fit sets itself)."""
    synthesis = plan.synthesis.model_copy(
        update={"max_fit_rows": None, "boost_target_shares": {}, "epochs": plan.collapse.epochs}
    )
    return plan.model_copy(update={"seed": seed, "synthesis": synthesis})


def with_provenance(frame: pl.DataFrame, repeat: int, generation: int) -> pl.DataFrame:
    return frame.with_columns(pl.lit(repeat, pl.Int32).alias(REPEAT), pl.lit(generation, pl.Int32).alias(GENERATION))


def by_repeat(frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
    """The rows of each repeat, without the provenance columns."""
    return {
        int(repeat): rows.drop(PROVENANCE)
        for (repeat,), rows in frame.sort(REPEAT, maintain_order=True).group_by(REPEAT, maintain_order=True)
    }


def real_rows(real_train: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """The real rows each repeat starts from: a seeded sample of at most `collapse.max_fit_rows` real_train rows
    (generation 0 is fitted on them; accumulate and anchored keep drawing on them)."""
    reserved = [c for c in PROVENANCE if c in real_train.columns]
    if reserved:
        raise CollapseError(f"real_train has columns {reserved}, which the collapse study reserves; rename them")
    if real_train.height == 0:
        raise CollapseError("real_train is empty: there is nothing to start the collapse study from")
    rows = min(plan.collapse.max_fit_rows, real_train.height)
    return pl.concat(
        with_provenance(real_train.sample(n=rows, seed=study_seed(plan, repeat, "real")), repeat, REAL_GENERATION)
        for repeat in range(plan.collapse.repeats)
    )


def fit_generation(
    name: str, fit_set: pl.DataFrame, plan: Plan, generation: int, progress: Progress | None = None
) -> dict[int, object]:
    """One synthesizer per repeat, fitted on a seeded sample of at most `collapse.max_fit_rows` of that repeat's
    fit-set rows: the cost of a generation stays flat even when accumulate's fit set grows."""
    from hybrid_data.synthesis import fit_synthesizer

    fitted = {}
    for repeat, rows in by_repeat(fit_set).items():
        seed = study_seed(plan, repeat, generation, "fit")
        if rows.height > plan.collapse.max_fit_rows:
            rows = rows.sample(n=plan.collapse.max_fit_rows, seed=seed)
        fitted[repeat] = fit_synthesizer(name, rows, study_plan(plan, seed), progress)
    return fitted


def sample_generation(fitted: Mapping[int, object], plan: Plan, generation: int) -> pl.DataFrame:
    """`collapse.rows_per_generation` synthetic rows per repeat, seeded by repeat and generation only."""
    from hybrid_data.synthesis import sample_pool

    rows = plan.collapse.rows_per_generation
    return pl.concat(
        with_provenance(
            sample_pool(synthesizer, rows, study_seed(plan, repeat, generation, "sample")).frame, repeat, generation
        )
        for repeat, synthesizer in sorted(fitted.items())
    )


def next_fit_set(
    mode: CollapseMode | str,
    synthetic: pl.DataFrame,
    plan: Plan,
    previous: pl.DataFrame | None = None,
    real: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """What generation g+1 is fitted on, from generation g's synthetic rows.

    `previous` is generation g-1's fit set (for accumulate; at generation 0 pass `real`, the real rows);
    `real` is `real_rows(...)`, which anchored draws its fixed real share from afresh every generation."""
    mode = CollapseMode(mode)
    if mode is CollapseMode.replace:
        return synthetic
    if mode is CollapseMode.accumulate:
        base = previous if previous is not None else real
        if base is None:
            raise CollapseError("accumulate needs the previous fit set (or, at generation 0, the real rows)")
        return pl.concat([base, synthetic.select(base.columns)], how="vertical_relaxed")
    if real is None:
        raise CollapseError("anchored needs the real rows to draw its real share from")
    generation = int(synthetic[GENERATION].max())
    share = plan.collapse.anchored_real_share
    real_parts = by_repeat(real)
    frames = []
    for repeat, fresh in by_repeat(synthetic).items():
        # Every fresh synthetic row stays (so each generation's rows are the same in every mode), and real rows
        # are added until they make up `share`; drawn with replacement once the share needs more than there are.
        pool = real_parts[repeat]
        n_real = round(share / (1.0 - share) * fresh.height)
        anchor = pool.sample(
            n=n_real, seed=study_seed(plan, repeat, generation, "anchor"), with_replacement=n_real > pool.height
        )
        frames.append(with_provenance(anchor, repeat, REAL_GENERATION))
        frames.append(with_provenance(fresh, repeat, generation))
    return pl.concat(frames, how="vertical_relaxed")


def generation_rows(fit_set: pl.DataFrame, generation: int) -> pl.DataFrame:
    """Generation g's own synthetic rows out of its fit set (accumulate and anchored mix in other rows)."""
    return fit_set.filter(pl.col(GENERATION) == generation)


# ---------------------------------------------------------------------------------------------------------------
# Metrics against the real data


@dataclass
class Reference:
    """The real data every generation is measured against, with what the metrics need computed once."""

    real: pl.DataFrame
    holdout: pl.DataFrame | None  # only the downstream model needs it
    plan: Plan
    task: Task
    model_metric: str
    minority: str | None
    numeric: list[str]
    categorical: list[str]
    tails: dict[str, tuple[float, float, float, float]]  # column -> p1, p99, real share below p1, above p99
    categories: dict[str, set[str]]
    correlation: np.ndarray | None


def _numeric_values(series: pl.Series) -> pl.Series:
    if series.dtype.is_temporal():
        series = series.to_physical()
    return series.cast(pl.Float64).drop_nulls()


def _category_values(series: pl.Series) -> pl.Series:
    return series.cast(pl.String).fill_null(NULL_CATEGORY)


def reference(real_train: pl.DataFrame, holdout: pl.DataFrame | None, plan: Plan) -> Reference:
    target = plan.target
    if target not in real_train.columns:
        raise CollapseError(f"real_train has no column '{target}' (the plan's target); fix target in the plan")
    task = plan.task or infer_task(real_train[target])
    columns = [c for c in real_train.columns if c != target and c not in PROVENANCE]
    numeric = [
        c
        for c in columns
        if (real_train.schema[c].is_numeric() or real_train.schema[c].is_temporal())
        and real_train.schema[c] != pl.Boolean
    ]
    categorical = [c for c in columns if c not in numeric]
    tails = {}
    for name in numeric:
        values = _numeric_values(real_train[name])
        if values.len():
            low, high = float(values.quantile(0.01)), float(values.quantile(0.99))
            tails[name] = (low, high, float((values < low).mean()), float((values > high).mean()))
    minority = None
    if task is not Task.regression:
        counts = real_train[target].cast(pl.String).drop_nulls().value_counts(sort=True)
        minority = counts[target][-1] if counts.height >= 2 else None
    return Reference(
        real=real_train,
        holdout=holdout,
        plan=plan,
        task=task,
        model_metric=MODEL_METRIC[task],
        minority=minority,
        numeric=numeric,
        categorical=categorical,
        tails=tails,
        categories={c: set(real_train[c].cast(pl.String).drop_nulls().unique().to_list()) for c in categorical},
        correlation=_correlation(real_train, numeric),
    )


def _correlation(frame: pl.DataFrame, numeric: list[str]) -> np.ndarray | None:
    """Pearson correlations of the numeric columns; a constant column correlates 0 with everything (a column
    that collapsed to one value has lost its relationships, which is what the distance should show)."""
    if len(numeric) < 2:
        return None
    values = frame.select(pl.col(c).to_physical().cast(pl.Float64) for c in numeric).to_pandas()
    return np.nan_to_num(values.corr().to_numpy(), nan=0.0)


def minority_share(frame: pl.DataFrame, ref: Reference) -> float:
    """Share of rows of the real minority class (NaN for regression)."""
    if ref.minority is None or frame.height == 0:
        return math.nan
    return float((frame[ref.plan.target].cast(pl.String) == ref.minority).sum()) / frame.height


def tail_share(frame: pl.DataFrame, ref: Reference) -> float:
    """Mean over numeric columns of the share of rows below the real p1 or above the real p99 (about 2% for real
    rows of a continuous column, less for counts). A synthesizer that smears a spike (a column that is 0 in 99.5%
    of real rows) puts most rows beyond it, so this share can rise while tails elsewhere erode."""
    shares = []
    for name, (low, high, _, _) in ref.tails.items():
        values = _numeric_values(frame[name])
        if values.len():
            shares.append(float(((values < low) | (values > high)).mean()))
    return float(np.mean(shares)) if shares else math.nan


def tail_coverage(frame: pl.DataFrame, ref: Reference) -> float:
    """How much of the real tail mass is still there: per numeric column and side (below p1, above p99) that has
    real rows beyond it, the share of rows beyond it relative to the real share, capped at 1; the mean over them.
    1 means every tail is as populated as in the real data, 0 that the tails have vanished. The cap keeps a column
    whose tail a synthesizer overfills from hiding the ones it empties."""
    ratios = []
    for name, (low, high, real_below, real_above) in ref.tails.items():
        values = _numeric_values(frame[name])
        if not values.len():
            continue
        for real_part, part in ((real_below, (values < low).mean()), (real_above, (values > high).mean())):
            if real_part > 0:
                ratios.append(min(float(part) / real_part, 1.0))
    return float(np.mean(ratios)) if ratios else math.nan


def categories_kept(frame: pl.DataFrame, ref: Reference) -> float:
    """Share of the real (column, category) pairs that still occur at least once."""
    total = sum(len(levels) for levels in ref.categories.values())
    if total == 0:
        return math.nan
    kept = sum(
        len(levels & set(frame[name].cast(pl.String).drop_nulls().unique().to_list()))
        for name, levels in ref.categories.items()
    )
    return kept / total


def correlation_distance(frame: pl.DataFrame, ref: Reference) -> float:
    """Root mean square difference of the pairwise Pearson correlations of the numeric columns."""
    if ref.correlation is None or frame.height < 2:
        return math.nan
    upper = np.triu_indices(len(ref.numeric), k=1)
    difference = _correlation(frame, ref.numeric) - ref.correlation
    return float(np.sqrt(np.mean(difference[upper] ** 2)))


def total_variation(real: pl.Series, other: pl.Series) -> float:
    """Half the L1 distance between the category shares of two columns (nulls count as a category)."""
    p = _category_values(real).value_counts(normalize=True, name="p")
    q = _category_values(other).value_counts(normalize=True, name="q")
    both = p.join(q, on=real.name, how="full", coalesce=True).fill_null(0.0)
    return 0.5 * float((both["p"] - both["q"]).abs().sum())


def ks_statistic(real: np.ndarray, other: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs. Only the
    statistic is needed, and scipy's ks_2samp spends seconds on an exact p-value for a few thousand rows."""
    real, other = np.sort(real), np.sort(other)
    points = np.concatenate([real, other])
    gaps = np.searchsorted(real, points, side="right") / len(real) - np.searchsorted(other, points, side="right") / len(
        other
    )
    return float(np.abs(gaps).max())


def column_distances(frame: pl.DataFrame, ref: Reference) -> dict[str, float]:
    """Per column: the Kolmogorov-Smirnov statistic for numeric columns, total variation for the others."""
    distances = {}
    for name in ref.numeric:
        real_values, values = _numeric_values(ref.real[name]), _numeric_values(frame[name])
        if real_values.len() and values.len():
            distances[name] = ks_statistic(real_values.to_numpy(), values.to_numpy())
        else:
            distances[name] = 1.0
    for name in [*ref.categorical, ref.plan.target] if ref.task is not Task.regression else ref.categorical:
        distances[name] = total_variation(ref.real[name], frame[name])
    return distances


def model_metric(frame: pl.DataFrame, ref: Reference, seed: int) -> float:
    """The plan's downstream model trained on `frame` (seeded) and scored on the real holdout.

    Data that lost a class cannot train a classifier: a binary study then scores chance (ROC AUC 0.5, what a
    model that ranks every case alike gets), which is the end point of collapse rather than a gap in the curve."""
    from hybrid_data.training import TrainingError, train_and_score

    if ref.holdout is None:
        raise CollapseError("the downstream model metric needs real_holdout; pass it to reference()")
    # The study reads a ranking metric only, so no decision threshold is tuned (a small validation slice may hold
    # no row of a rare class to tune it on).
    evaluation = ref.plan.evaluation.model_copy(update={"threshold": 0.5})
    plan = ref.plan.model_copy(update={"seed": seed, "evaluation": evaluation})
    try:
        return float(train_and_score(frame, ref.holdout, plan, ref.task).metrics[ref.model_metric])
    except TrainingError:
        if ref.model_metric == "roc_auc":
            return CHANCE_AUC
        return math.nan


def frame_metrics(frame: pl.DataFrame, ref: Reference, with_columns: bool = True) -> dict[str, float]:
    """The data metrics of one repeat's rows (everything but the downstream model, which costs a fit)."""
    distances = column_distances(frame, ref)
    metrics = {
        "minority_share": minority_share(frame, ref),
        "tail_share": tail_share(frame, ref),
        "tail_coverage": tail_coverage(frame, ref),
        "categories_kept": categories_kept(frame, ref),
        "correlation_distance": correlation_distance(frame, ref),
        "distribution_distance": float(np.mean(list(distances.values()))) if distances else math.nan,
    }
    if with_columns:
        metrics.update({f"column_distance/{name}": value for name, value in distances.items()})
    return metrics


def generation_metrics(
    rows: pl.DataFrame, ref: Reference, mode: str, generation: int, with_model: bool = True
) -> pl.DataFrame:
    """Every metric of one generation's rows (all repeats) as a long table: mode, generation, repeat, metric,
    value. The downstream model of repeat r is seeded by r, so the repeats' spread covers model noise too."""
    records = []
    for repeat, frame in by_repeat(rows).items():
        values = frame_metrics(frame, ref)
        if with_model:
            values[ref.model_metric] = model_metric(frame, ref, study_seed(ref.plan, repeat, "model"))
        records += [(mode, generation, repeat, name, value) for name, value in values.items()]
    return pl.DataFrame(
        records,
        schema={
            "mode": pl.String,
            "generation": pl.Int32,
            "repeat": pl.Int32,
            "metric": pl.String,
            "value": pl.Float64,
        },
        orient="row",
    )


def study_metrics(
    fit_sets: Mapping[str, list[pl.DataFrame]],
    real: pl.DataFrame,
    ref: Reference,
    progress: Progress | None = None,
    with_model: bool = True,
) -> pl.DataFrame:
    """Every metric of every mode and generation, plus the real reference (mode 'real', generation -1, measured
    on the real rows the study started from). `fit_sets[mode][g]` is generation g's fit set.

    Generations whose rows are the same in several modes (generation 0) are measured once."""
    tables = [generation_metrics(real, ref, REAL_MODE, REAL_GENERATION, with_model)]
    measured: dict[tuple[int, int], pl.DataFrame] = {}
    for mode, sets in fit_sets.items():
        for generation, fit_set in enumerate(sets):
            rows = generation_rows(fit_set, generation)
            key = (generation, int(rows.hash_rows(seed=0).sum()))
            if key not in measured:
                if progress:
                    progress(f"measuring {mode} generation {generation}")
                measured[key] = generation_metrics(rows, ref, mode, generation, with_model)
            tables.append(measured[key].with_columns(mode=pl.lit(mode)))
    return pl.concat(tables)


# ---------------------------------------------------------------------------------------------------------------
# Intervals, verdicts and charts


def interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and Student-t confidence interval of the mean over repeats (NaNs left out): (mean, low, high, n)."""
    from scipy.stats import t

    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(data)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(data.mean())
    if n == 1:
        return mean, mean, mean, 1
    half = float(t.ppf(0.5 + confidence / 2, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def summarize(metrics: pl.DataFrame) -> pl.DataFrame:
    """Mean and 95% interval across repeats per mode, generation and metric."""
    rows = []
    for (mode, generation, metric), group in metrics.group_by("mode", "generation", "metric", maintain_order=True):
        mean, low, high, n = interval(group["value"].to_list())
        rows.append((mode, generation, metric, mean, low, high, n))
    return pl.DataFrame(
        rows,
        schema={
            "mode": pl.String,
            "generation": pl.Int32,
            "metric": pl.String,
            "mean": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "repeats": pl.Int32,
        },
        orient="row",
    ).sort("metric", "mode", "generation")


@dataclass(frozen=True)
class Verdict:
    """How one mode's metric moved from generation 0 to the last generation, paired over repeats (each repeat's
    last value minus its own generation-0 value), so the interval is of the change itself."""

    mode: str
    metric: str
    real: float
    first: float
    last: float
    last_low: float
    last_high: float
    change: float
    change_low: float
    change_high: float
    generations: int
    percent: bool
    higher_is_better: bool | None

    @property
    def outcome(self) -> str:
        if self.change_low > 0:
            return "rose"
        if self.change_high < 0:
            return "fell"
        return "stable"

    @property
    def worse(self) -> bool:
        """A detectable change in the harmful direction (for metrics where one direction is better)."""
        if self.higher_is_better is None or self.outcome == "stable":
            return False
        return (self.outcome == "fell") == self.higher_is_better

    def _show(self, value: float, signed: bool = False) -> str:
        if self.percent:
            return f"{value * 100:+.2f} pts" if signed else f"{value:.1%}"
        return f"{value:+.3f}" if signed else f"{value:.3f}"

    def text(self, label: str) -> str:
        band = f"[{self._show(self.change_low, True)}, {self._show(self.change_high, True)}]"
        if self.outcome == "stable":
            what = f"stayed within the interval (change {self._show(self.change, True)}, 95% interval {band})"
        else:
            what = f"{self.outcome} by {self._show(self.change, True)} {band}, beyond the interval"
        return (
            f"{self.mode}: {label} {self._show(self.real)} real, {self._show(self.first)} at generation 0, "
            f"{self._show(self.last)} [{self._show(self.last_low)}, {self._show(self.last_high)}] at generation "
            f"{self.generations}: {what}"
        )


def _values(metrics: pl.DataFrame, mode: str, metric: str, generation: int | None = None) -> pl.DataFrame:
    rows = metrics.filter((pl.col("mode") == mode) & (pl.col("metric") == metric))
    return rows if generation is None else rows.filter(pl.col("generation") == generation).select("repeat", "value")


def verdicts(metrics: pl.DataFrame, infos: Mapping[str, MetricInfo]) -> list[Verdict]:
    """One verdict per mode and headline metric: did the last generation move away from generation 0 beyond
    the 95% interval of the paired change?"""
    found = []
    last = int(metrics["generation"].max())
    modes = [m for m in metrics["mode"].unique(maintain_order=True).to_list() if m != REAL_MODE]
    for metric, info in infos.items():
        real = _values(metrics, REAL_MODE, metric, REAL_GENERATION)
        for mode in modes:
            paired = (
                _values(metrics, mode, metric, 0)
                .rename({"value": "first"})
                .join(_values(metrics, mode, metric, last).rename({"value": "last"}), on="repeat")
                .drop_nans()
            )
            if paired.height == 0 or real.height == 0:
                continue
            change, low, high, _ = interval((paired["last"] - paired["first"]).to_list())
            last_mean, last_low, last_high, _ = interval(paired["last"].to_list())
            if info.percent:  # shares: the interval of their mean cannot leave [0, 1]
                last_low, last_high = max(last_low, 0.0), min(last_high, 1.0)
            found.append(
                Verdict(
                    mode,
                    metric,
                    interval(real["value"].to_list())[0],
                    float(paired["first"].mean()),
                    last_mean,
                    last_low,
                    last_high,
                    change,
                    low,
                    high,
                    last,
                    info.percent,
                    info.higher_is_better,
                )
            )
    return found


def trend(metrics: pl.DataFrame, mode: str, metric: str) -> tuple[float, float, float, int]:
    """The per-generation slope of a metric (least squares over generations 0..last, one slope per repeat), as
    mean and 95% interval over repeats: a steady decline is a slope whose whole interval is below 0."""
    slopes = []
    for _, rows in _values(metrics, mode, metric).drop_nans("value").group_by("repeat"):
        if rows["generation"].n_unique() >= 2:
            slopes.append(float(np.polyfit(rows["generation"].to_numpy(), rows["value"].to_numpy(), 1)[0]))
    return interval(slopes)


def published_shapes(found: list[Verdict], model_metric: str) -> list[str]:
    """Whether the study reproduces the published shapes, each claim judged by the verdicts' intervals.

    The papers' "error" is the generative model's own error against real data, here the distribution distance;
    their "tails" are the low-probability events, here the real tail mass and the rare categories. The downstream
    model's change is reported beside them: it cannot worsen much when generation 0 already scores near chance."""

    def get(mode: str, metric: str) -> Verdict | None:
        return next((v for v in found if v.mode == mode and v.metric == metric), None)

    def change(verdict: Verdict) -> str:
        low, high = verdict._show(verdict.change_low, True), verdict._show(verdict.change_high, True)
        return f"{verdict._show(verdict.change, True)} [{low}, {high}]"

    def downstream(mode: str) -> str:
        verdict = get(mode, model_metric)
        if verdict is None:
            return ""
        return (
            f"; downstream {model_metric} {verdict.real:.3f} real, {verdict.first:.3f} at generation 0, change "
            f"{change(verdict)}{' (worse)' if verdict.worse else ''}"
        )

    lines = []
    error = get("replace", "distribution_distance")
    tails = [v for v in (get("replace", "tail_coverage"), get("replace", "categories_kept")) if v is not None]
    if error is not None and tails:
        vanish = [v for v in tails if v.outcome == "fell"]
        grows = error.outcome == "rose"
        status = "reproduced" if vanish and grows else "partly reproduced" if vanish or grows else "not reproduced"
        lines.append(
            "replace (Shumailov et al., Nature 2024: tails vanish, error grows): "
            + ", ".join(f"{v.metric} {'falls' if v in vanish else 'holds'} {change(v)}" for v in tails)
            + f"; distribution distance {'grows' if grows else 'does not detectably grow'} {change(error)}: "
            + status
            + downstream("replace")
        )
    for mode, paper in (
        ("accumulate", "Gerstgrasser et al. 2024: error stays bounded"),
        ("anchored", "Bertrand et al. 2024: stable with a large enough real share"),
    ):
        verdict = get(mode, "distribution_distance")
        if verdict is None:
            continue
        if verdict.outcome != "rose":
            status = "reproduced (no detectable growth)"
        elif error is not None and verdict.change_high < error.change_low:
            status = f"reproduced relative to replace (grows detectably less than replace's {change(error)})"
        else:
            status = "not reproduced"
        lines.append(f"{mode} ({paper}): distribution distance {change(verdict)}: {status}" + downstream(mode))
    return lines


MODE_COLORS = {"replace": "tab:red", "accumulate": "tab:blue", "anchored": "tab:green"}


def chart(summary: pl.DataFrame, metric: str, info: MetricInfo, axes, title: str | None = None) -> None:
    """One metric: generation on x, one line per mode with its 95% interval as a band, the real reference as a
    dashed grey line with its band."""
    rows = summary.filter(pl.col("metric") == metric)
    real = rows.filter(pl.col("mode") == REAL_MODE)
    scale = 100.0 if info.percent else 1.0
    for mode in [m for m in rows["mode"].unique(maintain_order=True).to_list() if m != REAL_MODE]:
        line = rows.filter(pl.col("mode") == mode).sort("generation")
        color = MODE_COLORS.get(mode)
        x = line["generation"].to_numpy()
        axes.plot(x, line["mean"].to_numpy() * scale, marker="o", markersize=3, label=mode, color=color)
        low, high = line["low"].to_numpy(), line["high"].to_numpy()
        if info.percent:  # a share's mean lies in [0, 1] even when few repeats make its t-interval wider
            low, high = low.clip(0.0, 1.0), high.clip(0.0, 1.0)
        axes.fill_between(x, low * scale, high * scale, alpha=0.2, color=color)
    if real.height:
        axes.axhline(real["mean"][0] * scale, linestyle="--", color="grey", label="real")
        axes.axhspan(real["low"][0] * scale, real["high"][0] * scale, color="grey", alpha=0.12)
    axes.set_xlabel("generation")
    axes.set_ylabel(("% " if info.percent else "") + metric.replace("_", " "))
    axes.set_title(title or info.label, fontsize=9)
    axes.legend(fontsize=7)


def chart_files(
    summary: pl.DataFrame, infos: Mapping[str, MetricInfo], folder: Path, title: str, prefix: str = "collapse"
) -> list[Path]:
    """One small PNG per metric (`<prefix>_<metric>.png`) plus `<prefix>_overview.png` with all of them, last."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, info in infos.items():
        figure, axes = plt.subplots(figsize=(5, 3.2), dpi=80)
        chart(summary, metric, info, axes, f"{title}: {info.label}")
        figure.tight_layout()
        paths.append(folder / f"{prefix}_{metric}.png")
        _save_small(figure, paths[-1])
    columns = 4
    rows = math.ceil(len(infos) / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), dpi=70, squeeze=False)
    for axes, (metric, info) in zip(grid.flat, infos.items(), strict=False):
        chart(summary, metric, info, axes)
    for axes in list(grid.flat)[len(infos) :]:
        axes.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    paths.append(folder / f"{prefix}_overview.png")
    _save_small(figure, paths[-1])
    return paths


def _save_small(figure, path: Path) -> None:
    """Save a chart as a 64-colour PNG: a third of the size, small enough to embed in Dagster metadata and commit."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    buffer.seek(0)
    Image.open(buffer).convert("RGB").quantize(colors=64).save(path, optimize=True)


# ---------------------------------------------------------------------------------------------------------------
# The whole study in memory (tests, benchmarks, docs); the assets run the same steps one generation at a time.


@dataclass
class StudyResult:
    synthesizer: str
    fit_sets: dict[str, list[pl.DataFrame]]  # mode -> the fit set of every generation
    metrics: pl.DataFrame
    summary: pl.DataFrame
    verdicts: list[Verdict]
    shapes: list[str]
    infos: dict[str, MetricInfo]

    def verdict_lines(self) -> list[str]:
        return [v.text(self.infos[v.metric].label) for v in self.verdicts]


def conclude(synthesizer: str, fit_sets, metrics: pl.DataFrame, model_metric_name: str) -> StudyResult:
    infos = metric_infos(model_metric_name)
    found = verdicts(metrics, infos)
    return StudyResult(
        synthesizer,
        dict(fit_sets),
        metrics,
        summarize(metrics),
        found,
        published_shapes(found, model_metric_name),
        infos,
    )


def run_study(
    real_train: pl.DataFrame,
    holdout: pl.DataFrame,
    plan: Plan,
    synthesizer: str,
    progress: Progress | None = None,
    with_model: bool = True,
) -> StudyResult:
    """Every mode's generations for one synthesizer, generation 0 shared, then the metrics and verdicts
    (`with_model=False` leaves out the downstream model, the one metric that costs a fit per repeat)."""
    say = progress or (lambda _message: None)
    settings = plan.collapse
    real = real_rows(real_train, plan)
    say(f"{synthesizer}: generation 0 ({settings.repeats} repeats)")
    first = sample_generation(fit_generation(synthesizer, real, plan, 0), plan, 0)
    fit_sets: dict[str, list[pl.DataFrame]] = {}
    for mode in settings.modes:
        sets = [next_fit_set(mode, first, plan, previous=real, real=real)]
        for generation in range(1, settings.generations + 1):
            say(f"{synthesizer}: {mode.value} generation {generation}")
            fitted = fit_generation(synthesizer, sets[-1], plan, generation)
            synthetic = sample_generation(fitted, plan, generation)
            sets.append(next_fit_set(mode, synthetic, plan, previous=sets[-1], real=real))
        fit_sets[mode.value] = sets
    ref = reference(real_train, holdout, plan)
    metrics = study_metrics(fit_sets, real, ref, say, with_model)
    return conclude(synthesizer, fit_sets, metrics, ref.model_metric)
