"""The Dagster code location: assets, checks, resources and jobs assembled from the blend plan."""

import os
from pathlib import Path

from hybrid_data.instance import limit_step_threads

# Before numpy/sklearn/torch load: concurrent steps must not each start a thread per core.
limit_step_threads()

import dagster as dg

from assets.automation import build_automation
from assets.blending import build_blend_asset
from assets.ingest import real_profile, real_source
from assets.jobs import build_jobs, step_executor
from assets.partitions import blend_partitions, synth_partitions
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
        build_blend_asset(grid),
        build_blend_model_asset(grid),
        blend_scorecard,
    ]
    sensors, schedules = build_automation(plan, grid)
    return dg.Definitions(
        assets=assets,
        asset_checks=build_checks(grid),
        jobs=build_jobs(grid),
        sensors=sensors,
        schedules=schedules,
        executor=step_executor(),
        resources=build_resources(plan_file, home),
    )


defs = build_definitions() if os.environ.get("HYBRID_DATA_SKIP_DEFS") != "1" else dg.Definitions()
