"""Column types decided once, in one place, from the real data and the plan: the synthesizer's metadata, the
model's features, the checks and `plan init` all read this decision instead of guessing from storage types.

Storage types lie about meaning: a 0/1 integer is a class, 40 integer region codes are names, not amounts, a
Boolean target is a label, a unique string is an identifier and a 4,700-level string is free text. Modeled as
their storage type, integer codes came back as codes no real row has and a 2.5% positive class as 0.2%.
The plan overrides any decision with `columns: {name: {type: ...}}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from hybrid_data.plan import Plan, Task

TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum)
# An integer column with at most this many values is read as codes when its values also look like codes.
MAX_CODE_LEVELS = 60
# A number column with at least this share of exact zeros is zero-inflated: its zero mass must survive synthesis.
ZERO_INFLATED_SHARE = 0.3
# A text column is free text when it has at least this many levels and its values read like sentences.
TEXT_MIN_LEVELS = 50
TEXT_MIN_WORDS = 3.0
# A column whose value differs on at least this many rows, every row, is an identifier.
ID_MIN_ROWS = 20
# Integer task targets with more distinct values than this are quantities (regression), not classes.
MAX_INTEGER_CLASSES = 20
CODE_WORDS = re.compile(
    r"(^|_|\b)(code|codes|cd|type|kind|cat|category|class|group|grp|segment|region|zip|postal|postcode|naics|sic|"
    r"icd|status|state|country|channel|branch|dept|department|product|brand|model)($|_|\b)",
    re.IGNORECASE,
)
ID_WORDS = re.compile(r"(^|_|\b)(id|ids|key|uuid|guid|identifier|number|no|nr|num)($|_|\b)|id$", re.IGNORECASE)
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$")


class Kind(StrEnum):
    """What a column means, which decides how each part of the pipeline treats it."""

    numeric = "numeric"  # a quantity: modeled as a number, checked on tails and ranges
    categorical = "categorical"  # a name from a set (text, Boolean, integer codes, classification targets)
    ordered = "ordered"  # a categorical whose levels have an order (plan: order: [...])
    datetime = "datetime"  # a point in time: modeled as a datetime, given to the model as numeric parts
    text = "text"  # free text: capped to its frequent values, never a category per value
    id = "id"  # a row identifier: never modeled, regenerated as new values, never a feature


CATEGORY_KINDS = frozenset({Kind.categorical, Kind.ordered, Kind.text})
# What SDV calls each kind; free text is a capped categorical (hybrid_data.categoricals).
SDTYPES = {
    Kind.numeric: "numerical",
    Kind.categorical: "categorical",
    Kind.ordered: "categorical",
    Kind.datetime: "datetime",
    Kind.text: "categorical",
    Kind.id: "id",
}
_FROM_SDTYPE = {
    "numerical": Kind.numeric,
    "categorical": Kind.categorical,
    "boolean": Kind.categorical,
    "datetime": Kind.datetime,
    "id": Kind.id,
}


@dataclass(frozen=True)
class ColumnType:
    """One column's decision, with the reason `plan init` prints and where it came from ('plan' or 'data')."""

    name: str
    kind: Kind
    reason: str
    decided_by: str = "data"
    levels: int = 0
    zero_share: float | None = None
    order: tuple[str, ...] | None = None

    @property
    def sdtype(self) -> str:
        return SDTYPES[self.kind]

    @property
    def is_category(self) -> bool:
        return self.kind in CATEGORY_KINDS

    @property
    def is_constant(self) -> bool:
        return self.levels <= 1

    @property
    def zero_inflated(self) -> bool:
        return self.kind is Kind.numeric and (self.zero_share or 0.0) >= ZERO_INFLATED_SHARE


class ColumnTypeError(ValueError):
    """A plan override the real data cannot honour; the message names the column and the plan key."""


def is_text(dtype: pl.DataType) -> bool:
    return isinstance(dtype, TEXT_TYPES) or dtype == pl.String


def is_temporal(dtype: pl.DataType) -> bool:
    return dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime)


def infer_task(target: pl.Series) -> Task:
    """The task from the real target: two values (Booleans, 0/1, yes/no) are binary, more text or few integer
    values are multiclass, a numeric continuum is regression."""
    values = target.drop_nulls()
    distinct = values.n_unique()
    if distinct <= 2:
        return Task.binary
    dtype = values.dtype
    if dtype.is_float():
        integral = values.len() > 0 and bool((values == values.round(0)).all())
        return Task.multiclass if integral and distinct <= MAX_INTEGER_CLASSES else Task.regression
    if dtype.is_integer():
        return Task.multiclass if distinct <= MAX_INTEGER_CLASSES else Task.regression
    return Task.multiclass


def decide_task(plan: Plan, real: pl.DataFrame) -> Task:
    """The plan's task, else the one the real target implies: decided on real rows, never per blend (a blend
    missing a tiny class would otherwise turn a 3-class task into a binary one). Assets pass real_train; that it
    equals the task of all real rows (a rare class could fall wholly into the holdout) is what the blocking check
    real_split_scorable (hybrid_data.ingest_checks.split_scorable) guarantees before anything is fitted."""
    return plan.task or infer_task(real[plan.target])


def class_shares(values: pl.Series, task: Task) -> dict[str, float]:
    """Each class's share of a classification target, for metadata and MLflow metrics; nothing for a regression
    target, whose distinct values are not classes (one metric per distinct price made 14,006 MLflow metrics)."""
    if task is Task.regression or values.len() == 0:
        return {}
    counts = values.cast(pl.String).value_counts(normalize=True, sort=True)
    return {str(k): round(float(v), 4) for k, v in counts.iter_rows()}


