"""SQL models: one SELECT per .sql file, dependencies and column lineage read from the SQL, run by DuckDB."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.optimizer.scope import traverse_scope
from upath import UPath

from hybrid_data.lake import FRAME_FILE, Lake, Status

SQL_DIR_ENV = "HYBRID_DATA_SQL_DIR"
DEFAULT_SQL_DIR = Path(__file__).resolve().parent.parent / "dbt_like_sql"
# one dialect instance, reused: sqlglot builds a new one for every call given the name
DIALECT = Dialect.get_or_raise("duckdb")
# The Python assets a model may read besides other models; definitions.py may pass its own set.
PYTHON_ASSETS = frozenset(
    {"real_source", "real_profile", "synthesizer_model", "synthetic_pool", "blend", "blend_model", "blend_scorecard"}
)
MATERIALIZATIONS = ("table", "view")
# Dagster's own rule for asset names: a file name outside it cannot become an asset.
_VALID_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_HEADER = re.compile(r"^materialized\s*:\s*(\S*)\s*$", re.IGNORECASE)
_STATUS_WORDS = {Status.missing: "not materialized yet", Status.corrupt: "corrupt in the lake"}


class SqlModelError(ValueError):
    """A SQL model that cannot be loaded or run; the message names the file (and line where known)."""


@dataclass(frozen=True)
class SqlModel:
    """One .sql file: the asset it becomes, what it reads, and how it is stored."""

    name: str
    path: Path
    group: str
    sql: str
    deps: tuple[str, ...]
    description: str
    materialized: str = "table"
    tree: exp.Expression | None = field(default=None, compare=False, repr=False)
    # each table the SQL names, as spelled, with the line it is on: for messages
    references: tuple[tuple[str, int | None], ...] = field(default=(), compare=False, repr=False)

    @property
    def query(self) -> str:
        """The SELECT as DuckDB runs it inside `COPY (...)` or `CREATE VIEW`: the file's text up to its
        semicolon (comments after it would otherwise end up inside the parentheses)."""
        from sqlglot.tokens import TokenType

        semicolons = [t for t in DIALECT.tokenize(self.sql) if t.token_type == TokenType.SEMICOLON]
        return (self.sql[: semicolons[0].start] if semicolons else self.sql).strip()


def sql_dir() -> Path:
    return Path(os.environ.get(SQL_DIR_ENV) or DEFAULT_SQL_DIR).resolve()


def _where(path: Path, line: int | None = None) -> str:
    return f"{path}:{line}" if line else str(path)


def parse_header(sql: str, path: Path) -> tuple[str, str]:
    """The leading comment block: its prose is the asset description; a `materialized: table|view` line,
    the only setting a model has, says whether the result is stored (table) or recomputed by readers (view)."""
    prose: list[str] = []
    materialized = "table"
    for number, line in enumerate(sql.splitlines(), start=1):
        stripped = line.strip()
        if not stripped.startswith("--"):
            if stripped or prose:
                break
            continue
        text = stripped[2:].strip()
        setting = _HEADER.match(text)
        if setting:
            materialized = setting.group(1).lower()
            if materialized not in MATERIALIZATIONS:
                raise SqlModelError(
                    f"{_where(path, number)}: materialized must be one of {', '.join(MATERIALIZATIONS)}, "
                    f"not {setting.group(1)!r}"
                )
        else:
            prose.append(text)
    return " ".join(p for p in prose if p).strip(), materialized


def _statement_line(tree: exp.Expression) -> int | None:
    for identifier in tree.find_all(exp.Identifier):
        line = identifier.meta.get("line")
        if line:
            return line
    return None


def _only_statement(sql: str) -> exp.Expression:
    """sqlglot's tree of a one-statement file. Not parse_one: given `SELECT ...; -- comment` it returns a Block
    whose scopes hide the SELECT's tables."""
    statements = [s for s in DIALECT.parse(sql) if s is not None and not isinstance(s, exp.Semicolon)]
    if len(statements) != 1:
        raise sqlglot.errors.ParseError(f"expected one statement, sqlglot read {len(statements)}")
    return statements[0]


