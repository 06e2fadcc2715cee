"""Check results kept beside the blend in the lake, so the blend's MLflow run can carry them.

Checks run before `blend_model` in the same Dagster run; each writes one small JSON file to
`<lake>/blend_checks/synth=<s>/ratio=<r>/<check>.json`, stamped with the blend's fingerprint, and
`blend_model` logs the results whose stamp matches the blend it trained on (stale ones are ignored).
"""

from __future__ import annotations

import json
import math

from hybrid_data.lake import Lake
from hybrid_data.quality import CheckOutcome

RESULTS_ASSET = "blend_checks"


def write_result(
    lake: Lake, dims: dict[str, str], check: str, blend_version: str, outcome: CheckOutcome, severity: str
):
    record = {
        "check": check,
        "blend_version": blend_version,
        "passed": outcome.passed,
        "severity": severity,
        "description": outcome.description,
        "metadata": outcome.metadata,
    }
    return lake.write_bytes(
        RESULTS_ASSET, dims, f"{check}.json", json.dumps(record, default=str, sort_keys=True).encode()
    )


def read_results(lake: Lake, dims: dict[str, str], blend_version: str) -> list[dict]:
    """The results of checks that ran on exactly this blend version, by check name."""
    names = [n for n in lake.names(RESULTS_ASSET, dims) if n.endswith(".json")]
    records = [json.loads(lake.read_bytes(RESULTS_ASSET, dims, n)) for n in names]
    return [r for r in records if r.get("blend_version") == blend_version]


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
