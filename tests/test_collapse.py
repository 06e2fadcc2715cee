"""The collapse study's core: fit sets per mode, metrics against independent references, intervals, verdicts,
and the direction of the effects on a small made-up dataset (real SDV fits, no Dagster)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from hybrid_data.collapse import (
    GENERATION,
    REAL_GENERATION,
    REPEAT,
    MetricInfo,
    categories_kept,
    correlation_distance,
    interval,
    ks_statistic,
    minority_share,
    next_fit_set,
    real_rows,
    reference,
    run_study,
    summarize,
    tail_coverage,
    tail_share,
    total_variation,
    trend,
    verdicts,
    with_provenance,
)
from hybrid_data.plan import PlanError, parse_plan


def made_up(rows: int, seed: int) -> pl.DataFrame:
    """Six heavy-tailed numeric columns, a categorical with rare levels, and a ~11% class tied to x0."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {f"x{i}": rng.lognormal(0.0, 0.8, rows) for i in range(6)}
    columns["grade"] = rng.choice(list("ABCDEFG"), rows, p=[0.4, 0.3, 0.15, 0.08, 0.04, 0.02, 0.01])
    logit = 1.5 * np.log(columns["x0"]) - 2.5
    columns["y"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "rare", "common")
    return pl.DataFrame(columns)


def study_plan(**collapse):
    settings = {"generations": 2, "repeats": 2, "rows_per_generation": 100, "max_fit_rows": 100, **collapse}
    text = (
        "name: madeup\nsource: {path: x.csv}\ntarget: y\nseed: 3\n"
        "model: {kind: hist_gradient_boosting, params: {max_iter: 20}}\n"
        f"collapse: {settings}\n"
    )
    return parse_plan(text.replace("'", ""), Path("."))


# --- fit sets ------------------------------------------------------------------------------------------------


def test_fit_sets_follow_the_mode():
    plan = study_plan(anchored_real_share=0.25)
    real = real_rows(made_up(500, 1), plan)
    assert real.height == 2 * 100 and set(real[GENERATION]) == {REAL_GENERATION}
    synthetic = pl.concat(with_provenance(made_up(100, 10 + r), r, 1) for r in range(2))
    previous = pl.concat([real, synthetic.with_columns(pl.lit(0, pl.Int32).alias(GENERATION))])

    assert next_fit_set("replace", synthetic, plan, previous, real).equals(synthetic)

    accumulated = next_fit_set("accumulate", synthetic, plan, previous, real)
    assert accumulated.height == previous.height + synthetic.height
    assert accumulated.group_by(GENERATION).len().sort(GENERATION)["len"].to_list() == [200, 200, 200]

    anchored = next_fit_set("anchored", synthetic, plan, previous, real)
    per_repeat = anchored.group_by(REPEAT, GENERATION).len().sort(REPEAT, GENERATION)
    # every fresh synthetic row stays; real rows make up a quarter: 100 synthetic + 33 real per repeat
    assert per_repeat["len"].to_list() == [33, 100, 33, 100]
    real_part = anchored.filter(pl.col(GENERATION) == REAL_GENERATION).drop(GENERATION)
    assert real_part.join(real.drop(GENERATION), on=real_part.columns, how="anti").height == 0


def test_real_rows_refuse_reserved_columns():
    plan = study_plan()
    with pytest.raises(ValueError, match="columns \\['_repeat'\\].*reserves; rename them"):
        real_rows(made_up(50, 1).with_columns(_repeat=pl.lit(1)), plan)


# --- metrics against independent references ---------------------------------------------------------------------


