"""The Dagster code location: assets, checks, resources and jobs assembled from the blend plan."""

import functools
import os
from pathlib import Path

from hybrid_data.instance import limit_step_threads

# Before numpy/sklearn/torch load: concurrent steps must not each start a thread per core.
limit_step_threads()
# The expectation suites beside this code location (a checkout or an installed wheel), unless set elsewhere.
os.environ.setdefault("HYBRID_DATA_SUITES_DIR", str(Path(__file__).resolve().parent / "checks" / "suites"))

import dagster as dg

from assets.automation import build_automation
from assets.baselines import classical_baselines
from assets.blending import build_blend_asset
from assets.collapse import build_collapse_assets, build_collapse_job
from assets.ingest import real_profile, real_source
from assets.jobs import build_jobs, step_executor
from assets.partitions import blend_partitions, synth_partitions
from assets.privacy import build_privacy_assets
from assets.resources import HybridDataSettings, LakeIOManager, MlflowTracking
from assets.scorecard import blend_scorecard
from assets.sql_models import build_sql_assets
from assets.synthesis import build_synthesis_assets
from assets.training import build_blend_model_asset
from checks import build_checks
from hybrid_data.home import Home
from hybrid_data.plan import load_plan, plan_path


def build_resources(plan_file: Path, home: Home) -> dict:
    return {
        "settings": HybridDataSettings(plan_path=str(plan_file), home=str(home.root)),
        "io_manager": LakeIOManager(lake_root=str(home.open_lake().root)),
        "mlflow": MlflowTracking(tracking_uri=home.mlflow_tracking_uri(), artifact_root=str(home.mlflow / "artifacts")),
    }


def build_definitions(plan_file: Path | str | None = None, home: Home | None = None) -> dg.Definitions:
    """Everything for one plan and home folder; defaults come from $HYBRID_DATA_PLAN and $HYBRID_DATA_HOME."""
    plan_file = Path(plan_file).resolve() if plan_file else plan_path()
    home = home or Home.from_env()
    plan = load_plan(plan_file)
    grid = blend_partitions(plan)
    assets = [
        real_source,
        real_profile,
        *build_sql_assets(),
        *build_synthesis_assets(synth_partitions(plan)),
        *build_privacy_assets(synth_partitions(plan)),
        build_blend_asset(grid),
        build_blend_model_asset(grid),
        classical_baselines,
        blend_scorecard,
        *build_collapse_assets(plan),
    ]
    sensors, schedules = build_automation(plan, grid)
    return dg.Definitions(
        assets=assets,
        asset_checks=build_checks(grid, plan),
        jobs=[*build_jobs(synth_partitions(plan), grid), build_collapse_job(plan)],
        sensors=sensors,
        schedules=schedules,
        executor=step_executor(),
        resources=build_resources(plan_file, home),
    )


@functools.cache
def _definitions_of(plan_file: str, plan_text: str, home_root: str) -> dg.Definitions:
    return build_definitions(plan_file, Home(Path(home_root)))


def current_definitions(plan_file: Path | str | None = None, home_root: Path | str | None = None) -> dg.Definitions:
    """The definitions of a plan (default $HYBRID_DATA_PLAN) and home (default $HYBRID_DATA_HOME), built once per
    process and plan text. Step processes fork from a server that built them already (assets/preload.py), so a
    step does not pay for loading the code location again."""
    plan_file = Path(plan_file).resolve() if plan_file else plan_path()
    home_root = Path(home_root) if home_root else Home.from_env().root
    text = plan_file.read_text() if plan_file.exists() else ""
    return _definitions_of(str(plan_file), text, str(home_root))


@dg.definitions
def defs() -> dg.Definitions:
    """The code location `dagster dev` and the run workers load: built when loaded, not when imported."""
    return current_definitions()
