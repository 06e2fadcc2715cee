"""A profile of the real training data: what the checks hold every blend to (types, ranges, domains, nulls)."""

from __future__ import annotations

import polars as pl

from hybrid_data.column_types import Kind, decide_types
from hybrid_data.plan import Plan

MAX_DOMAIN = 1000  # categoricals with more levels are profiled by count only


def profile_frame(frame: pl.DataFrame, plan: Plan | None = None) -> pl.DataFrame:
    """One row per column: storage type, the type decision (`column_type`, hybrid_data.column_types), null share,
    numeric range and tail quantiles, category domain and shares. Integer codes and flags get a domain, not a
    range; quantities get a range."""
    types = decide_types(frame, plan)
    rows = []
    for name, dtype in frame.schema.items():
        column = frame[name]
        numeric = types[name].kind is Kind.numeric and dtype.is_numeric()
        row = {
            "column": name,
            "dtype": str(dtype),
            "column_type": types[name].kind.value,
            "kind": "numeric" if numeric else "categorical",
            "null_share": column.null_count() / max(frame.height, 1),
            "rows": frame.height,
            "n_unique": column.n_unique(),
            "min": None,
            "max": None,
            "p01": None,
            "p99": None,
            "categories": None,
            "category_shares": None,
        }
        if numeric:
            values = column.drop_nulls().cast(pl.Float64)
            if values.len():
                row.update(min=values.min(), max=values.max(), p01=values.quantile(0.01), p99=values.quantile(0.99))
        elif row["n_unique"] <= MAX_DOMAIN:
            counts = column.cast(pl.String).drop_nulls().value_counts(sort=True)
            row["categories"] = counts[name].to_list()
            row["category_shares"] = (counts["count"] / max(counts["count"].sum(), 1)).to_list()
        rows.append(row)
    return pl.DataFrame(
        rows,
        schema={
            "column": pl.String,
            "dtype": pl.String,
            "column_type": pl.String,
            "kind": pl.String,
            "null_share": pl.Float64,
            "rows": pl.Int64,
            "n_unique": pl.Int64,
            "min": pl.Float64,
            "max": pl.Float64,
            "p01": pl.Float64,
            "p99": pl.Float64,
            "categories": pl.List(pl.String),
            "category_shares": pl.List(pl.Float64),
        },
    )
