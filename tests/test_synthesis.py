"""The synthesis core on small real tables: every synthesizer, reproducibility, messy columns, boosts, top-ups."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from hybrid_data.categoricals import OTHER
from hybrid_data.plan import Plan, PlanError, parse_plan
from hybrid_data.synthesis import SynthesisError, fit_settings, fit_synthesizer, sample_pool

from .conftest import tiny_frame


def _plan(**synthesis) -> Plan:
    settings = {"epochs": 1, "batch_size": 100, **synthesis}
    return Plan.model_validate({"name": "t", "source": {"path": "x.csv"}, "target": "Class", "synthesis": settings})


@pytest.fixture(scope="module")
def real() -> pl.DataFrame:
    return tiny_frame(good=170, bad=30)


@pytest.fixture(scope="module")
def messy() -> pl.DataFrame:
    """Loans with what real tables have: a 3,000-level text column, an ID, an e-mail, dates and missing incomes."""
    # Few numeric columns: CTGAN fits a mixture model per numeric column, the slow part at a single epoch.
    frame = tiny_frame(good=3600, bad=400).select("Class", "term", "addr_state", "int_rate", "annual_inc")
    rng = np.random.default_rng(0)
    n = frame.height
    # Every one of 3,000 merchants appears; a few dozen popular ones take the remaining rows.
    merchants = np.concatenate([np.arange(3000), rng.zipf(1.5, n - 3000) % 50])
    return frame.with_columns(
        pl.Series("merchant", [f"m{int(x)}" for x in rng.permutation(merchants)]),
        pl.Series("loan_id", np.arange(10_000, 10_000 + n)),
        pl.Series("email", [f"borrower{i}@example.com" for i in range(n)]),
        pl.Series("opened", [dt.datetime(2015, 1, 1) + dt.timedelta(hours=int(h)) for h in rng.integers(0, 20_000, n)]),
        pl.Series("due", [dt.date(2016, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 700, n)]),
        pl.when(pl.int_range(n) % 5 == 0).then(None).otherwise(pl.col("annual_inc")).alias("annual_inc"),
    )


@pytest.mark.parametrize("name", ["gaussian_copula", "ctgan", "tvae", "copulagan"])
def test_each_synthesizer_fits_and_samples_the_real_schema(real, name):
    progress: list[str] = []
    fitted = fit_synthesizer(name, real, _plan(synthesizers=[name]), progress=progress.append)
    pool = sample_pool(fitted, 150, seed=3).frame
    assert pool.height == 150
    assert pool.schema == real.schema
    assert set(pool["Class"].unique()) <= set(real["Class"].unique())
    if name != "gaussian_copula":  # deep fits report epoch and loss as they go
        assert progress and progress[-1].startswith(f"{name}: epoch 1/1, ")


@pytest.mark.parametrize("name", ["gaussian_copula", "tvae"])
def test_the_same_seed_gives_the_same_pool_bit_for_bit(real, name, monkeypatch):
    monkeypatch.setenv("HYBRID_DATA_THREADS", "1")  # the thread count changes float reductions (documented)
    plan = _plan(synthesizers=[name])
    first = sample_pool(fit_synthesizer(name, real, plan), 200, seed=11).frame
    again = sample_pool(fit_synthesizer(name, real, plan), 200, seed=11).frame
    other = sample_pool(fit_synthesizer(name, real, plan), 200, seed=12).frame
    assert first.equals(again)
    assert not first.equals(other)


def test_topping_up_keeps_rows_and_draws_new_ones(real):
    fitted = fit_synthesizer("gaussian_copula", real, _plan())
    head = sample_pool(fitted, 100, seed=5).frame
    assert sample_pool(fitted, 100, seed=5).frame.equals(head)  # sampling again does not drift
    extra = sample_pool(fitted, 100, seed=5, offset=100).frame
    assert not extra.equals(head)
    assert head.join(extra, on=head.columns, how="semi", nulls_equal=True).height == 0


def test_a_large_pool_is_sampled_in_seeded_blocks_the_same_in_forked_workers(messy, monkeypatch):
    """A request larger than a block is its blocks, each as if sampled alone from its own offset (so the rows do
    not depend on scheduling), and forked workers give bit-identical rows to one process; regenerated IDs stay
    distinct across blocks."""
    plan = _plan(id_columns=["loan_id"], pii_columns=["email"], max_categories=40)
    fitted = fit_synthesizer("gaussian_copula", messy, plan)
    monkeypatch.setenv("HYBRID_DATA_THREADS", "1")
    alone = [
        sample_pool(fitted, size, seed=4, offset=start, real=messy).frame
        for start, size in ((0, 90), (90, 90), (180, 30))
    ]
    in_one = sample_pool(fitted, 210, seed=4, real=messy, block_rows=90).frame
    monkeypatch.setenv("HYBRID_DATA_THREADS", "2")
    forked = sample_pool(fitted, 210, seed=4, real=messy, block_rows=90).frame
    assert in_one.equals(pl.concat(alone))
    assert forked.equals(in_one)
    assert in_one["loan_id"].n_unique() == 210 and in_one.schema == messy.schema


def test_messy_columns_are_handled_and_round_trip(messy):
    plan = _plan(synthesizers=["ctgan"], id_columns=["loan_id"], pii_columns=["email"], max_categories=40)
    fitted = fit_synthesizer("ctgan", messy, plan)
    pool = sample_pool(fitted, 400, seed=1, real=messy).frame
    assert pool.schema == messy.schema

    # The 3,000-level column is modeled as 39 levels plus other, and comes back as real levels only.
    [cap] = [c for c in fitted.caps if c.column == "merchant"]
    assert (cap.levels, len(cap.kept)) == (3000, 39)
    assert any("merchant" in note and "max_categories" in note for note in fitted.notes)
    assert OTHER not in pool["merchant"].to_list()
    assert pool["merchant"].is_in(messy["merchant"].implode()).all()

    # ID and PII columns are never modeled, and no real value of theirs reaches the pool.
    assert {"loan_id", "email"}.isdisjoint(fitted.sdtypes)
    assert not pool["email"].is_in(messy["email"].implode()).any()
    assert pool["email"].str.contains("@").all()
    assert not pool["loan_id"].is_in(messy["loan_id"].implode()).any()
    assert pool["loan_id"].n_unique() == pool.height

    # Nulls and dates survive: a similar share of missing incomes, datetimes in the real range.
    assert 0.1 < pool["annual_inc"].null_count() / pool.height < 0.3
    assert pool["annual_inc"].drop_nulls().len() > 0
    for column in ("opened", "due"):
        assert pool[column].null_count() == 0
        assert messy[column].min() <= pool[column].min() and pool[column].max() <= messy[column].max()
        assert pool[column].n_unique() > 10


def test_pii_columns_can_be_left_empty(messy):
    plan = _plan(synthesizers=["gaussian_copula"], pii_columns=["email", "loan_id"], pii_fill="null")
    pool = sample_pool(fit_synthesizer("gaussian_copula", messy, plan), 50, seed=1, real=messy).frame
    assert pool["email"].null_count() == 50 and pool["loan_id"].null_count() == 50
    assert pool.schema == messy.schema


def test_sdv_pii_misdetection_is_caught_and_reported(messy):
    """SDV detects a plain category column named like personal data (here `city`) as PII and would fill it with
    random text (SDV issue 2413); the column is a real feature here, so it is modeled and the user told."""
    frame = messy.select("Class", "annual_inc").with_columns(
        pl.Series("city", [f"Town {i % 30}" for i in range(messy.height)])
    )
    fitted = fit_synthesizer("gaussian_copula", frame, _plan())
    assert fitted.sdtypes["city"] == "categorical"
    assert any("'city' as city" in note and "random values" in note for note in fitted.notes)
    pool = sample_pool(fitted, 100, seed=1).frame
    assert pool["city"].is_in(frame["city"].implode()).all()


def test_sdtype_overrides_come_from_the_plan(real):
    fitted = fit_synthesizer("gaussian_copula", real, _plan(sdtypes={"delinq_2yrs": "categorical"}))
    assert fitted.sdtypes["delinq_2yrs"] == "categorical"


def test_boost_reaches_the_requested_class_share(real):
    fitted = fit_synthesizer("gaussian_copula", real, _plan())
    chunk = sample_pool(fitted, 400, seed=2, boost_target_shares={"bad": 0.4})
    assert chunk.requested_shares == {"bad": 0.4, "good": 0.6}
    assert abs(chunk.achieved_shares["bad"] - 0.4) <= 0.02
    # Rows are shuffled, so any head of the pool (what a blend takes) is balanced too.
    assert 0.25 < (chunk.frame.head(100)["Class"] == "bad").mean() < 0.55


def test_reject_sampling_shortfall_is_filled_and_reported(real):
    """TVAE samples conditions by rejection (it has no conditional vector); with one try it cannot reach 95% of a
    15% class. The pool is still full and the balance reached is reported, not the one asked for."""
    fitted = fit_synthesizer("tvae", real, _plan(synthesizers=["tvae"]))
    chunk = sample_pool(fitted, 200, seed=2, boost_target_shares={"bad": 0.95}, boost_max_tries=1)
    assert chunk.frame.height == 200
    assert chunk.achieved_shares["bad"] < 0.9
    assert any("by rejection" in note and "boost_max_tries" in note for note in chunk.notes)


def test_unknown_class_in_a_boost_is_a_clear_error(real):
    with pytest.raises(SynthesisError, match=r"names \['Bad'\].*classes: bad, good"):
        fit_synthesizer("gaussian_copula", real, _plan(boost_target_shares={"Bad": 0.3}))
    fitted = fit_synthesizer("gaussian_copula", real, _plan())
    with pytest.raises(SynthesisError, match=r"names \['meh'\]"):
        sample_pool(fitted, 10, seed=1, boost_target_shares={"meh": 0.3})


def test_plan_errors_name_the_field(tmp_path, real):
    with pytest.raises(PlanError, match="boost_target_shares"):
        parse_plan(
            "name: t\nsource: {path: x.csv}\ntarget: Class\nsynthesis: {boost_target_shares: {bad: 1.5}}", tmp_path
        )
    with pytest.raises(PlanError, match="both id_columns and pii_columns"):
        parse_plan(
            "name: t\nsource: {path: x.csv}\ntarget: Class\nsynthesis: {id_columns: [a], pii_columns: [a]}", tmp_path
        )
    with pytest.raises(SynthesisError, match=r"synthesis.pii_columns names \['ssn'\]"):
        fit_synthesizer("gaussian_copula", real, _plan(pii_columns=["ssn"]))


def test_fit_fingerprint_ignores_sampling_and_other_synthesizers():
    base = fit_settings("gaussian_copula", _plan())
    assert fit_settings("gaussian_copula", _plan(synthesizers=["gaussian_copula", "ctgan"])) == base
    assert fit_settings("gaussian_copula", _plan(boost_target_shares={"bad": 0.3}, epochs=7)) == base
    assert fit_settings("gaussian_copula", _plan(default_distribution="beta")) != base
    assert fit_settings("ctgan", _plan(epochs=2)) != fit_settings("ctgan", _plan(epochs=3))
    assert fit_settings("ctgan", _plan(default_distribution="beta")) == fit_settings("ctgan", _plan())
    assert fit_settings("copulagan", _plan(default_distribution="beta")) != fit_settings("copulagan", _plan())


def test_big_tables_are_fitted_on_a_sample_but_keep_every_class(real):
    fitted = fit_synthesizer("gaussian_copula", real, _plan(max_fit_rows=120))
    assert any("random 120 of 200 real_train rows" in note for note in fitted.notes)
    # The boost still knows every class from all rows.
    chunk = sample_pool(fitted, 100, seed=1, boost_target_shares={"bad": 0.5})
    assert chunk.achieved_shares == {"bad": 0.5, "good": 0.5}
    assert not any("max_fit_rows" in note for note in fit_synthesizer("gaussian_copula", real, _plan()).notes)


def test_a_zero_inflated_column_keeps_its_zero_mass_through_the_copula():
    """70% exact zeros, more of them in one region: the copula's pool keeps the share within 4 points (a binomial
    standard deviation on 3,000 rows is 0.8 points; before the split a truncnorm marginal kept 0%), keeps more zeros
    in the region that has more (weakened: a copula's normal scores understate an association between two
    categories; 0.75 vs 0.65 here, 0.85 vs 0.55 real), and the positive part stays positive."""
    rng = np.random.default_rng(7)
    n = 3000
    region = rng.choice(["north", "south"], n)
    zero = rng.random(n) < np.where(region == "north", 0.85, 0.55)
    real = pl.DataFrame(
        {
            "claims": np.where(zero, 0.0, rng.lognormal(6, 1.0, n)),
            "region": region,
            "income": rng.normal(50, 10, n),
            "Class": rng.choice(["good", "bad"], n, p=[0.9, 0.1]),
        }
    )
    fitted = fit_synthesizer("gaussian_copula", real, _plan(synthesizers=["gaussian_copula"]))
    assert [s.column for s in fitted.zero_splits] == ["claims"]
    assert any("claims' is zero-inflated (70% zeros): modeled as a zero flag" in note for note in fitted.notes)
    pool = sample_pool(fitted, n, seed=1).frame
    assert pool.schema == real.schema
    share = (pool["claims"] == 0).mean()
    assert abs(share - (real["claims"] == 0).mean()) < 0.04
    by_region = pool.group_by("region").agg((pl.col("claims") == 0).mean().alias("zeros")).sort("region")
    assert by_region["zeros"][0] - by_region["zeros"][1] > 0.03  # 2 standard deviations of the difference
    assert pool.filter(pl.col("claims") != 0)["claims"].min() > 0
