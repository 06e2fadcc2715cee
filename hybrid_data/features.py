"""Model features from any column the type layer allows: nulls in every type, any number of levels, datetimes,
Booleans, integer codes and labels that read the same at training and at scoring.

The encoding lives inside the model's sklearn pipeline (a ColumnTransformer chosen from the column types), so
the model logged to MLflow scores raw rows and training and scoring cannot encode a column differently.
What reaches the pipeline is a plain pandas frame: numbers as float64 with NaN, text as Python strings with NaN
(pandas' `pd.NA` broke sklearn's encoders), datetimes as datetime64 with NaT.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hybrid_data.column_types import ColumnType, Kind, decide_types, is_temporal
from hybrid_data.plan import Plan, Task

if TYPE_CHECKING:  # pandas costs ~0.3 s of the code location's load; only model steps need it
    import pandas as pd

# HistGradientBoosting's native categoricals allow at most 255 levels (its max_bins); a column with more keeps
# its most frequent ones and folds the rest into one "infrequent" level (top-k + other).
MAX_NATIVE_LEVELS = 255
# One-hot columns per feature for the linear model; the rest fold into an infrequent column.
MAX_ONE_HOT_LEVELS = 50
DATETIME_PARTS = ("days", "year", "month", "weekday", "hour")
EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


class FeatureError(ValueError):
    """A column the model cannot use as it is; the message names the column and the plan key to change."""


def target_labels(values: pl.Series | np.ndarray) -> np.ndarray:
    """Classification labels as text, in the one form used for fitting, scoring and the minority label:
    numpy's `str` of each value ('True', '1', 'bad'). polars spells Booleans 'true', numpy 'True'; mixing the
    two made every Boolean-target blend fail with 'no rows of the minority class'."""
    array = values.to_numpy() if isinstance(values, pl.Series) else np.asarray(values)
    return array.astype(str)


def minority_label(real: pl.DataFrame, target: str) -> str:
    """The least frequent class of the real target, spelled as `target_labels` spells it (ties: by label)."""
    labels, counts = np.unique(target_labels(real[target].drop_nulls()), return_counts=True)
    if labels.size == 0:
        raise FeatureError(f"target '{target}' has no values; check the source or set target in the plan")
    order = np.lexsort((labels, counts))
    return str(labels[order[0]])


def to_features(frame: pl.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The pandas frame the model pipeline takes, with every null as NaN/NaT and no pandas extension types."""
    import pandas as pd

    data = {}
    for name in columns:
        column = frame[name]
        dtype = column.dtype
        if dtype == pl.Boolean or dtype.is_numeric():
            values = column.cast(pl.Float64).to_numpy()
            data[name] = np.where(np.isfinite(values), values, np.nan)
        elif is_temporal(dtype):
            data[name] = column.cast(pl.Datetime("us")).to_numpy()
        elif dtype == pl.Duration:
            data[name] = column.dt.total_seconds().cast(pl.Float64).to_numpy()
        else:
            data[name] = _as_text(column)
    return pd.DataFrame(data, index=pd.RangeIndex(frame.height))


def _as_text(column: pl.Series) -> np.ndarray:
    """Any other column (text, categoricals, lists, structs, all-null) as an object array of Python strings and
    NaN. Each distinct value is one string object that every row holding it points to: one new string per row
    cost ~60 bytes a row per column (1 GB of the 3M-row blend's model step) and most of its encoding time."""
    try:
        text = column.cast(pl.String)
    except pl.exceptions.PolarsError:
        text = pl.Series(column.name, [None if v is None else str(v) for v in column.to_list()], dtype=pl.String)
    levels = text.drop_nulls().unique().sort()
    objects = np.array([*levels.to_list(), np.nan], dtype=object)
    codes = (text.rank("dense") - 1).fill_null(len(levels)).cast(pl.Int64).to_numpy()
    return objects[codes]


