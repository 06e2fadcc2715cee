"""Regenerate the README's screenshots (docs/img/dagster_asset_graph.png, docs/img/mlflow_experiment.png) with the
browser tests themselves: a tiny real run, the Dagster webserver and `mlflow ui` on loopback, headless Chromium.

    python scripts/screenshots.py

Needs Debian's `chromium` and `chromium-driver` and the dev extra (selenium)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "docs" / "img"


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HYBRID_DATA_SCREENSHOT_DIR": str(TARGET)}
    tests = ["tests/browser/test_ui_browser.py::test_asset_graph_renders_every_asset"]
    tests.append("tests/browser/test_ui_browser.py::test_mlflow_lists_one_run_per_cell_with_the_headline_metric")
    done = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=REPO, env=env)
    if done == 0:
        print(f"wrote {TARGET / 'dagster_asset_graph.png'} and {TARGET / 'mlflow_experiment.png'}")
    return done


if __name__ == "__main__":
    sys.exit(main())