def decide_types(frame: pl.DataFrame, plan: Plan | None, task: Task | None = None) -> dict[str, ColumnType]:
    """Every column's decision on this (real) frame: the plan's override, else the target's role, else the data.
    Without a plan (a frame on its own), from the data alone."""
    if plan is not None and plan.target in frame.columns:
        task = task or decide_task(plan, frame)
    return {name: decide_column(frame[name], plan, task) for name in frame.columns}


def decide_column(column: pl.Series, plan: Plan | None, task: Task | None) -> ColumnType:
    name = column.name
    levels = column.drop_nulls().n_unique()
    if plan is None:
        return _data_decision(column, levels)
    spec = plan.columns.get(name)
    if spec is not None:
        order = tuple(spec.order) if spec.order else None
        return ColumnType(
            name, Kind(spec.type), f"columns.{name}.type in the plan", "plan", levels, _zero_share(column), order
        )
    if name == plan.target and task is not None:
        if task is Task.regression:
            return ColumnType(name, Kind.numeric, "regression target", "data", levels, _zero_share(column))
        return ColumnType(name, Kind.categorical, f"{task.value} target: a label", "data", levels)
    synthesis = plan.synthesis
    if name in synthesis.id_columns:
        return ColumnType(name, Kind.id, f"synthesis.id_columns lists '{name}'", "plan", levels)
    if name in synthesis.sdtypes:
        kind = _FROM_SDTYPE[synthesis.sdtypes[name]]
        return ColumnType(name, kind, f"synthesis.sdtypes.{name} in the plan", "plan", levels, _zero_share(column))
    return _data_decision(column, levels)


def _data_decision(column: pl.Series, levels: int) -> ColumnType:
    name = column.name
    kind, reason = _from_data(column, levels)
    zero_share = _zero_share(column) if kind is Kind.numeric else None
    if zero_share is not None and zero_share >= ZERO_INFLATED_SHARE:
        reason += f"; zero-inflated ({zero_share:.0%} zeros)"
    return ColumnType(name, kind, reason, "data", levels, zero_share)


def _from_data(column: pl.Series, levels: int) -> tuple[Kind, str]:
    dtype, name = column.dtype, column.name
    values = column.drop_nulls()
    if dtype == pl.Boolean:
        return Kind.categorical, "Boolean"
    if is_temporal(dtype):
        return Kind.datetime, "dates" if dtype == pl.Date else "datetimes"
    if dtype.is_numeric():
        return _numeric_kind(values, levels, name)
    if dtype == pl.Duration:
        return Kind.numeric, "duration"
    if is_text(dtype):
        return _text_kind(values.cast(pl.String), levels, name)
    return Kind.categorical, f"{dtype} values, read as text"


def _numeric_kind(values: pl.Series, levels: int, name: str) -> tuple[Kind, str]:
    integral = values.dtype.is_integer() or (
        values.len() > 0 and values.dtype.is_float() and bool((values == values.round(0)).all())
    )
    if levels == 2 and integral and set(values.unique().cast(pl.Int64).to_list()) <= {0, 1}:
        return Kind.categorical, "0/1 values: a flag"
    if not values.dtype.is_integer():
        return Kind.numeric, "numbers"
    if levels >= ID_MIN_ROWS and levels == values.len() and ID_WORDS.search(name):
        return Kind.id, f"a distinct integer on every row, named like an identifier ('{name}')"
    if 2 <= levels <= MAX_CODE_LEVELS:
        low, high = int(values.min()), int(values.max())
        gaps = levels / (high - low + 1) < 0.5
        if CODE_WORDS.search(name) or (low > 0 and gaps):
            why = "named like a code" if CODE_WORDS.search(name) else "non-contiguous values without a zero"
            return Kind.categorical, f"integer codes ({levels} values, {why})"
    return Kind.numeric, "integers"


def _text_kind(values: pl.Series, levels: int, name: str) -> tuple[Kind, str]:
    if values.len() == 0:
        return Kind.categorical, "no values"
    words = float(values.str.count_matches(r"\S+").mean() or 0.0)
    if levels >= ID_MIN_ROWS and levels == values.len() and (ID_WORDS.search(name) or words <= 1.0):
        return Kind.id, "a distinct value on every row"
    if levels >= TEXT_MIN_LEVELS and words >= TEXT_MIN_WORDS:
        return Kind.text, f"free text ({levels} distinct values, {words:.1f} words on average)"
    return Kind.categorical, f"text with {levels} levels"


def _zero_share(column: pl.Series) -> float | None:
    if not column.dtype.is_numeric():
        return None
    values = column.drop_nulls()
    return float((values == 0).sum()) / values.len() if values.len() else None


def looks_iso_datetime(values: pl.Series) -> bool:
    """Whether every non-null text value is an ISO-8601 date or datetime (with or without a zone such as `Z`)."""
    present = values.drop_nulls()
    present = present.filter(present != "")
    return present.len() > 0 and bool(present.str.contains(ISO_DATETIME.pattern).all())


def sdtypes_of(types: dict[str, ColumnType]) -> dict[str, str]:
    return {name: column.sdtype for name, column in types.items()}


def columns_of(types: dict[str, ColumnType], *kinds: Kind) -> list[str]:
    return [name for name, column in types.items() if column.kind in kinds]
