"""The forkserver every run's step processes fork from: what it imports before the first fork, and starting it early.

Free of Dagster imports on purpose: `hybrid-data run` starts the server before it imports Dagster itself, so the
server's imports (the code location, then the libraries the model and check steps use) run on the other core
while the CLI starts up and works out what to run.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from collections.abc import Callable
from multiprocessing import resource_tracker
from multiprocessing.context import BaseContext
from pathlib import Path

from hybrid_data.deployment import current_profile
from hybrid_data.home import Home
from hybrid_data.plan_snapshot import plan_fingerprint, snapshot_path

# Every step needs the executor's step entry point and the code location (assets/preload.py builds it).
BASE_MODULES = ("dagster._core.executor.multiprocess", "assets.preload")
# The synthesize, blend_grid, scorecard and collapse steps also import scikit-learn, MLflow, skops and SDMetrics
# inside their functions (assets/preload_heavy.py); the real-data steps need none of them.
HEAVY_MODULES = ("assets.preload_heavy",)


def forkserver_modules(heavy: bool = True) -> list[str]:
    """What the steps' forkserver imports before it forks them (assets/jobs.py step_executor)."""
    return [*BASE_MODULES, *(HEAVY_MODULES if heavy else ())]


def start_forkserver(heavy: bool = True) -> None:
    """Start this process's forkserver now with the executor's preload; its imports run beside this process.

    The multiprocess executor of the first run launched from this process finds it running and forks its steps
    from it (a running server is reused whatever preload is set later). Call it only with the plan and home
    exported to the environment: the server builds the code location from them (assets/preload.py)."""
    already_running = _server()._forkserver_pid is not None
    multiprocessing.get_context("forkserver").set_forkserver_preload(forkserver_modules(heavy))
    multiprocessing.forkserver.ensure_running()
    if heavy and not already_running:
        _heavy_server["pid"] = _server()._forkserver_pid


# The heavy server this process started (start_forkserver), by pid: a server started later by a job's executor
# with another preload is not it.
_heavy_server: dict[str, int | None] = {"pid": None}


def _server() -> multiprocessing.forkserver.ForkServer:
    """CPython's forkserver of this process. Its private fields are read here only (test_forkserver.py fails
    loudly if a Python release renames them)."""
    return multiprocessing.forkserver._forkserver


def worker_start() -> tuple[BaseContext, Callable[[str], None] | None, tuple]:
    """How `hybrid-data run` starts the processes that run a stage's runs side by side: a multiprocessing context,
    and an initializer with its arguments for each worker.

    With this process's heavy forkserver running, a worker is forked from it (the code location and the heavy
    libraries loaded: it starts at once) and adopts it, so the steps of the worker's runs fork from that server
    too. Spawned instead, each worker imported Dagster and the code location and then started a server of its
    own whose imports (~7 s alone) ran while the other worker's did: 11 s before a two-ratio stage's first step
    on two cores. Without the heavy server (a plan the home has run before), workers are spawned as before."""
    server = _server()
    if _heavy_server["pid"] is None or server._forkserver_pid != _heavy_server["pid"]:
        return multiprocessing.get_context("spawn"), None, ()
    return multiprocessing.get_context("forkserver"), adopt_forkserver, (server._forkserver_address,)


def adopt_forkserver(address: str) -> None:
    """In a process forked by a forkserver: make that server this process's own, so its children fork from it.

    CPython gives a forked child the server's liveness descriptor but not its address, and would start a new
    server (a fresh interpreter importing everything again) for the child's first process. The server is alive
    while this process is (its liveness descriptor is held open here), so there is nothing to start."""
    server = _server()
    server._forkserver_address = address
    server.ensure_running = resource_tracker.ensure_running


def plan_is_new_to_home(plan_file: Path, home: Home) -> bool:
    """True when the home has never run this plan text (a first build included): then something downstream of
    the real data will almost surely run (a first build, a ratio or synthesizer added, a setting changed). Read
    it before the plan is snapshotted."""
    path = Path(plan_file).resolve()
    if not path.exists():
        return False
    return not snapshot_path(home.root, plan_fingerprint(path.read_text(), path.parent)).exists()


def warm_forkserver_for_new_plan(plan_file: Path, home: Home) -> bool:
    """Start the heavy forkserver now when the plan is new to the home (plan_is_new_to_home), so the server's
    imports (~7 s) overlap this process's own start and planning instead of delaying the first step.

    Heavy for a first build too: a stage with one run (the real data, a plan's only synthesizer, the scorecard)
    runs in this process, and a process has one forkserver, started with the preload of the first job that
    needs it. Started light by the real-data job, it served the synthesize and scorecard steps too, each then
    importing scikit-learn, MLflow and SDMetrics itself (2-4 s a step). Nothing is started for a plan already
    seen (most often nothing to do), or for the cluster profile (its executor has no local forkserver). Call it
    before the plan is snapshotted."""
    if current_profile().is_cluster or not plan_is_new_to_home(plan_file, home):
        return False
    start_forkserver(heavy=True)
    return True
