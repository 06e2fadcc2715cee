"""MLflow runs for fitted synthesizers: the model file as an artifact, tagged with what it was fitted on."""

from __future__ import annotations

import json
import re
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from hybrid_data.synthesis import FittedSynthesizer
from hybrid_data.tracking import FINGERPRINT_TAG, find_run, retry_on_lock

MODEL_ARTIFACT = "synthesizer.pkl"


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
    if fitted.loss_values is not None and len(fitted.loss_values):
        last = fitted.loss_values.iloc[-1]
        metrics.update({f"final_{k.lower().replace(' ', '_')}": float(v) for k, v in last.items() if "Loss" in k})

    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    # Each write is retried on its own (SQLite lock), so a lock never leaves a half run beside a duplicate.
    run_tags = {**tags, FINGERPRINT_TAG: fingerprint}
    run_id = retry_on_lock(lambda: client.create_run(exp_id, run_name=fitted.name, tags=run_tags)).info.run_id
    try:
        now = int(time.time() * 1000)
        retry_on_lock(
            lambda: client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                params=[Param(k, str(v)) for k, v in params.items()],
            )
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL_ARTIFACT
            fitted.synthesizer.save(str(path))
            retry_on_lock(lambda: client.log_artifact(run_id, str(path)))
        retry_on_lock(lambda: client.log_text(run_id, json.dumps(summary, indent=2, default=str), "synthesizer.json"))
        if fitted.loss_values is not None and len(fitted.loss_values):
            losses = fitted.loss_values.to_csv(index=False)
            retry_on_lock(lambda: client.log_text(run_id, losses, "loss_values.csv"))
        retry_on_lock(lambda: client.set_terminated(run_id, "FINISHED"))
    except BaseException:
        # A half-logged run is marked FAILED, so find_run never reuses it.
        with suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    return run_id


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
