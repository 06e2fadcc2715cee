"""The scorecard's verdicts, intervals, quality gates and bias audit, checked against slow explicit references on
fixed data; regression and multiclass plans get their own metrics and verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from hybrid_data import lake
from hybrid_data.evaluation.bias import difference_interval, wilson_interval
from hybrid_data.evaluation.cell_training import train_blend_cell
from hybrid_data.evaluation.cells import CellInfo, cell_frame
from hybrid_data.evaluation.protocol import CellFit, protocol_for
from hybrid_data.evaluation.report import format_scorecard, markdown_full_scorecard, markdown_scorecard, scorecard_png
from hybrid_data.evaluation.resampling import draw_resamples, holm_adjust, percentile_interval
from hybrid_data.evaluation.scorecard import ScorecardError, build_scorecard, load_scorecard, save_scorecard
from hybrid_data.lake import Lake
from hybrid_data.plan import Task, parse_plan
from hybrid_data.source import ORIGIN_COLUMN

DETECTION_FAILED = {
    "check": "blend_detection_auc",
    "passed": False,
    "severity": "WARN",
    "description": "a discriminator tells synthetic from real rows (AUC 0.99 > 0.95)",
    "metadata": {"detection_auc": 0.99},
}


def plan_for(target: str, extra: str = "", task: str = "binary"):
    text = f"name: t\nsource: {{path: x.csv}}\ntarget: {target}\ntask: {task}\nseed: 5\n"
    text += "model: {kind: hist_gradient_boosting, params: {max_iter: 40}}\n"
    return parse_plan(
        text + "evaluation: {repeats: 2, bootstrap: 300" + (f", {extra}" if extra else "") + "}\n", Path(".")
    )


def hand_cell(name, kind, predictions, holdout, protocol, thresholds=None, checks=(), synthetic_rows=0):
    """A cell whose holdout predictions are given, as blend_model would store them."""
    fit = CellFit(
        seeds=list(range(len(predictions))),
        rounds=[10] * len(predictions),
        thresholds=thresholds or [0.5] * len(predictions),
        holdout_predictions=predictions,
        train_rows=500,
        validation_rows=100,
        fit_seconds=0.0,
    )
    info = CellInfo(
        cell=name,
        kind=kind,
        method="synthesis",
        synthesizer="copula",
        ratio={"real_only": 0.0}.get(kind, 0.5),
        real_rows=500,
        synthetic_rows=synthetic_rows,
        holdout_version=lake.frame_fingerprint(holdout),
        validation_version="same",
        positive_label="bad",
        checks=list(checks),
    )
    return cell_frame(info, protocol, fit)


def binary_data(rng, n: int, train_rows: int, share: float):
    """A real holdout of n rows and a real_train with a rare 'bad' class at `share`; the holdout's minority flags."""
    positive = rng.random(n) < share
    holdout = pl.DataFrame({"x": rng.normal(size=n), "label": np.where(positive, "bad", "good")})
    labels = np.where(rng.random(train_rows) < share, "bad", "good")
    real_train = pl.DataFrame({"x": rng.normal(size=train_rows), "label": labels})
    return holdout, real_train, positive


@pytest.fixture(scope="module")
def binary_case():
    rng = np.random.default_rng(0)
    n = 600
    holdout, real_train, positive = binary_data(rng, n, 900, 0.15)
    plan = plan_for("label")
    protocol = protocol_for(plan, Task.binary)

    def scores(signal, seed):
        noise = np.random.default_rng(seed).normal(size=n)
        return 1 / (1 + np.exp(-(signal * positive + noise - 2)))

    cells = pl.concat(
        [
            hand_cell("real only", "real_only", [scores(1.0, 1), scores(1.0, 2)], holdout, protocol),
            hand_cell("better", "blend", [scores(3.0, 3), scores(3.0, 4)], holdout, protocol, synthetic_rows=50),
            hand_cell("same", "blend", [scores(1.0, 1) + 1e-9, scores(1.0, 2)], holdout, protocol, synthetic_rows=50),
            hand_cell(
                "worse",
                "blend",
                [scores(0.0, 5), scores(0.0, 6)],
                holdout,
                protocol,
                checks=[DETECTION_FAILED],
                synthetic_rows=50,
            ),
        ],
        how="diagonal_relaxed",
    )
    return cells, holdout, real_train, plan, positive


def test_verdicts_follow_the_adjusted_paired_difference(binary_case):
    cells, holdout, real_train, plan, _ = binary_case
    card = build_scorecard(cells, holdout, real_train, plan, Task.binary)
    verdicts = dict(card.table.select("cell", "verdict").iter_rows())
    assert verdicts == {
        "real only": "baseline",
        "better": "helps",
        "same": "no detectable difference",
        "worse": "hurts",
    }
    assert card.metric == "pr_auc" and card.no_skill == pytest.approx(holdout["label"].eq("bad").mean())
    assert (
        "Beat real-only: better" in card.verdict
        and "Worse than real-only: worse (failed checks: fidelity)" in card.verdict
    )


