"""When `hybrid-data run` starts the steps' forkserver early: for a plan the home has not run (a first build
included), never for one it has."""

import subprocess
import sys
from pathlib import Path

from hybrid_data.home import Home
from hybrid_data.plan_snapshot import snapshot_plan
from hybrid_data_dagster import forkserver
from hybrid_data_dagster.forkserver import forkserver_modules, plan_is_new_to_home, worker_start
from tests.conftest import write_plan


def test_a_plan_is_new_to_a_home_that_has_not_run_it(tmp_path: Path, tiny_csv: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    plan = write_plan(tmp_path, tiny_csv)
    assert plan_is_new_to_home(plan, home), "a first build: its synthesize and scorecard steps need the heavy server"
    snapshot_plan(plan, home.root)
    assert not plan_is_new_to_home(plan, home), "the same plan again: most often nothing to do"
    plan = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5, 0.6, 1.0])
    assert plan_is_new_to_home(plan, home), "a ratio added: a blend run follows"
    snapshot_plan(plan, home.root)
    assert not plan_is_new_to_home(plan, home)
    assert not plan_is_new_to_home(tmp_path / "missing.yaml", home)


def test_heavy_server_loads_the_code_location_first() -> None:
    assert forkserver_modules(heavy=False) == ["dagster._core.executor.multiprocess", "assets.preload"]
    assert forkserver_modules(heavy=True)[:2] == forkserver_modules(heavy=False)
    assert "assets.preload_heavy" in forkserver_modules(heavy=True)


ADOPTION = """
import multiprocessing, multiprocessing.forkserver, os
from concurrent.futures import ProcessPoolExecutor
from hybrid_data_dagster import forkserver

def report_parent(queue):
    queue.put(os.getppid())

def worker_view():
    context = multiprocessing.get_context("forkserver")
    queue = context.SimpleQueue()
    child = context.Process(target=report_parent, args=(queue,))
    child.start()
    child.join()
    return os.getppid(), queue.get(), multiprocessing.forkserver._forkserver._forkserver_pid

if __name__ == "__main__":
    multiprocessing.get_context("forkserver").set_forkserver_preload([])
    multiprocessing.forkserver.ensure_running()
    forkserver._heavy_server["pid"] = multiprocessing.forkserver._forkserver._forkserver_pid
    context, initializer, initargs = forkserver.worker_start()
    with ProcessPoolExecutor(1, mp_context=context, initializer=initializer, initargs=initargs) as pool:
        print(forkserver._heavy_server["pid"], *pool.submit(worker_view).result())
"""


def test_workers_fork_from_the_heavy_server_and_so_do_their_steps(tmp_path: Path) -> None:
    """A stage's workers are forked by the CLI's heavy forkserver and start no server of their own: a process a
    worker starts (a step) forks from the same server. A server of their own would import everything again."""
    script = tmp_path / "adoption.py"
    script.write_text(ADOPTION)
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    server, worker_parent, step_parent, worker_server = printed.stdout.split()
    assert worker_parent == server, "the worker was not forked by the heavy server"
    assert step_parent == server, "the worker's own process was not forked by the heavy server"
    assert worker_server == "None", "the worker started a forkserver of its own"


def test_workers_are_spawned_without_a_heavy_server(monkeypatch) -> None:
    monkeypatch.setitem(forkserver._heavy_server, "pid", None)  # whatever an earlier test in this process started
    context, initializer, _ = worker_start()
    assert context.get_start_method() == "spawn" and initializer is None
