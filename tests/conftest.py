"""Shared fixtures: a tiny real dataset, plans written on the fly, a temporary home and Dagster instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from hybrid_data.home import Home
from hybrid_data.plan import BUNDLED_DATA_DIR

BUNDLED_CSV = BUNDLED_DATA_DIR / "lending_club.csv"


def tiny_frame(good: int = 330, bad: int = 70) -> pl.DataFrame:
    """A few hundred real rows of the bundled data, with enough of the rare class to score a model."""
    real = pl.read_csv(BUNDLED_CSV)
    by_class = [real.filter(pl.col("Class") == "good").head(good), real.filter(pl.col("Class") == "bad").head(bad)]
    return pl.concat(by_class)


def write_plan(folder: Path, source: Path, **overrides) -> Path:
    """A plan for `source` with small, fast settings; keyword arguments replace top-level fields."""
    plan = {
        "name": "tiny",
        "source": {"path": str(source)},
        "target": "Class",
        "ratios": [0, 0.5, 1.0],
        "seed": 7,
        "synthesis": {"synthesizers": ["gaussian_copula"]},
        "model": {"kind": "hist_gradient_boosting", "params": {"max_iter": 30}},
    }
    plan.update(overrides)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def materialize_defs(defs: dg.Definitions, instance, selection, partition_key=None) -> dg.ExecuteInProcessResult:
    """Materialize a selection of loaded definitions with their checks (one partition if given), never raising on
    a failed step, so a test can assert on the failure."""
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=instance,
        resources=defs.resources,
        selection=selection,
        partition_key=partition_key,
        raise_on_error=False,
    )


def materialize(plan_file: Path, home: Home, instance, selection, partition_key=None) -> dg.ExecuteInProcessResult:
    """`materialize_defs` for the code location built from a plan file."""
    from definitions import build_definitions

    return materialize_defs(build_definitions(plan_file, home), instance, selection, partition_key)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated expectation suites go to the test's folder (and its subprocesses'), never into checks/suites/;
    an MLflow URI one test sets (mlflow exports it to the environment) never reaches the next test."""
    monkeypatch.setenv("HYBRID_DATA_SUITES_DIR", str(tmp_path / "suites"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "loans.csv"
    tiny_frame().write_csv(path)
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Home(tmp_path / "home").ensure()


@pytest.fixture
def instance(home: Home):
    with dg.instance_for_test(temp_dir=str(home.dagster)) as inst:
        yield inst
