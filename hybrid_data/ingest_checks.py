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


def split_scorable(train: pl.DataFrame, holdout: pl.DataFrame, plan: Plan) -> CheckOutcome:
    """The train/holdout split leaves every class something to learn from and enough rows to be scored on, and
    the task decided on real_train (what every asset reads, `decide_task`) is the task of all real rows.

    Why it blocks: a holdout of a handful of rows, or of one or two rows of a class, gives NaN or meaningless
    metrics (no ROC AUC without both classes in a resample), and a rare class whose rows all fall in the holdout
    turns a multiclass task into a binary one for every model. Each problem names the plan key to change."""
    from hybrid_data.column_types import decide_task

    checks, fraction = plan.checks, plan.holdout.fraction
    task = decide_task(plan, pl.concat([train, holdout], how="vertical_relaxed"))
    problems = []
    if holdout.height < checks.min_holdout_rows:
        problems.append(
            f"real_holdout has {holdout.height} rows; scoring needs at least {checks.min_holdout_rows} "
            f"(checks.min_holdout_rows): raise holdout.fraction (now {fraction:g}) or add real rows"
        )
    train_task = decide_task(plan, train)
    if train_task is not task:
        problems.append(
            f"the task decided on real_train ({train_task.value}) is not the one of all real rows ({task.value}); "
            f"set task: {task.value} in the plan"
        )
    counts: dict[str, tuple[int, int]] = {}
    if task is not Task.regression:
        in_train = dict(train[plan.target].cast(pl.String).value_counts().iter_rows())
        in_holdout = dict(holdout[plan.target].cast(pl.String).value_counts().iter_rows())
        counts = {c: (in_train.get(c, 0), in_holdout.get(c, 0)) for c in sorted({*in_train, *in_holdout}, key=str)}
    for label, (n_train, n_holdout) in counts.items():
        if n_train < checks.min_class_rows:
            problems.append(
                f"class '{label}' has {n_train} row(s) in real_train, fewer than checks.min_class_rows="
                f"{checks.min_class_rows}: no model can learn it; add rows of '{label}' or merge it into another class"
            )
        if n_holdout < checks.min_class_rows:
            problems.append(
                f"class '{label}' has {n_holdout} row(s) in real_holdout; scoring it needs at least "
                f"{checks.min_class_rows} (checks.min_class_rows): raise holdout.fraction (now {fraction:g}) or "
                f"add rows of '{label}'"
            )
    summary = f"real_train ({train.height} rows) and real_holdout ({holdout.height} rows) can fit and score a model"
    return CheckOutcome(
        not problems,
        "; ".join(problems) or summary,
        {
            "task": task.value,
            "train_rows": train.height,
            "holdout_rows": holdout.height,
            "rows_per_class": [{"class": c, "real_train": t, "real_holdout": h} for c, (t, h) in counts.items()],
        },
    )
