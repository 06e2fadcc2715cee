"""How a scorecard appears in MLflow: a parent run per scorecard version with the table, chart and verdict, and
one nested child run per cell with its headline metric, interval and difference to real-only as metrics and its
per-check details as a table artifact (not dozens of check metrics on the run page)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

from hybrid_data.evaluation.metrics import METRICS
from hybrid_data.evaluation.report import format_scorecard, markdown_scorecard
from hybrid_data.evaluation.scorecard import Scorecard
from hybrid_data.tracking import FINGERPRINT_TAG


def _finite(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and math.isfinite(v)}


def scorecard_runs(card: Scorecard, cells: pl.DataFrame, tags: dict[str, str], chart: Path | None) -> tuple[dict, list]:
    """(parent, children) in the shape tracking.log_nested_runs takes."""
    checks_by_cell = {
        name: json.loads(frame["checks"][0]) for (name,), frame in cells.group_by("cell", maintain_order=True)
    }
    names = [m.name for m in METRICS[card.task]]
    # The fingerprint marks the parent only: find_run must never mistake a child for a finished scorecard.
    child_tags = {k: v for k, v in tags.items() if k != FINGERPRINT_TAG}
    children = []
    for row in card.table.to_dicts():
        suffixes = ("", "_low", "_high", "_diff", "_diff_low", "_diff_high")
        metrics = {f"{n}{s}": row.get(f"{n}{s}") for n in names for s in suffixes}
        metrics.update({k: row.get(k) for k in ("p_value", "p_holm", "diff_adjusted_low", "diff_adjusted_high")})
        children.append(
            {
                "run_name": row["cell"],
                "params": {
                    k: row[k] for k in ("kind", "method", "synthesizer", "ratio", "real_rows", "synthetic_rows", "fits")
                },
                "metrics": _finite(metrics),
                "tags": {
                    **child_tags,
                    "hybrid_data.cell": row["cell"],
                    "hybrid_data.verdict": row["verdict"],
                    "hybrid_data.status": row["status"],
                    "hybrid_data.checks": row["checks"],
                    "hybrid_data.model_run_id": row["mlflow_run_id"] or "",
                },
                "tables": {"checks.json": checks_by_cell.get(row["cell"], [])},
            }
        )
    parent = {
        "run_name": "scorecard",
        "params": {
            "task": card.task.value,
            "primary_metric": card.metric,
            "cells": card.table.height,
            "repeats": card.repeats,
            "bootstrap": card.resamples,
            "confidence": card.confidence,
            "protocol": card.protocol[:6000],
        },
        "metrics": {},
        "tags": {**tags, "hybrid_data.kind": "scorecard", "hybrid_data.verdict": card.verdict[:5000]},
        "artifacts": {
            "scorecard.md": markdown_scorecard(card),
            "scorecard.txt": format_scorecard(card),
            "scorecard.csv": card.table.write_csv(),
            **({"bias_audit.csv": card.bias.write_csv()} if card.bias.height else {}),
        },
        "files": [chart] if chart else [],
    }
    return parent, children
