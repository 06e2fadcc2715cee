"""SQL models: one SELECT per .sql file, dependencies read from the SQL itself, run by DuckDB over the lake."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

SQL_DIR_ENV = "HYBRID_DATA_SQL_DIR"
DEFAULT_SQL_DIR = Path(__file__).resolve().parent.parent / "dbt_like_sql"


class SqlModelError(ValueError):
    """A SQL model that cannot be loaded or run; the message names the file."""


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: Path
    group: str
    sql: str
    deps: tuple[str, ...]
    description: str


def sql_dir() -> Path:
    return Path(os.environ.get(SQL_DIR_ENV) or DEFAULT_SQL_DIR).resolve()


def leading_comment(sql: str) -> str:
    lines = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped[2:].strip())
        elif stripped or lines:
            break
    return " ".join(lines)


def table_references(sql: str, path: Path) -> tuple[str, ...]:
    """Tables the SELECT reads, CTE names excluded, as parsed by sqlglot (not regular expressions)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise SqlModelError(f"{path}: SQL syntax error: {exc}") from exc
    if len(statements) != 1:
        raise SqlModelError(f"{path}: a model holds exactly one SELECT statement, found {len(statements)}")
    tree = statements[0]
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}
    return tuple(sorted(names))


def discover_models(root: Path | None = None) -> list[SqlModel]:
    root = root or sql_dir()
    models: dict[str, SqlModel] = {}
    for path in sorted(root.rglob("*.sql")):
        sql = path.read_text()
        name = path.stem
        if name in models:
            raise SqlModelError(f"two SQL models are named '{name}': {models[name].path} and {path}")
        group = path.parent.relative_to(root).as_posix().replace("/", "_") or "sql"
        models[name] = SqlModel(name, path, group, sql, table_references(sql, path), leading_comment(sql))
    return list(models.values())


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def run_model(
    model: SqlModel, inputs: dict[str, Path], variables: dict[str, object], output: Path, threads: int = 1
) -> pl.DataFrame:
    """Run the model's SELECT over its inputs (Parquet files) and write the result atomically to `output`.

    Returns the output's schema as an empty frame plus its row count in the frame's height-less form:
    the caller reads rows from the written file if it needs them.
    """
    con = duckdb.connect(config={"threads": threads})
    try:
        for name, path in inputs.items():
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({_literal(str(path))})')
        for name, value in variables.items():
            con.execute(f"SET VARIABLE {name} = {_literal(value)}")
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        try:
            con.execute(f"COPY ({model.sql.strip().rstrip(';')}) TO {_literal(str(tmp))} (FORMAT parquet)")
            os.replace(tmp, output)
        except duckdb.Error as exc:
            raise SqlModelError(f"{model.path}: DuckDB failed: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return con.sql(f"SELECT * FROM read_parquet({_literal(str(output))}) LIMIT 0").pl()
    finally:
        con.close()


def count_rows(path: Path) -> int:
    with duckdb.connect() as con:
        return con.execute(f"SELECT count(*) FROM read_parquet({_literal(str(path))})").fetchall()[0][0]