def test_ks_statistic_matches_scipy():
    rng = np.random.default_rng(0)
    for a, b in [
        (rng.normal(size=400), rng.standard_t(3, size=250)),
        (rng.poisson(2, 300).astype(float), rng.poisson(2.4, 500).astype(float)),  # ties
    ]:
        assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_total_variation_by_hand():
    real = pl.Series("c", ["a", "a", "b", "c"])
    other = pl.Series("c", ["a", "b", "b", None])
    # shares a: .5 vs .25, b: .25 vs .5, c: .25 vs 0, null: 0 vs .25 -> half of 1.0
    assert total_variation(real, other) == pytest.approx(0.5)
    assert total_variation(real, real) == 0.0


def test_data_metrics_on_fixed_frames():
    real = made_up(1000, 1)
    ref = reference(real, None, study_plan())
    assert minority_share(real, ref) == pytest.approx(float((real["y"] == "rare").mean()))
    assert ref.minority == "rare"
    # by hand: share of rows beyond the real p1/p99 (polars' default 'nearest' quantiles), averaged
    expected = np.mean(
        [
            float(((real[c] < real[c].quantile(0.01)) | (real[c] > real[c].quantile(0.99))).mean())
            for c in [f"x{i}" for i in range(6)]
        ]
    )
    assert tail_share(real, ref) == pytest.approx(expected)
    assert tail_coverage(real, ref) == 1.0
    # x0 clipped at its real p1/p99 empties both of its tails: 10 of the 12 (column, side) tails stay covered
    clipped = real.with_columns(pl.col("x0").clip(real["x0"].quantile(0.01), real["x0"].quantile(0.99)))
    assert tail_coverage(clipped, ref) == pytest.approx(10 / 12)
    # a tail overfilled elsewhere counts as covered (capped at 1), so it cannot hide the emptied ones
    upper_half = pl.col("x1") > pl.col("x1").median()
    overfilled = clipped.with_columns(pl.when(upper_half).then(pl.col("x1") * 10).otherwise(pl.col("x1")))
    assert tail_coverage(overfilled, ref) == pytest.approx(10 / 12)
    assert tail_share(overfilled, ref) > tail_share(real, ref)
    assert categories_kept(real, ref) == 1.0
    assert categories_kept(real.filter(pl.col("grade") != "G"), ref) == pytest.approx(6 / 7)
    assert correlation_distance(real, ref) == pytest.approx(0.0, abs=1e-12)
    shuffled = real.with_columns(pl.col("x1").shuffle(seed=1))
    assert correlation_distance(shuffled, ref) > 0


def test_interval_is_the_student_t_interval():
    values = [0.61, 0.58, 0.66, 0.6, 0.63]
    mean, low, high, n = interval(values)
    reference_low, reference_high = stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    assert (n, mean) == (5, pytest.approx(np.mean(values)))
    assert (low, high) == (pytest.approx(reference_low), pytest.approx(reference_high))


def _metrics_table(values: dict[tuple[str, int], list[float]], metric: str = "minority_share") -> pl.DataFrame:
    rows = [
        (mode, generation, repeat, metric, value)
        for (mode, generation), repeats in values.items()
        for repeat, value in enumerate(repeats)
    ]
    return pl.DataFrame(rows, schema=["mode", "generation", "repeat", "metric", "value"], orient="row")


def test_verdicts_say_which_mode_drifted_beyond_the_interval():
    metrics = _metrics_table(
        {
            ("real", -1): [0.053, 0.052, 0.054],
            ("replace", 0): [0.050, 0.052, 0.051],
            ("replace", 1): [0.070, 0.075, 0.069],
            ("replace", 2): [0.098, 0.101, 0.095],
            ("accumulate", 0): [0.050, 0.052, 0.051],
            ("accumulate", 1): [0.051, 0.050, 0.053],
            ("accumulate", 2): [0.052, 0.049, 0.053],
        }
    )
    found = {v.mode: v for v in verdicts(metrics, {"minority_share": MetricInfo("minority share", True)})}
    assert found["replace"].outcome == "rose" and found["accumulate"].outcome == "stable"
    text = found["replace"].text("minority share")
    assert text.startswith("replace: minority share 5.3% real, 5.1% at generation 0, 9.8%")
    assert "rose by +4.70 pts" in text and "beyond the interval" in text
    assert "stayed within the interval" in found["accumulate"].text("minority share")
    slope, low, high, _ = trend(metrics, "replace", "minority_share")
    assert low > 0 and slope == pytest.approx(0.0235, abs=1e-3)
    summary = summarize(metrics)
    assert summary.filter((pl.col("mode") == "replace") & (pl.col("generation") == 2))["mean"][0] == pytest.approx(
        0.098
    )


