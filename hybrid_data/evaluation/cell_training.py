"""Training one cell of the scorecard (a blend, real-only, TSTR or a classical baseline) under the protocol, and
recording it; a cell no model can learn from is recorded as untrainable instead of failing the run."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl

from hybrid_data import lake
from hybrid_data.evaluation.cells import CellInfo, cell_frame, validation_version
from hybrid_data.evaluation.protocol import (
    CellFit,
    Protocol,
    Resample,
    fit_cell,
    protocol_for,
    training_rows,
    validation_slice,
)
from hybrid_data.plan import Plan, Task
from hybrid_data.source import ORIGIN_COLUMN
from hybrid_data.training import TrainingError, minority_label


def positive_label(real_train: pl.DataFrame, plan: Plan, task: Task) -> str | None:
    """The minority class of real_train: the class the binary metrics are about (and the audit's minority)."""
    return minority_label(real_train, plan.target) if task is not Task.regression else None


def cell_info(
    cell: str,
    kind: str,
    method: str,
    rows: pl.DataFrame,
    real_train: pl.DataFrame,
    holdout: pl.DataFrame,
    protocol: Protocol,
    positive: str | None,
    **extra: Any,
) -> CellInfo:
    origin = rows[ORIGIN_COLUMN] if ORIGIN_COLUMN in rows.columns else pl.Series(["real"] * rows.height)
    synthetic = int((origin == "synthetic").sum())
    return CellInfo(
        cell=cell,
        kind=kind,
        method=method,
        synthesizer=extra.pop("synthesizer", None),
        ratio=extra.pop("ratio", None),
        real_rows=rows.height - synthetic,
        synthetic_rows=synthetic,
        holdout_version=lake.frame_fingerprint(holdout),
        validation_version=validation_version(validation_slice(real_train, protocol)),
        positive_label=positive if protocol.task is Task.binary else None,
        **extra,
    )


def train_cell(
    plan: Plan,
    task: Task,
    info: CellInfo,
    rows: pl.DataFrame,
    real_train: pl.DataFrame,
    holdout: pl.DataFrame,
    resample: Resample | None = None,
    estimator_overrides: dict[str, Any] | None = None,
) -> tuple[pl.DataFrame, CellFit | None]:
    """Train `rows` (a blend, or real rows) minus the real validation slice; score the holdout.
    Returns the cell's stored frame and the fit (None when untrainable)."""
    protocol = protocol_for(plan, task)
    validation = validation_slice(real_train, protocol)
    train = training_rows(rows, real_train, protocol)
    positive = positive_label(real_train, plan, task) if task is Task.binary else None
    try:
        fit = fit_cell(plan, protocol, train, validation, holdout, positive, resample, estimator_overrides)
    except TrainingError as exc:
        return cell_frame(info, protocol, None, untrainable=str(exc)), None
    return cell_frame(info, protocol, fit), fit


def with_checks(info: CellInfo, checks: list[dict], run_id: str = "") -> CellInfo:
    return replace(info, checks=checks, mlflow_run_id=run_id)
