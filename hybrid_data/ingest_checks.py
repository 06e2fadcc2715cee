"""Checks on the real data as it arrives: if these fail, nothing built from it can be trusted."""

from __future__ import annotations

import polars as pl

from hybrid_data.plan import Plan, Task
from hybrid_data.quality import CheckOutcome


def target_usable(frame: pl.DataFrame, plan: Plan) -> CheckOutcome:
    """The target column exists and, for classification, holds at least two classes."""
    if plan.target not in frame.columns:
        return CheckOutcome(
            False,
            f"target '{plan.target}' is missing; set target in the plan to one of: {', '.join(frame.columns)}",
            {"target": plan.target},
        )
    values = frame[plan.target].drop_nulls()
    classes = values.n_unique()
    regression = plan.task is Task.regression
    return CheckOutcome(
        regression or classes >= 2,
        f"target '{plan.target}' is present" + ("" if regression else " with at least two classes"),
        {"target": plan.target, "distinct_values": classes, "target_nulls": frame[plan.target].null_count()},
    )


def enough_rows(frame: pl.DataFrame, min_rows: int) -> CheckOutcome:
    return CheckOutcome(
        frame.height >= min_rows,
        f"at least {min_rows} real rows (checks.min_rows in the plan)",
        {"rows": frame.height, "min_rows": min_rows},
    )


def no_all_null_column(frame: pl.DataFrame) -> CheckOutcome:
    """A column with no value at all cannot be modeled or synthesized; drop it in the plan (drop_columns)."""
    empty = [c for c in frame.columns if frame.height and frame[c].null_count() == frame.height]
    return CheckOutcome(
        not empty,
        "no column is entirely null" + (f"; add {empty} to drop_columns in the plan" if empty else ""),
        {"all_null_columns": empty, "columns": frame.width},
    )


def unique_key(frame: pl.DataFrame, key_columns: list[str]) -> CheckOutcome:
    """No two rows share a key (holdout.key_columns; the whole row when none is set, where duplicates are
    dropped by stg_real but still worth knowing about)."""
    missing = [c for c in key_columns if c not in frame.columns]
    if missing:
        return CheckOutcome(False, f"key columns {missing} are not in the real data; fix holdout.key_columns", {})
    key = key_columns or frame.columns
    duplicated = frame.height - frame.select(key).unique().height
    return CheckOutcome(
        duplicated == 0,
        f"no duplicate key ({', '.join(key_columns) if key_columns else 'whole row'})",
        {"duplicate_rows": duplicated, "key_columns": key_columns or ["(whole row)"]},
    )
