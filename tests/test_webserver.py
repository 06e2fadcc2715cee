"""A real `dagster dev` (webserver + daemon) on a loopback port: the plan sensor grows the ratio partitions, the
queue runs four blend partitions side by side without lock errors, and plan edits (new, removed, broken) behave.

The tests share one deployment and run in file order; each step waits on what the previous one started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hybrid_data.blending import blend_size
from hybrid_data.home import Home
from hybrid_data.instance import step_thread_env, write_dagster_yaml
from tests.conftest import tiny_frame, write_plan

REPO = Path(__file__).resolve().parent.parent
FIRST_RATIOS = [0, 0.1, 0.4, 0.7]  # four partitions in one backfill
ADDED_RATIOS = [0.75, 1.0]  # 0.75 needs a bigger pool than 0.7: the pool must grow first
SYNTH = "gaussian_copula"
STARTUP_SECONDS = 120
BUILD_SECONDS = 1800  # the first build of 4 partitions; a loaded 2-core machine needs the margin

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Deployment:
    root: Path
    home: Home
    plan_file: Path
    port: int
    process: subprocess.Popen
    log: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def write_plan(self, ratios: list[float]) -> None:
        write_plan(self.root, self.root / "loans.csv", ratios=ratios)

    def ratio_partitions(self) -> list[str]:
        data = self.graphql(
            '{ assetNodes(assetKeys: [{path: ["blend"]}]) { partitionKeysByDimension { name partitionKeys } } }'
        )
        dims = {d["name"]: d["partitionKeys"] for d in data["assetNodes"][0]["partitionKeysByDimension"]}
        return dims["ratio"]

    def runs(self) -> list[dict]:
        data = self.graphql(
            "{ runsOrError(limit: 200) { ... on Runs { results { runId status startTime endTime "
            "tags { key value } assetSelection { path } } } } }"
        )
        return data["runsOrError"]["results"]

    def sensor(self, name: str) -> dict:
        data = self.graphql(
            """query($name: String!) { sensorOrError(sensorSelector: {repositoryLocationName: "hybrid_data",
            repositoryName: "__repository__", sensorName: $name}) { __typename ... on Sensor {
            sensorState { status ticks(limit: 10) { status timestamp skipReason
            error { message causes { message } } } } } } }""",
            {"name": name},
        )
        return data["sensorOrError"]

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-60:])


def wait_for(what: str, condition: Callable[[], object], deployment: Deployment, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if deployment.process.poll() is not None:
            pytest.fail(
                f"dagster dev exited ({deployment.process.returncode}) while waiting for {what}:\n"
                f"{deployment.log_tail()}"
            )
        try:
            value = condition()
        except (OSError, urllib.error.URLError):
            value = None  # the webserver is still starting
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{deployment.log_tail()}")


def _stop(process: subprocess.Popen, root: Path) -> None:
    """SIGINT the whole process group (dagster dev shuts its children down), then SIGKILL what is left, then
    anything still running that was started for this deployment (run workers carry its folder in their args)."""
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in _pids_mentioning(str(root)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deployment")
    tiny_frame().write_csv(root / "loans.csv")
    plan_file = write_plan(root, root / "loans.csv", ratios=FIRST_RATIOS)
    home = Home(root / "home").ensure()
    write_dagster_yaml(home.dagster)
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home.dagster),
        "HYBRID_DATA_HOME": str(home.root),
        "HYBRID_DATA_SUITES_DIR": str(root / "suites"),  # generated suites stay out of the repository
        "HYBRID_DATA_PLAN": str(plan_file),
        "HYBRID_DATA_SENSOR_INTERVAL": "3",
        **step_thread_env(),  # what `hybrid-data ui` sets: one native thread per step
        "PYTHONPATH": str(REPO),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    log = root / "dagster_dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-w",
                str(REPO / "workspace.yaml"),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown reaches every child
        )
    deployment = Deployment(root, home, plan_file, port, process, log)
    try:
        wait_for("the webserver", lambda: deployment.graphql("{ version }"), deployment, STARTUP_SECONDS)
        yield deployment
    finally:
        _stop(process, root)


def _done(deployment: Deployment, ratios: list[str], since: float) -> bool:
    """Every run finished, every wanted blend_model partition is in the lake, and the scorecard (the backfill's
    last step) was rewritten after `since`."""
    runs = deployment.runs()
    failed = [r["runId"] for r in runs if r["status"] in {"FAILURE", "CANCELED"}]
    if failed:
        pytest.fail(f"run(s) failed: {failed}\n{run_failures(deployment, failed)}")
    if not runs or any(r["status"] in {"QUEUED", "NOT_STARTED", "STARTING", "STARTED"} for r in runs):
        return False
    lake = deployment.home.lake
    scorecard = lake / "blend_scorecard" / "data.parquet"
    if not scorecard.exists() or scorecard.stat().st_mtime < since:
        return False
    return all((lake / "blend_model" / f"synth={SYNTH}" / f"ratio={r}" / "data.parquet").exists() for r in ratios)


def run_failures(deployment: Deployment, run_ids: list[str]) -> str:
    """The error messages of failed steps, so a failing test says why without opening the UI."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    messages = []
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(deployment.home.dagster))) as instance:
        for run_id in run_ids:
            for record in instance.all_logs(run_id):
                event = record.dagster_event
                error = getattr(event.event_specific_data, "error", None) if event else None
                if error is not None:
                    messages.append(f"{run_id}: {error.to_string()[-1500:]}")
    return "\n".join(messages)


