"""Small shared fixtures for fault tests: snapshots of the lake's bytes and of MLflow's runs, to assert that a
fault left them unchanged (or rebuilt them)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pytest

from hybrid_data.home import Home
from hybrid_data.lake import RECEIPT_SUFFIX
from tests.conftest import materialize


def lake_checksums(home: Home) -> dict[str, str]:
    """sha256 of every current data file in the lake (candidates, and receipts, which record when, left out): equal
    snapshots, unchanged lake."""
    root = Path(home.open_lake().root.path)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(RECEIPT_SUFFIX) and not p.relative_to(root).parts[0].startswith("_")
    }


def mlflow_run_count(home: Home) -> int:
    """Runs in the home's MLflow store, every experiment (0 when the store does not exist yet)."""
    import mlflow

    if not (home.mlflow).exists():
        return 0
    client = mlflow.MlflowClient(home.mlflow_tracking_uri())
    return sum(len(client.search_runs([e.experiment_id], max_results=10_000)) for e in client.search_experiments())


PREPARE = dg.AssetSelection.groups("ingest", "staging", "split") - dg.AssetSelection.assets("real_profile")


@pytest.fixture
def prepared(tmp_path, tiny_csv, home, instance):
    """The real-data stage materialized once from the tiny data: (plan file, lake checksums after it)."""
    from tests.conftest import write_plan

    plan_file = write_plan(tmp_path, tiny_csv)
    assert materialize(plan_file, home, instance, PREPARE).success
    return plan_file, lake_checksums(home)
