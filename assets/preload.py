"""Imported by the forkserver every run's step processes fork from: loads the code location once, before the
fork, so each step starts with it loaded instead of rebuilding it (seconds per step on a small machine).
assets/preload_heavy.py adds the heavy libraries a job's steps import to the same forkserver."""

import contextlib
import importlib

from definitions import current_definitions

from .jobs import STAGES

# Each step process opens the instance first thing; its storage modules (and alembic, which checks the schema)
# are not imported by the code location, and cost ~1-2 s per step when every step imports them anew. Importing
# them opens nothing: no connection or thread crosses the fork.
INSTANCE_MODULES = (
    "dagster._core.instance.factory",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.storage.migration.utils",
    "dagster._core.run_coordinator.queued_run_coordinator",
    "dagster._core.launcher.default_run_launcher",
    "dagster._core.secrets.loader",
    "alembic.command",
    "alembic.config",
)

for _name in INSTANCE_MODULES:  # a Dagster release that moved one only loses its head start
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)

try:
    _defs = current_definitions()
    for _job, _selection in STAGES:
        _defs.resolve_job_def(_job)
except Exception:  # noqa: BLE001 (a plan that does not load fails in the step, with its own message)
    pass
