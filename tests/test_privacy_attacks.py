"""Attack-based privacy risks on made-up people where the answer is known: a "synthesizer" that copies the real
rows leaks everything (risks near 1, intervals clear of 0), an independent generator of the same kind of people
leaks nothing beyond the control (risks near 0)."""

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest

from hybrid_data.plan import PlanError, Privacy, parse_plan
from hybrid_data.privacy_attacks import attack_report, resolve_attack_columns, risk_frame, risks_from_frame, wilson

SETTINGS = Privacy(
    attacks=200, sensitive_columns=["disease"], linkability_columns=[["age", "income"], ["city", "weight"]]
)


def people(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "weight": np.round(rng.normal(75, 12, n), 1),
            "city": rng.choice([f"c{i}" for i in range(20)], n),
            "sex": rng.choice(["f", "m"], n),
            "disease": rng.choice(["a", "b", "c", "d", "e"], n),
        }
    )


@pytest.fixture(scope="module")
def data() -> dict[str, pl.DataFrame]:
    return {"train": people(600, 1), "control": people(600, 2), "fresh": people(600, 3)}


def _by_name(risks):
    return {r.name: r for r in risks}


def test_copying_synthesizer_scores_every_risk_near_one(data):
    risks = _by_name(attack_report(data["train"], data["train"], data["control"], SETTINGS, "disease", seed=0))
    assert set(risks) == {"singling_out_univariate", "singling_out_multivariate", "linkability", "inference:disease"}
    for risk in risks.values():
        assert risk.risk > 0.85, risk
        assert risk.risk_low > 0.5, risk  # the interval excludes 0 by far
        assert risk.beats_baseline


def test_independent_generator_scores_near_zero(data):
    risks = attack_report(data["train"], data["fresh"], data["control"], SETTINGS, "disease", seed=0)
    for risk in risks:
        assert risk.risk < 0.15, risk
        assert risk.risk_low == 0.0, risk  # no detectable risk: the interval includes 0


def test_wilson_interval_matches_scipy():
    for successes, attacks in [(0, 50), (7, 200), (199, 200), (500, 500)]:
        rate = wilson(successes, attacks, 0.95)
        reference = binomtest(successes, attacks).proportion_ci(0.95, method="wilson")
        assert rate.value - rate.error == pytest.approx(reference.low, abs=1e-9)
        assert rate.value + rate.error == pytest.approx(reference.high, abs=1e-9)


def test_defaults_take_the_target_as_sensitive_and_split_the_rest(data):
    columns = resolve_attack_columns(Privacy(), "disease", data["train"].columns)
    assert columns.sensitive == ["disease"]
    assert columns.auxiliary == ["age", "income", "weight", "city", "sex"]
    assert columns.split == (["age", "weight", "sex"], ["income", "city"])


def test_unknown_columns_name_the_plan_key(data):
    with pytest.raises(ValueError, match=r"privacy.sensitive_columns names \['salary'\]"):
        resolve_attack_columns(Privacy(sensitive_columns=["salary"]), "disease", data["train"].columns)


def test_plan_rejects_overlapping_columns(tmp_path):
    text = "name: x\nsource: {path: a.csv}\ntarget: y\nprivacy: {sensitive_columns: [a], auxiliary_columns: [a, b]}"
    with pytest.raises(PlanError, match="in both sensitive_columns and auxiliary_columns"):
        parse_plan(text, tmp_path)


def test_risk_frame_is_joinable_by_synthesizer_and_epsilon(data):
    risks = attack_report(data["train"], data["fresh"], data["control"], SETTINGS, "disease", seed=0)
    frame = risk_frame(risks, "dp_mst", 1.0)
    assert frame.height == 4
    assert frame.select("synthesizer", "epsilon").unique().rows() == [("dp_mst", 1.0)]
    assert {"risk_name", "risk", "risk_low", "risk_high", "control_rate", "baseline_rate"} <= set(frame.columns)
    assert (frame["risk_low"] <= frame["risk"]).all() and (frame["risk"] <= frame["risk_high"]).all()
    # What the checks read back is what the attacks gave, and every row names its method and control.
    assert risks_from_frame(frame) == risks
    assert frame["control"].str.starts_with("real_holdout").all() and frame["method"].is_not_null().all()


def test_dates_and_booleans_are_attacked_like_any_column():
    rng = np.random.default_rng(4)

    def rows(n: int, seed: int) -> pl.DataFrame:
        days = pl.date_range(pl.date(2020, 1, 1), pl.date(2024, 1, 1), eager=True)
        return people(n, seed).with_columns(
            days.sample(n, with_replacement=True, seed=seed).alias("opened"), pl.Series("active", rng.random(n) < 0.3)
        )

    train, control = rows(300, 5), rows(300, 6)
    risks = _by_name(attack_report(train, train, control, Privacy(attacks=60), "disease", seed=0))
    assert risks["singling_out_multivariate"].risk > 0.8 and risks["inference:disease"].risk > 0.8


