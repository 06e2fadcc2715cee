"""The cluster profile, for real: PostgreSQL-backed Dagster, a gRPC code server, the daemon and the webserver as
separate processes, steps on two Celery workers (RabbitMQ broker, Redis results), an MLflow server on
PostgreSQL with artifacts on an S3-compatible server, running the bundled plan's shape on tiny data; one worker is
killed in the middle of a step and the grid still completes, with nothing lost or done twice.

Skipped, saying what is missing, where PostgreSQL, RabbitMQ or Redis cannot be reached; CI machines run them.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.cluster.services import Cluster, graphql, start_cluster, unreachable_services
from tests.conftest import tiny_frame, write_plan

pytestmark = pytest.mark.slow

SYNTHS = ["gaussian_copula", "tvae"]
RATIOS = [0, 0.25, 0.5, 1.0]
# What a lock or serialization failure looks like in Dagster, PostgreSQL, SQLite or MLflow logs.
LOCK_ERRORS = re.compile(r"database is locked|could not serialize access|deadlock detected|SerializationFailure", re.I)
# The deep synthesizer's fit: the longest step (10-30 s), so the kill surely lands in the middle of it.
KILL_DURING_STEP = "synthesizer_model"
KILL_PARTITION = "tvae"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    problems = unreachable_services()
    if problems:
        pytest.skip("cluster profile needs its services: " + "; ".join(problems))
    root = tmp_path_factory.mktemp("cluster")
    started = start_cluster(root, _write_plan(root / "plan", RATIOS), workers=2)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in started.env.items():
            patch.setenv(name, value)
        try:
            yield started
        finally:
            started.stop()


def _write_plan(folder: Path, ratios: list[float]) -> Path:
    """The bundled plan's shape on a few hundred real rows: two synthesizers (one deep, one epoch) x ratios."""
    folder.mkdir(exist_ok=True)
    source = folder / "loans.csv"
    tiny_frame().write_csv(source)
    synthesis = {"synthesizers": SYNTHS, "epochs": 1, "batch_size": 100}
    return write_plan(folder, source, ratios=ratios, synthesis=synthesis)


def _celery_steps(instance, run_id: str) -> list[tuple[str, str]]:
    """(step key, worker name) of every step execution a Celery worker started in this run, in order."""
    found = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event and event.is_engine_event and "in celery worker" in (entry.message or ""):
            worker = event.engine_event_data.metadata["Celery worker"].value
            found.append((event.step_key, worker.split("@")[0]))
    return found


class WorkerKiller:
    """Kills the worker fitting the deep synthesizer, mid-fit, and starts a fresh worker."""

    def __init__(self, cluster: Cluster, backfill_id: str) -> None:
        self.cluster, self.backfill_id = cluster, backfill_id
        self.killed: tuple[str, str] | None = None  # (run id, worker)

    def __call__(self) -> None:
        from dagster import DagsterRunStatus, RunsFilter

        if self.killed:
            return
        with self.cluster.instance() as instance:
            runs = instance.get_runs(filters=RunsFilter.for_backfill(self.backfill_id))
            started = [r for r in runs if r.status == DagsterRunStatus.STARTED]
            for run in (r for r in started if r.tags.get("dagster/partition") == KILL_PARTITION):
                steps = _celery_steps(instance, run.run_id)
                logs = instance.all_logs(run.run_id)
                finished = {e.step_key for e in logs if e.is_dagster_event and e.dagster_event.is_step_success}
                for step, worker in steps:
                    if step == KILL_DURING_STEP and step not in finished:
                        self.cluster.kill(worker)
                        self.killed = (run.run_id, worker)
                        self.cluster.start_worker("worker3")
                        return


def _materializations(cluster: Cluster, asset: str) -> Counter:
    """How many times each partition of `asset` was materialized, from the instance's PostgreSQL event log."""
    import dagster as dg

    with cluster.instance() as instance:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    return Counter(r.partition_key for r in records)


def _mlflow_runs(cluster: Cluster) -> list[tuple[str, str, str, str, str]]:
    """(run id, synthesizer, ratio, status, artifact_uri) of every blend run, read straight from MLflow's
    PostgreSQL."""
    import psycopg2

    url = cluster.env["HYBRID_DATA_MLFLOW_STORE"].replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            """
            select runs.run_uuid, s.value, r.value, runs.status, runs.artifact_uri
            from runs
            join tags s on s.run_uuid = runs.run_uuid and s.key = 'hybrid_data.synthesizer'
            join tags r on r.run_uuid = runs.run_uuid and r.key = 'hybrid_data.ratio'
            """
        )
        return cursor.fetchall()


def _logged_run_ids(cluster: Cluster) -> dict[str, str]:
    """The MLflow run each blend_model partition reports (its own, or an identical blend's it reused)."""
    import dagster as dg

    with cluster.instance() as instance:
        records = instance.fetch_materializations(dg.AssetKey("blend_model"), limit=1000).records
    return {r.partition_key: r.asset_materialization.metadata["mlflow_run_id"].value for r in records}


def _bucket_keys(cluster: Cluster) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=cluster.env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=cluster.env["HYBRID_DATA_TEST_BUCKET"])
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _lake_grid(cluster: Cluster) -> set[tuple[str, str]]:
    """(synth, ratio) of every blend in the lake, read by DuckDB (through the lake's file system) and checked
    row for row against polars reading each file from the store directly."""
    import duckdb
    import polars as pl

    from hybrid_data.home import Home

    lake = Home.from_env().open_lake()
    assert not lake.is_local and str(lake.root).startswith("s3://")
    with duckdb.connect() as con:
        lake.register_with(con)
        rows = con.execute(
            f"SELECT synth, ratio, count(*) FROM read_parquet('{lake.frame_glob('blend')}', hive_partitioning = true,"
            " hive_types_autocast = false) GROUP BY ALL"
        ).fetchall()
    for synth, ratio, count in rows:
        assert pl.read_parquet(lake.uri("blend", {"synth": synth, "ratio": ratio})).height == count
    return {(synth, ratio) for synth, ratio, _ in rows}


