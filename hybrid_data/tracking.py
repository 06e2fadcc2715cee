"""MLflow tracking: one run per blend, retried when the SQLite store is locked by a concurrent writer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
FINGERPRINT_TAG = "hybrid_data.fingerprint"


def retry_on_lock(action: Callable[[], T], attempts: int = 10, first_wait: float = 0.2) -> T:
    """SQLite allows one writer at a time; concurrent runs see 'database is locked' and should wait, not fail."""
    wait = first_wait
    for attempt in range(attempts):
        try:
            return action()
        except Exception as exc:  # MLflow wraps the SQLAlchemy error in its own types
            if "locked" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(wait)
            wait = min(wait * 2, 5.0)
    raise AssertionError("unreachable")


def experiment_id(tracking_uri: str, name: str, artifact_root: Path | None) -> str:
    """The experiment's id, created on first use; artifacts stay in the home folder for a local store."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)

    def get_or_create() -> str:
        found = mlflow.get_experiment_by_name(name)
        if found:
            return found.experiment_id
        location = (artifact_root / name).as_uri() if artifact_root and tracking_uri.startswith("sqlite") else None
        try:
            return mlflow.create_experiment(name, artifact_location=location)
        except Exception:
            found = mlflow.get_experiment_by_name(name)  # another run created it meanwhile
            if found:
                return found.experiment_id
            raise

    return retry_on_lock(get_or_create)


def find_run(tracking_uri: str, exp_id: str, fingerprint: str) -> Any | None:
    """A finished run already made from exactly these inputs, so a rerun does not log a duplicate."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    runs = retry_on_lock(
        lambda: mlflow.search_runs(
            [exp_id],
            filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}' and attributes.status = 'FINISHED'",
            output_format="list",
            max_results=1,
        )
    )
    return runs[0] if runs else None


def log_run(
    tracking_uri: str,
    exp_id: str,
    run_name: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    model: Any = None,
    input_example: Any = None,
    artifacts: dict[str, str] | None = None,
) -> str:
    """Log one complete run and return its id; the model goes with its signature."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)

    def log() -> str:
        with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=tags) as run:
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            for file_name, text in (artifacts or {}).items():
                mlflow.log_text(text, file_name)
            if model is not None:
                _log_sklearn_model(model, input_example)
            return run.info.run_id

    return retry_on_lock(log)


def _log_sklearn_model(model: Any, input_example: Any) -> None:
    """Log the model with its signature in skops format, trusting exactly the types of this model we just fit."""
    import warnings
    from importlib.metadata import version

    import mlflow
    from mlflow.models import infer_signature
    from skops.io import dumps, get_untrusted_types

    # Naming the requirements spares MLflow's inference, which imports every loaded module (seconds per run).
    requirements = [f"{name}=={version(name)}" for name in ("scikit-learn", "skops", "numpy", "pandas")]

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Integer columns in Python cannot represent missing values.*")
        signature = infer_signature(input_example, model.predict(input_example))
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=input_example,
            skops_trusted_types=get_untrusted_types(data=dumps(model)),
            pip_requirements=requirements,
        )


def run_url(tracking_uri: str, exp_id: str, run_id: str) -> str:
    if tracking_uri.startswith("http"):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{exp_id}/runs/{run_id}"
    return f"mlflow ui ({tracking_uri}) -> experiment {exp_id}, run {run_id}"
