"""Jobs: the real-data stage the schedule and source sensor rerun, and the partitioned blend grid that
backfills fill."""

import dagster as dg

from hybrid_data.deployment import executor_for_profile

PREPARE_REAL_DATA_JOB = "prepare_real_data"
BLEND_GRID_JOB = "blend_grid"
BLEND_GRID = dg.AssetSelection.assets("blend", "blend_model")
REAL_DATA = dg.AssetSelection.groups("ingest", "staging", "split")


def step_executor() -> dg.ExecutorDefinition:
    """The multiprocess executor, forking each step from a server that has already imported the code location.

    With the default `spawn`, every step process re-imports Dagster, polars, DuckDB and the definitions
    (3-10 s each on a small, busy machine), which dominates a blend run's dozen short steps; forkserver pays
    that once per run. Concurrency stays bounded by the run queue and `max_concurrent` (default: the cores).
    """
    return executor_for_profile() or dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {}}}, name="forkserver_multiprocess"
    )


def build_jobs(blend_partitions: dg.PartitionsDefinition) -> list:
    return [
        dg.define_asset_job(
            PREPARE_REAL_DATA_JOB,
            selection=REAL_DATA,
            description="Ingest, stage and split the real data, and profile it. Run nightly and when the source "
            "file changes; everything downstream follows only if the data really changed.",
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
    ]
