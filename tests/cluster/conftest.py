"""The cluster tests keep $MLFLOW_TRACKING_URI: it points at the tracking server the cluster fixture started."""

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_DATA_SUITES_DIR", str(tmp_path / "suites"))
