"""Reading the real source (CSV, Parquet or a SQL query) and refusing data no blend can be built from."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from hybrid_data.column_types import infer_task, is_temporal, is_text, looks_iso_datetime
from hybrid_data.plan import Plan, Source, Task

ORIGIN_COLUMN = "_origin"  # marks each blend row as 'real' or 'synthetic'; reserved
# Columns the SQL split adds beside the real ones (dbt_like_sql/split/real_split.sql): a source column of the same
# name would be shadowed there.
RESERVED_COLUMNS = (ORIGIN_COLUMN, "_split_digest", "_split_hash", "_row_digest", "_in_holdout")
OTHER_DELIMITERS = (";", "\t", "|", ",")


class SourceError(ValueError):
    """Real data that cannot be used as it is; the message says what to fix."""


@dataclass(frozen=True)
class RealSource:
    frame: pl.DataFrame
    task: Task
    rows_read: int
    rows_without_target: int
    location: str
    notes: list[str] = field(default_factory=list)  # what was cleaned on the way in (e.g. NaN read as missing)


def _read(plan: Plan) -> tuple[pl.DataFrame, str]:
    fmt = plan.source.resolved_format
    if fmt == "sql":
        return _read_sql(plan), f"query on {plan.source.database or 'duckdb'}"
    path = plan.source_path
    if path is None or not path.exists():
        raise SourceError(f"real source file {path} does not exist; fix source.path in the plan ({plan.base_dir})")
    return read_file(path, plan.source), str(path)


def _read_sql(plan: Plan) -> pl.DataFrame:
    import duckdb

    database = plan.database_path
    if database is not None and not database.exists():
        raise SourceError(
            f"database {database} does not exist; fix source.database in the plan (a relative path is read "
            f"from the plan's folder, {plan.base_dir})"
        )
    con = duckdb.connect()
    try:
        if database is not None:
            con.execute("ATTACH ? AS source_db (READ_ONLY)", [str(database)])
            con.execute("USE source_db")
        result = con.sql(plan.source.query)
        if result is None:
            raise SourceError("source.query returns no rows (is it a SELECT?); fix source.query in the plan")
        check_column_names(result.columns, "source.query", "rename them in source.query (... AS new_name)")
        return result.pl()
    except duckdb.Error as exc:
        raise SourceError(f"real source query failed: {exc}; fix source.query in the plan") from exc
    finally:
        con.close()


def read_file(path: Path, source: Source) -> pl.DataFrame:
    """A CSV or Parquet file as a frame, or a SourceError naming the file, the line and the plan option to set:
    an undecodable byte (source.encoding), a row with more or fewer fields than the header (source.delimiter),
    duplicate column names. Empty files give an empty frame, refused by the caller."""
    name = path.name
    if source.resolved_format == "parquet":
        try:
            import pyarrow.parquet as pq

            check_column_names(pq.read_schema(path).names, name, "rename them where the file is written")
            return pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SourceError(f"real source {path} could not be read as parquet: {exc}") from exc
    if path.stat().st_size == 0:
        return pl.DataFrame()
    header = _csv_header_and_shape(path, source)
    check_column_names(header, name, "rename them in the file's header row")
    encoding = "utf8" if codecs.lookup(source.encoding).name == "utf-8" else source.encoding
    try:
        frame = pl.read_csv(
            path,
            encoding=encoding,
            separator=source.delimiter,
            null_values=source.null_values or None,
            infer_schema_length=100_000,
            try_parse_dates=True,
        )
    except pl.exceptions.NoDataError:
        return pl.DataFrame()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"real source {path} could not be read as csv: {exc}") from exc
    # polars keeps a quoted header's doubled quotes ('a ""b""'); the csv module reads the header as written.
    return frame.rename(dict(zip(frame.columns, header, strict=True))) if frame.width == len(header) else frame


def _csv_header_and_shape(path: Path, source: Source) -> list[str]:
    """The header row, after one streaming pass that finds the first undecodable line and the first row whose
    field count differs from the header's (polars would stop without a line number, or pad short rows with
    nulls silently)."""
    import csv
    import sys

    csv.field_size_limit(sys.maxsize)
    delimiter = source.delimiter
    # utf-8-sig: a byte-order mark (Excel's UTF-8) is not part of the first column's name
    encoding = "utf-8-sig" if codecs.lookup(source.encoding).name == "utf-8" else source.encoding
    try:
        with path.open(encoding=encoding, newline="") as handle:
            rows = csv.reader(handle, delimiter=delimiter)
            header = next(rows, [])
            for row in rows:
                if row and len(row) != len(header):
                    hint = delimiter_hint(header, delimiter) or (
                        "fix that row in the file (a missing or extra separator, or an unquoted "
                        f"'{delimiter}' inside a value), or set source.delimiter in the plan if the file uses another"
                    )
                    raise SourceError(
                        f"real source '{path.name}' line {rows.line_num} has {len(row)} field(s) where the header "
                        f"has {len(header)} (source.delimiter is {delimiter!r}); {hint}"
                    )
    except UnicodeDecodeError as exc:
        line = first_undecodable_line(path, source.encoding) or 1
        raise SourceError(
            f"real source '{path.name}' line {line} is not valid {source.encoding} ({exc.reason}, byte "
            f"{exc.object[exc.start : exc.start + 1]!r}); set source.encoding in the plan to the file's encoding "
            "(e.g. latin-1 or cp1252)"
        ) from None
    except csv.Error as exc:
        raise SourceError(f"real source '{path.name}' is not a well-formed CSV ({exc}); fix the file") from None
    return header


def first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The number of the first line that is not valid `encoding`, or None when every line is."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


def delimiter_hint(header: list[str], delimiter: str) -> str | None:
    """'set source.delimiter: ";"' when the header reads as one field with the current delimiter but several
    with another common one."""
    if len(header) != 1:
        return None
    for other in OTHER_DELIMITERS:
        if other != delimiter and len(header[0].split(other)) > 1:
            return f"the header looks {other!r}-separated: set source.delimiter: {other!r} in the plan"
    return None


def check_column_names(names: list[str], where: str, fix: str) -> None:
    """Refuse names the pipeline cannot keep apart: blanks, duplicates (also those differing only by case, which
    DuckDB's SQL models cannot tell apart) and the columns the pipeline reserves. Any other name (spaces,
    unicode, SQL keywords, leading digits, quotes) is carried through as it is."""
    blank = [i for i, c in enumerate(names) if not c.strip()]
    if blank:
        raise SourceError(f"real source '{where}' has unnamed columns at positions {blank}; name every column")
    seen: dict[str, str] = {}
    for column in names:
        other = seen.get(column.casefold())
        if other is not None:
            same = "twice" if other == column else f"twice ('{other}' and '{column}' differ only by case)"
            raise SourceError(f"real source '{where}' names column '{column}' {same}; {fix}")
        seen[column.casefold()] = column
    reserved = [c for c in names if c in RESERVED_COLUMNS]
    if reserved:
        raise SourceError(f"real source '{where}' has column(s) {reserved}, which hybrid_data reserves; {fix}")


def clean_non_finite(frame: pl.DataFrame, where: str, fix: str) -> tuple[pl.DataFrame, list[str]]:
    """NaN read as missing, infinities refused, in every float column (and in text columns whose values are all
    numbers once 'nan'/'inf' spellings count: a CSV column polars leaves as text because of them).

    Why NaN becomes missing: NaN is how pandas, NumPy and many Parquet writers spell "no value", and every later
    step handles missing values (the synthesizer learns how often they occur, the model reads them natively),
    whereas a NaN left in place is a value that breaks comparisons: ranges and quantiles become NaN and the
    privacy distances crash. Why an infinity is refused: no finite stand-in is right (clipping to the largest
    value invents one and hides an upstream bug such as a division by zero), and it cannot be synthesized,
    scaled or scored. The fix is the user's: replace it upstream, or read it as missing on purpose (`fix`)."""
    notes, infinite, columns = [], [], []
    for name, dtype in frame.schema.items():
        column = frame[name]
        if is_text(dtype):
            column = _numbers_spelled_with_nan(column)
        if column.dtype.is_float():
            bad = column.is_infinite()
            if bad.any():
                first = int(bad.arg_true()[0]) + 1
                infinite.append(f"'{name}' ({int(bad.sum())} value(s), first in data row {first})")
            nans = int(column.is_nan().sum())
            if nans:
                notes.append(f"column '{name}': {nans} NaN value(s) read as missing")
                column = column.fill_nan(None)
        columns.append(column)
    if infinite:
        raise SourceError(
            f"real source '{where}' has infinite values in column(s) {', '.join(infinite)}: an infinite amount "
            f"cannot be synthesized or scored; {fix}"
        )
    return (pl.DataFrame(columns) if columns else frame), notes


