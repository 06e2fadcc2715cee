"""How a scorecard appears in MLflow: a parent run per scorecard version with the table, chart and verdict, and
one nested child run per cell with its headline metric, interval and difference to real-only as metrics and its
per-check details as a table artifact (not dozens of check metrics on the run page)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

from hybrid_data.evaluation.metrics import METRICS
from hybrid_data.evaluation.report import format_scorecard, markdown_full_scorecard, markdown_scorecard
from hybrid_data.evaluation.scorecard import Scorecard
from hybrid_data.evaluation.verdicts import BASELINE, FAILED, UNTRAINABLE
from hybrid_data.tracking import FINGERPRINT_TAG


def _finite(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and math.isfinite(v)}


def scorecard_runs(
    card: Scorecard,
    cells: pl.DataFrame,
    tags: dict[str, str],
    files: list[Path] = (),
    artifacts: dict[str, str] | None = None,
) -> tuple[dict, list]:
    """(parent, children) in the shape tracking.log_nested_runs takes; `files` (charts) and `artifacts` (name:
    text, e.g. the privacy-utility frontier) go on the parent."""
    checks_by_cell = {
        name: json.loads(frame["checks"][0]) for (name,), frame in cells.group_by("cell", maintain_order=True)
    }
    # the headline metric first (MLflow lists metrics in the order they were logged), then the others
    names = [card.metric, *(m.name for m in METRICS[card.task] if m.name != card.metric)]
    # The fingerprint marks the parent only: find_run must never mistake a child for a finished scorecard.
    child_tags = {k: v for k, v in tags.items() if k != FINGERPRINT_TAG}
    children = []
    for row in card.table.to_dicts():
        suffixes = ("", "_low", "_high", "_diff", "_diff_low", "_diff_high")
        metrics = {f"{card.metric}{s}": row.get(f"{card.metric}{s}") for s in suffixes}
        metrics.update({k: row.get(k) for k in ("diff_adjusted_low", "diff_adjusted_high", "p_value", "p_holm")})
        metrics.update({f"{n}{s}": row.get(f"{n}{s}") for n in names[1:] for s in suffixes})
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
        "metrics": headline_metrics(card),
        "tags": {
            **tags,
            "hybrid_data.kind": "scorecard",
            "hybrid_data.verdict": card.verdict[:5000],
            "hybrid_data.excluded_cells": ", ".join(e["cell"] for e in card.excluded)[:5000] or "none",
            "mlflow.note.content": description(card),
        },
        "artifacts": {
            "scorecard.md": markdown_full_scorecard(card),
            "scorecard_summary.md": markdown_scorecard(card),
            "scorecard.txt": format_scorecard(card),
            "scorecard.csv": card.table.write_csv(),
            **({"bias_audit.csv": card.bias.write_csv()} if card.bias.height else {}),
            **(artifacts or {}),
        },
        "files": list(files),
    }
    return parent, children


def _judged(card: Scorecard) -> list[dict]:
    return [r for r in card.table.to_dicts() if r["verdict"] not in (UNTRAINABLE, FAILED)]


def best_cell(card: Scorecard) -> dict | None:
    """The compared cell with the best headline metric (None when only real-only was scored)."""
    rows = [r for r in _judged(card) if r["verdict"] != BASELINE and r.get(card.metric) is not None]
    sign = 1 if card.higher_is_better else -1
    return max(rows, key=lambda r: sign * r[card.metric]) if rows else None


def headline_metrics(card: Scorecard) -> dict[str, float]:
    """The parent run's metrics: real-only's and the best cell's headline metric with their intervals, and the
    best cell's adjusted difference to real-only with its interval."""
    m = card.metric
    base = next(r for r in _judged(card) if r["verdict"] == BASELINE)
    values = {f"real_only.{m}{s}": base.get(f"{m}{s}") for s in ("", "_low", "_high")}
    best = best_cell(card)
    if best is not None:
        values.update({f"best.{m}{s}": best.get(f"{m}{s}") for s in ("", "_low", "_high")})
        values[f"best.{m}_diff"] = best.get(f"{m}_diff")
        values[f"best.{m}_diff_adjusted_low"] = best.get("diff_adjusted_low")
        values[f"best.{m}_diff_adjusted_high"] = best.get("diff_adjusted_high")
    return _finite(values)


def description(card: Scorecard) -> str:
    """The parent run's description (MLflow's run note): the answer, the best cell, what it was built from."""
    best = best_cell(card)
    m, pct = card.metric, f"{card.confidence:.0%}"
    lines = [f"**{card.verdict}**", ""]
    if best is not None:
        lines.append(
            f"Best cell: {best['cell']}, {m} {best[m]:.3f} [{best[m + '_low']:.3f}, {best[m + '_high']:.3f}] ({pct}); "
            f"vs real-only {best[m + '_diff']:+.3f} [{best['diff_adjusted_low']:+.3f}, "
            f"{best['diff_adjusted_high']:+.3f}] (Holm-adjusted), verdict {best['verdict']}."
        )
    if card.built_from:
        lines.append(f"Built from {card.built_from}.")
    if card.excluded:
        lines.append("Left out (not current): " + "; ".join(f"{e['cell']}: {e['reason']}" for e in card.excluded))
    lines.append("Table: scorecard.md (full), scorecard.csv; chart: scorecard.png; one nested run per cell.")
    return "\n".join(lines)[:5000]
