"""The home folder: the single place everything the pipeline writes lives (lake, warehouse, MLflow, Dagster)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hybrid_data.deployment import lake_root
from hybrid_data.lake import Lake

HOME_ENV = "HYBRID_DATA_HOME"
DEFAULT_HOME = ".hybrid_data"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> Home:
        return cls(Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve())

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def mlflow(self) -> Path:
        return self.root / "mlflow"

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def plans(self) -> Path:
        """Snapshots of the plans runs used (hybrid_data/plan_snapshot.py)."""
        return self.root / "plans"

    def open_lake(self) -> Lake:
        return Lake(lake_root(self.lake))

    def mlflow_tracking_uri(self) -> str:
        """$MLFLOW_TRACKING_URI when set (a tracking server), else a SQLite store in the home folder."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.mlflow / 'mlflow.db'}"

    def ensure(self) -> Home:
        for folder in (self.lake, self.mlflow, self.dagster):
            folder.mkdir(parents=True, exist_ok=True)
        return self
