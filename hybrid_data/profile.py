"""A profile of the real training data: what the checks hold every blend to (types, ranges, domains, nulls)."""

from __future__ import annotations

import polars as pl

MAX_DOMAIN = 1000  # categoricals with more levels are profiled by count only


def profile_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per column: type, null share, numeric range and tail quantiles, category domain and shares."""
    rows = []
    for name, dtype in frame.schema.items():
        column = frame[name]
        row = {
            "column": name,
            "dtype": str(dtype),
            "kind": "numeric" if dtype.is_numeric() else "categorical",
            "null_share": column.null_count() / max(frame.height, 1),
            "n_unique": column.n_unique(),
            "min": None,
            "max": None,
            "p01": None,
            "p99": None,
            "categories": None,
            "category_shares": None,
        }
        if dtype.is_numeric():
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
            "kind": pl.String,
            "null_share": pl.Float64,
            "n_unique": pl.Int64,
            "min": pl.Float64,
            "max": pl.Float64,
            "p01": pl.Float64,
            "p99": pl.Float64,
            "categories": pl.List(pl.String),
            "category_shares": pl.List(pl.Float64),
        },
    )
