"""When `hybrid-data run` starts the steps' forkserver early: for a plan the home has not run (a first build
included), never for one it has."""

from pathlib import Path

from hybrid_data.home import Home
from hybrid_data.plan_snapshot import snapshot_plan
from hybrid_data_dagster.forkserver import forkserver_modules, plan_is_new_to_home
from tests.conftest import write_plan


def test_a_plan_is_new_to_a_home_that_has_not_run_it(tmp_path: Path, tiny_csv: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    plan = write_plan(tmp_path, tiny_csv)
    assert plan_is_new_to_home(plan, home), "a first build: its synthesize and scorecard steps need the heavy server"
    snapshot_plan(plan, home.root)
    assert not plan_is_new_to_home(plan, home), "the same plan again: most often nothing to do"
    plan = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5, 0.6, 1.0])
    assert plan_is_new_to_home(plan, home), "a ratio added: a blend run follows"
    snapshot_plan(plan, home.root)
    assert not plan_is_new_to_home(plan, home)
    assert not plan_is_new_to_home(tmp_path / "missing.yaml", home)


def test_heavy_server_loads_the_code_location_first() -> None:
    assert forkserver_modules(heavy=False) == ["dagster._core.executor.multiprocess", "assets.preload"]
    assert forkserver_modules(heavy=True)[:2] == forkserver_modules(heavy=False)
    assert "assets.preload_heavy" in forkserver_modules(heavy=True)
