"""Imported by the forkserver every run's step processes fork from: loads the code location once, before the
fork, so each step starts with it loaded instead of rebuilding it (seconds per step on a small machine).
assets/preload_heavy.py adds the heavy libraries a job's steps import to the same forkserver."""

from definitions import current_definitions

from .jobs import STAGES

try:
    _defs = current_definitions()
    for _job, _selection in STAGES:
        _defs.resolve_job_def(_job)
except Exception:  # noqa: BLE001 (a plan that does not load fails in the step, with its own message)
    pass
