"""SQL models from dbt_like_sql/ as assets: one per file, dependencies and column lineage read from the SQL."""

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import dagster as dg

from hybrid_data.column_types import ColumnType, ColumnTypeError, decide_types
from hybrid_data.instance import step_threads
from hybrid_data.lake import fingerprint, frame_fingerprint
from hybrid_data.plan import Plan
from hybrid_data.sql_docs import column_comments, column_descriptions, lineage_markdown
from hybrid_data.sql_models import (
    PYTHON_ASSETS,
    SQL_DIR_ENV,
    ModelRun,
    SqlModel,
    column_lineage,
    discover_models,
    read_result,
    run_model,
)

from .resources import HybridDataSettings

CODE_LOCATION_SQL_DIR = Path(__file__).resolve().parent.parent / "dbt_like_sql"


def sql_variables(plan: Plan) -> dict[str, object]:
    """Plan values the SQL reads with getvariable(): the models stay plain SQL, and no dataset is hard-coded."""
    return {
        "holdout_fraction": plan.holdout.fraction,
        "split_seed": str(plan.seed),
        "split_key": list(plan.holdout.key_columns),
        "target": plan.target,
    }


def real_column_types(frame, plan: Plan) -> dict[str, ColumnType]:
    """The plan's type decision for each real column of a model's rows (helper columns, named `_...`, are
    described by their SQL comments instead). Only for models that carry real rows (the target is among their
    columns): an aggregate's columns are not the real columns. A model whose rows the decision cannot read (a
    plan override the rows do not honour) gets no type descriptions rather than a failed materialization."""
    real = frame.select([c for c in frame.columns if not c.startswith("_")])
    if plan.target not in real.columns:
        return {}
    try:
        return decide_types(real, plan)
    except (ColumnTypeError, ValueError):
        return {}


def lineage_metadata(traced: Mapping[str, list[tuple[str, str]]]) -> dg.TableColumnLineage:
    """Dagster's column lineage of one run (`SELECT *` expanded with the schemas the inputs had in this run)."""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=name) for asset, name in deps]
            for column, deps in traced.items()
            if deps
        }
    )


def materialization_metadata(
    model: SqlModel,
    run: ModelRun,
    seconds: float,
    descriptions: Mapping[str, str] | None = None,
    siblings: Sequence[str] = (),
) -> dict:
    """Rows, the schema with each column's description, column lineage twice (the `dagster/column_lineage`
    entry for Dagster+, a Markdown table for open-source Dagster, which has no column-lineage view), rows in
    per input and what happened to the rest. `siblings` are the other models that split this model's only
    input with it (real_holdout beside real_train): their rows are routed there, not dropped."""
    descriptions = descriptions or {}
    traced = column_lineage(model, run.input_schemas, run.columns)
    metadata: dict = {
        "dagster/row_count": run.rows,
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name, dtype, description=descriptions.get(name)) for name, dtype in run.columns.items()
            ]
        ),
        "dagster/column_lineage": lineage_metadata(traced),
        "column_lineage": dg.MetadataValue.md(lineage_markdown(traced)),
        **{f"rows_in/{name}": rows for name, rows in run.input_rows.items()},
        "materialized": model.materialized,
        "seconds": round(seconds, 3),
    }
    if len(run.input_rows) == 1:
        rows_in = next(iter(run.input_rows.values()))
        if siblings:
            metadata["share_of_input"] = round(run.rows / rows_in, 4) if rows_in else 0.0
            metadata["other_rows_go_to"] = ", ".join(siblings)
        else:
            # a one-input model's lost rows are the ones its SQL filtered out (broken rows, duplicates)
            metadata["rows_dropped"] = rows_in - run.rows
    if run.output is not None:
        metadata["path"] = str(run.output)
    return metadata


def sibling_models(model: SqlModel, models: Mapping[str, SqlModel]) -> list[str]:
    """Other models whose only input is this model's only input: together they split it (real_train and
    real_holdout both read real_split), so rows one leaves out are the others' rows, not dropped rows."""
    if len(model.deps) != 1:
        return []
    return sorted(name for name, other in models.items() if name != model.name and other.deps == model.deps)


def build_sql_asset(model: SqlModel, models: Mapping[str, SqlModel]) -> dg.AssetsDefinition:
    comments = column_comments(model)
    siblings = sibling_models(model, models)

    @dg.asset(
        name=model.name,
        group_name=model.group,
        deps=list(model.deps),
        kinds={"duckdb", "sql"},
        description=model.description or f"SQL model {model.path.name}",
        metadata={
            "sql_file": str(model.path),
            "materialized": model.materialized,
            "sql": dg.MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
        },
        code_version=fingerprint(model.sql),
    )
    def _sql_asset(context: dg.AssetExecutionContext, settings: HybridDataSettings) -> dg.MaterializeResult:
        lake = settings.lake
        variables = sql_variables(settings.plan)
        started = time.perf_counter()
        run = run_model(model, lake, variables, threads=step_threads(), models=models)
        frame = read_result(model, lake, variables, models=models, threads=step_threads())
        context.log.info(f"{model.path.name}: {run.rows} rows ({model.materialized})")
        descriptions = column_descriptions(run.columns, comments, real_column_types(frame, settings.plan))
        return dg.MaterializeResult(
            metadata=materialization_metadata(model, run, time.perf_counter() - started, descriptions, siblings),
            data_version=dg.DataVersion(frame_fingerprint(frame)),
        )

    return _sql_asset


def build_sql_assets(
    root: Path | None = None, known_assets: Iterable[str] = PYTHON_ASSETS
) -> list[dg.AssetsDefinition]:
    """One asset per .sql file under `root` (default: $HYBRID_DATA_SQL_DIR, else the dbt_like_sql/ folder beside
    this code location, in a checkout or an installed wheel alike). Load errors (syntax, unknown table, cycle,
    duplicate name, several statements) raise here, naming the file."""
    models = discover_models(root or Path(os.environ.get(SQL_DIR_ENV) or CODE_LOCATION_SQL_DIR), known_assets)
    by_name = {model.name: model for model in models}
    return [build_sql_asset(model, by_name) for model in models]
