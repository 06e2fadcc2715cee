"""MLflow runs for fitted synthesizers: the model file as an artifact, tagged with what it was fitted on."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from hybrid_data.deep_training import CONVERGED, TrainingRecord
from hybrid_data.synthesis import FittedSynthesizer
from hybrid_data.tracking import FINGERPRINT_TAG, find_run, log_run, retry_on_lock

MODEL_ARTIFACT = "synthesizer.pkl"
STOP_REASON_TAG = "hybrid_data.stop_reason"
CURVE_BATCH = 1000  # MLflow takes at most 1,000 metrics per log_batch


def experiment_name(plan_name: str) -> str:
    """Synthesizer runs get their own experiment so the blend runs' table stays one row per blend."""
    return f"{plan_name}-synthesizers"


def log_synthesizer(
    tracking_uri: str,
    exp_id: str,
    fitted: FittedSynthesizer,
    fingerprint: str,
    tags: dict[str, str],
    params: dict[str, Any],
) -> str:
    """Log the fitted synthesizer (SDV's own save format, loadable with `<Synthesizer>.load`) once per fingerprint;
    an existing finished run for the same fit is returned instead of a duplicate."""
    existing = find_run(tracking_uri, exp_id, fingerprint)
    if existing is not None:
        return existing.info.run_id
    summary = {
        "synthesizer": fitted.name,
        "sdtypes": fitted.sdtypes,
        "notes": fitted.notes,
        "capped_columns": {c.column: {"levels": c.levels, "kept": len(c.kept)} for c in fitted.caps},
        "regenerated_columns": {r.column: {"kind": r.kind, "fill": r.fill} for r in fitted.regenerated},
        "device": fitted.device,
    }
    metrics = {"fit_seconds": fitted.fit_seconds}
    training = fitted.training
    if training is not None:
        metrics.update({"epochs_run": training.epochs_run, "stopped_early": float(training.stop_reason == CONVERGED)})
        if training.best_epoch is not None:
            metrics.update({"best_epoch": training.best_epoch, "best_fidelity": training.best_score})
        summary["training"] = {"stop_reason": training.stop_reason, "summary": training.summary}
        tags = {**tags, STOP_REASON_TAG: training.stop_reason}
    if fitted.loss_values is not None and len(fitted.loss_values):
        last = fitted.loss_values.iloc[-1]
        metrics.update({f"final_{k.lower().replace(' ', '_')}": float(v) for k, v in last.items() if "Loss" in k})

    texts = {"synthesizer.json": json.dumps(summary, indent=2, default=str)}
    if fitted.loss_values is not None and len(fitted.loss_values):
        texts["loss_values.csv"] = fitted.loss_values.to_csv(index=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / MODEL_ARTIFACT
        fitted.synthesizer.save(str(path))
        # log_run retries each write on a SQLite lock and marks a half-logged run FAILED (find_run skips those).
        run_id = log_run(
            tracking_uri,
            exp_id,
            fitted.name,
            params,
            metrics,
            {**tags, FINGERPRINT_TAG: fingerprint},
            artifacts=texts,
            files=[path],
        )
    if training is not None and training.curve:
        log_training_curve(tracking_uri, run_id, training)
    return run_id


def log_training_curve(tracking_uri: str, run_id: str, training: TrainingRecord) -> None:
    """Every epoch's losses (and the fidelity score on check epochs) as metrics stepped by epoch, so MLflow's
    charts show the curve and where the fit stopped."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"epoch.{key}", float(value), now, row["epoch"])
        for row in training.curve
        for key, value in row.items()
        if key != "epoch"
    ]
    for start in range(0, len(metrics), CURVE_BATCH):
        batch = metrics[start : start + CURVE_BATCH]
        retry_on_lock(lambda batch=batch: client.log_batch(run_id, metrics=batch))


def log_pool_balance(
    tracking_uri: str, run_id: str, requested: dict[str, float], achieved: dict[str, float], rows: int
):
    """Add the pool's class balance (requested by a boost, and achieved) to the synthesizer's run, stepped by
    pool size so a topped-up pool adds a point instead of overwriting."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)

    def log() -> None:
        for name, share in requested.items():
            client.log_metric(run_id, f"pool_requested_share.{_key(name)}", share, step=rows)
        for name, share in achieved.items():
            client.log_metric(run_id, f"pool_achieved_share.{_key(name)}", share, step=rows)
        client.log_metric(run_id, "pool_rows", rows, step=rows)

    retry_on_lock(log)


def _key(name: str) -> str:
    """A class name as an MLflow metric key part (letters, digits, _ - . / and spaces only)."""
    return re.sub(r"[^\w\-. /]", "_", name)
