"""`hybrid-data run` stopped from outside: Ctrl-C stops everything it started and says so; a killed CLI leaves
no run looking as if it were still going."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from hybrid_data.home import Home
from tests.conftest import write_plan

REPO = Path(__file__).resolve().parents[2]
ACTIVE = {"STARTING", "STARTED", "CANCELING", "QUEUED", "NOT_STARTED"}


def _instance_of(home: Home) -> dg.DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home.dagster)))


def _start_cli(tmp_path: Path, plan_file: Path, home: Home) -> subprocess.Popen:
    env = {**os.environ, "HYBRID_DATA_HOME": str(home.root), "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (tmp_path / "cli.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "hybrid_data_dagster.cli", "--plan", str(plan_file), "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job is
    )


def _wait_for_a_started_run(process: subprocess.Popen, home: Home, tmp_path: Path, executing: bool) -> str:
    """The id of the first run that reached STARTED (and, with `executing`, recorded its step executor's pid)."""
    from assets.dagster_private import executing_pid

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "cli.log").read_text()
        if "[1/4]" in (tmp_path / "cli.log").read_text():  # the CLI has set its instance up: safe to open
            with _instance_of(home) as instance:
                for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                    if not executing or executing_pid(instance, run.run_id) is not None:
                        return run.run_id
        time.sleep(0.5)
    pytest.fail(f"no run started:\n{(tmp_path / 'cli.log').read_text()}")


@pytest.mark.slow
def test_ctrl_c_stops_the_whole_run_and_marks_its_runs_canceled(tmp_path, tiny_csv):
    """Ctrl-C during `hybrid-data run` starts no further stage, marks the runs it launched CANCELED (none stays
    STARTED), says what it did, and exits 130."""
    home = Home(tmp_path / "home")
    process = _start_cli(tmp_path, write_plan(tmp_path, tiny_csv), home)
    try:
        first = _wait_for_a_started_run(process, home, tmp_path, executing=False)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends its foreground job on Ctrl-C
        assert process.wait(timeout=120) == 130
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    printed = (tmp_path / "cli.log").read_text()
    # The CLI's last word is what it did (a step process killed mid-import may print its own traceback before).
    last = printed.strip().splitlines()[-1]
    assert last.startswith("interrupted: nothing further was started;") and "marked canceled" in last
    assert "run `hybrid-data run` again" in last
    with _instance_of(home) as instance:
        runs = {r.run_id: r for r in instance.get_runs()}
        assert runs[first].status == dg.DagsterRunStatus.CANCELED
        assert not [r for r in runs.values() if r.status.value in ACTIVE]
        assert not {"blend_grid", "scorecard"} & {r.job_name for r in runs.values()}, "no later stage started"


@pytest.mark.slow
def test_runs_a_killed_cli_left_started_are_marked_failed_when_the_next_run_starts(tmp_path, tiny_csv):
    """A `hybrid-data run` killed outright (kill -9) leaves its run STARTED; the next `hybrid-data run` marks it
    failed, naming the dead process, before it launches anything."""
    from hybrid_data_dagster.launch import fail_orphaned_runs

    home = Home(tmp_path / "home")
    process = _start_cli(tmp_path, write_plan(tmp_path, tiny_csv), home)
    try:
        orphan = _wait_for_a_started_run(process, home, tmp_path, executing=True)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with _instance_of(home) as instance:
        assert instance.get_run_by_id(orphan).status == dg.DagsterRunStatus.STARTED
        assert fail_orphaned_runs(instance, home) == [orphan]  # the first thing `hybrid-data run` does
        assert instance.get_run_by_id(orphan).status == dg.DagsterRunStatus.FAILURE
        failures = instance.all_logs(orphan, of_type=dg.DagsterEventType.RUN_FAILURE)
        messages = [entry.dagster_event.message or "" for entry in failures]
        assert any("is gone: marked failed by the next hybrid-data run" in m for m in messages)
        assert fail_orphaned_runs(instance, home) == [], "a run is failed once"