def test_blend_report_says_what_it_measured(data):
    from checks.privacy_checks import blend_attack_outcome
    from hybrid_data.privacy_attacks import blend_risks

    train, control, fresh = data["train"], data["control"], data["fresh"]
    quick = Privacy(attacks=60, sensitive_columns=["disease"])
    pool = attack_report(train, train, control, quick, "disease", seed=0)  # a pool that copies real_train
    args = (train, control, quick, "disease", 0)

    real_only = blend_risks(fresh.head(0), 600, 600, pool, *args)
    outcome = blend_attack_outcome(real_only, pool, 0.1)
    assert real_only.attacked_with == "none" and outcome.passed
    assert outcome.metadata["real_train_share_disclosed"] == 1.0  # its real rows are shared as they are

    reused = blend_risks(train.head(300), 600, 600, pool, *args)  # reruns off: the pool's report stands
    assert reused.attacked_with == "synthetic_pool" and reused.risks == pool
    assert not blend_attack_outcome(reused, pool, 0.1).passed

    rerun = blend_risks(
        fresh.head(300),
        300,
        600,
        pool,
        *(train, control, quick.model_copy(update={"blend_attacks": True}), "disease", 0),
    )
    outcome = blend_attack_outcome(rerun, pool, 0.1)
    assert rerun.attacked_with == "blend_synthetic_rows" and outcome.passed  # fresh rows: nothing beyond control
    assert outcome.metadata["linkability.vs_pool"] == "below the pool's"
    assert outcome.metadata["inference:disease.risk"].endswith("(95% interval)")
    assert blend_risks(fresh.head(300), 300, 600, None, *args).attacked_with == "not_measured"


def _polars_count(frame: pl.DataFrame, query) -> int:
    """The rows of `frame` a query matches, by polars' null semantics and IEEE NaN (the kernel's reference)."""
    expression = pl.lit(True)
    for p in query:
        column = pl.col(p.column)
        if p.op == "is_null":
            term = column.is_null()
        elif p.op == "not_null":
            term = column.is_not_null()
        else:
            value = pl.lit(p.value, dtype=frame.schema[p.column])
            term = {
                "==": column == value,
                "!=": column != value,
                ">": column > value,
                "<": column < value,
                ">=": column >= value,
                "<=": column <= value,
            }[p.op]
            if frame.schema[p.column].is_float() and p.op != "!=":
                term = term & column.is_not_nan()  # NaN compares false (IEEE); polars orders it above all
        expression = expression & term.fill_null(False)
    return frame.filter(expression).height


def test_match_counts_equal_polars_filters_across_blocks_nulls_and_subsamples():
    """The compiled counter (column-major blocks, nulls as NaN) counts what a polars filter counts, capped at
    `stop_at`: every operator, nulls and NaN, text, dates, queries of 1-3 columns, more rows than one block, and
    a subsample taken for the singling-out curve."""
    import datetime as dt

    from hybrid_data.privacy_attacks import OPS, Predicate, QueryTarget, _dictionary

    rng = np.random.default_rng(7)
    n = 9_000  # more than two of the kernel's 4,096-row blocks
    frame = pl.DataFrame(
        {
            "x": rng.integers(0, 40, n).astype(float),
            "k": rng.choice(["a", "b", "c", "d"], n),
            "day": [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 30, n)],
            "m": rng.integers(0, 5, n),
            "u": rng.permutation(n).astype(float),  # distinct: its extremes and values single out one row
        }
    ).with_columns(
        pl.when(pl.int_range(n) % 7 == 0).then(None).otherwise(pl.col("x")).alias("x"),
        pl.when(pl.int_range(n) % 11 == 0).then(None).otherwise(pl.col("k")).alias("k"),
    )
    frame = frame.with_columns(pl.when(pl.int_range(n) % 13 == 0).then(float("nan")).otherwise(pl.col("x")).alias("x"))
    values = {
        "x": [0.0, 5.0, 39.0, 17.0],
        "k": ["a", "d", "zz"],
        "day": [dt.date(2020, 1, 1), dt.date(2020, 1, 15)],
        "m": [0, 2, 4],
        "u": [0.0, 1.0, 8_999.0, 4_321.0],
    }
    queries = []
    for _ in range(400):
        parts = []
        for name in rng.choice(list(values), size=int(rng.integers(1, 4)), replace=False):
            ops = list(OPS) if name != "k" else ["==", "!=", "is_null", "not_null"]
            op = ops[int(rng.integers(len(ops)))]
            parts.append(Predicate(str(name), op, values[name][int(rng.integers(len(values[name])))]))
        queries.append(tuple(parts))
    target = QueryTarget(frame, _dictionary(frame))
    expected = np.array([_polars_count(frame, q) for q in queries])
    assert expected.max() > 2 and (expected == 1).any() and (expected == 0).any()  # the caps are exercised
    assert np.array_equal(target.counts(queries, stop_at=10**9), expected)
    assert np.array_equal(target.counts(queries, stop_at=2), np.minimum(expected, 2))
    rows = np.sort(rng.choice(n, 5_000, replace=False))
    sample = frame[rows]
    expected_sample = np.array([_polars_count(sample, q) for q in queries])
    assert np.array_equal(target.take(rows).counts(queries, stop_at=10**9), expected_sample)