def _numbers_spelled_with_nan(column: pl.Series) -> pl.Series:
    text = column.cast(pl.String).str.strip_chars()
    parsed = text.cast(pl.Float64, strict=False)
    spelled = parsed.is_nan() | parsed.is_infinite()
    if parsed.null_count() == text.null_count() and spelled.any():
        return parsed.alias(column.name)
    return column


def non_finite_fix(plan: Plan) -> str:
    """What the user does about infinities, in the terms of the plan's source kind."""
    if plan.source.resolved_format == "csv":
        return "replace them in the file, or read them as missing: source.null_values: ['inf', '-inf'] in the plan"
    if plan.source.resolved_format == "sql":
        return "replace them in source.query (e.g. CASE WHEN isinf(x) THEN NULL ELSE x END)"
    return "replace them where the Parquet file is written"


def load_real_source(plan: Plan) -> RealSource:
    frame, location = _read(plan)
    name = location.rsplit("/", 1)[-1]
    if frame.height == 0:
        raise SourceError(f"real source '{name}' is empty (0 rows); point source at a table with data")
    check_column_names(frame.columns, name, "rename them")
    if plan.target not in frame.columns:
        hint = delimiter_hint(frame.columns, plan.source.delimiter) if plan.source.resolved_format == "csv" else None
        raise SourceError(
            f"real source '{name}' has no column '{plan.target}' (columns: {', '.join(frame.columns)}); "
            + (hint or "set target in the plan")
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
    # after the plan's types: a column typed numeric may hold 'inf' text that only parsing reveals
    frame, notes = clean_non_finite(with_real_types(frame, plan), name, non_finite_fix(plan))
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
    return RealSource(frame, task, rows_read, rows_read - frame.height, location, notes)


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