def _lock_errors(cluster: Cluster, run_ids: list[str]) -> list[str]:
    """Lock and serialization errors in every run's event log and every process's output."""
    texts = [cluster.log(name) for name in cluster.processes]
    with cluster.instance() as instance:
        for run_id in run_ids:
            texts.extend(str(entry.message or "") for entry in instance.all_logs(run_id))
    return [match.group(0) for text in texts for match in LOCK_ERRORS.finditer(text)]


def _max_overlap(cluster: Cluster, runs, since_queued: bool = False) -> int:
    """The most runs executing at the same moment (or, `since_queued`, queued or executing)."""
    from dagster import RunsFilter

    with cluster.instance() as instance:
        records = instance.get_run_records(filters=RunsFilter(run_ids=[r.run_id for r in runs]))
    starts = [r.create_timestamp.timestamp() if since_queued else r.start_time for r in records]
    edges = sorted([(t, 1) for t in starts if t] + [(r.end_time, -1) for r in records if r.end_time])
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


def test_plan_grid_on_celery_workers_survives_a_killed_worker(cluster: Cluster):
    started = time.monotonic()
    backfill_id = cluster.submit_backfill()
    killer = WorkerKiller(cluster, backfill_id)
    runs = cluster.wait_backfill(backfill_id, on_tick=killer, timeout=600)
    seconds = time.monotonic() - started
    grid = {f"{ratio:g}|{synth}" for synth in SYNTHS for ratio in RATIOS}
    grid_runs = [r for r in runs if r.tags.get("dagster/partition") in grid]

    # Every partition materialized exactly once, killed worker or not.
    for asset in ("blend", "blend_model"):
        counts = _materializations(cluster, asset)
        assert set(counts) == grid, asset
        assert set(counts.values()) == {1}, f"{asset} materialized more than once: {counts}"
    assert Counter(_materializations(cluster, "synthesizer_model")) == Counter(dict.fromkeys(SYNTHS, 1))

    # The killed step was handed to another worker, and its run completed.
    assert killer.killed, f"no {KILL_DURING_STEP} step was seen running on a worker"
    run_id, killed_worker = killer.killed
    with cluster.instance() as instance:
        executions = [w for step, w in _celery_steps(instance, run_id) if step == KILL_DURING_STEP]
        workers = {w for r in runs for _, w in _celery_steps(instance, r.run_id)}
    assert executions[0] == killed_worker and len(executions) == 2 and executions[1] != killed_worker, executions
    # Steps ran on the workers (all three took some), not inside the run processes.
    assert workers == {"worker1", "worker2", "worker3"}, workers

    # The grid's runs (one per partition, or two when the backfill requests blend and blend_model apart) were
    # queued together and ran side by side; the code server launches them one by one. The backfill submits a
    # synthesizer's partitions once its pool is ready, so each synthesizer's runs are in flight together (the
    # two synthesizers' need not be: a fast host finished the first one's before the slower fit's pool was ready).
    assert {r.tags["dagster/partition"] for r in grid_runs} == grid
    for synth in SYNTHS:
        own = [r for r in grid_runs if r.tags["dagster/partition"].endswith(f"|{synth}")]
        in_flight = _max_overlap(cluster, own, since_queued=True)
        assert in_flight >= len(RATIOS), f"at most {in_flight} of {synth}'s grid runs in flight at once"
    overlap = _max_overlap(cluster, grid_runs)
    assert overlap >= 4, f"at most {overlap} grid runs executing at once"

    assert _lock_errors(cluster, [r.run_id for r in runs]) == []

    # Every blend's model is a finished run in the tracking server's PostgreSQL store, none logged twice (ratio 0
    # has no synthetic rows, so both synthesizers' real-only blends are one blend and may share one run).
    finished = {row[0]: row[1:] for row in _mlflow_runs(cluster) if row[3] == "FINISHED"}
    logged = set(_logged_run_ids(cluster).values())
    assert logged <= set(finished)
    assert set(Counter((s, r) for s, r, _, _ in finished.values()).values()) == {1}
    assert all(uri.startswith("mlflow-artifacts:") for *_, uri in finished.values())
    keys = _bucket_keys(cluster)
    assert sum(k.startswith("mlflow/") and k.endswith("/MLmodel") for k in keys) >= len(logged), keys[:20]

    # The lake is on the object store: every blend published there (file, then its receipt) and nowhere else,
    # and read straight from the store by DuckDB and polars.
    for key in grid:
        ratio, synth = key.split("|")
        folder = f"lake/blend/synth={synth}/ratio={ratio}/"
        assert {folder + "data.parquet", folder + "data.parquet.receipt.json"} <= set(keys), folder
    assert not (cluster.root / "home" / "lake" / "blend").exists()
    assert _lake_grid(cluster) == {tuple(k.split("|")[::-1]) for k in grid}

    # The runs are visible through the webserver's GraphQL API.
    port = int(cluster.env["HYBRID_DATA_TEST_WEBSERVER_PORT"])
    answer = graphql(port, "{ runsOrError(limit: 200) { ... on Runs { results { runId status } } } }")
    shown = {r["runId"]: r["status"] for r in answer["data"]["runsOrError"]["results"]}
    assert {shown.get(r.run_id) for r in runs} == {"SUCCESS"}
    print(
        f"\n{len(runs)} runs in {seconds:.0f}s; {len(grid_runs)} grid runs: {in_flight} in flight, {overlap} executing"
    )
