"""MLflow tracking: one run per blend, retried when the SQLite store is locked by a concurrent writer.

A local SQLite store takes one writer at a time, so concurrent runs see 'database is locked': every write here
is retried on its own (never the whole run, which would log a duplicate), and the store's tables are created
under a file lock. With $MLFLOW_TRACKING_URI pointing at a tracking server the same code logs over HTTP.

Faults: a run carrying a fingerprint is logged once per fingerprint even when two processes log it at once (a
per-fingerprint file lock beside a SQLite store, and after logging a dedupe any store supports); a tracking
server that does not answer is reported within seconds (`check_tracking_server`) instead of after minutes of
retries; runs left RUNNING by a killed process are marked KILLED on the next start (`mark_orphaned_runs`).
"""

from __future__ import annotations

import logging
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_LOG = logging.getLogger(__name__)
FINGERPRINT_TAG = "hybrid_data.fingerprint"
# Messages of transient errors worth waiting out: SQLite's writer lock, directly or through a tracking server.
TRANSIENT = (
    "database is locked",
    "database table is locked",
    "locked",
    # Two runs logging the same dataset at once: MLflow looks the dataset up, then inserts it, so the slower one
    # meets the other's row (SQLite's and PostgreSQL's wording). The insert is rolled back; on the retry the
    # dataset exists and only the run's input is added. Seen when two blends' model steps logged real_train.
    "unique constraint failed: datasets.",
    '"dataset_pk"',
)


def is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in TRANSIENT)


def use_tracking_uri(tracking_uri: str) -> None:
    """Point MLflow's fluent API at `tracking_uri` without exporting it to the environment.

    mlflow.set_tracking_uri also sets $MLFLOW_TRACKING_URI for subprocesses; left there, it would override the
    home folder's store for every later run in this process (and every step it starts). The user's own setting
    stays authoritative.
    """
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


def retry_on_lock(action: Callable[[], T], attempts: int = 12, first_wait: float = 0.2) -> T:
    """SQLite allows one writer at a time; concurrent runs see 'database is locked' and should wait, not fail.
    The wait doubles (with jitter, so waiting writers do not retry in lockstep) up to 5 s, about 40 s in all."""
    wait = first_wait
    for attempt in range(attempts):
        try:
            return action()
        except Exception as exc:  # MLflow wraps the SQLAlchemy error in its own types
            if not is_transient(exc) or attempt == attempts - 1:
                raise
            time.sleep(wait * (0.5 + random.random()))
            wait = min(wait * 2, 5.0)
    raise AssertionError("unreachable")


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite:///` tracking URI, else None (a server or another database)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Serialize first use of a SQLite store across processes: MLflow creates and migrates its tables on first
    connection, and two processes doing that at once fail with 'table already exists' or a lock error."""
    database = sqlite_path(tracking_uri)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the retries still cover the race mostly
        fcntl = None
    if database is None or fcntl is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking server does not answer; the message names the URI and what to do."""


# URIs whose server answered recently (monotonic time): a step probes once, not before every call.
_ANSWERED: dict[str, float] = {}
PROBE_TTL = 60.0


def check_tracking_server(tracking_uri: str, timeout: float = 3.0) -> None:
    """Fail within `timeout` seconds when an http(s) tracking server does not answer its /health endpoint,
    rather than after MLflow's minutes of retries per call. Local stores (SQLite, files) need no probe."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    if time.monotonic() - _ANSWERED.get(tracking_uri, -PROBE_TTL) < PROBE_TTL:
        return
    url = f"{tracking_uri.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (the user's own server)
            response.read(64)
    except (OSError, urllib.error.URLError) as exc:
        raise TrackingUnavailable(
            f"MLflow tracking server {tracking_uri} does not answer ({url}: {getattr(exc, 'reason', exc)}); start "
            "it (e.g. 'mlflow server --host 127.0.0.1 --port 5000'), or unset MLFLOW_TRACKING_URI to log to the "
            "home folder's SQLite store"
        ) from None
    _ANSWERED[tracking_uri] = time.monotonic()


@contextmanager
def fingerprint_lock(tracking_uri: str, fingerprint: str | None) -> Iterator[None]:
    """Serialize logging of one fingerprint across processes sharing a SQLite store, so two runs at once do not
    both find no run and both log one. A server has no shared folder: its duplicates are removed after logging."""
    database = sqlite_path(tracking_uri)
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fingerprint is None or database is None or fcntl is None:
        yield
        return
    folder = database.parent / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{fingerprint}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def keep_first_run(client: Any, exp_id: str, fingerprint: str, run_id: str) -> str:
    """After logging `run_id`: when another FINISHED run with this fingerprint ended earlier, delete ours and
    return that one. Every process applies the same order (end time, then id), so exactly one run survives."""
    runs = retry_on_lock(
        lambda: client.search_runs(
            [exp_id], filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}' and attributes.status = 'FINISHED'"
        )
    )
    if not runs:
        return run_id
    first = min(runs, key=lambda r: (r.info.end_time or 0, r.info.run_id))
    if first.info.run_id != run_id:
        retry_on_lock(lambda: client.delete_run(run_id))
    return first.info.run_id


def mark_orphaned_runs(tracking_uri: str, is_alive: Callable[[str], bool], exp_ids: list[str] | None = None) -> list:
    """Runs still RUNNING whose Dagster run (tag `dagster.run_id`) is not alive, as a killed process leaves them
    with metrics that look real: marked KILLED with a tag saying why. Returns their MLflow run ids. For the CLI
    at start; a store that is read-only or locked keeps its runs (logged, not raised)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    try:
        ids = exp_ids or [e.experiment_id for e in client.search_experiments()]
        running = (
            client.search_runs(ids, filter_string="attributes.status = 'RUNNING'", max_results=1000) if ids else []
        )
    except Exception as exc:
        _LOG.warning(f"could not look for orphaned MLflow runs in {tracking_uri}: {exc}")
        return []
    marked = []
    for run in running:
        dagster_run = run.data.tags.get("dagster.run_id")
        if dagster_run is None or is_alive(dagster_run):
            continue
        try:
            client.set_tag(run.info.run_id, "hybrid_data.orphaned", f"Dagster run {dagster_run} ended without it")
            client.set_terminated(run.info.run_id, "KILLED")
            marked.append(run.info.run_id)
        except Exception as exc:  # read-only or locked store: leave it as it is
            _LOG.warning(f"could not mark orphaned MLflow run {run.info.run_id} in {tracking_uri}: {exc}")
    return marked


