"""The home folder's Dagster instance (dagster.yaml) and per-step thread limits, sized for the machine."""

from __future__ import annotations

import os
from pathlib import Path

# The first line marks a file hybrid-data wrote and may rewrite; remove it to keep hand edits.
MARKER = "# Written by hybrid-data (hybrid_data/instance.py)"
THREADS_ENV = "HYBRID_DATA_THREADS"
# Libraries that size a thread pool from these at import: OpenMP (sklearn, torch), BLAS flavours, numexpr.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def machine_cores() -> int:
    """Cores this process may use (the affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def max_concurrent_runs(cores: int) -> int:
    """Twice the cores: a run spends much of its time starting processes and importing, not computing."""
    return max(2, 2 * cores)


# The daemon's part of every instance this project writes (embedded and cluster): runs whose process died are
# marked failed (and their pool slots freed) instead of staying STARTED; sensors and backfills on threads.
DAEMON_YAML = """\
run_monitoring:
  enabled: true
  poll_interval_seconds: 30

sensors:
  use_threads: true
  num_workers: 2

backfills:
  use_threads: true
  num_workers: 2
"""


def dagster_yaml(cores: int | None = None) -> str:
    """The instance config: a run queue and pool limits so a backfill of many partitions queues instead of
    starting every run at once and oversubscribing a small machine."""
    cores = cores or machine_cores()
    return f"""\
{MARKER}; remove this line to keep your own edits.
# The home folder's Dagster instance: `hybrid-data run`, `hybrid-data ui` and `dagster dev` share it.
telemetry:
  enabled: false

# Runs wait in a queue (the daemon launches them) instead of all starting at once.
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator

concurrency:
  runs:
    # Each run is a process that starts one more per step; {cores} core(s) here.
    max_concurrent_runs: {max_concurrent_runs(cores)}
  pools:
    # Steps that declare a pool (e.g. pool="cpu") share this many slots across all runs.
    default_limit: {cores}
    granularity: op

{DAEMON_YAML}"""


def write_dagster_yaml(dagster_home: Path, cores: int | None = None) -> Path:
    """Write dagster.yaml unless the user took it over (removed the marker line)."""
    path = dagster_home / "dagster.yaml"
    if path.exists() and not path.read_text().startswith(MARKER):
        return path
    dagster_home.mkdir(parents=True, exist_ok=True)
    path.write_text(dagster_yaml(cores))
    return path


def step_threads() -> int:
    """Threads one step may use ($HYBRID_DATA_THREADS, default 1): concurrent steps that each take every core
    oversubscribe them badly. The one home of the thread cap; DuckDB, sklearn and torch read it from here."""
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"{THREADS_ENV}={raw!r} is not a whole number of threads") from None


def step_thread_env(threads: int | None = None) -> dict[str, str]:
    """Environment variables that cap native thread pools at the per-step thread count."""
    threads = threads or step_threads()
    return {name: str(threads) for name in THREAD_VARIABLES}


def limit_step_threads() -> dict[str, str]:
    """Cap native thread pools in this process and every step process it starts, keeping values the user set.

    Concurrent steps that each start a thread per core oversubscribe the machine: OpenMP spin-waiting turned
    a 1 s scikit-learn fit into 85 s here. Must run before numpy/sklearn/torch load to take effect in-process;
    child processes (run workers, step processes) always inherit it.
    """
    applied = {}
    for name, value in step_thread_env().items():
        applied[name] = os.environ.setdefault(name, value)
    return applied