# --- the plan section ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collapse", "message"),
    [
        ("{modes: []}", "collapse.modes: name at least one of replace, accumulate, anchored"),
        ("{modes: [replace, forget]}", "collapse.modes.1: Input should be 'replace', 'accumulate' or 'anchored'"),
        ("{anchored_real_share: 1.0}", "collapse.anchored_real_share: Input should be less than 1"),
        ("{repeats: 1}", "collapse.repeats: Input should be greater than or equal to 2"),
    ],
)
def test_bad_collapse_section_names_the_field(collapse, message):
    with pytest.raises(PlanError) as error:
        parse_plan(f"name: t\nsource: {{path: x.csv}}\ntarget: y\ncollapse: {collapse}\n", Path("."))
    assert message in str(error.value)


# --- the direction of the effects (real GaussianCopula fits) ---------------------------------------------------------


@pytest.mark.slow
def test_replace_erodes_tails_while_accumulate_and_anchored_stay_bounded():
    plan = study_plan(generations=5, repeats=3, rows_per_generation=600, max_fit_rows=600)
    result = run_study(made_up(2000, 1), made_up(300, 2), plan, "gaussian_copula", with_model=False)
    metrics = result.metrics
    # SDV keeps samples inside the range of what it was fitted on, so under replace no generation can reach
    # beyond its parent's extremes: every repeat's range of every column shrinks or stays, generation by generation.
    for repeat in range(3):
        widths = []
        for generation, fit_set in enumerate(result.fit_sets["replace"]):
            rows = fit_set.filter((pl.col(REPEAT) == repeat) & (pl.col(GENERATION) == generation))
            widths.append([rows[f"x{i}"].max() - rows[f"x{i}"].min() for i in range(6)])
        assert np.all(np.diff(np.array(widths), axis=0) <= 1e-9)
    # ... so the share of rows beyond the real p1/p99 falls steadily, beyond the noise across repeats.
    slope, _, high, _ = trend(metrics, "replace", "tail_share")
    assert high < 0
    found = {(v.mode, v.metric): v for v in result.verdicts}
    replace = found[("replace", "tail_share")]
    assert replace.outcome == "fell"
    # Accumulate and anchored keep real rows in every fit set: their tails stay within a bound that replace leaves.
    for mode in ("accumulate", "anchored"):
        kept = found[(mode, "tail_share")]
        assert kept.outcome != "fell" or abs(kept.change) < abs(replace.change) / 2
        assert abs(kept.last - kept.first) < 0.3 * kept.first
        assert kept.last > replace.last
        assert trend(metrics, mode, "tail_share")[0] > slope


@pytest.mark.slow
def test_a_deep_synthesizer_runs_the_study_with_the_downstream_model():
    plan = study_plan(generations=1, repeats=2, rows_per_generation=120, max_fit_rows=120, epochs=2)
    result = run_study(made_up(400, 1), made_up(200, 2), plan, "tvae")
    auc = result.metrics.filter(pl.col("metric") == "roc_auc")
    # real reference + one shared generation 0 (measured once) + generation 1 per mode, two repeats each
    assert auc.height == 2 * (1 + 1 * 3 + 3)
    assert auc["value"].is_between(0.0, 1.0).all()
    assert {v.metric for v in result.verdicts} >= {"roc_auc", "tail_coverage", "minority_share"}
