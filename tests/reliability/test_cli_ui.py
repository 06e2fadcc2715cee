"""`hybrid-data mlflow-ui` / `ui` as long-running commands: stopping the command stops the server behind it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_plan

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (the test's home folder): the command and all it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_stopping_mlflow_ui_with_sigterm_stops_its_server_and_frees_the_port(tmp_path, tiny_csv):
    """SIGTERM (or Ctrl-C) on `hybrid-data mlflow-ui` stops the whole server process group: nothing is left
    listening or running (`hybrid-data ui` stops `dagster dev` the same way)."""
    home = tmp_path / "home"
    port = _free_port()
    env = {**os.environ, "HYBRID_DATA_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "hybrid_data_dagster.cli", "--plan", str(write_plan(tmp_path, tiny_csv))]
    process = subprocess.Popen([*command, "mlflow-ui", "--port", str(port)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while _port_free(port):  # listening: the server is up (its workers may still be loading)
            assert process.poll() is None, "mlflow-ui exited on its own"
            assert time.monotonic() < deadline, "the MLflow UI never listened"
            time.sleep(1)
        os.kill(process.pid, signal.SIGTERM)  # the command only, as `kill <pid>` does: it must take its server down
        assert process.wait(timeout=60) == 130
    finally:
        for pid in _processes_with(f"HYBRID_DATA_HOME={home}"):
            os.kill(pid, signal.SIGKILL)
    assert _port_free(port), "something still listens on the UI's port"
    assert _processes_with(f"HYBRID_DATA_HOME={home}") == [], "a server process outlived the command"


def test_the_ui_on_an_unbuilt_home_starts_no_compute_on_its_own(tmp_path, tiny_csv, home, instance):
    """On a home where nothing is built yet, the plan sensor the UI runs adds the ratio partitions but requests
    no run, and its tick says how to build the home."""
    import dagster as dg

    from definitions import build_definitions

    plan_file = write_plan(tmp_path, tiny_csv)
    defs = build_definitions(plan_file, home)
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources) as context:
        result = defs.resolve_sensor_def("plan_ratios_sensor").evaluate_tick(context)
    assert not result.run_requests and instance.get_runs() == [] and instance.get_backfills() == []
    assert instance.get_dynamic_partitions("ratio") == ["0", "0.5", "1"]
    assert "nothing is built in this home yet, so nothing was started" in result.skip_message
    assert f"hybrid-data run --plan {plan_file}" in result.skip_message