def experiment_id(tracking_uri: str, name: str, artifact_root: Path | None) -> str:
    """The experiment's id, created on first use; artifacts stay in the home folder for a local store. A dead
    tracking server fails here within seconds (the first MLflow call of every step that logs)."""
    check_tracking_server(tracking_uri)  # before importing mlflow: the answer comes in seconds
    import mlflow

    use_tracking_uri(tracking_uri)

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

    with store_lock(tracking_uri):
        return retry_on_lock(get_or_create)


def find_run(tracking_uri: str, exp_id: str, fingerprint: str) -> Any | None:
    """A finished run already made from exactly these inputs, so a rerun does not log a duplicate."""
    import mlflow

    use_tracking_uri(tracking_uri)
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
    files: list[Path] | None = None,
    tables: dict[str, list[dict]] | None = None,
    description: str | None = None,
    inputs: list[tuple[Any, str]] | None = None,
) -> str:
    """Log one complete run and return its id; the model goes with its signature, `artifacts` are texts by
    name, `files` are copied as they are (charts), `tables` are records shown as tables in the MLflow UI
    (per-check details, instead of dozens of metrics on the run page). `description` is the Markdown shown at
    the top of the run page; `inputs` are (mlflow.data dataset, context) pairs for the run's Dataset column.

    Each write is retried on its own, so a lock mid-way never leaves a half run beside a duplicate; a run that
    fails for another reason is marked FAILED (find_run only reuses FINISHED runs). A run tagged with a
    fingerprint is logged once: another process that logged it meanwhile wins and its id is returned.
    """
    fingerprint = tags.get(FINGERPRINT_TAG)
    if description:
        tags = {**tags, "mlflow.note.content": description}
    with fingerprint_lock(tracking_uri, fingerprint):
        existing = find_run(tracking_uri, exp_id, fingerprint) if fingerprint else None
        if existing is not None:
            return existing.info.run_id
        run_id = _log_new_run(
            tracking_uri,
            exp_id,
            run_name,
            params,
            metrics,
            tags,
            model,
            input_example,
            artifacts,
            files,
            tables,
            inputs,
        )
        if fingerprint:
            from mlflow.tracking import MlflowClient

            run_id = keep_first_run(MlflowClient(tracking_uri), exp_id, fingerprint, run_id)
        return run_id


@contextmanager
def finished_or_failed(client: Any, run_id: str) -> Iterator[None]:
    """Mark the run FINISHED once the block has logged everything, FAILED when it raises (find_run reuses FINISHED
    runs only, so a half-logged run is never taken for a result); the original error wins over a failed update."""
    try:
        yield
    except BaseException:
        with suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    retry_on_lock(lambda: client.set_terminated(run_id, "FINISHED"))


def _log_new_run(
    tracking_uri, exp_id, run_name, params, metrics, tags, model, input_example, artifacts, files, tables, inputs=None
) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    use_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    run_id = retry_on_lock(lambda: client.create_run(exp_id, run_name=run_name, tags=tags)).info.run_id
    with finished_or_failed(client, run_id):
        _write_run(client, run_id, params, metrics, {}, artifacts, files, tables)
        if model is not None or inputs:
            # The model must be logged inside the run (fluent API) to be linked to it as runs:/<id>/model;
            # datasets go through the same fluent door (mlflow.log_input).
            retry_on_lock(lambda: mlflow.start_run(run_id=run_id))
            status = "FAILED"
            try:
                for dataset, context in inputs or []:
                    retry_on_lock(lambda dataset=dataset, context=context: mlflow.log_input(dataset, context=context))
                if model is not None:
                    retry_on_lock(lambda: _log_sklearn_model(model, input_example))
                status = "FINISHED"
            finally:
                retry_on_lock(lambda: mlflow.end_run(status))
    return run_id


