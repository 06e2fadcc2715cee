"""Imported by the forkserver every run's step processes fork from: loads the code location and the heavy
libraries the steps use once, before the fork, so each step starts with them loaded.

Without it every check step imports Great Expectations or SDMetrics (which brings torch) and every model step
MLflow and scikit-learn on its own: 8-60 s each on a small busy machine, paid again by each of a blend run's
dozen steps, where a run now pays it once. Importing starts no threads, so forking afterwards is safe.
"""

import importlib

from definitions import current_definitions

from .jobs import STAGES

# What the steps of the synthesize, blend_grid and scorecard jobs import inside their functions.
HEAVY_MODULES = ("sklearn.ensemble", "mlflow", "great_expectations", "sdmetrics.reports")

try:
    _defs = current_definitions()
    for _job, _selection in STAGES:
        _defs.resolve_job_def(_job)
except Exception:  # noqa: BLE001 (a plan that does not load fails in the step, with its own message)
    pass

for _module in HEAVY_MODULES:
    try:
        importlib.import_module(_module)
    except ImportError:  # a lean install without one of them: the step that needs it says so
        pass
