"""The differentially private synthesizer: the budget it records is the plan's, its output moves towards the
real distribution as epsilon grows, and it runs through the project's fit and sample path."""

import math

import numpy as np
import polars as pl
import pytest

from hybrid_data.dp_synthesizer import epsilon_for, fit_dp, rho_for
from hybrid_data.plan import DifferentialPrivacy, PlanError, parse_plan


def dependent(n: int, seed: int) -> pl.DataFrame:
    """`twin` follows `level` 90% of the time; `amount` grows with it; `noise` is independent."""
    rng = np.random.default_rng(seed)
    level = rng.choice(list("ABCDEF"), n, p=[0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    twin = np.where(rng.random(n) < 0.9, level, rng.choice(list("ABCDEF"), n))
    amount = (np.searchsorted(list("ABCDEF"), level) * 10 + rng.normal(0, 2, n)).round(1)
    return pl.DataFrame({"level": level, "twin": twin, "amount": amount, "noise": rng.integers(0, 5, n)})


def total_variation(a: pl.DataFrame, b: pl.DataFrame, columns: list[str]) -> float:
    shares = [f.group_by(columns).len().with_columns(pl.col("len") / f.height) for f in (a, b)]
    joined = shares[0].join(shares[1], on=columns, how="full", coalesce=True).fill_null(0.0)
    return float((joined["len"] - joined["len_right"]).abs().sum() / 2)


def test_recorded_budget_is_the_plans():
    real = dependent(3000, 1)
    for settings in (
        DifferentialPrivacy(epsilon=1.0, delta=1e-6),
        DifferentialPrivacy(
            epsilon=0.5,
            delta=1e-7,
            bounds={"amount": (-10.0, 70.0), "noise": (0.0, 5.0)},
            categories={"level": list("ABCDEF"), "twin": list("ABCDEF")},
        ),
    ):
        ledger = fit_dp(real, settings, seed=0).ledger
        assert ledger.epsilon == pytest.approx(settings.epsilon, rel=1e-9)
        assert ledger.delta == pytest.approx(settings.delta, rel=1e-9)
    # Bounds and categories from the plan are free; otherwise each is a charge in the ledger.
    charged = [what for what, _, _ in fit_dp(real, DifferentialPrivacy(epsilon=1.0), 0).ledger.entries]
    assert {"bounds of amount", "bounds of noise", "categories of level", "categories of twin"} <= set(charged)
    free = fit_dp(real, settings, 0).ledger.entries
    assert not [what for what, _, _ in free if what.startswith(("bounds", "categories"))]


def test_zcdp_conversion_round_trips():
    for epsilon, delta in [(0.1, 1e-6), (1.0, 1e-6), (8.0, 1e-9)]:
        assert epsilon_for(rho_for(epsilon, delta), delta) == pytest.approx(epsilon, rel=1e-12)
    # Bun and Steinke's conversion, written out for one value.
    assert epsilon_for(0.5, 1e-5) == pytest.approx(0.5 + 2 * math.sqrt(0.5 * math.log(1e5)))


def test_output_approaches_the_real_distribution_as_epsilon_grows():
    real = dependent(4000, 2)
    settings = {
        "bounds": {"amount": (-10.0, 70.0), "noise": (0.0, 5.0)},
        "categories": {c: list("ABCDEF") for c in ("level", "twin")},
    }

    def gap(epsilon: float) -> float:
        gaps = []
        for seed in range(3):
            fitted = fit_dp(real, DifferentialPrivacy(epsilon=epsilon, **settings), seed)
            gaps.append(total_variation(fitted.sample(4000, seed), real, ["level", "twin"]))
        return float(np.mean(gaps))

    tight, loose = gap(0.02), gap(20.0)
    assert loose < 0.12  # a large budget keeps the dependence between level and twin
    assert tight > loose + 0.15  # a tiny one buries it in noise


def test_plan_refuses_a_dp_synthesizer_without_epsilon(tmp_path):
    text = "name: x\nsource: {path: a.csv}\ntarget: y\nsynthesis: {synthesizers: [dp_mst]}"
    with pytest.raises(PlanError, match=r"set synthesis.dp.epsilon"):
        parse_plan(text, tmp_path)
    with pytest.raises(PlanError, match=r"synthesis.dp.epsilon: Field required"):
        parse_plan(text.replace("[dp_mst]}", "[dp_mst], dp: {delta: 1.0e-6}}"), tmp_path)


@pytest.mark.slow
def test_dp_mst_through_fit_and_sample(tmp_path):
    from hybrid_data.synthesis import fit_synthesizer, sample_pool

    real = dependent(2000, 3).with_columns(pl.col("level").alias("Class"))
    plan = parse_plan(
        "name: x\nsource: {path: a.csv}\ntarget: Class\nsynthesis: {synthesizers: [dp_mst], dp: {epsilon: 2.0}}",
        tmp_path,
    )
    fitted = fit_synthesizer("dp_mst", real, plan)
    assert "epsilon 2," in fitted.notes[0] and "privacy unit: one row" in fitted.notes[0]
    pool = sample_pool(fitted, 500, seed=1, real=real).frame
    assert pool.schema == real.schema and pool.height == 500
    assert sample_pool(fitted, 500, seed=1, real=real).frame.equals(pool)  # same seed, same rows