@pytest.mark.slow
def test_intervals_and_p_values_match_a_slow_sklearn_loop(binary_case):
    """Recompute every compared cell's difference to real-only with sklearn on the same resample indices and the
    same seed per resample; intervals, p-values and the Holm adjustment must agree."""
    cells, holdout, real_train, plan, positive = binary_case
    card = build_scorecard(cells, holdout, real_train, plan, Task.binary)
    resamples = draw_resamples(holdout.height, plan.evaluation.bootstrap, plan.evaluation.repeats, plan.seed)
    predictions = {name: frame["prediction"].to_list() for (name,), frame in cells.group_by("cell")}

    def ap(name, b, rows):
        seeds = predictions[name]
        return skm.average_precision_score(positive[rows], np.array(seeds[resamples.seed_choice[b] % len(seeds)])[rows])

    reference_p = {}
    for name in ("better", "same", "worse"):
        slow = np.array([ap(name, b, rows) - ap("real only", b, rows) for b, rows in enumerate(resamples.indices)])
        row = card.table.filter(pl.col("cell") == name).row(0, named=True)
        assert (row["pr_auc_diff_low"], row["pr_auc_diff_high"]) == pytest.approx(percentile_interval(slow, 0.95))
        tail = min(np.sum(slow <= 0) + 1, np.sum(slow >= 0) + 1) / (slow.size + 1)
        reference_p[name] = min(1.0, 2 * tail)
        assert row["p_value"] == pytest.approx(reference_p[name])
        whole = np.mean([skm.average_precision_score(positive, s) for s in predictions[name]])
        assert row["pr_auc"] == pytest.approx(whole)
    adjusted = dict(zip(reference_p, holm_adjust(list(reference_p.values())), strict=True))
    for name, value in adjusted.items():
        assert card.table.filter(pl.col("cell") == name)["p_holm"][0] == pytest.approx(value)


def test_failed_checks_are_marked_in_table_text_and_chart(binary_case, tmp_path):
    cells, holdout, real_train, plan, _ = binary_case
    card = build_scorecard(cells, holdout, real_train, plan, Task.binary)
    worse = card.table.filter(pl.col("cell") == "worse").row(0, named=True)
    assert worse["failed_gates"] == "fidelity" and worse["checks"] == "1 warning: detection_auc"
    text = format_scorecard(card)
    assert max(len(line) for line in text.splitlines()) <= 100
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and "]  " in line}
    assert "hurts     1 warning: detection" in lines["worse"]
    better = lines["better"].split()  # better, estimate [low, high], +difference [low, high], verdict
    assert better[4].startswith("+") and better[7:] == ["helps"]
    assert "no diff" in lines["same"] and "baseline" in lines["real"]
    assert "Verdict:" in text and "Protocol:" in text
    assert "| worse |" in markdown_scorecard(card) and "| worse |" in markdown_full_scorecard(card)
    scorecard_png(card, tmp_path / "card.png")
    assert (tmp_path / "card.png").stat().st_size > 10_000
    store = Lake(tmp_path / "lake")
    save_scorecard(card, store)
    store.write_frame("blend_scorecard", None, card.table)
    assert format_scorecard(load_scorecard(store)) == text


def test_cells_from_another_holdout_are_refused(binary_case):
    cells, holdout, real_train, plan, _ = binary_case
    stale = cells.with_columns(
        pl.when(pl.col("cell") == "same")
        .then(pl.lit("old"))
        .otherwise(pl.col("holdout_version"))
        .alias("holdout_version")
    )
    with pytest.raises(ScorecardError, match=r"\['same'\] were scored on another version of real_holdout"):
        build_scorecard(stale, holdout, real_train, plan, Task.binary)


def test_untrainable_cell_is_shown_not_fatal(binary_case):
    cells, holdout, real_train, plan, _ = binary_case
    protocol = protocol_for(plan, Task.binary)
    info = CellInfo(
        "TSTR copula", "tstr", "synthesis", "copula", 1.0, 0, 80, lake.frame_fingerprint(holdout), "same", "bad"
    )
    broken = cell_frame(info, protocol, None, untrainable="the training rows' target 'label' has a single class")
    card = build_scorecard(pl.concat([cells, broken], how="diagonal_relaxed"), holdout, real_train, plan, Task.binary)
    assert card.table.filter(pl.col("cell") == "TSTR copula")["verdict"][0] == "untrainable"
    assert "untrainable: the training rows' target 'label' has a single class" in format_scorecard(card)
    assert "Untrainable: TSTR copula" in card.verdict


