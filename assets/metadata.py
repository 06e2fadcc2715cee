"""Materialization metadata shared by every stage: row counts, the table schema and a small preview."""

import dagster as dg
import polars as pl

PREVIEW_ROWS = 5


def table_schema(schema: pl.Schema | dict) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()])


def markdown_table(frame: pl.DataFrame, float_digits: int = 4) -> str:
    if frame.width == 0:
        return "(empty)"

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.{float_digits}g}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *rows])


def frame_metadata(frame: pl.DataFrame) -> dict:
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": table_schema(frame.schema),
        "preview": dg.MetadataValue.md(markdown_table(frame.head(PREVIEW_ROWS))),
    }
