"""SQL models from dbt_like_sql/ as assets: one per file, dependencies read from the SQL."""

import time
from pathlib import Path

import dagster as dg

from hybrid_data import lake
from hybrid_data.plan import Plan
from hybrid_data.sql_models import SqlModel, count_rows, discover_models, run_model
from hybrid_data.training import step_threads

from .metadata import table_schema
from .resources import HybridDataSettings


def sql_variables(plan: Plan) -> dict[str, object]:
    """Plan values the SQL reads with getvariable(): the models stay plain SQL."""
    return {"holdout_fraction": plan.holdout.fraction, "split_seed": str(plan.seed), "target": plan.target}


def build_sql_asset(model: SqlModel) -> dg.AssetsDefinition:
    @dg.asset(
        name=model.name,
        group_name=model.group,
        deps=list(model.deps),
        kinds={"duckdb", "sql"},
        description=model.description or f"SQL model {model.path.name}",
        metadata={"sql_file": str(model.path), "sql": dg.MetadataValue.md(f"```sql\n{model.sql}\n```")},
        code_version=lake.fingerprint(model.sql),
    )
    def _sql_asset(context: dg.AssetExecutionContext, settings: HybridDataSettings) -> dg.MaterializeResult:
        lake_root = settings.home_dir.lake
        inputs = {dep: lake.partition_dir(lake_root, dep) / lake.FRAME_FILE for dep in model.deps}
        missing = [name for name, path in inputs.items() if not path.exists()]
        if missing:
            raise FileNotFoundError(f"{model.path.name} reads {missing}, not materialized yet under {lake_root}")
        output = lake.partition_dir(lake_root, model.name) / lake.FRAME_FILE
        started = time.perf_counter()
        schema = run_model(model, inputs, sql_variables(settings.load_plan()), output, threads=step_threads())
        rows = count_rows(output)
        upstream_rows = {f"rows_in/{name}": count_rows(path) for name, path in inputs.items()}
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": table_schema(schema.schema),
                **upstream_rows,
                "seconds": round(time.perf_counter() - started, 3),
                "path": str(output),
            },
            data_version=dg.DataVersion(lake.frame_fingerprint(lake.read_frame(output.parent))),
        )

    return _sql_asset


def build_sql_assets(root: Path | None = None) -> list[dg.AssetsDefinition]:
    return [build_sql_asset(model) for model in discover_models(root)]