def _mlflow_runs_by_ratio(home: Home) -> dict[str, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(home.mlflow_tracking_uri())
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    by_ratio: dict[str, list] = {}
    for run in runs:
        if "hybrid_data.ratio" in run.data.tags:
            by_ratio.setdefault(run.data.tags["hybrid_data.ratio"], []).append(run)
    return by_ratio


def _check_blend_rows(home: Home, ratio_keys: list[str]) -> None:
    import polars as pl

    n_real = pl.read_parquet(home.lake / "real_train" / "data.parquet").height
    for key in ratio_keys:
        blend = pl.read_parquet(home.lake / "blend" / f"synth={SYNTH}" / f"ratio={key}" / "data.parquet")
        expected = blend_size(n_real, float(key), "augment")
        origin = blend["_origin"].value_counts()
        counts = dict(zip(origin["_origin"].to_list(), origin["count"].to_list(), strict=True))
        assert counts.get("real", 0) == expected.real_rows, (key, counts)
        assert counts.get("synthetic", 0) == expected.synthetic_rows, (key, counts)


def _sensor_adds_partitions_and_runs_succeed_concurrently(deployment: Deployment) -> None:
    keys = [f"{r:g}" for r in FIRST_RATIOS]
    wait_for(
        "the sensor to add the ratio partitions",
        lambda: set(keys) <= set(deployment.ratio_partitions()),
        deployment,
        60,
    )
    # An unbuilt home: opening the UI added the partitions but started nothing; the user starts the first build.
    assert deployment.runs() == [], "the UI on an unbuilt home must not start compute on its own"
    tick = _latest_tick_after(deployment, 0.0, "nothing is built in this home yet")
    assert tick and "hybrid-data run" in tick["skipReason"]
    env = {**os.environ, "HYBRID_DATA_HOME": str(deployment.home.root), "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    submitted = subprocess.run(
        [sys.executable, "-m", "hybrid_data_dagster.cli", "--plan", str(deployment.plan_file), "backfill"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert submitted.returncode == 0, submitted.stderr
    wait_for("the first backfill to finish", lambda: _done(deployment, keys, 0.0), deployment, BUILD_SECONDS)

    runs = deployment.runs()
    failed = [(r["runId"], r["status"]) for r in runs if r["status"] != "SUCCESS"]
    assert not failed, f"runs failed (a lock error would show here): {failed}\n{deployment.log_tail()}"
    blend_runs = [r for r in runs if {"path": ["blend"]} in (r["assetSelection"] or [])]
    assert len(blend_runs) == len(keys)
    # The queue ran them at the same time: some pair of blend runs overlapped.
    spans = sorted((r["startTime"], r["endTime"]) for r in blend_runs)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans

    _check_blend_rows(deployment.home, keys)
    by_ratio = _mlflow_runs_by_ratio(deployment.home)
    assert sorted(by_ratio) == sorted(keys)
    for key in keys:
        assert [r.info.status for r in by_ratio[key]] == ["FINISHED"], key
    assert (deployment.home.lake / "blend_scorecard" / "data.parquet").exists()


def _added_ratios_are_backfilled_with_a_grown_pool(deployment: Deployment) -> None:
    import polars as pl

    pool_file = deployment.home.lake / "synthetic_pool" / f"synth={SYNTH}" / "data.parquet"
    rows_before = pl.read_parquet(pool_file).height
    since = time.time()
    deployment.write_plan(FIRST_RATIOS + ADDED_RATIOS)
    added = [f"{r:g}" for r in ADDED_RATIOS]
    wait_for(
        "the sensor to add two partitions", lambda: set(added) <= set(deployment.ratio_partitions()), deployment, 60
    )
    shown = time.time() - since
    assert deployment.ratio_partitions() == sorted(deployment.ratio_partitions(), key=float), "in numeric order"
    wait_for("the new partitions", lambda: _done(deployment, added, since), deployment, 600)
    # The sensor path's latency (docs/operations.md quotes it): plan saved -> partitions in the UI -> materialized.
    print(f"\nsensor path: partitions shown {shown:.1f}s, materialized {time.time() - since:.1f}s after the plan edit")

    runs = deployment.runs()
    assert all(r["status"] == "SUCCESS" for r in runs), [(r["runId"], r["status"]) for r in runs]
    new_blend_runs = [
        r
        for r in runs
        if {"key": "hybrid_data/trigger", "value": "plan_ratios"} in r["tags"]
        and {"path": ["blend"]} in (r["assetSelection"] or [])
        and {"key": "hybrid_data/new_ratios", "value": ",".join(added)} in r["tags"]
    ]
    assert len(new_blend_runs) == len(added), "exactly the new partitions are run"
    assert pl.read_parquet(pool_file).height > rows_before, "the pool grew for ratio 0.75"
    _check_blend_rows(deployment.home, added)
    assert sorted(_mlflow_runs_by_ratio(deployment.home)) == sorted(f"{r:g}" for r in FIRST_RATIOS + ADDED_RATIOS)


def _error_text(tick: dict) -> str:
    """A failed tick's error with its causes (Dagster wraps the sensor's own exception, which carries our text)."""
    error = tick["error"] or {}
    return "\n".join([error.get("message") or "", *[c["message"] for c in error.get("causes") or []]])


def _latest_tick_after(deployment: Deployment, since: float, text: str) -> dict | None:
    sensor = deployment.sensor("plan_ratios_sensor")
    for tick in sensor["sensorState"]["ticks"]:
        message = (tick["skipReason"] or "") + _error_text(tick)
        if tick["timestamp"] > since and text in message:
            return tick
    return None


def _broken_plan_edit_is_reported_and_the_sensor_keeps_going(deployment: Deployment) -> None:
    since = time.time()
    deployment.plan_file.write_text(deployment.plan_file.read_text().replace("ratios:", "ratioz:"))
    tick = wait_for(
        "a tick reporting the broken plan", lambda: _latest_tick_after(deployment, since, "ratioz"), deployment, 60
    )
    assert tick["status"] == "FAILURE", "an invalid plan edit is a failed tick, not a quiet skip"
    assert "keeping the last good plan" in _error_text(tick) and str(deployment.plan_file) in _error_text(tick)
    assert deployment.sensor("plan_ratios_sensor")["sensorState"]["status"] == "RUNNING"
    assert set(deployment.ratio_partitions()) >= {f"{r:g}" for r in FIRST_RATIOS + ADDED_RATIOS}

    since = time.time()
    deployment.write_plan(FIRST_RATIOS + ADDED_RATIOS)
    wait_for(
        "a normal tick after the fix",
        lambda: _latest_tick_after(deployment, since, "all have partitions"),
        deployment,
        60,
    )


def _removed_ratio_keeps_its_history(deployment: Deployment) -> None:
    runs_before = len(deployment.runs())
    since = time.time()
    deployment.write_plan([r for r in FIRST_RATIOS + ADDED_RATIOS if r != 0.1])
    tick = wait_for(
        "a tick reporting the removed ratio", lambda: _latest_tick_after(deployment, since, "no longer"), deployment, 60
    )
    assert "0.1" in tick["skipReason"] and "kept" in tick["skipReason"]
    assert "0.1" in deployment.ratio_partitions(), "a removed ratio's partition is never deleted"
    assert (deployment.home.lake / "blend" / f"synth={SYNTH}" / "ratio=0.1" / "data.parquet").exists()
    assert len(_mlflow_runs_by_ratio(deployment.home)["0.1"]) == 1
    assert len(deployment.runs()) == runs_before, "removing a ratio starts nothing"
    assert yaml.safe_load(deployment.plan_file.read_text())["ratios"][1] == 0.4


def test_the_sensor_path_from_first_build_to_a_removed_ratio(deployment: Deployment) -> None:
    """One deployment's life, in order (each stage starts from the state the previous one left, so they are one
    test, not four that would depend on the order pytest runs them in): the first build, two ratios added, a
    broken plan edit, a ratio removed."""
    _sensor_adds_partitions_and_runs_succeed_concurrently(deployment)
    _added_ratios_are_backfilled_with_a_grown_pool(deployment)
    _broken_plan_edit_is_reported_and_the_sensor_keeps_going(deployment)
    _removed_ratio_keeps_its_history(deployment)
