"""SQL models from dbt_like_sql/ as assets: one per file, dependencies and column lineage read from the SQL."""

import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import dagster as dg

from hybrid_data.instance import step_threads
from hybrid_data.lake import fingerprint, frame_fingerprint
from hybrid_data.plan import Plan
from hybrid_data.sql_models import (
    PYTHON_ASSETS,
    ModelRun,
    SqlModel,
    column_lineage,
    discover_models,
    read_result,
    run_model,
)

from .resources import HybridDataSettings


def sql_variables(plan: Plan) -> dict[str, object]:
    """Plan values the SQL reads with getvariable(): the models stay plain SQL, and no dataset is hard-coded."""
    return {
        "holdout_fraction": plan.holdout.fraction,
        "split_seed": str(plan.seed),
        "split_key": list(plan.holdout.key_columns),
        "target": plan.target,
    }


def lineage_metadata(model: SqlModel, run: ModelRun) -> dg.TableColumnLineage:
    """Dagster's column lineage for one run: `SELECT *` is expanded with the schemas the inputs had in this run."""
    traced = column_lineage(model, run.input_schemas, run.columns)
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=name) for asset, name in deps]
            for column, deps in traced.items()
            if deps
        }
    )


def materialization_metadata(model: SqlModel, run: ModelRun, seconds: float) -> dict:
    metadata: dict = {
        "dagster/row_count": run.rows,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, dtype) for name, dtype in run.columns.items()]
        ),
        "dagster/column_lineage": lineage_metadata(model, run),
        **{f"rows_in/{name}": rows for name, rows in run.input_rows.items()},
        "materialized": model.materialized,
        "seconds": round(seconds, 3),
    }
    if len(run.input_rows) == 1:
        # a one-input model's lost rows are the ones its SQL filtered out (broken rows, duplicates, the holdout)
        metadata["rows_dropped"] = next(iter(run.input_rows.values())) - run.rows
    if run.output is not None:
        metadata["path"] = str(run.output)
    return metadata


def build_sql_asset(model: SqlModel, models: Mapping[str, SqlModel]) -> dg.AssetsDefinition:
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
        return dg.MaterializeResult(
            metadata=materialization_metadata(model, run, time.perf_counter() - started),
            data_version=dg.DataVersion(frame_fingerprint(frame)),
        )

    return _sql_asset


def build_sql_assets(
    root: Path | None = None, known_assets: Iterable[str] = PYTHON_ASSETS
) -> list[dg.AssetsDefinition]:
    """One asset per .sql file under `root` (default: dbt_like_sql/, or $HYBRID_DATA_SQL_DIR). Load errors
    (syntax, unknown table, cycle, duplicate name, several statements) raise here, naming the file."""
    models = discover_models(root, known_assets)
    by_name = {model.name: model for model in models}
    return [build_sql_asset(model, by_name) for model in models]
