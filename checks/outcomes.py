"""From a core CheckOutcome to a Dagster check result: readable metadata and the plan's severity.

Blocking: correctness checks (schema, real-share floor, holdout isolation, exact copies, ingest) always block;
warning checks (fidelity, privacy, tails, expectations) are declared blocking only when the plan's
`checks.blocking` names them, read when the code location loads, so the UI's "blocking" label tells the truth.
Their severity follows the run's plan (ERROR when blocking), and Dagster stops downstream only on ERROR."""

import json

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from hybrid_data.plan import Plan
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


def blocks(plan: Plan, name: str) -> bool:
    """Whether a warning check is declared blocking: the plan names it in `checks.blocking`."""
    return plan.checks.severity(name) == "ERROR"


def check_result(outcome: CheckOutcome, severity: str = "ERROR", *, check_name: str | None = None):
    """The Dagster result: the outcome's numbers as metadata, at the severity the plan gives the check.
    blend_model reads it back from the instance (assets/check_status.py) for its MLflow run."""
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity(severity),
        description=outcome.description,
        metadata={k: metadata_value(v) for k, v in outcome.metadata.items()},
    )
