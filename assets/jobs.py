"""Jobs: the real-data and synthesis stages, and the partitioned blend grid that backfills fill."""

import dagster as dg

BLEND_GRID = dg.AssetSelection.assets("blend", "blend_model")


def build_jobs(blend_partitions: dg.PartitionsDefinition) -> list:
    return [
        dg.define_asset_job(
            "prepare_real_data",
            selection=dg.AssetSelection.groups("ingest", "staging", "split"),
            description="Ingest, stage and split the real data, and profile it.",
        ),
        dg.define_asset_job(
            "blend_grid",
            selection=BLEND_GRID,
            partitions_def=blend_partitions,
            description="One blend and its model per synthesizer x ratio partition, guarded by blocking checks.",
        ),
    ]
