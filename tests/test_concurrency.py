"""MLflow logging under concurrency: eight processes on one SQLite store lose no run, a held lock is waited
out without a duplicate run, and the same code logs to a real `mlflow server` on a loopback port."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from hybrid_data.tracking import experiment_id, is_transient, log_run

PARTITIONS = 8


def _fitted_model():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    features = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
    return LogisticRegression().fit(features, [0, 0, 0, 1, 1, 1]), features.head(2)


def _log_partition(tracking_uri: str, artifact_root: str, index: int) -> str:
    """What one blend_model step does: find the experiment, then log one run with its model."""
    model, example = _fitted_model()
    exp_id = experiment_id(tracking_uri, "concurrency", Path(artifact_root))
    return log_run(
        tracking_uri,
        exp_id,
        f"partition-{index}",
        {"index": index},
        {"score": index / 10},
        {"hybrid_data.ratio": str(index)},
        model=model,
        input_example=example,
    )


def _runs(tracking_uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=100) if found else []


@pytest.mark.slow
def test_eight_processes_log_to_one_fresh_sqlite_store_and_lose_no_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # fresh: creating the tables races too
    context = multiprocessing.get_context("spawn")
    with context.Pool(PARTITIONS) as pool:
        run_ids = pool.starmap(_log_partition, [(uri, str(tmp_path / "artifacts"), i) for i in range(PARTITIONS)])

    assert len(set(run_ids)) == PARTITIONS
    runs = _runs(uri, "concurrency")
    assert len(runs) == PARTITIONS, "no duplicate and no lost run"
    for run in runs:
        assert run.info.status == "FINISHED"
        index = int(run.data.params["index"])
        assert run.data.metrics["score"] == pytest.approx(index / 10)
        assert run.data.tags["hybrid_data.ratio"] == str(index)
    import mlflow

    mlflow.set_tracking_uri(uri)
    assert mlflow.sklearn.load_model(f"runs:/{run_ids[0]}/model").predict(_fitted_model()[1]).shape == (2,)


def test_a_held_sqlite_lock_is_waited_out_without_a_duplicate_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = experiment_id(uri, "locked", tmp_path / "artifacts")
    holder = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # what a concurrent writer does, held longer than SQLite's busy timeout
    release = threading.Timer(7.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        started = time.monotonic()
        run_id = log_run(uri, exp_id, "waited", {"p": 1}, {"m": 0.5}, {"kind": "test"})
        assert time.monotonic() - started > 5.0, "the write really met the lock"
    finally:
        release.join()
        holder.close()
    (run,) = _runs(uri, "locked")
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    assert run.data.metrics == {"m": 0.5}


def test_only_lock_errors_are_retried() -> None:
    assert is_transient(RuntimeError("(sqlite3.OperationalError) database is locked"))
    assert not is_transient(ValueError("no such column: ratio"))
    # Two runs logging one dataset at once (seen in CI: two blends' model steps logging real_train).
    sqlite = "sqlite3.IntegrityError: UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest"
    postgres = 'duplicate key value violates unique constraint "dataset_pk"'
    assert is_transient(RuntimeError(sqlite)) and is_transient(RuntimeError(postgres))
    assert not is_transient(RuntimeError("UNIQUE constraint failed: runs.run_uuid"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_logging_to_a_tracking_server(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "served_artifacts"),
            "--workers",
            "1",
        ],
        stdout=(tmp_path / "server.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # one process group: teardown reaches its workers
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(1)

        model, example = _fitted_model()
        exp_id = experiment_id(uri, "served", None)
        run_id = log_run(
            uri,
            exp_id,
            "over-http",
            {"p": 1},
            {"m": 0.25},
            {"kind": "test"},
            model=model,
            input_example=example,
            artifacts={"scorecard.md": "| a |\n"},
        )
        (run,) = _runs(uri, "served")
        assert run.info.run_id == run_id and run.info.status == "FINISHED"
        assert run.data.metrics == {"m": 0.25}
        from mlflow.tracking import MlflowClient

        assert "scorecard.md" in [a.path for a in MlflowClient(uri).list_artifacts(run_id)]
        assert list((tmp_path / "served_artifacts").rglob("scorecard.md")), "artifacts went through the server"
    finally:
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(server.pid, sig)
                server.wait(timeout=grace)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
