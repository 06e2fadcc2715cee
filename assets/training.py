"""Training: a downstream model per blend under the one evaluation protocol, scored on the real holdout and
logged to MLflow."""

import os
import time

import dagster as dg
import polars as pl

from hybrid_data import lake
from hybrid_data.column_types import decide_task
from hybrid_data.evaluation.cell_training import (
    cell_version_of,
    headline_with_interval,
    reusable,
    run_description,
    stamp,
    train_blend_cell,
)
from hybrid_data.evaluation.gates import check_tags
from hybrid_data.evaluation.protocol import protocol_for
from hybrid_data.evaluation.scorecard import headline_metrics
from hybrid_data.tracking import FINGERPRINT_TAG, find_run, frame_dataset, log_run, run_url, set_tags

from .blending import parse_ratio
from .check_status import blend_check_records
from .dagster_private import unfinished_check_steps
from .partitions import partition_dims
from .resources import HybridDataSettings, MlflowTracking

# Where people open the Dagster and MLflow UIs: the defaults of `dagster dev` and `mlflow ui` on this machine.
DAGSTER_URL_ENV, DAGSTER_URL_DEFAULT = "DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000"
MLFLOW_UI_URL_ENV, MLFLOW_UI_URL_DEFAULT = "MLFLOW_UI_URL", "http://127.0.0.1:5000"


def dagster_run_url(run_id: str) -> str:
    """The Dagster run page, for the MLflow run's `dagster.run_url` tag ($DAGSTER_WEBSERVER_URL, else local)."""
    return f"{os.environ.get(DAGSTER_URL_ENV, DAGSTER_URL_DEFAULT).rstrip('/')}/runs/{run_id}"


def mlflow_link(tracking_uri: str, exp_id: str, run_id: str) -> dg.MetadataValue:
    """A clickable link to the MLflow run: the tracking server itself, or the `mlflow ui` a local store is
    browsed with ($MLFLOW_UI_URL, else its default address)."""
    base = tracking_uri if tracking_uri.startswith("http") else os.environ.get(MLFLOW_UI_URL_ENV, MLFLOW_UI_URL_DEFAULT)
    return dg.MetadataValue.url(run_url(base, exp_id, run_id))


# How long the model step waits for the blend's other check steps of its run (a step that hangs longer is reported
# in the step log, and the model goes on with the checks that did finish).
CHECKS_WAIT_SECONDS = 900.0


def wait_for_check_steps(context: dg.AssetExecutionContext, poll: float = 0.2) -> None:
    """Block until every check step of this run on the blend has finished (at most CHECKS_WAIT_SECONDS)."""
    deadline = time.monotonic() + CHECKS_WAIT_SECONDS
    while pending := unfinished_check_steps(context.instance, context.run_id, dg.AssetKey("blend")):
        if time.monotonic() > deadline:
            context.log.warning(f"check steps {sorted(pending)} still running; logging the checks that finished")
            return
        time.sleep(poll)


def dataset_inputs(
    settings: HybridDataSettings, dims: dict, frames: dict[str, pl.DataFrame], fingerprints: dict[str, str]
) -> list[tuple]:
    """The run's datasets for MLflow's Dataset column: each frame with its lake file as source and its content
    fingerprint as digest (the same value as the run's data_version tags), the blend as training data. A frame
    MLflow cannot describe is left out: the data_version tags remain."""
    inputs = []
    for name, frame in frames.items():
        partition = dims if name == "blend" else None
        label = name if partition is None else f"{name} {dims['synth']} r={dims['ratio']}"
        dataset = frame_dataset(
            frame, settings.lake.uri(name, partition), label, fingerprints[name], settings.plan.target
        )
        if dataset is not None:
            inputs.append((dataset, {"blend": "training", "real_holdout": "evaluation"}.get(name, "reference")))
    return inputs


