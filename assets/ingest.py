"""Ingest: the real data as it arrives, and the profile every blend is held to."""

import dagster as dg
import polars as pl

from hybrid_data.lake import frame_fingerprint, sha256_file
from hybrid_data.profile import profile_frame
from hybrid_data.reuse import real_data_fingerprint, source_file
from hybrid_data.source import load_real_source

from .metadata import frame_metadata, markdown_table
from .resources import HybridDataSettings

# Recorded on every real_source materialization: what `hybrid-data run` compares to skip an unchanged stage.
REAL_DATA_FINGERPRINT = "real_data_fingerprint"


def source_sha256(plan) -> str | None:
    path = source_file(plan)
    return sha256_file(path)[0] if path is not None else None


@dg.asset(group_name="ingest", kinds={"polars"}, code_version="1")
def real_source(context: dg.AssetExecutionContext, settings: HybridDataSettings) -> dg.Output[pl.DataFrame]:
    """The real rows from the plan's source, minus dropped columns and rows without a target: the anchor of
    every blend. Fails, keeping the last good version, on data no blend can be built from."""
    plan = settings.plan
    source = load_real_source(plan)
    context.log.info(f"read {source.rows_read} rows from {source.location}; task {source.task.value}")
    for note in source.notes:  # what was cleaned on the way in (NaN read as missing)
        context.log.warning(note)
    return dg.Output(
        source.frame,
        data_version=dg.DataVersion(frame_fingerprint(source.frame)),
        metadata={
            **frame_metadata(source.frame),
            "source": source.location,
            "task": source.task.value,
            "rows_read": source.rows_read,
            "rows_without_target_dropped": source.rows_without_target,
            "cleaned": "; ".join(source.notes) or "nothing",
            REAL_DATA_FINGERPRINT: real_data_fingerprint(plan, source_sha256(plan)) or "n/a",
        },
    )


@dg.asset(group_name="ingest", kinds={"polars"}, code_version="1")
def real_profile(real_train: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Types, ranges, tail quantiles, category domains and null shares of the real training rows: what the
    checks hold every blend to."""
    profile = profile_frame(real_train)
    shown = profile.select("column", "dtype", "null_share", "n_unique", "min", "max", "p01", "p99")
    return dg.Output(
        profile,
        data_version=dg.DataVersion(frame_fingerprint(profile)),
        metadata={"dagster/row_count": profile.height, "profile": dg.MetadataValue.md(markdown_table(shown))},
    )
