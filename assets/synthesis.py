"""Synthesis: one fitted synthesizer per generator and real-data version, and one pool sampled from it.

The reuse rules (fit once, top the pool up) are pure decisions in hybrid_data/reuse.py; these assets gather
their inputs from the lake and MLflow, act on the answer, and attach metadata.
"""

import time

import dagster as dg
import polars as pl

from hybrid_data.blending import pool_size
from hybrid_data.column_types import class_shares, decide_task
from hybrid_data.lake import FRAME_FILE, OBJECT_FILE, Lake, Status, fingerprint, frame_fingerprint
from hybrid_data.reuse import fit_decision, pool_decision, tracked_run_decision
from hybrid_data.synthesis import fit_settings, fit_synthesizer, sample_pool
from hybrid_data.synthesizer_tracking import experiment_name, log_pool_balance, log_synthesizer
from hybrid_data.tracking import find_run, run_url

from .check_status import blocking_checks
from .metadata import frame_metadata, markdown_table
from .resources import HybridDataSettings, MlflowTracking

# Bumped when sampling changes in a way that makes stored pools differ from what the code would sample now.
# 3: pools sampled in seeded blocks, RDT's transformers seeded per block (hybrid_data.synthesis.sample_pool).
POOL_FORMAT = "3"
MODEL, POOL = "synthesizer_model", "synthetic_pool"


def _sdv_version() -> str:
    from importlib.metadata import version

    return version("sdv")


def _notes(notes: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "(none)")


def _fit_metadata(fitted, reused: bool, rows: int) -> dict:
    return {
        "reused_fit": reused,
        "fit_seconds": None if reused else round(fitted.fit_seconds, 2),
        "train_rows": rows,
        "device": fitted.device,
        "epochs_run": fitted.training.epochs_run if fitted.training else None,
        "stop_reason": fitted.training.summary if fitted.training else None,
        "loss_curve": dg.MetadataValue.md(
            markdown_table(pl.DataFrame(fitted.curve_summary(), infer_schema_length=None))
        ),
        "sdtypes": fitted.sdtypes,
        "capped_columns": {c.column: c.levels for c in fitted.caps},
        "regenerated_columns": {r.column: f"{r.kind}: {r.fill}" for r in fitted.regenerated},
        "notes": _notes(fitted.notes),
    }


def _log_fit(context, settings: HybridDataSettings, mlflow: MlflowTracking, fitted, version: str, real_version: str):
    """The fit's MLflow run: found by its fingerprint, logged only when there is none."""
    plan, name = settings.plan, context.partition_key
    exp_id = mlflow.experiment_id(experiment_name(plan.name))
    existing = find_run(mlflow.tracking_uri, exp_id, version)
    if not tracked_run_decision(existing.info.run_id if existing else None).redo:
        return exp_id, existing.info.run_id
    tags = {
        "dagster.run_id": context.run_id,
        "dagster.partition_key": name,
        "dagster.asset_key": context.asset_key.to_user_string(),
        "hybrid_data.plan": plan.name,
        "hybrid_data.plan_fingerprint": settings.plan_fingerprint,
        "hybrid_data.synthesizer": name,
        "hybrid_data.data_version.real_train": real_version,
    }
    params = {k: str(v)[:500] for k, v in fit_settings(name, plan).items()}
    return exp_id, log_synthesizer(mlflow.tracking_uri, exp_id, fitted, version, tags, params)


def usable_fingerprint(lake: Lake, asset: str, dims: dict, log) -> str | None:
    """The stored version's fingerprint, or None when there is none or its file is corrupt or partial: a corrupt
    fit or pool is rebuilt like a missing one (with a warning naming the file) instead of failing every rerun."""
    status = lake.status(asset, dims)
    if status == Status.corrupt:
        path = lake.path(asset, dims, OBJECT_FILE if asset == MODEL else FRAME_FILE)
        log.warning(f"{path} is corrupt or partial (its bytes or receipt do not match): rebuilding it")
        return None
    return lake.stored_fingerprint(asset, dims) if status == Status.ok else None


def _pool_fingerprint(lake: Lake, dims: dict, plan, real_train: pl.DataFrame) -> str:
    synthesis = plan.synthesis
    return fingerprint(
        lake.stored_fingerprint(MODEL, dims),
        plan.seed,
        dict(synthesis.boost_target_shares),
        synthesis.boost_max_tries,
        frame_fingerprint(real_train),
        POOL_FORMAT,
    )