def datetime_parts(values) -> np.ndarray:
    """Each datetime column as numbers a tree can split on: days since 1970, year, month, weekday, hour."""
    array = np.asarray(values, dtype="datetime64[us]")
    missing = np.isnat(array)
    days = (array - EPOCH) / np.timedelta64(1, "D")
    years = array.astype("datetime64[Y]").astype(np.int64) + 1970
    months = array.astype("datetime64[M]").astype(np.int64) % 12 + 1
    weekdays = (array.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
    hours = (array - array.astype("datetime64[D]")) / np.timedelta64(1, "h")
    parts = np.stack([days, years, months, weekdays, np.floor(hours)], axis=-1).astype(np.float64)
    parts[np.broadcast_to(missing[..., None], parts.shape)] = np.nan
    return parts.reshape(array.shape[0], -1)


def datetime_part_names(transformer, names) -> np.ndarray:
    return np.array([f"{name}__{part}" for name in names for part in DATETIME_PARTS], dtype=object)


def feature_kinds(frame: pl.DataFrame, columns: list[str], plan: Plan, task: Task) -> dict[str, ColumnType]:
    """The type decision of each feature column (the target and ID columns are never features)."""
    types = decide_types(frame, plan, task)
    features = {c: types[c] for c in columns if types[c].kind is not Kind.id}
    for name, column in features.items():
        # An ordered column stored as numbers is already in order: the trees split on it as a number.
        if column.kind is Kind.ordered and frame.schema[name].is_numeric():
            features[name] = replace(column, kind=Kind.numeric)
    return features


def preprocessor(plan: Plan, features: dict[str, ColumnType]):
    """The ColumnTransformer for the plan's model kind and whether each output column is a native categorical."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

    nominal = [c for c, t in features.items() if t.kind in (Kind.categorical, Kind.text)]
    ordered = [c for c, t in features.items() if t.kind is Kind.ordered]
    numeric = [c for c, t in features.items() if t.kind is Kind.numeric]
    dates = [c for c, t in features.items() if t.kind is Kind.datetime]
    parts = FunctionTransformer(datetime_parts, feature_names_out=datetime_part_names)
    order = [_ordered_levels(features[c]) for c in ordered]
    ranks = OrdinalEncoder(categories=order or "auto", handle_unknown="use_encoded_value", unknown_value=np.nan)
    if plan.model.kind == "hist_gradient_boosting":
        levels = min(MAX_NATIVE_LEVELS, int(plan.model.params.get("max_bins") or MAX_NATIVE_LEVELS))
        # Unknown and missing categories become NaN, which the trees route like missing values.
        cap = _needed_cap(features, nominal, levels)
        codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, max_categories=cap)
        steps = [("nominal", codes, nominal), ("ordered", ranks, ordered), ("numeric", "passthrough", numeric)]
        steps.append(("datetime", parts, dates))
        native = [True] * len(nominal) + [False] * (len(ordered) + len(numeric) + len(dates) * len(DATETIME_PARTS))
    else:

        def impute():
            return SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)

        # A missing value is one more one-hot level; rare levels fold into one infrequent column.
        cap = _needed_cap(features, nominal, MAX_ONE_HOT_LEVELS)
        one_hot = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=cap)
        steps = [
            ("nominal", one_hot, nominal),
            ("ordered", make_pipeline(ranks, impute(), StandardScaler()), ordered),
            ("numeric", make_pipeline(impute(), StandardScaler()), numeric),
            ("datetime", make_pipeline(parts, impute(), StandardScaler()), dates),
        ]
        native = []
    steps = [step for step in steps if step[2]]
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False), native


def _needed_cap(features: dict[str, ColumnType], nominal: list[str], cap: int) -> int | None:
    """`cap` for the encoder's `max_categories` when some nominal column may reach it, else None. A cap makes
    scikit-learn count every value in Python (11.6 s of a 1.4M-row cell's 50 s fit); with no column at the cap
    there is nothing to fold, so the encoder's output is the same without it. `levels` are the distinct
    non-null values of the rows the encoder is fitted on; one more stands for the missing value."""
    return cap if any(features[c].levels + 1 >= cap for c in nominal) else None


def _ordered_levels(column: ColumnType) -> list:
    if not column.order:
        raise FeatureError(
            f"column '{column.name}' is typed 'ordered' but has no order; set columns.{column.name}.order in the "
            "plan to its levels from lowest to highest"
        )
    return list(column.order)


def build_model(plan: Plan, task: Task, frame: pl.DataFrame, columns: list[str]):
    """The plan's model with its feature encoding in front, as one sklearn pipeline."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline

    features = feature_kinds(frame, columns, plan, task)
    check_ordered_levels(frame, features)
    if not features:
        raise FeatureError(
            f"no feature column is left besides the target '{plan.target}' (columns: {', '.join(frame.columns)}); "
            "remove some columns from drop_columns or from synthesis.id_columns in the plan"
        )
    prep, native = preprocessor(plan, features)
    params = dict(plan.model.params)
    if plan.model.kind == "hist_gradient_boosting":
        params.setdefault("random_state", plan.seed)
        model_class = HistGradientBoostingRegressor if task is Task.regression else HistGradientBoostingClassifier
        estimator = model_class(categorical_features=np.array(native, dtype=bool), **params)
    elif task is Task.regression:
        estimator = LinearRegression()
    else:
        params.setdefault("max_iter", 1000)
        estimator = LogisticRegression(**params)
    return Pipeline([("prep", prep), ("model", estimator)])


def check_ordered_levels(frame: pl.DataFrame, features: dict[str, ColumnType]) -> None:
    """Every value of an ordered column is in its plan order, or the model would read it as missing."""
    for name, column in features.items():
        if column.kind is not Kind.ordered or not column.order:
            continue
        extra = sorted(set(frame[name].drop_nulls().cast(pl.String).unique().to_list()) - set(column.order))
        if extra:
            raise FeatureError(
                f"column '{name}' has values {extra[:5]} missing from columns.{name}.order in the plan; add them to "
                "the order or set the type to categorical"
            )
