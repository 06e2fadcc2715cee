"""MLflow faults: a dead server reported in seconds, one run per fingerprint under concurrency, killed runs marked."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from hybrid_data.tracking import (
    FINGERPRINT_TAG,
    TrackingUnavailable,
    _log_new_run,
    experiment_id,
    keep_first_run,
    log_run,
    mark_orphaned_runs,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, Path]:
    """One SQLite store for this module (creating its tables costs seconds); each test logs to its own experiment."""
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}", folder


def _runs(uri: str, exp_id: str, status: str | None = None) -> list:
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(uri).search_runs([exp_id], max_results=100)
    return [r for r in runs if status is None or r.info.status == status]


def test_dead_tracking_server_is_reported_within_seconds(tmp_path: Path):
    """A tracking server that does not answer fails the step within seconds, naming the URI and what to do."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match=rf"MLflow tracking server {uri} does not answer .*start it"):
        experiment_id(uri, "dead", tmp_path / "artifacts")
    assert time.monotonic() - started < 5.0
    assert not (tmp_path / "artifacts").exists()  # nothing was logged anywhere


def test_two_runs_at_once_log_one_mlflow_run_per_fingerprint(store):
    """Two processes logging the same fingerprint at once leave one MLflow run, and both get its id."""
    uri, folder = store
    exp_id = experiment_id(uri, "twice", folder / "artifacts")
    tags = {FINGERPRINT_TAG: "f1", "kind": "test"}
    ids: list[str] = []
    threads = [
        threading.Thread(target=lambda: ids.append(log_run(uri, exp_id, "same", {"p": 1}, {"m": 0.5}, tags)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 2 and ids[0] == ids[1]
    assert [r.info.run_id for r in _runs(uri, exp_id)] == ids[:1]


def test_duplicate_runs_on_a_store_without_locks_are_removed_after_logging(store):
    """Where no lock can be shared (a tracking server), the later of two runs with one fingerprint deletes itself."""
    from mlflow.tracking import MlflowClient

    uri, folder = store
    exp_id = experiment_id(uri, "dedupe", folder / "artifacts")
    tags = {FINGERPRINT_TAG: "f2"}
    first, second = (_log_new_run(uri, exp_id, "r", {}, {"m": 1.0}, tags, None, None, None, None, None) for _ in "ab")
    client = MlflowClient(uri)
    assert keep_first_run(client, exp_id, "f2", second) == first
    assert keep_first_run(client, exp_id, "f2", first) == first
    assert [r.info.run_id for r in _runs(uri, exp_id)] == [first]


def test_runs_of_killed_dagster_runs_are_marked_killed(store):
    """MLflow runs left RUNNING by a killed Dagster run are marked KILLED on the next start; live ones are kept."""
    from mlflow.tracking import MlflowClient

    uri, folder = store
    exp_id = experiment_id(uri, "orphans", folder / "artifacts")
    client = MlflowClient(uri)
    dead = client.create_run(exp_id, tags={"dagster.run_id": "dead-run"}).info.run_id
    alive = client.create_run(exp_id, tags={"dagster.run_id": "live-run"}).info.run_id
    assert mark_orphaned_runs(uri, lambda run_id: run_id == "live-run", [exp_id]) == [dead]
    assert client.get_run(dead).info.status == "KILLED"
    assert "dead-run" in client.get_run(dead).data.tags["hybrid_data.orphaned"]
    assert client.get_run(alive).info.status == "RUNNING"


@pytest.mark.slow
def test_locked_store_keeps_its_runs_when_marking_orphans(tmp_path: Path, caplog):
    """A locked MLflow store is left as it is when orphaned runs cannot be marked: a warning, no error."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = experiment_id(uri, "locked", tmp_path / "artifacts")
    run = MlflowClient(uri).create_run(exp_id, tags={"dagster.run_id": "dead-run"}).info.run_id
    holder = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level("WARNING"):
            assert mark_orphaned_runs(uri, lambda run_id: False) == []
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert "could not" in caplog.text and uri in caplog.text
    assert MlflowClient(uri).get_run(run).info.status == "RUNNING"
