"""`hybrid-data run` in a fresh process, as the benchmarks time it: its own home and suites folder, the repository
importable, and no MLflow URI inherited from the caller (a benchmark must never log into the user's store)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HYBRID_DATA_HOME": str(home),
        "HYBRID_DATA_SUITES_DIR": str(home.parent / "suites"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_command(plan: Path) -> list[str]:
    return [sys.executable, "-m", "hybrid_data_dagster.cli", "--plan", str(plan), "run"]
