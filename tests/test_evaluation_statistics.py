"""The scorecard's statistics against independent references: every vectorised bootstrap metric against sklearn
on explicitly resampled rows (the same resample indices), intervals and p-values against a slow explicit loop,
Holm's adjustment against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from hybrid_data.evaluation.metrics import (
    binary_metrics,
    choose_threshold,
    multiclass_metrics,
    regression_metrics,
)
from hybrid_data.evaluation.resampling import (
    bootstrap_p_value,
    draw_resamples,
    holm_adjust,
    holm_levels,
    percentile_interval,
    pick_resamples,
)

B = 60  # resamples compared one by one against sklearn


def binary_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.12
    score = np.clip(0.3 * positive + rng.normal(0.3, 0.2, n), 0.001, 0.999)
    score[:40] = np.round(score[:40], 1)  # ties, which ROC AUC counts half and AP groups
    return score, positive


def test_binary_metrics_match_sklearn_on_each_resample():
    score, positive = binary_data()
    resamples = draw_resamples(len(score), B, repeats=1, seed=3)
    fast = binary_metrics(score, positive, 0.45, resamples.counts())
    for b, rows in enumerate(resamples.indices):
        y, s = positive[rows], score[rows]
        flagged = s >= 0.45
        assert fast["roc_auc"][b] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
        assert fast["pr_auc"][b] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
        assert fast["minority_f1"][b] == pytest.approx(skm.f1_score(y, flagged, zero_division=0), abs=1e-12)
        assert fast["minority_recall"][b] == pytest.approx(skm.recall_score(y, flagged, zero_division=0), abs=1e-12)
        assert fast["minority_precision"][b] == pytest.approx(
            skm.precision_score(y, flagged, zero_division=0), abs=1e-12
        )
        reference_brier = skm.brier_score_loss(y, s) / (y.mean() * (1 - y.mean()))
        assert fast["brier_skill"][b] == pytest.approx(1 - reference_brier, abs=1e-12)


def test_ranking_metrics_match_sklearn_with_heavy_ties_and_a_picked_block():
    """Scores on a coarse grid (most negatives tied with some positive) and NaN-free edge rows, scored on the
    resamples a seed picks out of a column-major count block, as the scorecard scores them."""
    rng = np.random.default_rng(5)
    positive = rng.random(4000) < 0.05
    score = np.round(np.clip(0.2 * positive + rng.normal(0.3, 0.15, 4000), 0, 1), 2)
    resamples = draw_resamples(len(score), 40, repeats=3, seed=6)
    block = resamples.counts()
    chosen = resamples.seed_choice == 1
    picked = pick_resamples(block, chosen)
    assert picked.flags.f_contiguous and np.array_equal(picked, block[chosen])
    fast = binary_metrics(score, positive, 0.5, picked)
    for b, rows in enumerate(resamples.indices[chosen]):
        y, s = positive[rows], score[rows]
        assert fast["roc_auc"][b] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
        assert fast["pr_auc"][b] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


def test_regression_metrics_match_sklearn_on_each_resample():
    rng = np.random.default_rng(1)
    truth = rng.normal(1000, 50, 200)
    predicted = truth + rng.normal(0, 20, 200)
    resamples = draw_resamples(200, B, repeats=1, seed=4)
    fast = regression_metrics(predicted, truth, resamples.counts())
    for b, rows in enumerate(resamples.indices):
        assert fast["rmse"][b] == pytest.approx(skm.root_mean_squared_error(truth[rows], predicted[rows]))
        assert fast["mae"][b] == pytest.approx(skm.mean_absolute_error(truth[rows], predicted[rows]))
        assert fast["r2"][b] == pytest.approx(skm.r2_score(truth[rows], predicted[rows]), abs=1e-10)


def test_multiclass_metrics_match_sklearn_on_each_resample():
    rng = np.random.default_rng(2)
    truth = rng.choice(4, size=150, p=[0.5, 0.3, 0.17, 0.03])
    predicted = np.where(rng.random(150) < 0.7, truth, rng.choice(4, size=150))
    resamples = draw_resamples(150, B, repeats=1, seed=5)
    fast = multiclass_metrics(predicted, truth, 4, 3, resamples.counts())
    for b, rows in enumerate(resamples.indices):
        y, p = truth[rows], predicted[rows]
        assert fast["macro_f1"][b] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))
        if 3 in y:  # sklearn's balanced accuracy warns and drops classes absent from truth, as ours does
            assert fast["balanced_accuracy"][b] == pytest.approx(skm.balanced_accuracy_score(y, p))
            assert fast["smallest_class_recall"][b] == pytest.approx(
                skm.recall_score(y, p, labels=[3], average=None)[0]
            )
        else:
            assert np.isnan(fast["smallest_class_recall"][b])


def test_interval_and_p_value_match_an_explicit_loop():
    """The paired difference between two models, computed by a slow loop of sklearn calls on the same resample
    indices, gives the same percentile interval and p-value as the vectorised path."""
    score_a, positive = binary_data(seed=7)
    rng = np.random.default_rng(8)
    score_b = np.clip(score_a + rng.normal(0, 0.15, score_a.size), 0, 1)
    resamples = draw_resamples(score_a.size, 400, repeats=1, seed=9)
    counts = resamples.counts()
    fast = (
        binary_metrics(score_a, positive, 0.5, counts)["roc_auc"]
        - binary_metrics(score_b, positive, 0.5, counts)["roc_auc"]
    )
    slow = np.array(
        [
            skm.roc_auc_score(positive[rows], score_a[rows]) - skm.roc_auc_score(positive[rows], score_b[rows])
            for rows in resamples.indices
        ]
    )
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    low, high = percentile_interval(fast, 0.95)
    assert (low, high) == pytest.approx(tuple(np.percentile(slow, [2.5, 97.5])))
    tail = min(np.mean(slow <= 0) * 400 + 1, np.mean(slow >= 0) * 400 + 1) / 401
    assert bootstrap_p_value(fast) == pytest.approx(min(1.0, 2 * tail))
    assert low > 0 and bootstrap_p_value(fast) < 0.05  # model a is clearly better here


def test_p_value_and_interval_agree_on_no_difference():
    differences = np.random.default_rng(0).normal(0.0, 1.0, 2000)
    low, high = percentile_interval(differences, 0.95)
    assert low < 0 < high
    assert bootstrap_p_value(differences) > 0.5
    assert bootstrap_p_value(np.zeros(100)) == 1.0


def test_holm_matches_hand_computed_values():
    # m = 4: sorted p 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    p = [0.03, 0.01, 0.5, 0.02]
    np.testing.assert_allclose(holm_adjust(p), [0.06, 0.04, 0.5, 0.06])
    np.testing.assert_allclose(holm_levels(p, 0.05), [0.05 / 2, 0.05 / 4, 0.05, 0.05 / 3])
    # an untrainable cell (NaN) is not a test and does not raise m
    np.testing.assert_allclose(holm_adjust([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(holm_adjust([0.4, 0.6]), [0.8, 0.8])  # step-down keeps adjusted p monotone


def test_holm_against_a_reference_implementation():
    """A direct transcription of Holm (1979): reject in ascending order while p_(i) <= alpha / (m - i + 1)."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.random(7) ** 3
        rejected_reference = np.zeros(7, bool)
        for rank, index in enumerate(np.argsort(p)):
            if p[index] > 0.05 / (7 - rank):
                break
            rejected_reference[index] = True
        np.testing.assert_array_equal(holm_adjust(p) <= 0.05, rejected_reference)


