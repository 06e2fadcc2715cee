"""A built wheel, installed in a fresh venv, runs `hybrid-data run` from any folder, and its code location's
generic module names (`assets`, `checks`, `definitions`) stay off the venv's import path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import write_plan

REPO = Path(__file__).resolve().parent.parent
SKIPPED = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".hybrid_data", ".pytest_cache")


def fresh_venv(folder: Path) -> Path:
    """A venv without pip or packages of its own that sees the shared venv's installed dependencies (through a
    .pth line: the path alone, so none of that site-packages' own .pth files, e.g. editable installs, apply)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(own, "shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "DAGSTER_HOME", "MLFLOW_TRACKING_URI"}}
    return {**env, **extra}


@pytest.mark.slow
def test_the_wheel_runs_the_pipeline_from_any_folder(tmp_path, tiny_csv):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=SKIPPED)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        check=True,
        env=clean_env(),
    )
    [wheel] = dist.glob("*.whl")
    python = fresh_venv(tmp_path / "venv")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        env=clean_env(),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(HYBRID_DATA_HOME=str(tmp_path / "home"))

    # Generic names stay private to hybrid-data's own processes.
    probe = subprocess.run([str(python), "-c", "import assets"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert "No module named 'assets'" in probe.stderr

    plan = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    done = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "hybrid-data"), "--plan", str(plan), "run"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[4/4] scorecard: 1 run(s)" in done.stdout
    assert (tmp_path / "home" / "lake" / "blend_scorecard" / "data.parquet").exists()
    assert str(REPO) not in (tmp_path / "venv").joinpath("bin", "hybrid-data").read_text()


HEAVY = ("sdv", "torch", "great_expectations", "mlflow", "sklearn", "pandas", "sdmetrics")


def test_loading_the_code_location_imports_no_heavy_library(tmp_path, tiny_csv):
    """The webserver, daemon and every sensor tick load the code location: the heavy libraries load with the
    steps that use them (inside their functions), never with the definitions."""
    plan_file = write_plan(tmp_path, tiny_csv)
    env = {**os.environ, "HYBRID_DATA_PLAN": str(plan_file), "HYBRID_DATA_HOME": str(tmp_path / "home")}
    probe = (
        "import sys, definitions; defs = definitions.current_definitions(); defs.resolve_asset_graph(); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = (
        subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert loaded == "[]", f"loaded with the code location: {loaded}"
