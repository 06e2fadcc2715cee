"""Jobs: the four stages every launcher runs (the CLI, sensors, schedules and the UI alike), so a run shows up in
the UI under its stage's name with the executor production uses.

- prepare_real_data: ingest, stage, split and profile the real data (schedule and source sensor).
- synthesize: fit a synthesizer and sample its pool, one synthesizer partition per run.
- blend_grid: one blend, its checks and its model per synthesizer x ratio partition (backfills fill it).
- scorecard: everything downstream of the blend models that collects them.
"""

import dagster as dg

from hybrid_data.deployment import executor_for_profile
from hybrid_data_dagster.forkserver import forkserver_modules

PREPARE_REAL_DATA_JOB = "prepare_real_data"
SYNTHESIZE_JOB = "synthesize"
BLEND_GRID_JOB = "blend_grid"
SCORECARD_JOB = "scorecard"
REAL_DATA = dg.AssetSelection.groups("ingest", "staging", "split")
SYNTHESIS = dg.AssetSelection.assets("synthesizer_model", "synthetic_pool", "privacy_risks")
BLEND_GRID = dg.AssetSelection.assets("blend", "blend_model")
# The scorecard and whatever else it reads that no other stage builds (e.g. baselines trained on real data).
SCORECARD = dg.AssetSelection.assets("blend_scorecard") | (
    dg.AssetSelection.assets("blend_scorecard").upstream() - REAL_DATA - SYNTHESIS - BLEND_GRID
)
# Stages in the order they run; each reads only what the earlier ones wrote.
STAGES = (
    (PREPARE_REAL_DATA_JOB, REAL_DATA),
    (SYNTHESIZE_JOB, SYNTHESIS),
    (BLEND_GRID_JOB, BLEND_GRID),
    (SCORECARD_JOB, SCORECARD),
)


def step_executor(heavy: bool = True) -> dg.ExecutorDefinition:
    """The multiprocess executor, forking each step from a server that has already imported the code location
    (and, with `heavy`, the libraries its steps use: hybrid_data_dagster/forkserver.py).

    With the default `spawn`, every step process re-imports Dagster, polars, DuckDB and the definitions
    (3-10 s each on a small, busy machine), which dominates a blend run's dozen short steps; forkserver pays
    that once per process that launches runs, and assets/preload.py builds the definitions there too. The
    real-data job's steps need none of the heavy libraries, so its forkserver skips them.
    Concurrency stays bounded by the run queue and `max_concurrent` (default: the cores).
    """
    return executor_for_profile() or dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": forkserver_modules(heavy)}}},
        name="forkserver_multiprocess" if heavy else "forkserver_multiprocess_light",
    )


def build_jobs(synth_partitions: dg.PartitionsDefinition, blend_partitions: dg.PartitionsDefinition) -> list:
    return [
        dg.define_asset_job(
            PREPARE_REAL_DATA_JOB,
            selection=REAL_DATA,
            description="Ingest, stage and split the real data, and profile it. Run nightly and when the source "
            "file changes; everything downstream follows only if the data really changed.",
            executor_def=step_executor(heavy=False),
        ),
        dg.define_asset_job(
            SYNTHESIZE_JOB,
            selection=SYNTHESIS,
            partitions_def=synth_partitions,
            description="Fit one synthesizer on real_train (reused while the data and fit settings are unchanged) "
            "and sample its pool, big enough for the plan's largest ratio.",
            executor_def=step_executor(),
        ),
        dg.define_asset_job(
            BLEND_GRID_JOB,
            selection=BLEND_GRID,
            partitions_def=blend_partitions,
            description="One blend and its model per synthesizer x ratio partition, guarded by blocking checks. "
            "Backfill it from the UI (Materialize all partitions) or with `hybrid-data backfill`.",
            executor_def=step_executor(),
        ),
        dg.define_asset_job(
            SCORECARD_JOB,
            selection=SCORECARD,
            description="Collect every blend's model into the scorecard (a table, a chart and an MLflow run).",
            executor_def=step_executor(),
        ),
    ]
