"""From a core CheckOutcome to a Dagster check result: readable metadata, the plan's severity, and a copy of
the result in the lake for the blend's MLflow run."""

import json

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from hybrid_data.check_results import write_result
from hybrid_data.lake import frame_fingerprint
from hybrid_data.quality import CheckOutcome


def metadata_value(value):
    """Numbers and text as they are; lists of records as a table and other lists as text, so the UI shows
    which expectations failed and which columns drifted without opening logs."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value if value is not None else "n/a"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return dg.MetadataValue.md(markdown_table(pl.DataFrame(value[:50]).cast(pl.String)))
    if isinstance(value, list):
        return dg.MetadataValue.md("\n".join(f"- {v}" for v in value) or "(none)") if value else "(none)"
    return dg.MetadataValue.text(json.dumps(value, default=str))


def check_result(
    outcome: CheckOutcome,
    severity: str = "ERROR",
    *,
    check_name: str | None = None,
    record: tuple | None = None,
) -> dg.AssetCheckResult:
    """The Dagster result; with `record=(lake, dims, blend)` the outcome is also kept for MLflow.

    Every blend check is declared blocking; severity decides whether a failure actually stops `blend_model`
    (Dagster blocks only on ERROR), so the plan can promote a warning to a blocker without a code change.
    """
    if record is not None:
        lake, dims, blend = record
        write_result(lake, dims, check_name, frame_fingerprint(blend), outcome, severity)
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity(severity),
        description=outcome.description,
        metadata={k: metadata_value(v) for k, v in outcome.metadata.items()},
    )