def tabular(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pl.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=n),
            "w": rng.normal(size=n),
            "region": rng.choice(["north", "south"], size=n),
            "amount": 3 * x + rng.normal(scale=0.5, size=n),
            "band": np.select([x < -0.6, x < 0.9], ["low", "mid"], "high"),
        }
    )


def scorecard_for(task: Task, target: str, drop: str, extra: str = ""):
    """Real-only, a blend of sensible synthetic rows, and a blend whose synthetic target is shuffled noise."""
    plan = plan_for(target, extra, task.value)
    real_train, holdout = tabular(600, 1).drop(drop), tabular(300, 2).drop(drop)
    good = tabular(600, 3).drop(drop)
    noise = tabular(1800, 4).drop(drop).with_columns(pl.col(target).shuffle(seed=0))
    frames = []
    for ratio, synthetic in ((0.0, good[:0]), (0.5, good), (0.75, noise)):
        blend = pl.concat(
            [
                real_train.with_columns(pl.lit("real").alias(ORIGIN_COLUMN)),
                synthetic.with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN)),
            ]
        )
        frame, _ = train_blend_cell(plan, task, "copula", ratio, blend, real_train, holdout, [])
        frames.append(frame)
    return build_scorecard(pl.concat(frames, how="diagonal_relaxed"), holdout, real_train, plan, task)


def test_regression_plan_gets_its_own_metrics_and_verdicts():
    card = scorecard_for(Task.regression, "amount", "band")
    assert card.metric == "rmse" and not card.higher_is_better
    assert {"rmse", "rmse_low", "rmse_high", "mae", "r2", "r2_low", "rmse_diff"} <= set(card.table.columns)
    verdicts = dict(card.table.select("cell", "verdict").iter_rows())
    assert verdicts["real only"] == "baseline"
    assert verdicts["copula r=0.75"] == "hurts"  # a shuffled target can only raise the error
    assert verdicts["copula r=0.5"] in {"helps", "no detectable difference"}
    noisy = card.table.filter(pl.col("cell") == "copula r=0.75").row(0, named=True)
    assert noisy["rmse_diff"] > 0 and noisy["diff_adjusted_low"] > 0


def test_multiclass_plan_gets_its_own_metrics_and_verdicts():
    card = scorecard_for(Task.multiclass, "band", "amount", "groups: [region]")
    assert card.metric == "macro_f1"
    assert {"macro_f1", "balanced_accuracy", "smallest_class_recall", "macro_f1_diff_low"} <= set(card.table.columns)
    verdicts = dict(card.table.select("cell", "verdict").iter_rows())
    assert verdicts["copula r=0.75"] == "hurts"
    assert card.bias.height == 2 * 3 and set(card.bias["group"]) == {"north", "south"}


def test_bias_audit_warns_where_a_blend_shifts_a_group(binary_case):
    _, _, _, _, _ = binary_case
    plan = plan_for("label", "groups: [region]")
    rng = np.random.default_rng(3)

    def frame(n, seed, region=None):
        r = np.random.default_rng(seed)
        x = r.normal(size=n)
        return pl.DataFrame(
            {
                "x": x,
                "z": r.normal(size=n),
                "w": r.normal(size=n),
                "region": [region] * n if region else r.choice(["north", "south", "east"], size=n).tolist(),
                "label": np.where(x + r.normal(scale=0.7, size=n) > 1.3, "bad", "good"),
            }
        )

    real_train, holdout = frame(700, 1), frame(400, 2)
    shifted = frame(700, 3, region="north")
    cells = []
    for ratio, synthetic in ((0.0, shifted[:0]), (0.5, shifted)):
        blend = pl.concat(
            [
                real_train.with_columns(pl.lit("real").alias(ORIGIN_COLUMN)),
                synthetic.with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN)),
            ]
        )
        cells.append(train_blend_cell(plan, Task.binary, "copula", ratio, blend, real_train, holdout, [])[0])
    del rng
    card = build_scorecard(pl.concat(cells, how="diagonal_relaxed"), holdout, real_train, plan, Task.binary)
    north = card.bias.filter((pl.col("cell") == "copula r=0.5") & (pl.col("group") == "north")).row(0, named=True)
    assert north["synthetic_share"] == 1.0 and north["share_shift_low"] > 0.5
    assert "share of rows" in north["warning"]
    assert any("copula r=0.5, region=north: share of rows" in w for w in card.bias_warnings)
    assert {"pr_auc", "pr_auc_low", "pr_auc_high", "diff_low", "diff_high"} <= set(card.bias.columns)


def test_share_shift_interval_matches_newcombe_1998():
    """Newcombe (1998), Statistics in Medicine 17:873, method 10 on his examples 56/70 - 48/80 and 9/10 - 3/10."""
    assert difference_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert difference_interval(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=1e-4)


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    for k, n in ((0, 20), (3, 40), (120, 400), (40, 40)):
        reference = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((reference.low, reference.high), abs=1e-12)
