"""Bad real sources are refused while the source is read, before anything is written, with a message naming the
file (and the line or column) and the plan key to change; usable oddities are read correctly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hybrid_data.plan import load_plan
from hybrid_data.source import SourceError, load_real_source

from .inputs_data import HEADER, frame, good_lines, rows, write_csv_text, write_plan_file


def _load(folder: Path, source: dict | None = None, target: str = "Class", **extra):
    plan = load_plan(write_plan_file(folder, source or {"path": "real.csv"}, target, **extra))
    return load_real_source(plan)


def _with(lines: list[str], number: int, old: str, new: str) -> list[str]:
    """The lines with `old` replaced by `new` on line `number` (1-based, the header is line 1)."""
    changed = list(lines)
    changed[number - 1] = changed[number - 1].replace(old, new)
    return changed


# Each case: the CSV lines (or bytes encoding), extra plan settings, and the texts the error must contain.
CSV_CASES = {
    "a latin-1 file read as UTF-8 names the file, the line and source.encoding": (
        _with(good_lines(), 4, "north", "Z\xfcrich"),
        "latin-1",
        {},
        ["real source 'real.csv' line 4 is not valid utf8", "set source.encoding in the plan", "latin-1"],
    ),
    "a row with an extra field names the line, both counts and source.delimiter": (
        _with(good_lines(), 9, "good", "good,oops"),
        "utf8",
        {},
        ["'real.csv' line 9 has 5 field(s) where the header has 4", "source.delimiter is ','"],
    ),
    "a row with a missing field is refused, not padded with nulls": (
        _with(good_lines(), 12, ",north", ""),
        "utf8",
        {},
        ["line 12 has 3 field(s) where the header has 4"],
    ),
    "a semicolon file read with commas says which delimiter to set": (
        [line.replace(",", ";") for line in good_lines()],
        "utf8",
        {},
        ["has no column 'Class'", "the header looks ';'-separated: set source.delimiter: ';'"],
    ),
    "a header naming a column twice is refused with the name": (
        [HEADER.replace("region", "amount"), *rows()],
        "utf8",
        {},
        ["names column 'amount' twice", "rename them in the file's header row"],
    ),
    "names differing only by case are refused (DuckDB cannot tell them apart)": (
        [HEADER.replace("region", "Amount"), *rows()],
        "utf8",
        {},
        ["'amount' and 'Amount' differ only by case"],
    ),
    "an empty column name is refused with its position": (
        [HEADER.replace("region", ""), *rows()],
        "utf8",
        {},
        ["has unnamed columns at positions [1]; name every column"],
    ),
    "a column named like the split's internal columns is refused": (
        [HEADER.replace("region", "_split_hash"), *rows()],
        "utf8",
        {},
        ["column(s) ['_split_hash'], which hybrid_data reserves"],
    ),
    "a column named _origin (the blend marker) is refused": (
        [HEADER.replace("region", "_origin"), *rows()],
        "utf8",
        {},
        ["['_origin'], which hybrid_data reserves"],
    ),
    "+inf in a numeric column is refused with column, count, row and the null_values option": (
        _with(good_lines(), 3, "0.051", "inf"),
        "utf8",
        {},
        ["has infinite values in column(s) 'rate' (1 value(s), first in data row 2)", "source.null_values"],
    ),
    "-inf spelled -Infinity is refused like inf": (
        _with(_with(good_lines(), 5, "103", "-Infinity"), 6, "104", "-inf"),
        "utf8",
        {},
        ["column(s) 'amount' (2 value(s), first in data row 4)"],
    ),
    "an empty file is refused as empty": ([], "utf8", {}, ["real source 'real.csv' is empty (0 rows)"]),
    "a header without rows is refused as empty": ([HEADER], "utf8", {}, ["is empty (0 rows)"]),
    "a single-class target is refused": (
        [line.replace(",bad", ",good") for line in good_lines()],
        "utf8",
        {},
        ["target 'Class' has a single class ('good')", "a model needs at least two"],
    ),
    "too few rows with a target names checks.min_rows": (
        good_lines(6),
        "utf8",
        {},
        ["has 6 rows with a target value; at least 10 are needed (checks.min_rows in the plan)"],
    ),
    "drop_columns naming an absent column is refused": (
        good_lines(),
        "utf8",
        {"drop_columns": ["regoin"]},
        ["drop_columns names columns the source does not have: ['regoin']"],
    ),
    "holdout.key_columns naming an absent column is refused": (
        good_lines(),
        "utf8",
        {"holdout": {"key_columns": ["id"]}},
        ["holdout.key_columns names columns the source does not have: ['id']"],
    ),
    "a non-number in a column typed numeric names the value and the plan key": (
        _with(good_lines(), 7, "north", "n/a"),
        "utf8",
        {"columns": {"region": {"type": "numeric"}}},
        ["column 'region'", "are not numbers", "set columns.region.type in the plan to categorical"],
    ),
}


@pytest.mark.parametrize("case", list(CSV_CASES), ids=list(CSV_CASES))
def test_bad_csv_is_refused_naming_file_line_or_column_and_the_plan_key(case, tmp_path):
    """A bad CSV is refused while it is read, before anything is written, saying what to fix."""
    lines, encoding, extra, expected = CSV_CASES[case]
    write_csv_text(tmp_path, lines, encoding=encoding)
    with pytest.raises(SourceError) as error:
        _load(tmp_path, **extra)
    for text in expected:
        assert text in str(error.value)


def test_missing_target_lists_the_columns_and_the_plan_key(tmp_path):
    """A target the source lacks is named with the columns it has and the plan key to set."""
    write_csv_text(tmp_path, good_lines())
    with pytest.raises(
        SourceError, match=r"has no column 'Default' \(columns: amount, region, rate, Class\); set target"
    ):
        _load(tmp_path, target="Default")


def test_missing_source_file_names_the_path_and_the_plan_key(tmp_path):
    """A source file that does not exist is named with source.path and the plan's folder."""
    with pytest.raises(SourceError, match=r"real.csv does not exist; fix source.path in the plan"):
        _load(tmp_path)


