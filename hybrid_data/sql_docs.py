"""What a SQL model tells its reader beyond its rows: column descriptions (from comments in the SQL and the
plan's column types) and column lineage as a Markdown table, since open-source Dagster shows Markdown metadata
but not the column-lineage view (a Dagster+ feature)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlglot
from sqlglot import exp

from hybrid_data.column_types import ColumnType
from hybrid_data.sql_models import DIALECT, SqlModel

# what the table says of a column sqlglot traces to no input column
UNTRACED = "(no input column traced: a constant, or a DuckDB construct such as COLUMNS(...) sqlglot cannot follow)"


def column_comments(model: SqlModel) -> dict[str, str]:
    """Each aliased expression's SQL comment (`-- what it is` on the line above `... AS name`), by alias, from
    every scope of the SELECT (a CTE's helper column keeps its comment when the outer SELECT passes it on)."""
    found: dict[str, str] = {}
    for alias in sqlglot.parse_one(model.query, dialect=DIALECT).find_all(exp.Alias):
        comments = [c for node in alias.walk() if not isinstance(node, exp.Query) for c in node.comments or []]
        text = " ".join(c.strip() for c in comments if c.strip())
        if text and alias.alias not in found:
            found[alias.alias] = text
    return found


def column_descriptions(
    columns: Sequence[str], comments: Mapping[str, str], types: Mapping[str, ColumnType]
) -> dict[str, str]:
    """One description per column: the SQL's own comment first (helper columns), else how the pipeline treats
    the column (its type decision and why: the plan's override or what the data showed)."""
    lower = {name.lower(): text for name, text in comments.items()}
    described = {}
    for column in columns:
        comment = comments.get(column) or lower.get(column.lower())
        decided = types.get(column)
        if comment:
            described[column] = comment
        elif decided is not None:
            described[column] = f"{decided.kind.value}: {decided.reason}"
    return described


def lineage_markdown(traced: Mapping[str, Sequence[tuple[str, str]]]) -> str:
    """Column lineage as a two-column Markdown table, one row per output column: `output <- asset.column, ...`.
    A column traced to no input column says so (UNTRACED)."""
    rows = ["| output column | <- input columns |", "|---|---|"]
    for column, deps in traced.items():
        sources = ", ".join(f"`{asset}.{name}`" for asset, name in deps) or UNTRACED
        rows.append(f"| `{column}` | {sources} |")
    return "\n".join(rows)
