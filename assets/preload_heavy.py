"""Imported by the forkserver of the jobs whose steps fit, log and check models (hybrid_data_dagster/forkserver.py):
the libraries those steps import inside their functions, and the caches those libraries fill on first use, once
before the fork instead of once per step (seconds each on a small machine; every blend run has a dozen steps).

Importing starts no threads, so forking afterwards is safe. A library that is not installed is skipped; a warm-up
that fails only leaves that cost to the step. Great Expectations is not here: the expectation suites run as a
polars pass (hybrid_data/expectations.py) and a step imports it only for an expectation type that pass lacks.
"""

import contextlib
import importlib

# Order matters only for time: skops walks every loaded module when imported, so it comes after the others.
LIBRARIES = ("sklearn.ensemble", "mlflow", "mlflow.sklearn", "sdmetrics.reports", "skops.io")

for _name in LIBRARIES:
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)

with contextlib.suppress(Exception):
    # The model and scorecard steps each open the SQLite tracking store: its SQLAlchemy module and mapper setup
    # cost ~1-2 s per process the first time.
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    import sqlalchemy.orm

    sqlalchemy.orm.configure_mappers()

with contextlib.suppress(Exception):
    # Logging a model checks its pinned requirements against the environment, mapping every installed module to
    # its distribution first (a scan of site-packages, ~1-2 s); MLflow caches the map in the process.
    from mlflow.utils.requirements_utils import _init_modules_to_packages_map

    _init_modules_to_packages_map()