def test_latin1_file_reads_with_source_encoding(tmp_path):
    """With source.encoding set, a latin-1 file reads with its accents intact."""
    write_csv_text(tmp_path, _with(good_lines(), 4, "north", "Z\xfcrich"), encoding="latin-1")
    real = _load(tmp_path, {"path": "real.csv", "encoding": "latin-1"})
    assert "Zürich" in real.frame["region"].to_list()


def test_delimiter_and_null_values_options_read_the_file(tmp_path):
    """source.delimiter and source.null_values read a ';' file whose '?' cells are missing values."""
    lines = [line.replace(",", ";") for line in _with(good_lines(), 3, "0.051", "?")]
    write_csv_text(tmp_path, lines)
    real = _load(tmp_path, {"path": "real.csv", "delimiter": ";", "null_values": ["?"]})
    assert real.frame.columns == ["amount", "region", "rate", "Class"]
    assert real.frame["rate"].dtype == pl.Float64 and real.frame["rate"].null_count() == 1


def test_infinities_listed_in_null_values_are_read_as_missing(tmp_path):
    """Infinities the user lists in source.null_values are read as missing values, not refused."""
    write_csv_text(tmp_path, _with(good_lines(), 3, "0.051", "inf"))
    real = _load(tmp_path, {"path": "real.csv", "null_values": ["inf", "-inf"]})
    assert real.frame["rate"].null_count() == 1 and real.frame["rate"].dtype == pl.Float64


def test_nan_is_read_as_missing_with_a_note(tmp_path):
    """NaN in a numeric column becomes a missing value (never a NaN that reaches the checks), with a note."""
    write_csv_text(tmp_path, _with(_with(good_lines(), 3, "0.051", "NaN"), 4, "0.052", "nan"))
    real = _load(tmp_path)
    rate = real.frame["rate"]
    assert rate.dtype == pl.Float64 and rate.null_count() == 2 and not rate.is_nan().any()
    assert real.notes == ["column 'rate': 2 NaN value(s) read as missing"]


def test_nan_in_a_parquet_target_counts_as_a_missing_target(tmp_path):
    """A NaN target (regression, from Parquet) is a row without a target, dropped and counted, never scored."""
    data = frame().with_columns(pl.col("rate").alias("y")).drop("Class")
    data = data.with_columns(pl.when(pl.col("amount") == 101).then(float("nan")).otherwise(pl.col("y")).alias("y"))
    data.write_parquet(tmp_path / "real.parquet")
    real = _load(tmp_path, {"path": "real.parquet"}, target="y")
    assert real.rows_without_target == 1 and not real.frame["y"].is_nan().any()


@pytest.mark.parametrize(
    "value", [float("inf"), float("-inf")], ids=["+inf from Parquet is refused", "-inf from Parquet is refused"]
)
def test_parquet_infinities_are_refused_with_the_fix_for_parquet(value, tmp_path):
    """An infinity in a Parquet source is refused naming the column and where to fix it."""
    frame().with_columns(pl.lit(value).alias("rate")).write_parquet(tmp_path / "real.parquet")
    with pytest.raises(
        SourceError, match=r"infinite values in column\(s\) 'rate' \(40 value\(s\), first in data row 1"
    ):
        _load(tmp_path, {"path": "real.parquet"})


