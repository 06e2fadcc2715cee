"""A cell's result as stored in the lake: one row per fitted seed, with the holdout predictions the scorecard's
paired bootstrap needs, the protocol it was trained under and its blend's check records.

Predictions are kept in the holdout's stored order; `holdout_version` (the holdout's content hash) is the key
that says which rows they belong to, so the scorecard refuses to pair cells scored on different holdouts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from hybrid_data import lake
from hybrid_data.evaluation.protocol import CellFit, Protocol
from hybrid_data.plan import Task

TRAINED = "trained"
FAILED = "failed"  # status prefix of a cell whose latest run (or its blend's blocking check) failed
KINDS = ("real_only", "blend", "tstr", "baseline")


@dataclass(frozen=True)
class CellInfo:
    """What identifies a cell and what it was trained from, known before (or without) a fit."""

    cell: str
    kind: str  # one of KINDS
    method: str  # 'synthesis', 'real_only' or a classical baseline
    synthesizer: str | None
    ratio: float | None
    real_rows: int
    synthetic_rows: int
    holdout_version: str
    validation_version: str
    positive_label: str | None
    checks: list[dict] = field(default_factory=list)  # {check, passed, severity, description, metadata}
    group_shares: list[dict] = field(default_factory=list)
    mlflow_run_id: str = ""


def blend_cell(synthesizer: str, ratio: float) -> tuple[str, str]:
    """The name and kind of a blend partition's cell: r = 0 is real-only, r = 1 is train-synthetic-test-real."""
    if ratio == 0.0:
        return "real only", "real_only"
    if ratio == 1.0:
        return f"TSTR {synthesizer}", "tstr"
    return f"{synthesizer} r={ratio:g}", "blend"


def validation_version(validation: pl.DataFrame) -> str:
    return lake.frame_fingerprint(validation)


def protocol_json(protocol: Protocol) -> str:
    return json.dumps(protocol.as_dict(), sort_keys=True, default=str)


def protocol_fingerprint(protocol: Protocol) -> str:
    """The version of a training protocol, as stored with each cell (a changed plan setting changes it)."""
    return lake.fingerprint(protocol_json(protocol))


def failed_cell(cell: str, kind: str, synthesizer: str | None, ratio: float | None, reason: str) -> pl.DataFrame:
    """A cell shown as failed, with no numbers: its latest run failed or its blend failed a blocking check, so
    whatever it stored before is not current."""
    return pl.DataFrame(
        [
            {
                "cell": cell,
                "kind": kind,
                "method": "real_only" if kind == "real_only" else "synthesis",
                "synthesizer": synthesizer,
                "ratio": ratio,
                "status": f"{FAILED}: {reason}",
                "real_rows": 0,
                "synthetic_rows": 0,
                "checks": "[]",
                "group_shares": "[]",
                "mlflow_run_id": "",
                "rounds": None,
                "train_rows": None,
            }
        ],
        schema_overrides={"ratio": pl.Float64, "rounds": pl.Int64, "train_rows": pl.Int64},
    )


def cell_frame(info: CellInfo, protocol: Protocol, fit: CellFit | None, untrainable: str | None = None) -> pl.DataFrame:
    """One row per fitted seed; an untrainable cell is one row with its reason and no predictions."""
    common: dict[str, Any] = {
        "cell": info.cell,
        "kind": info.kind,
        "method": info.method,
        "synthesizer": info.synthesizer,
        "ratio": info.ratio,
        "real_rows": info.real_rows,
        "synthetic_rows": info.synthetic_rows,
        "holdout_version": info.holdout_version,
        "validation_version": info.validation_version,
        "positive_label": info.positive_label,
        "protocol": protocol_json(protocol),
        "protocol_fingerprint": protocol_fingerprint(protocol),
        "checks": json.dumps(info.checks, default=str, sort_keys=True),
        "group_shares": json.dumps(info.group_shares, default=str, sort_keys=True),
        "mlflow_run_id": info.mlflow_run_id,
    }
    schema = {
        "seed": pl.Int64,
        "rounds": pl.Int64,
        "threshold": pl.Float64,
        "train_rows": pl.Int64,
        "validation_rows": pl.Int64,
        "fit_seconds": pl.Float64,
        "prediction": pl.List(pl.Float64),
        "predicted_label": pl.List(pl.String),
    }
    if fit is None:
        rows = [{**common, **dict.fromkeys(schema), "status": f"untrainable: {untrainable}"}]
    else:
        labels = protocol.task is Task.multiclass
        rows = [
            {
                **common,
                "status": TRAINED,
                "seed": seed,
                "rounds": rounds,
                "threshold": threshold,
                "train_rows": fit.train_rows,
                "validation_rows": fit.validation_rows,
                "fit_seconds": fit.fit_seconds,
                "prediction": None if labels else [float(v) for v in predictions],
                "predicted_label": [str(v) for v in predictions] if labels else None,
            }
            for seed, rounds, threshold, predictions in zip(
                fit.seeds, fit.rounds, fit.thresholds, fit.holdout_predictions, strict=True
            )
        ]
    return pl.DataFrame(rows, schema_overrides={**schema, "ratio": pl.Float64}, infer_schema_length=None)
