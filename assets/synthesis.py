"""Synthesis: one fitted synthesizer per generator and real-data version, and one pool sampled from it."""

import time

import dagster as dg
import polars as pl

from hybrid_data.blending import pool_size
from hybrid_data.lake import OBJECT_FILE, fingerprint, frame_fingerprint
from hybrid_data.synthesis import fit_settings, fit_synthesizer, sample_pool
from hybrid_data.synthesizer_tracking import experiment_name, log_pool_balance, log_synthesizer
from hybrid_data.tracking import find_run, run_url

from .metadata import frame_metadata
from .resources import HybridDataSettings, MlflowTracking

# Bumped when sampling changes in a way that makes stored pools differ from what the code would sample now.
POOL_FORMAT = "2"


def _sdv_version() -> str:
    from importlib.metadata import version

    return version("sdv")


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
        plan, lake = settings.plan, settings.lake
        name = context.partition_key
        dims = {"synth": name}
        real_version = frame_fingerprint(real_train)
        version = fingerprint(real_version, fit_settings(name, plan), _sdv_version())
        reused = lake.stored_fingerprint("synthesizer_model", dims) == version
        if reused:
            context.log.info(f"{name}: real data and fit settings unchanged, reusing the stored fit")
            fitted = lake.read_object("synthesizer_model", dims)
        else:
            fitted = fit_synthesizer(name, real_train, plan, progress=context.log.info)
            for note in fitted.notes:
                context.log.warning(note)
            lake.write_object("synthesizer_model", dims, fitted, fingerprint=version)
        exp_id = mlflow.experiment_id(experiment_name(plan.name))
        tags = {
            "dagster.run_id": context.run_id,
            "dagster.partition_key": name,
            "dagster.asset_key": context.asset_key.to_user_string(),
            "hybrid_data.plan": plan.name,
            "hybrid_data.synthesizer": name,
            "hybrid_data.data_version.real_train": real_version,
        }
        params = {k: str(v)[:500] for k, v in fit_settings(name, plan).items()}
        run_id = log_synthesizer(mlflow.tracking_uri, exp_id, fitted, version, tags, params)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                "synthesizer": name,
                "reused_fit": reused,
                "fit_seconds": None if reused else round(fitted.fit_seconds, 2),
                "train_rows": real_train.height,
                "device": fitted.device,
                "sdtypes": fitted.sdtypes,
                "capped_columns": {c.column: c.levels for c in fitted.caps},
                "regenerated_columns": {r.column: f"{r.kind}: {r.fill}" for r in fitted.regenerated},
                "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in fitted.notes) or "(none)"),
                "path": lake.uri("synthesizer_model", dims, OBJECT_FILE),
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
        plan, lake = settings.plan, settings.lake
        name = context.partition_key
        dims = {"synth": name}
        needed = pool_size(plan, real_train.height)
        boost = dict(plan.synthesis.boost_target_shares)
        model_version = lake.stored_fingerprint("synthesizer_model", dims)
        version = fingerprint(
            model_version,
            plan.seed,
            boost,
            plan.synthesis.boost_max_tries,
            frame_fingerprint(real_train),
            POOL_FORMAT,
        )
        same = lake.stored_fingerprint("synthetic_pool", dims) == version
        existing = lake.read_frame("synthetic_pool", dims) if same else None
        started = time.perf_counter()
        sampled_rows, notes, requested = 0, [], {}
        if existing is not None and existing.height >= needed:
            context.log.info(f"{name}: pool of {existing.height} rows already covers the {needed} needed; reusing it")
            pool = existing
        else:
            fitted = lake.read_object("synthesizer_model", dims)
            offset = existing.height if existing is not None else 0
            chunk = sample_pool(
                fitted,
                needed - offset,
                plan.seed,
                offset=offset,
                real=real_train,
                boost_target_shares=boost,
                boost_max_tries=plan.synthesis.boost_max_tries,
            )
            sampled_rows, notes, requested = chunk.frame.height, chunk.notes, chunk.requested_shares
            for note in notes:
                context.log.warning(note)
            pool = chunk.frame if existing is None else pl.concat([existing, chunk.frame])
            lake.write_frame("synthetic_pool", dims, pool, fingerprint=version)
            if offset:
                context.log.info(f"{name}: topped the pool up from {offset} to {pool.height} rows")
        achieved = _shares(pool, plan.target)
        if sampled_rows:
            run = find_run(mlflow.tracking_uri, mlflow.experiment_id(experiment_name(plan.name)), model_version)
            if run is not None:
                log_pool_balance(mlflow.tracking_uri, run.info.run_id, requested, achieved, pool.height)
        return dg.MaterializeResult(
            # Rows only ever get appended, so blends built from the pool's head stay current after a top-up.
            data_version=dg.DataVersion(version),
            metadata={
                **frame_metadata(pool),
                "rows_needed": needed,
                "rows_sampled_now": sampled_rows,
                "reused_pool": sampled_rows == 0,
                "sample_seconds": round(time.perf_counter() - started, 2),
                "boost_requested_shares": requested or boost,
                "target_shares": achieved,
                "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "(none)"),
            },
        )

    return [synthesizer_model, synthetic_pool]


def _shares(frame: pl.DataFrame, target: str) -> dict[str, float]:
    if target not in frame.columns or frame.height == 0:
        return {}
    counts = frame[target].cast(pl.String).value_counts(normalize=True, sort=True)
    return {str(k): round(float(v), 4) for k, v in counts.iter_rows()}