def test_parquet_with_duplicate_column_names_is_refused(tmp_path):
    """A Parquet file naming a column twice is refused with the name (polars would stop with its own error)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = frame()
    columns = [data["amount"].to_arrow(), data["rate"].to_arrow(), data["Class"].to_arrow()]
    pq.write_table(pa.table(columns, names=["amount", "amount", "Class"]), tmp_path / "real.parquet")
    with pytest.raises(SourceError, match="names column 'amount' twice; rename them where the file is written"):
        _load(tmp_path, {"path": "real.parquet"})


def _database(folder: Path) -> Path:
    import duckdb

    path = folder / "source.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("loans_frame", frame().to_arrow())
        con.execute('CREATE TABLE loans AS SELECT *, rate * 2 AS "select", 1 AS "1st" FROM loans_frame')
    return path


def test_relative_sql_database_is_read_beside_the_plan_not_the_working_folder(tmp_path, monkeypatch):
    """A relative source.database is resolved from the plan's folder, whatever folder the process runs in."""
    project = tmp_path / "project"
    project.mkdir()
    _database(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    real = _load(project, {"format": "sql", "database": "source.duckdb", "query": "SELECT * FROM loans"})
    assert real.frame.height == 40 and real.frame.columns[-2:] == ["select", "1st"]


def test_relative_source_path_is_read_beside_the_plan_not_the_working_folder(tmp_path, monkeypatch):
    """A relative source.path is resolved from the plan's folder, even when a same-named file sits in the cwd."""
    project = tmp_path / "project"
    project.mkdir()
    write_csv_text(project, good_lines())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_csv_text(elsewhere, ["other,Class", "1,a", "2,b"])
    monkeypatch.chdir(elsewhere)
    assert _load(project).frame.columns == ["amount", "region", "rate", "Class"]


def test_missing_sql_database_names_the_resolved_path_and_the_plan_key(tmp_path):
    """A SQL source whose database file is absent names the resolved path and source.database."""
    with pytest.raises(SourceError, match=r"source.duckdb does not exist; fix source.database in the plan"):
        _load(tmp_path, {"format": "sql", "database": "source.duckdb", "query": "SELECT 1"})


def test_sql_query_with_duplicate_names_is_refused(tmp_path):
    """A query returning a column name twice is refused (DuckDB would rename one silently)."""
    _database(tmp_path)
    query = "SELECT amount, rate AS amount, Class FROM loans"
    with pytest.raises(SourceError, match=r"names column 'amount' twice; rename them in source.query"):
        _load(tmp_path, {"format": "sql", "database": "source.duckdb", "query": query})


def test_sql_infinities_are_refused_with_the_fix_in_the_query(tmp_path):
    """An infinity from a SQL source is refused with a fix written for the query."""
    _database(tmp_path)
    query = "SELECT amount, CASE WHEN amount = 110 THEN 'inf'::DOUBLE ELSE rate END AS rate, Class FROM loans"
    with pytest.raises(SourceError, match=r"first in data row 11\): .* replace them in source.query"):
        _load(tmp_path, {"format": "sql", "database": "source.duckdb", "query": query})


def test_failing_sql_query_names_source_query(tmp_path):
    """A query DuckDB rejects is reported with DuckDB's reason and the plan key."""
    _database(tmp_path)
    with pytest.raises(SourceError, match=r"(?s)real source query failed: .*nope.*; fix source.query in the plan"):
        _load(tmp_path, {"format": "sql", "database": "source.duckdb", "query": "SELECT * FROM nope"})


ODD_NAMES = ["select", "from", "1st rate", "taux d'intérêt", "Größe (€)", 'a "quoted" name', "#", "order by"]


def test_odd_column_names_are_read_as_they_are(tmp_path):
    """SQL keywords, leading digits, spaces, quotes and unicode in names are kept exactly, not refused."""
    data = frame().rename(dict(zip(["amount", "region", "rate"], ODD_NAMES[:3], strict=True)))
    data = data.with_columns(*(pl.col(ODD_NAMES[0]).alias(n) for n in ODD_NAMES[3:]))
    data.write_csv(tmp_path / "real.csv")
    assert _load(tmp_path).frame.columns == data.columns


def test_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    """A UTF-8 file with a byte-order mark (as Excel writes it) reads its first column under its plain name."""
    (tmp_path / "real.csv").write_bytes(("\n".join(good_lines()) + "\n").encode("utf-8-sig"))
    assert _load(tmp_path).frame.columns == ["amount", "region", "rate", "Class"]


def test_an_all_nan_column_is_named_by_the_blocking_null_check_with_the_plan_key(tmp_path):
    """A column of NaN only becomes an all-missing column, which the blocking ingest check names with drop_columns."""
    from hybrid_data.ingest_checks import no_all_null_column

    frame().with_columns(pl.lit(float("nan")).alias("rate")).write_parquet(tmp_path / "real.parquet")
    real = _load(tmp_path, {"path": "real.parquet"})
    outcome = no_all_null_column(real.frame)
    assert not outcome.passed and "add ['rate'] to drop_columns in the plan" in outcome.description


def test_sql_nan_is_read_as_missing(tmp_path):
    """NaN returned by a SQL source is read as missing, like NaN from a file."""
    _database(tmp_path)
    query = "SELECT amount, CASE WHEN amount < 103 THEN 'nan'::DOUBLE ELSE rate END AS rate, Class FROM loans"
    real = _load(tmp_path, {"format": "sql", "database": "source.duckdb", "query": query})
    assert real.frame["rate"].null_count() == 3 and real.notes == ["column 'rate': 3 NaN value(s) read as missing"]
