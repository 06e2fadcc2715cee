"""Check results on the blend's MLflow run, so one run compares utility with fidelity and privacy.

The results themselves are Dagster's records (the check evaluations of the blend's partition); the assets layer
reads them (assets/check_status.py) as plain dicts {check, passed, severity, description, metadata}.
"""

from __future__ import annotations

import math


def mlflow_fields(results: list[dict]) -> tuple[dict[str, float], dict[str, str]]:
    """Numeric check metadata as metrics (`check.<name>.<value>`) and each outcome as a tag (`check.<name>`:
    passed, warn or error), so one MLflow run compares utility with fidelity and privacy."""
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    for record in results:
        name = record["check"]
        tags[f"check.{name}"] = "passed" if record["passed"] else record["severity"].lower()
        metrics[f"check.{name}.passed"] = 1.0 if record["passed"] else 0.0
        for key, value in record["metadata"].items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                metrics[f"check.{name}.{key}"] = float(value)
    failed = sorted(r["check"] for r in results if not r["passed"])
    tags["checks.failed"] = ",".join(failed) or "none"
    return metrics, tags


def log_to_run(tracking_uri: str, run_id: str, results: list[dict]) -> None:
    """Add check metrics and tags to a run, new or reused: thresholds may change without retraining."""
    if not results:
        return
    import time

    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    from hybrid_data.tracking import retry_on_lock

    metrics, tags = mlflow_fields(results)
    now = int(time.time() * 1000)
    client = MlflowClient(tracking_uri)
    retry_on_lock(
        lambda: client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
    )
