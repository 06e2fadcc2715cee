"""Reading the real source (CSV, Parquet or a SQL query) and refusing data no blend can be built from."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hybrid_data.column_types import infer_task, is_temporal, is_text, looks_iso_datetime
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
    unknown_types = [c for c in plan.columns if c not in frame.columns or c in plan.drop_columns]
    if unknown_types:
        raise SourceError(
            f"columns names {unknown_types}, which the source does not have or drop_columns drops "
            f"(columns: {', '.join(frame.columns)}); fix the plan's columns section"
        )
    unknown_keys = [c for c in plan.holdout.key_columns if c not in frame.columns]
    if unknown_keys:
        raise SourceError(f"holdout.key_columns names columns the source does not have: {unknown_keys}; fix the plan")
    # Stray spaces would make 'A' and 'A ' different categories for every synthesizer and model downstream.
    frame = frame.drop(plan.drop_columns).with_columns(pl.col(pl.String).str.strip_chars())
    frame = with_real_types(frame, plan)
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


def with_real_types(frame: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """The frame with datetimes stored as datetimes, once, at ingest: ISO-8601 text (`2021-03-04T05:06:07Z`) and
    columns the plan types as datetime are parsed, and zoned datetimes become UTC without a zone (DuckDB, SDV and
    the model then agree on one instant). Also checks that the plan's `columns` types fit the values."""
    out = []
    for name, dtype in frame.schema.items():
        spec = plan.columns.get(name)
        column = frame[name]
        if spec is not None and spec.type == "datetime" and is_text(dtype):
            column = _parse_datetime(column, spec.format)
        elif spec is not None and spec.type == "numeric" and not dtype.is_numeric() and not is_temporal(dtype):
            column = _parse_number(column)
        elif spec is None and is_text(dtype) and name != plan.target and looks_iso_datetime(column.cast(pl.String)):
            column = _parse_datetime(column, None)
        if isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is not None:
            column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        out.append(column)
    return pl.DataFrame(out) if out else frame


def _parse_datetime(column: pl.Series, fmt: str | None) -> pl.Series:
    text = column.cast(pl.String).replace("", None)
    try:
        if fmt is None and bool(text.drop_nulls().str.contains(r"[T ]\d").any()):
            parsed = text.str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
        elif fmt is None:
            parsed = text.str.to_date(strict=False)
        else:
            parsed = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    except pl.exceptions.PolarsError as exc:
        raise SourceError(
            f"column '{column.name}' could not be read as datetime ({exc}); set columns.{column.name}.format in "
            f"the plan (e.g. '%d/%m/%Y') or columns.{column.name}.type to categorical"
        ) from None
    fix = f"set columns.{column.name}.format in the plan to their strptime format, or columns.{column.name}.type "
    return _all_parsed(text, parsed, "datetimes", fix + "to categorical")


def _parse_number(column: pl.Series) -> pl.Series:
    text = column.cast(pl.String).str.strip_chars().replace("", None)
    parsed = text.cast(pl.Float64, strict=False)
    return _all_parsed(text, parsed, "numbers", f"set columns.{column.name}.type in the plan to categorical")


def _all_parsed(text: pl.Series, parsed: pl.Series, what: str, fix: str) -> pl.Series:
    """The parsed column, or an error naming the column, a value that did not parse and the plan key to change."""
    failed = text.drop_nulls().len() - parsed.drop_nulls().len()
    if failed:
        bad = text.filter(parsed.is_null() & text.is_not_null())[0]
        raise SourceError(f"column '{text.name}': {failed} value(s) are not {what} (e.g. {bad!r}); {fix}")
    return parsed.alias(text.name)