def parse_statement(sql: str, path: Path) -> exp.Expression:
    """The file's single SELECT. DuckDB's parser decides what is valid (it runs the model); sqlglot's tree is
    what dependencies and lineage are read from."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        line = re.search(r"LINE (\d+):", str(exc))
        raise SqlModelError(f"{_where(path, int(line.group(1)) if line else None)}: SQL syntax error: {exc}") from exc
    if not statements:
        raise SqlModelError(f"{path}: the file holds no SQL statement; write one SELECT")
    if len(statements) > 1:
        try:
            second = DIALECT.parse(sql)
            line = _statement_line(second[1]) if len(second) > 1 and second[1] is not None else None
        except sqlglot.errors.SqlglotError:
            line = None
        raise SqlModelError(
            f"{_where(path, line)}: a model holds exactly one SELECT, found {len(statements)} statements; "
            "split them into one file per model"
        )
    if statements[0].type != duckdb.StatementType.SELECT:
        raise SqlModelError(
            f"{path}: a model holds one SELECT, found a {statements[0].type.name} statement; "
            "the file's name already says which table the SELECT creates"
        )
    try:
        tree = _only_statement(sql)
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise SqlModelError(
            f"{_where(path, first.get('line'))}: sqlglot cannot read this SQL (DuckDB can), so its dependencies "
            f"are unknown: {first.get('description') or exc}; rewrite the construct sqlglot does not support"
        ) from exc
    return tree


def table_references(tree: exp.Expression, path: Path) -> dict[str, int | None]:
    """Tables the SELECT reads (name as spelled -> first line), found through sqlglot's scopes: CTE names and
    derived tables resolve to their own scope, so a CTE that shadows a model name is not a dependency, while a
    CTE reading the table it is named after is. Table functions (read_parquet, range, unnest) are not tables.

    Normalizes `tree`'s identifiers in place: DuckDB resolves names case-insensitively, quoted or not, and so
    must scope resolution (the spelling is kept in each identifier's meta for messages)."""
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    for identifier in tree.find_all(exp.Identifier):
        identifier.meta.setdefault("spelled", identifier.name)
    normalize_identifiers(tree, dialect=DIALECT)
    found: dict[str, int | None] = {}
    for scope in traverse_scope(tree):
        for source in scope.sources.values():
            if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
                continue
            line = source.this.meta.get("line")
            spelled = source.this.meta.get("spelled", source.name)
            if source.catalog or (source.db and source.db.lower() != "main"):
                raise SqlModelError(
                    f"{_where(path, line)}: {source.sql(dialect=DIALECT)} is a qualified name; models and assets "
                    f"share one namespace, write {spelled!r} alone"
                )
            found.setdefault(spelled, line)
    return found


def parse_model(path: Path, root: Path) -> SqlModel:
    name = path.stem
    if not _VALID_NAME.match(name):
        raise SqlModelError(
            f"{path}: '{name}' cannot be an asset name; name SQL files with letters, digits and underscores only"
        )
    sql = path.read_text(encoding="utf-8")
    description, materialized = parse_header(sql, path)
    tree = parse_statement(sql, path)
    refs = table_references(tree, path)
    group = path.parent.relative_to(root).as_posix().replace("/", "_") or "sql"
    return SqlModel(name, path, group, sql, tuple(refs), description, materialized, tree, tuple(refs.items()))


def _resolve(model: SqlModel, names: Mapping[str, str]) -> SqlModel:
    """Map each reference to the asset it names (DuckDB identifiers are case-insensitive, quoted or not)."""
    deps = []
    for ref, line in model.references:
        asset = names.get(ref.lower())
        if asset is None:
            known = ", ".join(sorted(names.values()))
            raise SqlModelError(
                f"{_where(model.path, line)}: unknown table {ref!r}; a model reads other models or assets "
                f"({known}). Add {ref}.sql or fix the name"
            )
        if asset == model.name:
            raise SqlModelError(f"{_where(model.path, line)}: model '{model.name}' reads itself")
        if asset not in deps:
            deps.append(asset)
    return replace(model, deps=tuple(sorted(deps)))


def _topological(models: dict[str, SqlModel]) -> list[SqlModel]:
    """Models in an order where each comes after the models it reads; a cycle is an error naming its files."""
    ordered: list[SqlModel] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            cycle = trail[trail.index(name) :] + [name]
            files = " -> ".join(str(models[n].path) for n in cycle)
            raise SqlModelError(f"dependency cycle between SQL models: {' -> '.join(cycle)} ({files})")
        state[name] = "open"
        for dep in models[name].deps:
            if dep in models:
                visit(dep, [*trail, name])
        state[name] = "done"
        ordered.append(models[name])

    for name in sorted(models):
        visit(name, [])
    return ordered


def discover_models(root: Path | None = None, known_assets: Iterable[str] = PYTHON_ASSETS) -> list[SqlModel]:
    """Every .sql file under `root` as a model, checked as a whole (names, references, cycles) and returned in
    dependency order. Raises SqlModelError naming the file on anything that would fail later."""
    root = (root or sql_dir()).resolve()
    if not root.is_dir():
        raise SqlModelError(f"SQL model folder {root} does not exist; set {SQL_DIR_ENV} or create it")
    known = set(known_assets)
    parsed: dict[str, SqlModel] = {}
    for path in sorted(root.rglob("*.sql")):
        model = parse_model(path, root)
        clash = parsed.get(model.name) or next(
            (p for p in parsed.values() if p.name.lower() == model.name.lower()), None
        )
        if clash:
            raise SqlModelError(f"two SQL models are named '{model.name}': {clash.path} and {path}; rename one")
        if model.name.lower() in {k.lower() for k in known}:
            raise SqlModelError(f"{path}: '{model.name}' is already a Python asset; rename the SQL file")
        parsed[model.name] = model
    names = {k.lower(): k for k in known} | {m.lower(): m for m in parsed}
    resolved = {name: _resolve(model, names) for name, model in parsed.items()}
    return _topological(resolved)


# --- column lineage -------------------------------------------------------------------------------------------


def column_lineage(
    model: SqlModel, schemas: Mapping[str, Mapping[str, str]], output_columns: Iterable[str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """For each output column, the (upstream asset, column) pairs it is computed from, traced by sqlglot's
    lineage through CTEs, subqueries and joins; `schemas` (each dependency's columns and types) lets `SELECT *`
    expand. Names come back as DuckDB spells them (sqlglot lower-cases unquoted identifiers). Columns made
    from constants, or by DuckDB constructs sqlglot cannot trace (COLUMNS(...), a whole row), map to []."""
    from sqlglot.lineage import lineage

    # a fresh tree: lineage rewrites it (stars expanded for these schemas); parsing is cheaper than a deep copy
    tree = _only_statement(model.sql)
    dep_names = {d.lower(): d for d in model.deps}
    upstream_cols = {d.lower(): {c.lower(): c for c in schemas.get(d, {})} for d in model.deps}
    schema = {dep: dict(cols) for dep, cols in schemas.items() if dep in model.deps}
    try:
        nodes = lineage(
            None, tree, schema=schema, dialect=DIALECT, trim_selects=False, copy=False, quote_identifiers=False
        )
    except (sqlglot.errors.SqlglotError, KeyError, ValueError):
        return {c: [] for c in output_columns or []}
    outputs = {c.lower(): c for c in output_columns} if output_columns is not None else None
    result: dict[str, list[tuple[str, str]]] = {}
    for name, node in nodes.items():
        column = outputs.get(name.lower(), name) if outputs is not None else name
        deps: list[tuple[str, str]] = []
        for leaf in node.walk():
            if leaf.downstream or not isinstance(leaf.source, exp.Table):
                continue
            asset = dep_names.get(leaf.source.name.lower())
            if asset is None:
                continue
            # a leaf is named by its column's SQL (`alias.column`); parse only when quoting makes that ambiguous
            if '"' in leaf.name:
                source_column = exp.to_column(leaf.name, dialect=DIALECT).name
            else:
                source_column = leaf.name.rsplit(".", 1)[-1]
            if source_column == "*":
                continue
            source_column = upstream_cols[asset.lower()].get(source_column.lower(), source_column)
            if (asset, source_column) not in deps:
                deps.append((asset, source_column))
        result[column] = sorted(deps)
    if outputs is not None:
        for column in outputs.values():
            result.setdefault(column, [])
    return result


# --- running ------------------------------------------------------------------------------------------------


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        items = ", ".join(_literal(v) for v in value)
        # typed, so an empty list is still a list of names to DuckDB
        return f"[{items}]::VARCHAR[]" if all(isinstance(v, str) for v in value) else f"[{items}]"
    return repr(value)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ModelRun:
    """What a run produced: rows, output columns with DuckDB types, the input schemas lineage needs."""

    rows: int
    columns: dict[str, str]
    input_schemas: dict[str, dict[str, str]]
    input_rows: dict[str, int]
    output: UPath | None


def _connect(
    model: SqlModel,
    models: Mapping[str, SqlModel],
    lake: Lake,
    variables: Mapping[str, object],
    threads: int,
) -> duckdb.DuckDBPyConnection:
    """A connection where every name the model reads is a view: over the lake's Parquet file for stored assets
    (verified against its checksum first), and over its own SQL (recursively) for view models."""
    con = duckdb.connect(config={"threads": threads})
    lake.register_with(con)
    for name, value in variables.items():
        con.execute(f"SET VARIABLE {name} = {_literal(value)}")
    done: set[str] = set()

    def register(name: str, reader: SqlModel) -> None:
        if name in done:
            return
        upstream = models.get(name)
        if upstream is not None and upstream.materialized == "view":
            for dep in upstream.deps:
                register(dep, upstream)
            con.execute(f"CREATE VIEW {_ident(name)} AS (\n{upstream.query}\n)")
        else:
            status = lake.status(name, name=FRAME_FILE)
            if status != Status.ok:
                raise SqlModelError(
                    f"{reader.path}: reads '{name}', which is {_STATUS_WORDS[status]} ({lake.uri(name)}); "
                    "materialize it first"
                )
            con.execute(f"CREATE VIEW {_ident(name)} AS SELECT * FROM read_parquet({_literal(lake.uri(name))})")
        done.add(name)

    try:
        for dep in model.deps:
            register(dep, model)
    except BaseException:
        con.close()
        raise
    return con


def run_model(
    model: SqlModel,
    lake: Lake,
    variables: Mapping[str, object],
    threads: int = 1,
    models: Mapping[str, SqlModel] | None = None,
) -> ModelRun:
    """Run the model's SELECT over its inputs in the lake. A table is published to the lake (complete file, then
    its checksum: a failure keeps the last good version); a view is only run, to count and describe it.
    `models` lets view models be read through their SQL."""
    models = models or {}
    con = _connect(model, models, lake, variables, threads)
    try:
        input_schemas = {
            dep: {row[0]: row[1] for row in con.execute(f"DESCRIBE {_ident(dep)}").fetchall()} for dep in model.deps
        }
        input_rows = {dep: con.execute(f"SELECT count(*) FROM {_ident(dep)}").fetchall()[0][0] for dep in model.deps}
        try:
            if model.materialized == "view":
                relation = f"(\n{model.query}\n)"
                written = None
            else:
                written = lake.publish(
                    model.name,
                    None,
                    FRAME_FILE,
                    lambda tmp: con.execute(f"COPY (\n{model.query}\n) TO {_literal(str(tmp))} (FORMAT parquet)"),
                )
                relation = f"read_parquet({_literal(lake.uri(model.name))})"
            columns = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
            rows = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
        except duckdb.Error as exc:
            raise SqlModelError(f"{model.path}: DuckDB failed: {exc}") from exc
        return ModelRun(rows, columns, input_schemas, input_rows, written)
    finally:
        con.close()


def read_result(
    model: SqlModel,
    lake: Lake,
    variables: Mapping[str, object],
    models: Mapping[str, SqlModel] | None = None,
    threads: int = 1,
) -> pl.DataFrame:
    """The model's rows as a frame, for a view (recomputed) or a table (read back from the lake)."""
    if model.materialized == "table":
        return lake.read_frame(model.name)
    con = _connect(model, models or {}, lake, variables, threads)
    try:
        return con.sql(model.query).pl()
    except duckdb.Error as exc:
        raise SqlModelError(f"{model.path}: DuckDB failed: {exc}") from exc
    finally:
        con.close()