def test_thresholds_on_validation_rows():
    score, positive = binary_data(seed=11)
    best = choose_threshold("max_f1", score, positive)
    grid = np.unique(score)
    reference = max(grid, key=lambda t: skm.f1_score(positive, score >= t, zero_division=0))
    assert skm.f1_score(positive, score >= best) == pytest.approx(skm.f1_score(positive, score >= reference))
    cut = choose_threshold("prevalence", score, positive)
    assert abs((score >= cut).mean() - positive.mean()) < 0.02
    assert choose_threshold(0.3, score, positive) == 0.3
    with pytest.raises(ValueError, match="evaluation.validation_fraction"):
        choose_threshold("max_f1", score, np.zeros_like(positive))


def test_seed_choice_spreads_resamples_over_repeats():
    resamples = draw_resamples(50, 1000, repeats=5, seed=0)
    assert set(np.unique(resamples.seed_choice)) == {0, 1, 2, 3, 4}
    np.testing.assert_array_equal(resamples.counts().sum(axis=1), 50)


def test_resamples_are_drawn_and_counted_in_blocks_as_one_draw_would_give_them():
    """Positions are int32 and drawn a block at a time (scoring takes them a block at a time too); the numbers
    are those of one draw of the whole matrix and one bincount over it."""
    n, b = 301, 150  # more resamples than one block, a ragged last block
    resamples = draw_resamples(n, b, repeats=3, seed=9)
    rng = np.random.default_rng(9)
    whole = rng.integers(0, n, size=(b, n))
    np.testing.assert_array_equal(resamples.indices, whole)
    np.testing.assert_array_equal(resamples.seed_choice, rng.integers(0, 3, size=b))
    assert resamples.indices.dtype == np.int32
    flat = (whole + n * np.arange(b)[:, None]).ravel()
    expected = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
    np.testing.assert_array_equal(resamples.counts(), expected)
    rows = np.array([0, 5, 149, 64])
    np.testing.assert_array_equal(resamples.counts(rows), expected[rows])


def test_cells_scored_a_block_of_resamples_at_a_time_equal_scoring_the_whole_count_matrix():
    """Blocks keep the metric temporaries small at 1M-row scale; each resample's metrics are those of the whole
    matrix, for every cell and seed, on the whole holdout and on a group's rows."""
    from hybrid_data.evaluation.scorecard import Truth, score_cells
    from hybrid_data.plan import Task

    rng = np.random.default_rng(5)
    n = 400
    truth = Truth(Task.binary, rng.random(n) < 0.2, positive_label="bad")
    cells = {
        name: [{"prediction": rng.random(n).tolist(), "threshold": 0.4 + 0.1 * k} for k in range(2)]
        for name in ("real only", "r=0.5")
    }
    resamples = draw_resamples(n, 250, repeats=2, seed=1)  # 250 resamples: two full blocks and a ragged one
    group = np.flatnonzero(rng.random(n) < 0.5)
    counts = resamples.counts()
    for rows in (None, group):
        scored = score_cells(cells, truth, resamples, rows)
        for name, seeds in cells.items():
            for k, row in enumerate(seeds):
                chosen = resamples.seed_choice % 2 == k
                pick = slice(None) if rows is None else rows
                expected = binary_metrics(
                    np.array(row["prediction"])[pick], truth.values[pick], row["threshold"], counts[chosen][:, pick]
                )
                for metric_name, values in expected.items():
                    np.testing.assert_allclose(scored[name][1][metric_name][chosen], values, rtol=1e-12)
