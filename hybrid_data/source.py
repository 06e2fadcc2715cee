"""Reading the real source (CSV, Parquet or a SQL query) and refusing data no blend can be built from."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hybrid_data.plan import Plan, Task

ORIGIN_COLUMN = "_origin"  # marks each blend row as 'real' or 'synthetic'; reserved


class SourceError(ValueError):
    """Real data that cannot be used as it is; the message says what to fix."""


@dataclass(frozen=True)
class RealSource:
    frame: pl.DataFrame
    task: Task
    rows_read: int
    rows_without_target: int
    location: str


def _read(plan: Plan) -> tuple[pl.DataFrame, str]:
    fmt = plan.source.resolved_format
    if fmt == "sql":
        import duckdb

        con = duckdb.connect()
        if plan.source.database:
            con.execute("ATTACH ? AS source_db (READ_ONLY)", [plan.source.database])
            con.execute("USE source_db")
        try:
            return con.sql(plan.source.query).pl(), f"query on {plan.source.database or 'duckdb'}"
        except duckdb.Error as exc:
            raise SourceError(f"real source query failed: {exc}; fix source.query in the plan") from exc
    path = plan.source_path
    if path is None or not path.exists():
        raise SourceError(f"real source file {path} does not exist; fix source.path in the plan ({plan.base_dir})")
    try:
        if fmt == "parquet":
            return pl.read_parquet(path), str(path)
        return pl.read_csv(path, infer_schema_length=100_000, try_parse_dates=True), str(path)
    except pl.exceptions.NoDataError:
        return pl.DataFrame(), str(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"real source {path} could not be read as {fmt}: {exc}") from exc


def infer_task(target: pl.Series) -> Task:
    """Binary for two classes, multiclass for a few discrete ones, regression for a numeric continuum."""
    distinct = target.drop_nulls().n_unique()
    if distinct <= 2:
        return Task.binary
    if target.dtype.is_float() or (target.dtype.is_integer() and distinct > 20):
        return Task.regression
    return Task.multiclass


def load_real_source(plan: Plan) -> RealSource:
    frame, location = _read(plan)
    name = location.rsplit("/", 1)[-1]
    if frame.height == 0:
        raise SourceError(f"real source '{name}' is empty (0 rows); point source at a table with data")
    blank = [i for i, c in enumerate(frame.columns) if not c.strip()]
    if blank:
        raise SourceError(f"real source '{name}' has unnamed columns at positions {blank}; name every column")
    if ORIGIN_COLUMN in frame.columns:
        raise SourceError(f"real source '{name}' has a column '{ORIGIN_COLUMN}', which hybrid_data reserves; rename it")
    if plan.target not in frame.columns:
        raise SourceError(
            f"real source '{name}' has no column '{plan.target}' (columns: {', '.join(frame.columns)}); "
            "set target in the plan"
        )
    missing = [c for c in plan.drop_columns if c not in frame.columns]
    if missing:
        raise SourceError(f"drop_columns names columns the source does not have: {missing}; fix the plan")
    unknown_keys = [c for c in plan.holdout.key_columns if c not in frame.columns]
    if unknown_keys:
        raise SourceError(f"holdout.key_columns names columns the source does not have: {unknown_keys}; fix the plan")
    # Stray spaces would make 'A' and 'A ' different categories for every synthesizer and model downstream.
    frame = frame.drop(plan.drop_columns).with_columns(pl.col(pl.String).str.strip_chars())
    rows_read = frame.height
    frame = frame.filter(pl.col(plan.target).is_not_null())
    if frame.height < plan.checks.min_rows:
        raise SourceError(
            f"real source '{name}' has {frame.height} rows with a target value; at least {plan.checks.min_rows} "
            "are needed (checks.min_rows in the plan)"
        )
    task = plan.task or infer_task(frame[plan.target])
    if task is not Task.regression:
        classes = frame[plan.target].n_unique()
        if classes < 2:
            only = frame[plan.target][0]
            raise SourceError(
                f"target '{plan.target}' has a single class ({only!r}) in '{name}'; a model needs at least two. "
                "Check the source filter or choose another target"
            )
    return RealSource(frame, task, rows_read, rows_read - frame.height, location)