def build_blend_model_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name="training",
        kinds={"scikitlearn", "mlflow"},
        partitions_def=partitions_def,
        code_version="2",
        pool="model_training",
    )
    def blend_model(
        context: dg.AssetExecutionContext,
        settings: HybridDataSettings,
        mlflow: MlflowTracking,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
        real_holdout: pl.DataFrame,
    ) -> dg.Output[pl.DataFrame]:
        """This blend's cell of the scorecard: the plan's model fitted once per evaluation seed under the one
        protocol (real validation slice held out of the blend, explicit early stopping), with its holdout
        predictions for the scorecard's paired bootstrap and its blend's check records. Logged as one MLflow
        run; an unchanged blend reuses its stored predictions and run. A blend no model can learn from (e.g. a
        single class) is recorded as untrainable instead of failing."""
        plan, store = settings.plan, settings.lake
        dims = partition_dims(context)
        task = decide_task(plan, real_train)
        ratio = parse_ratio(dims["ratio"])
        frames = {"blend": blend, "real_train": real_train, "real_holdout": real_holdout}
        # Hashed once: the cell's version, the run's data_version tags and its MLflow datasets all name them (a
        # 3M-row blend takes seconds to hash).
        fingerprints = {name: lake.frame_fingerprint(frame) for name, frame in frames.items()}
        version = cell_version_of(plan, task, list(fingerprints.values()))
        previous = store.read_frame("blend_model", dims) if store.exists("blend_model", dims) else None
        exp_id = mlflow.experiment_id(plan.name)
        reuse = reusable(previous, version)
        if not reuse:  # trained while the blend's last checks still run; their records are stamped on below
            cell, fit = train_blend_cell(plan, task, dims["synth"], ratio, blend, real_train, real_holdout, [])
            headline = headline_with_interval(cell, real_holdout, real_train, plan, task)
        wait_for_check_steps(context)
        checks = blend_check_records(context)
        if reuse:
            context.log.info("blend, real data and protocol unchanged; reusing the stored predictions")
            cell = stamp(previous, version, checks)
        else:
            existing = find_run(mlflow.tracking_uri, exp_id, version)
            if existing is not None:
                run_id = existing.info.run_id
            else:
                run_id = log_run(
                    mlflow.tracking_uri,
                    exp_id,
                    f"{dims['synth']}-r{dims['ratio']}",
                    {
                        "ratio": dims["ratio"],
                        "synthesizer": dims["synth"],
                        "anchoring": plan.anchoring.mode,
                        "real_rows": cell["real_rows"][0],
                        "synthetic_rows": cell["synthetic_rows"][0],
                        "holdout_rows": real_holdout.height,
                        "status": cell["status"][0],
                        **protocol_for(plan, task).mlflow_params(),
                    },
                    headline,
                    {
                        "dagster.run_id": context.run_id,
                        "dagster.run_url": dagster_run_url(context.run_id),
                        "dagster.partition_key": str(context.partition_key),
                        "dagster.asset_key": context.asset_key.to_user_string(),
                        "hybrid_data.plan": plan.name,
                        "hybrid_data.cell": cell["cell"][0],
                        "hybrid_data.synthesizer": dims["synth"],
                        "hybrid_data.ratio": dims["ratio"],
                        "hybrid_data.data_version.blend": fingerprints["blend"],
                        "hybrid_data.data_version.real_holdout": fingerprints["real_holdout"],
                        FINGERPRINT_TAG: version,
                    },
                    model=fit.model if fit else None,
                    input_example=fit.input_example if fit else None,
                    tables={"checks.json": checks},
                    description=run_description(cell, plan, headline, checks),
                    inputs=dataset_inputs(settings, dims, frames, fingerprints),
                )
            cell = stamp(cell, version, checks, run_id)
        run_id = cell["mlflow_run_id"][0]
        set_tags(mlflow.tracking_uri, run_id, check_tags(checks))
        metrics = headline_metrics(cell, real_holdout, real_train, plan.target, task)
        failed = sorted(r["check"] for r in checks if not r["passed"])
        return dg.Output(
            cell,
            data_version=dg.DataVersion(version),
            metadata={
                "cell": cell["cell"][0],
                "status": cell["status"][0],
                **{k: round(v, 4) for k, v in metrics.items()},
                "fits": cell.height if cell["status"][0] == "trained" else 0,
                "rounds": str(cell["rounds"].to_list()),
                "train_rows": int(cell["train_rows"][0] or 0),
                "mlflow_run_id": run_id,
                "mlflow_run": mlflow_link(mlflow.tracking_uri, exp_id, run_id),
                "reused_run": reuse,
                "checks_failed": ", ".join(failed) or "none",
            },
        )

    return blend_model
