"""Training: a downstream model per blend, scored on the real holdout and logged to MLflow."""

import dagster as dg
import polars as pl

from hybrid_data import lake
from hybrid_data.check_results import log_to_run, read_results
from hybrid_data.source import infer_task
from hybrid_data.tracking import FINGERPRINT_TAG, find_run, log_run, run_url
from hybrid_data.training import train_and_score

from .partitions import partition_dims
from .resources import HybridDataSettings, MlflowTracking


def build_blend_model_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name="training",
        kinds={"scikitlearn", "mlflow"},
        partitions_def=partitions_def,
        code_version="1",
        pool="model_training",
    )
    def blend_model(
        context: dg.AssetExecutionContext,
        settings: HybridDataSettings,
        mlflow: MlflowTracking,
        blend: pl.DataFrame,
        real_holdout: pl.DataFrame,
    ) -> dg.Output[pl.DataFrame]:
        """The plan's model trained on this blend and scored on real holdout rows only, logged as one MLflow run
        with its lineage. An unchanged blend reuses its earlier run instead of logging a duplicate."""
        plan = settings.load_plan()
        dims = partition_dims(context)
        task = plan.task or infer_task(blend[plan.target])
        exp_id = mlflow.experiment_id(plan.name)
        version = lake.fingerprint(
            lake.frame_fingerprint(blend), lake.frame_fingerprint(real_holdout), plan.model.model_dump(), task.value
        )
        existing = find_run(mlflow.tracking_uri, exp_id, version)
        counts = {o: int((blend["_origin"] == o).sum()) for o in ("real", "synthetic")}
        if existing is not None:
            context.log.info(f"blend unchanged since MLflow run {existing.info.run_id}; reusing it")
            run_id, metrics = existing.info.run_id, dict(existing.data.metrics)
        else:
            trained = train_and_score(blend, real_holdout, plan, task)
            metrics = trained.metrics
            tags = {
                "dagster.run_id": context.run_id,
                "dagster.partition_key": str(context.partition_key),
                "dagster.asset_key": context.asset_key.to_user_string(),
                "hybrid_data.plan": plan.name,
                "hybrid_data.synthesizer": dims["synth"],
                "hybrid_data.ratio": dims["ratio"],
                "hybrid_data.data_version.blend": lake.frame_fingerprint(blend),
                "hybrid_data.data_version.real_holdout": lake.frame_fingerprint(real_holdout),
                FINGERPRINT_TAG: version,
            }
            params = {
                "ratio": dims["ratio"],
                "synthesizer": dims["synth"],
                "anchoring": plan.anchoring.mode,
                "min_real_share": plan.anchoring.min_real_share,
                "seed": plan.seed,
                "task": task.value,
                "model_kind": plan.model.kind,
                "real_rows": counts["real"],
                "synthetic_rows": counts["synthetic"],
                "holdout_rows": real_holdout.height,
                "positive_label": trained.positive_label,
                **{f"model.{k}": v for k, v in plan.model.params.items()},
            }
            run_id = log_run(
                mlflow.tracking_uri,
                exp_id,
                f"{dims['synth']}-r{dims['ratio']}",
                params,
                metrics,
                tags,
                model=trained.model,
                input_example=trained.input_example,
            )
        # The blend's checks ran earlier in this run; their results join the run even when it is reused,
        # since a changed threshold changes a verdict without changing the model.
        check_results = read_results(settings.lake, dims, lake.frame_fingerprint(blend))
        log_to_run(mlflow.tracking_uri, run_id, check_results)
        failed_checks = sorted(r["check"] for r in check_results if not r["passed"])
        row = pl.DataFrame(
            [
                {
                    "synthesizer": dims["synth"],
                    "ratio": float(dims["ratio"]),
                    "real_rows": counts["real"],
                    "synthetic_rows": counts["synthetic"],
                    **metrics,
                    "mlflow_run_id": run_id,
                }
            ]
        )
        return dg.Output(
            row,
            data_version=dg.DataVersion(version),
            metadata={
                **{k: round(v, 4) for k, v in metrics.items()},
                "mlflow_run_id": run_id,
                "mlflow_run": run_url(mlflow.tracking_uri, exp_id, run_id),
                "reused_run": existing is not None,
                "checks_logged": len(check_results),
                "checks_warned": ", ".join(failed_checks) or "none",
            },
        )

    return blend_model