def _write_run(
    client: Any,
    run_id: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifacts: dict[str, str] | None,
    files: list[Path] | None,
    tables: dict[str, list[dict]] | None,
) -> None:
    """Everything but the model into an open run, each write retried on its own."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    retry_on_lock(
        lambda: client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
    )
    for file_name, text in (artifacts or {}).items():
        retry_on_lock(lambda file_name=file_name, text=text: client.log_text(run_id, text, file_name))
    for path in files or []:
        retry_on_lock(lambda path=path: _log_file(client, run_id, path))
    for file_name, records in (tables or {}).items():
        if records:
            data = table_columns(records)
            retry_on_lock(lambda file_name=file_name, data=data: client.log_table(run_id, data, file_name))


def set_tags(tracking_uri: str, run_id: str, tags: dict[str, str]) -> None:
    """Add or update tags of an existing run (new or reused: check outcomes can change without a refit)."""
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    retry_on_lock(lambda: client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()]))


def table_columns(records: list[dict]) -> dict[str, list]:
    """Records as the column dict mlflow.log_table takes; nested values (check metadata) become JSON text."""
    import json

    names = list(dict.fromkeys(k for r in records for k in r))

    def plain(value: Any) -> Any:
        return json.dumps(value, default=str, sort_keys=True) if isinstance(value, dict | list) else value

    return {name: [plain(r.get(name)) for r in records] for name in names}


def log_nested_runs(
    tracking_uri: str,
    exp_id: str,
    parent: dict[str, Any],
    children: list[dict[str, Any]],
) -> str:
    """A parent run with one nested child run per entry of `children`; each dict holds log_run's arguments
    (run_name, params, metrics, tags, artifacts, files, tables). The parent is marked FINISHED only after every
    child is logged, so find_run never reuses a parent whose children are missing."""
    from mlflow.tracking import MlflowClient

    parent_tags = dict(parent.get("tags", {}))
    fingerprint = parent_tags.pop(FINGERPRINT_TAG, None)
    with fingerprint_lock(tracking_uri, fingerprint):
        existing = find_run(tracking_uri, exp_id, fingerprint) if fingerprint else None
        if existing is not None:
            return existing.info.run_id
        return _log_parent_and_children(MlflowClient(tracking_uri), tracking_uri, exp_id, parent, children, fingerprint)


def _log_parent_and_children(client, tracking_uri, exp_id, parent, children, fingerprint) -> str:
    parent_tags = {k: v for k, v in parent.get("tags", {}).items() if k != FINGERPRINT_TAG}
    parent_id = retry_on_lock(
        lambda: client.create_run(exp_id, run_name=parent["run_name"], tags=parent_tags)
    ).info.run_id
    with finished_or_failed(client, parent_id):
        for child in children:
            tags = {**child.get("tags", {}), "mlflow.parentRunId": parent_id}
            log_run(
                tracking_uri,
                exp_id,
                child["run_name"],
                child.get("params", {}),
                child.get("metrics", {}),
                tags,
                artifacts=child.get("artifacts"),
                files=child.get("files"),
                tables=child.get("tables"),
            )
        final_tags = {FINGERPRINT_TAG: fingerprint} if fingerprint else {}
        _write_run(
            client,
            parent_id,
            parent.get("params", {}),
            parent.get("metrics", {}),
            final_tags,
            parent.get("artifacts"),
            parent.get("files"),
            None,
        )
    return parent_id


def _log_file(client: Any, run_id: str, path: Any) -> None:
    """Log a file that may be a lake path on an object store (the scorecard chart): MLflow uploads local files only,
    so a remote one is copied to a temporary folder first."""
    if getattr(path, "protocol", "") in ("", "file", "local"):
        client.log_artifact(run_id, str(path))
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / path.name
        local.write_bytes(path.read_bytes())
        client.log_artifact(run_id, str(local))


def frame_dataset(frame: Any, source: str, name: str, digest: str, targets: str) -> Any | None:
    """A polars frame as an MLflow dataset for a run's Dataset column (`log_run(inputs=...)`), with its lake file
    as source and its content fingerprint as digest; None when MLflow cannot describe one of its column types."""
    import warnings

    import mlflow.data

    try:
        with warnings.catch_warnings():
            # MLflow registers its local-file source class twice and warns on every file path that both match.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple")
            return mlflow.data.from_polars(frame, source=source, name=name, digest=digest, targets=targets)
    except Exception:  # noqa: BLE001 - e.g. a column type MLflow's schema inference rejects
        return None


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


def kill_open_runs(tracking_uri: str, dagster_run_ids: list[str]) -> int:
    """Mark KILLED the MLflow runs still RUNNING that belong to these Dagster runs (their process was stopped or
    killed), so a half-logged run never looks like a finished one. Returns how many were marked."""
    database = sqlite_path(tracking_uri)
    if not dagster_run_ids or (database is not None and not database.exists()):
        return 0
    stopped = set(dagster_run_ids)
    return len(mark_orphaned_runs(tracking_uri, lambda run_id: run_id not in stopped))
