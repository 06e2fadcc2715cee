"""Type decisions, ingest parsing, model features and starter-plan proposals on tiny frames (fast)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml

from hybrid_data.column_types import Kind, class_shares, decide_types, infer_task
from hybrid_data.features import (
    MAX_NATIVE_LEVELS,
    FeatureError,
    build_model,
    datetime_parts,
    minority_label,
    target_labels,
    to_features,
)
from hybrid_data.fidelity import sdmetrics_metadata
from hybrid_data.plan import Plan, PlanError, Task, parse_plan
from hybrid_data.source import SourceError, load_real_source, with_real_types
from hybrid_data.starter_plan import propose, render_plan, write_starter_plan


def make_plan(target: str = "y", **fields) -> Plan:
    return Plan.model_validate({"name": "t", "source": {"path": "x.csv"}, "target": target, **fields})


@pytest.fixture
def messy() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pl.DataFrame(
        {
            "flag01": rng.integers(0, 2, n),
            "region": rng.choice([101, 205, 310, 422, 999], n),
            "zone": rng.choice([3, 17, 29, 44], n),  # codes: no zero, gaps, a plain name
            "visits": rng.poisson(1.0, n),  # a count: starts at zero, contiguous
            "is_member": rng.random(n) < 0.3,
            "customer_id": np.arange(n) + 1000,
            "token": [f"tok{i:05d}" for i in range(n)],
            "comment": [" ".join(rng.choice(["a", "late", "fee", "call"], 5)) + f" {i}" for i in range(n)],
            "opened": pl.date_range(datetime(2020, 1, 1), datetime(2021, 2, 3), eager=True)[:n],
            "claims": np.where(rng.random(n) < 0.6, 0.0, rng.gamma(2.0, 100.0, n)),
            "income": rng.normal(5e4, 1e4, n),
            "y": rng.integers(0, 2, n),
        }
    )


def test_types_follow_meaning_not_storage(messy):
    types = decide_types(messy, make_plan())
    kinds = {name: t.kind for name, t in types.items()}
    assert kinds == {
        "flag01": Kind.categorical,
        "region": Kind.categorical,
        "zone": Kind.categorical,
        "visits": Kind.numeric,
        "is_member": Kind.categorical,
        "customer_id": Kind.id,
        "token": Kind.id,
        "comment": Kind.text,
        "opened": Kind.datetime,
        "claims": Kind.numeric,
        "income": Kind.numeric,
        "y": Kind.categorical,  # a 0/1 classification target is a label
    }
    assert types["claims"].zero_inflated and not types["income"].zero_inflated
    assert "zero-inflated" in types["claims"].reason
    assert types["y"].sdtype == "categorical" and types["visits"].sdtype == "numerical"


def test_plan_overrides_win_and_regression_targets_stay_numbers(messy):
    plan = make_plan(
        target="income",
        columns={"region": {"type": "numeric"}, "visits": {"type": "categorical"}, "token": {"type": "text"}},
    )
    types = decide_types(messy, plan)
    assert types["region"].kind is Kind.numeric and types["region"].decided_by == "plan"
    assert types["visits"].kind is Kind.categorical and "columns.visits.type" in types["visits"].reason
    assert types["token"].kind is Kind.text
    assert types["income"].kind is Kind.numeric  # regression target
    # SDMetrics reads the same decision (one mapping for synthesis and fidelity).
    columns = sdmetrics_metadata(messy, plan)["columns"]
    assert columns["visits"]["sdtype"] == "categorical" and columns["region"]["sdtype"] == "numerical"


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (pl.Series([True, False, False]), Task.binary),
        (pl.Series([0, 1, 0, 0]), Task.binary),
        (pl.Series([0.0, 1.0, None]), Task.binary),
        (pl.Series(["a", "b", "c"]), Task.multiclass),
        (pl.Series([1, 2, 3, 2]), Task.multiclass),
        (pl.Series(list(range(50))), Task.regression),
        (pl.Series([0.5, 1.5, 2.25]), Task.regression),
    ],
)
def test_task_from_the_real_target(values, task):
    assert infer_task(values) is task


def test_class_shares_never_list_a_continuous_target():
    assert class_shares(pl.Series([1.5, 2.5, 3.5, 2.5]), Task.regression) == {}
    assert class_shares(pl.Series([True, False, False, False]), Task.binary) == {"false": 0.75, "true": 0.25}


def test_column_spec_options_must_fit_the_type():
    with pytest.raises(PlanError, match=r"columns\.x: 'order' applies to type 'ordered' only"):
        parse_plan("name: t\nsource: {path: a.csv}\ntarget: y\ncolumns: {x: {type: numeric, order: [a]}}\n", ".")
    with pytest.raises(PlanError, match=r"columns\.x\.type: Input should be"):
        parse_plan("name: t\nsource: {path: a.csv}\ntarget: y\ncolumns: {x: {type: number}}\n", ".")


def test_ingest_parses_iso_datetimes_once(tmp_path):
    frame = pl.DataFrame(
        {
            "at": ["2021-03-04T05:06:07Z", None, "2022-01-01T23:00:00+02:00"],
            "day": ["2021-03-04", "2021-03-05", ""],
            "eu": ["04/03/2021", "05/03/2021", None],
            "y": ["a", "b", "a"],
        }
    )
    parsed = with_real_types(frame, make_plan(columns={"eu": {"type": "datetime", "format": "%d/%m/%Y"}}))
    assert parsed.schema["at"] == pl.Datetime("us")  # UTC, without a zone
    assert parsed["at"].to_list() == [datetime(2021, 3, 4, 5, 6, 7), None, datetime(2022, 1, 1, 21, 0, 0)]
    assert parsed.schema["day"] == pl.Date and parsed["day"].null_count() == 1
    assert parsed["eu"].to_list()[:2] == [datetime(2021, 3, 4), datetime(2021, 3, 5)]
    # A zoned CSV column (polars parses `Z` itself) is normalised the same way.
    csv = tmp_path / "z.csv"
    csv.write_text("at,y\n2021-03-04T05:06:07Z,a\n2021-03-05T05:06:07Z,b\n")
    assert with_real_types(pl.read_csv(csv, try_parse_dates=True), make_plan()).schema["at"] == pl.Datetime("us")


def test_ingest_errors_name_the_column_and_the_plan_key(tmp_path):
    frame = pl.DataFrame({"when": ["04/03/2021", "junk"], "amount": ["1.5", "n/a"], "y": ["a", "b"]})
    with pytest.raises(SourceError, match=r"column 'when': 1 value\(s\) are not datetimes .*columns\.when\.format"):
        with_real_types(frame, make_plan(columns={"when": {"type": "datetime", "format": "%d/%m/%Y"}}))
    with pytest.raises(SourceError, match=r"column 'amount': 1 value\(s\) are not numbers .*columns\.amount\.type"):
        with_real_types(frame, make_plan(columns={"amount": {"type": "numeric"}}))
    csv = tmp_path / "d.csv"
    pl.DataFrame({"a": range(30), "y": ["p", "q"] * 15}).write_csv(csv)
    plan = Plan.model_validate(
        {"name": "t", "source": {"path": str(csv)}, "target": "y", "columns": {"nope": {"type": "numeric"}}}
    )
    with pytest.raises(SourceError, match=r"columns names \['nope'\].*fix the plan's columns section"):
        load_real_source(plan)


def test_boolean_target_labels_match_the_classes():
    real = pl.DataFrame({"y": [True] * 3 + [False] * 17})
    assert minority_label(real, "y") == "True"
    assert list(target_labels(real["y"])[:3]) == ["True"] * 3
    assert minority_label(pl.DataFrame({"y": [0] * 9 + [1]}), "y") == "1"
    assert minority_label(pl.DataFrame({"y": ["good"] * 9 + ["bad"]}), "y") == "bad"


def test_datetime_parts_match_pandas():
    stamps = pd.to_datetime(["2021-03-04 05:06:07", "1999-12-31 23:59:00", None])
    parts = datetime_parts(stamps.to_numpy().reshape(-1, 1))
    reference = np.c_[
        (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1),
        stamps.year,
        stamps.month,
        stamps.dayofweek,
        stamps.hour,
    ]
    np.testing.assert_allclose(parts[:2], reference[:2])
    assert np.isnan(parts[2]).all()


@pytest.mark.parametrize("kind", ["hist_gradient_boosting", "logistic_regression"])
def test_model_accepts_nulls_levels_datetimes_and_booleans(kind):
    rng = np.random.default_rng(1)
    n = 900
    frame = pl.DataFrame(
        {
            "text": [None if i % 5 == 0 else f"level_{i % 400}" for i in range(n)],  # > 255 levels, nulls
            "when": [None if i % 9 == 0 else datetime(2020, 1, 1 + i % 28, i % 24) for i in range(n)],
            "member": pl.Series([None if i % 7 == 0 else bool(i % 2) for i in range(n)], dtype=pl.Boolean),
            "region": rng.choice([101, 205, 310], n),
            "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "y": rng.random(n) < 0.2,
        }
    ).fill_nan(None)
    plan = make_plan(model={"kind": kind, "params": {"max_iter": 20}})
    columns = [c for c in frame.columns if c != "y"]
    model = build_model(plan, Task.binary, frame, columns)
    features = to_features(frame, columns)
    assert not any(isinstance(v, type(pd.NA)) for v in features["text"])
    model.fit(features, target_labels(frame["y"]))
    assert minority_label(frame, "y") in model.classes_
    probability = model.predict_proba(to_features(frame.head(50), columns))
    assert probability.shape == (50, 2) and np.isfinite(probability).all()
    if kind == "hist_gradient_boosting":
        codes = model.named_steps["prep"].transform(features)[:, 0]
        assert np.nanmax(codes) < MAX_NATIVE_LEVELS  # the 400-level column fits the native categorical limit


@pytest.mark.parametrize("kind, cap", [("hist_gradient_boosting", MAX_NATIVE_LEVELS), ("logistic_regression", 50)])
def test_encoders_leave_out_a_cap_no_column_reaches_and_encode_the_same(kind, cap):
    """A `max_categories` makes scikit-learn count every value in Python; below the cap the encoder drops it and
    encodes exactly as the capped one would. A column that reaches the cap (missing value counted) keeps it."""
    from sklearn.base import clone

    n = 3_000
    below = [None if i % 11 == 0 else f"l{i % (cap - 2)}" for i in range(n)]  # cap - 2 levels + missing
    at = [None if i % 11 == 0 else f"l{i % (cap - 1)}" for i in range(n)]  # cap - 1 levels + missing
    plan = make_plan(model={"kind": kind})
    for values, capped in ((below, False), (at, True)):
        frame = pl.DataFrame({"text": values, "x": np.arange(n, dtype=float), "y": np.arange(n) % 3 == 0})
        prep = build_model(plan, Task.binary, frame, ["text", "x"]).named_steps["prep"]
        encoder = prep.transformers[0][1]
        assert encoder.max_categories == (cap if capped else None)
        forced = clone(prep).set_params(nominal__max_categories=cap)
        features = to_features(frame, ["text", "x"])
        ours, reference = prep.fit_transform(features), forced.fit_transform(features)
        ours = ours.toarray() if hasattr(ours, "toarray") else ours
        reference = reference.toarray() if hasattr(reference, "toarray") else reference
        assert np.array_equal(ours, reference, equal_nan=True)


def test_ordered_columns_need_their_order():
    frame = pl.DataFrame({"size": ["s", "m", "l", "xl"] * 10, "y": ["a", "b"] * 20})
    with pytest.raises(FeatureError, match=r"column 'size' .*columns\.size\.order"):
        build_model(make_plan(columns={"size": {"type": "ordered"}}), Task.binary, frame, ["size"])
    with pytest.raises(FeatureError, match=r"values \['xl'\] missing from columns\.size\.order"):
        build_model(
            make_plan(columns={"size": {"type": "ordered", "order": ["s", "m", "l"]}}), Task.binary, frame, ["size"]
        )
    model = build_model(
        make_plan(columns={"size": {"type": "ordered", "order": ["s", "m", "l", "xl"]}}), Task.binary, frame, ["size"]
    )
    ranks = model.named_steps["prep"].fit_transform(to_features(frame, ["size"]))[:4, 0]
    assert list(ranks) == [0, 1, 2, 3]


def test_model_errors_name_the_plan_keys():
    frame = pl.DataFrame({"row_id": range(40), "y": ["a", "b"] * 20, "tags": [["x"], None] * 20})
    with pytest.raises(FeatureError, match=r"no feature column is left besides the target 'y'.*drop_columns"):
        build_model(make_plan(), Task.binary, frame, ["row_id"])
    tags = to_features(frame, ["tags"])["tags"]  # a list column reaches the model as text, nulls as NaN
    assert tags[0] == "['x']" and tags.isna().sum() == 20


def test_starter_plan_proposes_drops_with_reasons(tmp_path):
    rng = np.random.default_rng(3)
    n = 600
    y = rng.random(n) < 0.3
    frame = pl.DataFrame(
        {
            "account_id": np.arange(n),
            "payoff": np.where(y, rng.gamma(2, 100, n), 0.0),  # known only after the outcome
            "agent": [f"a{i % 4}" if v else None for i, v in enumerate(y)],  # filled only for one class
            "noise": rng.normal(size=n),
            "const": ["x"] * n,
            "region code": rng.choice([11, 12, 40], n),
            'quote "q"': rng.choice(["p", "q"], n),
            "label": np.where(y, "bad", "good"),
        }
    )
    starter = propose(frame, "label")
    drops = {p.column.name: p.drop_reason for p in starter.drops}
    assert set(drops) == {"account_id", "payoff", "agent", "const"}
    assert "identifier" in drops["account_id"] and "constant" in drops["const"]
    assert "alone it predicts 'label' (ROC AUC" in drops["payoff"]
    assert "whether it is missing alone predicts" in drops["agent"]
    text = render_plan(starter, tmp_path / "d.csv", "label")
    plan = parse_plan(text, tmp_path)
    assert plan.task is Task.binary and set(plan.drop_columns) == set(drops)
    assert plan.columns["region code"].type == "categorical"
    assert "# constant" in next(line for line in text.splitlines() if '"const"' in line)


def test_starter_plan_errors_name_what_to_change(tmp_path):
    csv = tmp_path / "d.csv"
    pl.DataFrame({"a": [1, 2, 3], "y": ["p", "p", "p"]}).write_csv(csv)
    with pytest.raises(SourceError, match=r"no column 'z' \(columns: a, y\); give --target"):
        write_starter_plan(csv, "z", tmp_path / "p.yaml", say=lambda _: None)
    with pytest.raises(SourceError, match="single class; a model needs two. Choose another --target"):
        write_starter_plan(csv, "y", tmp_path / "p.yaml", say=lambda _: None)


def test_written_plan_survives_hostile_names(tmp_path):
    csv = tmp_path / "naïve data.csv"
    names = ["select", "from", "naïve café", "a: b # c", "it's"]
    rng = np.random.default_rng(4)
    pl.DataFrame({**{n: rng.normal(size=60) for n in names}, "class label": ["p", "q"] * 30}).write_csv(csv)
    printed: list[str] = []
    path = write_starter_plan(csv, "class label", tmp_path / "plan.yaml", say=printed.append)
    loaded = yaml.safe_load(path.read_text())
    assert loaded["target"] == "class label" and loaded["name"] == "na_ve_data"
    assert any(line.strip().startswith("a: b # c") for line in printed)
