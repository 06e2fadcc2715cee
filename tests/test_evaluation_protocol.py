"""One protocol for every cell: same estimator settings and iteration policy, the same real validation rows held
out of every cell (blend, real-only, TSTR, classical baselines), and untrainable cells recorded, not crashed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hybrid_data.evaluation.baselines import train_baseline_cells
from hybrid_data.evaluation.cell_training import train_blend_cell
from hybrid_data.evaluation.protocol import in_validation, protocol_for, training_rows, validation_slice
from hybrid_data.plan import Task, parse_plan
from hybrid_data.source import ORIGIN_COLUMN


def make_plan(extra: str = "", model: str = "{kind: hist_gradient_boosting, params: {max_iter: 40}}"):
    text = f"name: t\nsource: {{path: x.csv}}\ntarget: label\nseed: 3\nmodel: {model}\n"
    text += "evaluation: {repeats: 3, bootstrap: 200" + (f", {extra}" if extra else "") + "}\n"
    return parse_plan(text, Path("."))


def loans(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    label = np.where(x + rng.normal(scale=0.8, size=n) > 1.4, "bad", "good")
    return pl.DataFrame(
        {
            "amount": rng.integers(1_000, 30_000, size=n),
            "x": x,
            "region": rng.choice(["north", "south", "east"], size=n),
            "noise_a": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
            "label": label,
        }
    )


def blend_of(real: pl.DataFrame, synthetic: pl.DataFrame) -> pl.DataFrame:
    # As compose_blend does: a float synthetic column widens the real integer column in the blend.
    return pl.concat(
        [
            real.with_columns(pl.lit("real").alias(ORIGIN_COLUMN)),
            synthetic.with_columns(pl.col("amount").cast(pl.Float64) + 0.5, pl.lit("synthetic").alias(ORIGIN_COLUMN)),
        ],
        how="vertical_relaxed",
    ).sample(fraction=1.0, shuffle=True, seed=1)


@pytest.fixture(scope="module")
def data():
    return loans(700, 1), loans(300, 2), loans(1400, 3)  # real_train, holdout, a synthetic pool


def test_validation_slice_is_chosen_by_row_content(data):
    real_train, _, _ = data
    protocol = protocol_for(make_plan(), Task.binary)
    chosen = validation_slice(real_train, protocol)
    assert 0.12 < chosen.height / real_train.height < 0.28
    shuffled = validation_slice(real_train.sample(fraction=1.0, shuffle=True, seed=9), protocol)
    assert shuffled.sort(real_train.columns).equals(chosen.sort(real_train.columns))
    # Inside a blend whose integer column was widened to float, the same real rows are recognised.
    widened = real_train.with_columns(pl.col("amount").cast(pl.Float64))
    np.testing.assert_array_equal(
        in_validation(widened, real_train.schema, protocol), in_validation(real_train, real_train.schema, protocol)
    )


@pytest.mark.slow
def test_every_cell_follows_one_protocol(data):
    """Real-only (700 rows), a large blend (2,100 rows), TSTR and the classical baselines: same estimator
    settings, explicit early stopping on the same real validation rows, none of those rows trained on."""
    real_train, holdout, pool = data
    plan = make_plan()
    protocol = protocol_for(plan, Task.binary)
    params = protocol.estimator_params
    assert params["early_stopping"] is True and params["validation_fraction"] is None  # never sklearn's 'auto'
    validation = validation_slice(real_train, protocol)
    frames, fits = [], []
    for ratio, synthetic in ((0.0, pool[:0]), (2 / 3, pool), (1.0, pool[:700])):
        blend = blend_of(real_train if ratio < 1 else real_train[:0], synthetic)
        frame, fit = train_blend_cell(plan, Task.binary, "copula", ratio, blend, real_train, holdout, [])
        kept = training_rows(blend, real_train, protocol)
        # Every real validation row is out of the training rows; no synthetic row was removed.
        kept_real = kept.filter(pl.col(ORIGIN_COLUMN) == "real").drop(ORIGIN_COLUMN).cast(dict(real_train.schema))
        assert kept_real.join(validation, on=real_train.columns, how="semi").height == 0
        assert kept_real.height == (real_train.height - validation.height if ratio < 1 else 0)
        assert (kept[ORIGIN_COLUMN] == "synthetic").sum() == synthetic.height
        assert fit.train_rows == kept.height and fit.validation_rows == validation.height
        frames.append(frame)
        fits.append(fit)
    baselines = train_baseline_cells(plan, Task.binary, real_train, holdout)
    assert baselines["cell"].unique(maintain_order=True).to_list() == [
        "class weighting",
        "random oversampling",
        "SMOTE-NC",
    ]
    cells = pl.concat([*frames, baselines], how="diagonal_relaxed")
    assert (cells["status"] == "trained").all()
    assert cells["protocol_fingerprint"].n_unique() == 1
    assert cells["validation_version"].n_unique() == 1
    assert cells["validation_rows"].n_unique() == 1
    assert cells.group_by("cell").agg(pl.col("seed").sort()).get_column("seed").to_list() == [[3, 4, 5]] * 6

    # The fitted estimators differ only by their seed: same iteration policy and the same ceiling everywhere.
    def comparable(params: dict) -> dict:
        return {
            k: np.asarray(v).tolist() if hasattr(v, "shape") else v for k, v in params.items() if k != "random_state"
        }

    fitted = [comparable(f.model[-1].get_params()) for f in fits]
    for other in fitted[1:]:
        assert other == fitted[0]
    assert all(1 <= r <= params["max_iter"] for r in cells["rounds"].to_list())
    assert json.loads(cells["protocol"][0])["estimator_params"]["n_iter_no_change"] == 10


def test_seeds_vary_the_model_unless_it_ignores_them(data):
    real_train, holdout, _ = data
    varied, _ = train_blend_cell(make_plan(), Task.binary, "copula", 0.0, real_train, real_train, holdout, [])
    predictions = np.array(varied["prediction"].to_list())
    assert len(predictions) == 3 and not np.allclose(predictions[0], predictions[1])
    fixed_plan = make_plan(model="{kind: hist_gradient_boosting, params: {max_iter: 40, max_features: 1.0}}")
    assert not protocol_for(fixed_plan, Task.binary).seed_sensitive
    single, _ = train_blend_cell(fixed_plan, Task.binary, "copula", 0.0, real_train, real_train, holdout, [])
    assert single.height == 1  # one fit stands for every repeat of a model that ignores its seed
    linear, _ = train_blend_cell(
        make_plan(model="{kind: logistic_regression}"), Task.binary, "copula", 0.0, real_train, real_train, holdout, []
    )
    assert linear.height == 1 and linear["status"][0] == "trained"


def test_a_cell_without_the_minority_class_is_untrainable_not_a_crash(data):
    real_train, holdout, pool = data
    one_class = blend_of(real_train[:0], pool.filter(pl.col("label") == "good"))
    frame, fit = train_blend_cell(make_plan(), Task.binary, "copula", 1.0, one_class, real_train, holdout, [])
    assert fit is None
    assert frame.height == 1
    assert frame["status"][0].startswith("untrainable: ") and "single class" in frame["status"][0]
    assert frame["prediction"][0] is None


def test_unknown_group_column_is_a_clear_error(data):
    real_train, holdout, _ = data
    with pytest.raises(ValueError, match="evaluation.groups names column 'age'"):
        train_blend_cell(make_plan("groups: [age]"), Task.binary, "copula", 0.0, real_train, real_train, holdout, [])


@pytest.mark.parametrize("task", [Task.binary, Task.regression])
def test_a_cell_scores_the_same_on_any_number_of_threads(task, monkeypatch):
    """Large HistGradientBoosting cells take the free cores (the compute rule), which is only sound because its
    trees do not depend on the thread count: the same predictions, to the bit, on one thread and on two."""
    from hybrid_data.evaluation import protocol
    from hybrid_data.instance import THREADS_ENV

    real_train, holdout = loans(6000, 4), loans(2000, 5)
    if task is Task.regression:
        real_train, holdout = (
            f.with_columns(pl.col("amount").cast(pl.Float64).alias("label")) for f in (real_train, holdout)
        )
    monkeypatch.setattr(protocol, "SHARED_FIT_ROWS", 0)
    predictions = []
    for threads in ("1", "2"):
        monkeypatch.setenv(THREADS_ENV, threads)
        cell, _ = train_blend_cell(make_plan(), task, "copula", 0.0, real_train, real_train, holdout, [])
        predictions.append(np.array(cell["prediction"].to_list()))
    assert np.array_equal(predictions[0], predictions[1])


def test_only_large_tree_fits_take_more_than_the_step_cap(monkeypatch):
    import contextlib

    from threadpoolctl import threadpool_info

    from hybrid_data.evaluation import protocol
    from hybrid_data.instance import THREADS_ENV

    trees, linear = make_plan(), make_plan(model="{kind: logistic_regression}")
    monkeypatch.setenv(THREADS_ENV, "2")  # the rule's fixed count, so what it gives is known here
    with protocol._fit_threads(trees, protocol.SHARED_FIT_ROWS):
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"} == {2}
    ruled = []
    monkeypatch.setattr(protocol, "fit_threads", lambda: ruled.append(True) or contextlib.nullcontext())
    with protocol._fit_threads(trees, protocol.SHARED_FIT_ROWS - 1):
        pass
    with protocol._fit_threads(linear, 10 * protocol.SHARED_FIT_ROWS):
        pass
    with protocol._fit_threads(trees, protocol.SHARED_FIT_ROWS, resampled=True):
        pass
    assert ruled == []  # a small fit, a linear model and an oversampled baseline (BLAS sums) keep the cap
    with protocol._fit_threads(trees, protocol.SHARED_FIT_ROWS):
        pass
    assert ruled == [True]
