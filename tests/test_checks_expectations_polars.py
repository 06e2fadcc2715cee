"""The polars pass of the expectation suites gives GX's own verdicts and unexpected counts: every expectation
type it evaluates, on a small frame with nulls, NaN, integer columns with nulls and `mostly`, each compared
with GX run on the same frame."""

import math
import re

import polars as pl
import pytest

from hybrid_data.expectations import _evaluate_with_polars, _polars_can, gx_results, run_suites


def _frame() -> pl.DataFrame:
    n = 200
    return pl.DataFrame(
        {
            "amount": [float(i) if i % 17 else None for i in range(n)],
            "rate": [math.nan if i % 23 == 0 else i / 10 for i in range(n)],
            "count": [i % 7 if i % 11 else None for i in range(n)],
            "code": [i % 4 for i in range(n)],
            "grade": [None if i % 13 == 0 else "ABCDE"[i % 5] for i in range(n)],
            "flag": [i % 2 == 0 for i in range(n)],
        }
    )


def _expect(kind: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs}


EXPECTATIONS = [
    _expect("table_columns_to_match_set", column_set=["amount", "rate", "count", "code", "grade", "flag"]),
    _expect("table_columns_to_match_set", column_set=["amount", "rate"], exact_match=True),
    _expect("table_columns_to_match_set", column_set=["amount", "rate"], exact_match=False),
    _expect("column_values_to_be_in_type_list", column="count", type_list=["int64"]),
    _expect("column_values_to_be_in_type_list", column="count", type_list=["float64"]),
    _expect("column_values_to_be_in_type_list", column="code", type_list=["int64"]),
    _expect("column_values_to_be_in_type_list", column="grade", type_list=["object", "str"]),
    _expect("column_values_to_be_in_type_list", column="flag", type_list=["bool"]),
    _expect("column_values_to_not_be_null", column="amount"),
    _expect("column_values_to_not_be_null", column="amount", mostly=0.9),
    _expect("column_values_to_not_be_null", column="amount", mostly=0.95),
    _expect("column_values_to_not_be_null", column="rate", mostly=0.96),
    _expect("column_values_to_not_be_null", column="code"),
    _expect("column_values_to_be_between", column="amount", min_value=0, max_value=150),
    _expect("column_values_to_be_between", column="amount", min_value=0, max_value=150, mostly=0.7),
    _expect("column_values_to_be_between", column="amount", min_value=10),
    _expect("column_values_to_be_between", column="rate", max_value=19.0, mostly=0.95),
    _expect("column_values_to_be_between", column="count", min_value=0, max_value=6),
    _expect("column_values_to_be_in_set", column="grade", value_set=["A", "B", "C", "D", "E"]),
    _expect("column_values_to_be_in_set", column="grade", value_set=["A", "B", "C"]),
    _expect("column_values_to_be_in_set", column="grade", value_set=["A", "B", "C", "D"], mostly=0.75),
    _expect("column_values_to_be_in_set", column="count", value_set=[0, 1, 2, 3, 4, 5]),
    _expect("column_values_to_be_in_set", column="code", value_set=[0, 1, 2, 3]),
    _expect("column_distinct_values_to_contain_set", column="grade", value_set=["A", "E"]),
    _expect("column_distinct_values_to_contain_set", column="grade", value_set=["A", "F"]),
    _expect("column_distinct_values_to_contain_set", column="count", value_set=[0, 6]),
    _expect("column_distinct_values_to_contain_set", column="code", value_set=[4]),
]


def _unexpected(observed: str) -> int | None:
    found = re.match(r"(\d+) unexpected", observed)
    return int(found.group(1)) if found else None


def _suites_without_repeats() -> list[list[dict]]:
    """GX keeps one expectation per type and column in a suite (a second replaces the first): spread ours over
    as many suites as any type and column repeats."""
    suites: list[list[dict]] = []
    seen: dict[tuple, int] = {}
    for expectation in EXPECTATIONS:
        key = (expectation["type"], expectation["kwargs"].get("column"))
        seen[key] = seen.get(key, -1) + 1
        if seen[key] == len(suites):
            suites.append([])
        suites[seen[key]].append(expectation)
    return suites


@pytest.mark.slow  # imports great_expectations (15-20 s on a quiet machine)
def test_polars_pass_agrees_with_gx_on_every_expectation():
    frame = _frame()
    assert all(_polars_can(frame, e) for e in EXPECTATIONS)
    grouped = _suites_without_repeats()
    validations = gx_results(frame, [(f"s{i}", {"expectations": group}) for i, group in enumerate(grouped)])
    outcomes = []
    for group, validation in zip(grouped, validations, strict=True):
        assert len(validation.results) == len(group)
        for expectation in group:
            (theirs,) = [
                r
                for r in validation.results
                if r.expectation_config.type == expectation["type"]
                and r.expectation_config.kwargs.get("column") == expectation["kwargs"].get("column")
            ]
            ours = _evaluate_with_polars(frame, expectation)
            assert ours["success"] == theirs.success, (expectation, ours, theirs.result)
            if not theirs.success and theirs.result.get("unexpected_count") is not None:
                assert _unexpected(ours["observed"]) == theirs.result["unexpected_count"], (expectation, ours)
            outcomes.append(theirs.success)
    # Both outcomes occur, so the comparison can fail either way.
    assert len(outcomes) == len(EXPECTATIONS) and 5 < outcomes.count(False) < len(EXPECTATIONS) - 5


def test_expectations_outside_the_polars_pass_still_go_to_gx():
    frame = _frame()
    odd = _expect("column_values_to_be_unique", column="code")
    strict = _expect("column_values_to_be_between", column="amount", min_value=0, strict_min=True)
    assert not _polars_can(frame, odd) and not _polars_can(frame, strict)
    run = run_suites(frame, [("mixed", {"expectations": [odd, strict, EXPECTATIONS[1]]})])
    assert run.evaluated == 3
    assert sorted(f["expectation"] for f in run.failed) == [
        "expect_column_values_to_be_unique",
        "expect_table_columns_to_match_set",
    ]


@pytest.mark.parametrize("column", ["amount", "grade"])
def test_a_missing_column_is_left_to_gx_and_fails(column):
    frame = _frame().drop(column)
    expectation = _expect("column_values_to_not_be_null", column=column)
    assert not _polars_can(frame, expectation)
