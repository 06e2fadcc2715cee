"""A split that cannot give a meaningful score is refused by the blocking check real_split_scorable, saying how many
rows are needed and which plan key to change: never silent NaN metrics, never a task that changes across the
split."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hybrid_data.column_types import decide_task
from hybrid_data.ingest_checks import split_scorable
from hybrid_data.plan import Task, parse_plan

from .inputs_data import plan_text


def _plan(**extra):
    return parse_plan(plan_text({"path": "real.csv"}, **extra), Path("."))


def _labels(**counts: int) -> pl.DataFrame:
    """A frame of `counts` rows per class (and a feature)."""
    labels = [label for label, n in counts.items() for _ in range(n)]
    return pl.DataFrame({"x": list(range(len(labels))), "Class": labels})


def test_a_rare_class_only_in_the_holdout_is_caught_because_decide_task_alone_cannot_see_it():
    """decide_task on real_train alone reads binary when a third class fell wholly into the holdout; the split check
    sees both sides and stops the run, so no model is trained as binary on a multiclass plan."""
    plan = _plan()
    train, holdout = _labels(a=80, b=40), _labels(a=20, b=10, rare=6)
    assert decide_task(plan, train) is Task.binary  # what every asset would read from real_train alone
    outcome = split_scorable(train, holdout, plan)
    assert not outcome.passed and outcome.metadata["task"] == "multiclass"
    assert "the task decided on real_train (binary) is not the one of all real rows (multiclass)" in outcome.description
    assert "class 'rare' has 0 row(s) in real_train" in outcome.description
    assert "add rows of 'rare' or merge it into another class" in outcome.description


def test_a_plan_task_does_not_hide_a_class_missing_from_real_train():
    """With task: multiclass in the plan, a class absent from real_train is still refused (nothing to learn)."""
    outcome = split_scorable(_labels(a=80, b=40), _labels(a=20, b=10, rare=6), _plan(task="multiclass"))
    assert not outcome.passed and "class 'rare' has 0 row(s) in real_train" in outcome.description
    assert "task decided on real_train" not in outcome.description


SPLIT_CASES = {
    "a holdout below checks.min_holdout_rows names the rows needed and holdout.fraction": (
        _labels(a=50, b=30),
        _labels(a=8, b=6),
        {},
        "real_holdout has 14 rows; scoring needs at least 20 (checks.min_holdout_rows): raise holdout.fraction (now "
        "0.2)",
    ),
    "too few minority rows in the holdout names the class, the count and the keys": (
        _labels(a=160, b=30),
        _labels(a=40, b=2),
        {},
        "class 'b' has 2 row(s) in real_holdout; scoring it needs at least 5 (checks.min_class_rows): raise "
        "holdout.fraction (now 0.2) or add rows of 'b'",
    ),
    "a regression holdout too small is refused on rows alone": (
        pl.DataFrame({"x": range(60), "Class": [i * 1.7 for i in range(60)]}),
        pl.DataFrame({"x": range(9), "Class": [i * 1.3 for i in range(9)]}),
        {"task": "regression"},
        "real_holdout has 9 rows; scoring needs at least 20",
    ),
    "a stricter checks.min_class_rows is honoured and named": (
        _labels(a=160, b=30),
        _labels(a=40, b=8),
        {"checks": {"min_rows": 10, "min_class_rows": 10}},
        "class 'b' has 8 row(s) in real_holdout; scoring it needs at least 10 (checks.min_class_rows)",
    ),
}


@pytest.mark.parametrize("case", list(SPLIT_CASES), ids=list(SPLIT_CASES))
def test_an_unscorable_split_is_refused_saying_rows_needed_and_plan_key(case):
    """A split too small to score fails the blocking split check with the numbers and the plan key to change."""
    train, holdout, extra, expected = SPLIT_CASES[case]
    outcome = split_scorable(train, holdout, _plan(**extra))
    assert not outcome.passed
    assert expected in outcome.description


def test_a_scorable_split_passes_with_its_counts():
    """A split with enough rows of every class on both sides passes and records the counts per class."""
    outcome = split_scorable(_labels(a=160, b=40), _labels(a=40, b=10), _plan())
    assert outcome.passed and outcome.metadata["task"] == "binary"
    assert outcome.metadata["rows_per_class"] == [
        {"class": "a", "real_train": 160, "real_holdout": 40},
        {"class": "b", "real_train": 40, "real_holdout": 10},
    ]
