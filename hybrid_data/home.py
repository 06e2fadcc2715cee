"""The home folder: the single place everything the pipeline writes lives (lake, warehouse, MLflow, Dagster)."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hybrid_data.deployment import lake_root
from hybrid_data.lake import Lake

HOME_ENV = "HYBRID_DATA_HOME"
DEFAULT_HOME = ".hybrid_data"
# Where the home folder was when last opened: a copy or move is noticed, and absolute paths in it rewritten.
HOME_RECORD = "home.json"
# MLflow's SQLite store keeps artifact locations as absolute URIs in these columns.
MLFLOW_PATH_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)


class HomeError(ValueError):
    """The home folder cannot be used (it is a file, or cannot be created); the message says what to do."""


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
        """Create the folders; a home copied or moved from elsewhere keeps working (see `rebase`)."""
        if self.root.exists() and not self.root.is_dir():
            raise HomeError(
                f"home folder {self.root} is a file, not a folder: set {HOME_ENV} to a folder (or remove it)"
            )
        try:
            for folder in (self.lake, self.mlflow, self.dagster):
                folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise HomeError(
                f"cannot create {exc.filename} in home folder {self.root}: a file is in the way; "
                f"move it, or set {HOME_ENV} to another folder"
            ) from None
        self.rebase()
        return self

    def rebase(self) -> str | None:
        """When this home was last opened at another path (copied or moved), rewrite the absolute artifact
        locations MLflow stored under the old path to the new one, so nothing is ever written back to the old
        place. The lake, plan snapshots and Dagster instance need nothing: their paths come from the root.
        Returns the old root when it rewrote anything."""
        record = self.root / HOME_RECORD
        previous = json.loads(record.read_text()).get("root") if record.exists() else None
        rebased = None
        store = self.mlflow / "mlflow.db"
        if previous and previous != str(self.root) and store.exists() and not os.environ.get("MLFLOW_TRACKING_URI"):
            rewrite_paths(store, previous, str(self.root))
            rebased = previous
        if previous != str(self.root):
            record.write_text(json.dumps({"root": str(self.root)}))
        return rebased


def rewrite_paths(store: Path, old_root: str, new_root: str) -> None:
    """Replace `old_root` by `new_root` at the start of every stored artifact location of an MLflow SQLite store."""
    with sqlite3.connect(store) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, column in MLFLOW_PATH_COLUMNS:
            if table not in tables:
                continue
            for prefix in ("file://", ""):
                old, new = prefix + old_root, prefix + new_root
                con.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) WHERE {column} LIKE ? ESCAPE '\\'",
                    (new, len(old) + 1, old.replace("%", "\\%").replace("_", "\\_") + "/%"),
                )