def build_synthesis_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        group_name="synthesis",
        kinds={"sdv", "mlflow"},
        partitions_def=partitions_def,
        code_version="2",
        pool="synthesizer_fit",
    )
    def synthesizer_model(
        context: dg.AssetExecutionContext,
        settings: HybridDataSettings,
        mlflow: MlflowTracking,
        real_train: pl.DataFrame,
    ) -> dg.MaterializeResult:
        """A synthesizer fitted on real_train only (never the holdout), logged to MLflow. Fitted once per
        generator, fit settings and real-data version: adding a ratio, a boost or another synthesizer to the plan
        reuses the stored fit."""
        plan, lake, name = settings.plan, settings.lake, context.partition_key
        dims = {"synth": name}
        real_version = frame_fingerprint(real_train)
        version = fingerprint(real_version, fit_settings(name, plan), _sdv_version())
        stored = usable_fingerprint(lake, MODEL, dims, context.log)
        decision = fit_decision(stored, version, stored is not None)
        context.log.info(f"{name}: {decision.reason}")
        if decision.redo:
            fitted = fit_synthesizer(name, real_train, plan, progress=context.log.info)
            for note in fitted.notes:
                context.log.warning(note)
            lake.write_object(MODEL, dims, fitted, fingerprint=version)
        else:
            fitted = lake.read_object(MODEL, dims)
        exp_id, run_id = _log_fit(context, settings, mlflow, fitted, version, real_version)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                "synthesizer": name,
                **_fit_metadata(fitted, not decision.redo, real_train.height),
                "path": lake.uri(MODEL, dims, OBJECT_FILE),
                "mlflow_run_id": run_id,
                "mlflow_run": run_url(mlflow.tracking_uri, exp_id, run_id),
            },
        )

    @dg.asset(
        group_name="synthesis",
        kinds={"sdv", "polars"},
        partitions_def=partitions_def,
        code_version="2",
        deps=[synthesizer_model],
    )
    def synthetic_pool(
        context: dg.AssetExecutionContext,
        settings: HybridDataSettings,
        mlflow: MlflowTracking,
        real_train: pl.DataFrame,
    ) -> dg.MaterializeResult:
        """Synthetic rows enough for the plan's largest ratio; every blend takes the pool's first rows. A larger
        ratio tops the pool up (only the extra rows are sampled, with their own seed), so rows already in it,
        and the blends built from them, never change."""
        plan, lake, name = settings.plan, settings.lake, context.partition_key
        dims, boost, started = {"synth": name}, dict(plan.synthesis.boost_target_shares), time.perf_counter()
        version, needed = _pool_fingerprint(lake, dims, plan, real_train), pool_size(plan, real_train.height)
        stored = usable_fingerprint(lake, POOL, dims, context.log)
        todo = pool_decision(stored, version, lake.frame_rows(POOL, dims) if stored else None, needed)
        context.log.info(f"{name}: {todo.reason}")
        pool, notes, requested = lake.read_frame(POOL, dims) if todo.kept else None, [], {}
        if todo.to_sample:
            chunk = sample_pool(
                lake.read_object(MODEL, dims),
                todo.to_sample,
                plan.seed,
                offset=todo.kept,
                real=real_train,
                boost_target_shares=boost,
                boost_max_tries=plan.synthesis.boost_max_tries,
            )
            notes, requested = chunk.notes, chunk.requested_shares
            for note in notes:
                context.log.warning(note)
            pool = chunk.frame if pool is None else pl.concat([pool, chunk.frame])
            awaiting = blocking_checks(context.job_def, context.run, context.asset_key)
            lake.write_frame(POOL, dims, pool, fingerprint=version, awaiting=awaiting, partition_key=name)
            _log_balance(
                mlflow,
                plan,
                lake.stored_fingerprint(MODEL, dims),
                requested,
                _shares(pool, plan, real_train),
                pool.height,
            )
        return dg.MaterializeResult(
            # Rows only ever get appended, so blends built from the pool's head stay current after a top-up.
            data_version=dg.DataVersion(version),
            metadata={
                **frame_metadata(pool),
                **todo.metadata,
                "rows_needed": needed,
                "sample_seconds": round(time.perf_counter() - started, 2),
                "boost_requested_shares": requested or boost,
                "target_shares": _shares(pool, plan, real_train),
                "notes": _notes(notes),
            },
        )

    return [synthesizer_model, synthetic_pool]


def _log_balance(
    mlflow: MlflowTracking, plan, model_version: str | None, requested: dict, achieved: dict, rows: int
) -> None:
    """The pool's achieved class balance on the fit's MLflow run (when the fit has one)."""
    run = find_run(mlflow.tracking_uri, mlflow.experiment_id(experiment_name(plan.name)), model_version)
    if run is not None:
        log_pool_balance(mlflow.tracking_uri, run.info.run_id, requested, achieved, rows)


def _shares(frame: pl.DataFrame, plan, real_train: pl.DataFrame) -> dict[str, float]:
    """Class shares of the pool's target; none for a regression target (its values are not classes)."""
    if plan.target not in frame.columns:
        return {}
    return class_shares(frame[plan.target], decide_task(plan, real_train))
