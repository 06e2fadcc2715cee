"""Training one cell of the scorecard (a blend, real-only, TSTR or a classical baseline) under the protocol, and
recording it; a cell no model can learn from is recorded as untrainable instead of failing the run."""

from __future__ import annotations

import json
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


def cell_version(plan: Plan, task: Task, *frames: pl.DataFrame, extra: Any = None) -> str:
    """What a cell's result depends on: its input frames, the protocol, the audited groups. An unchanged version
    means the stored predictions (and MLflow run) can be reused instead of refitting."""
    return cell_version_of(plan, task, [lake.frame_fingerprint(f) for f in frames], extra)


def cell_version_of(plan: Plan, task: Task, frame_fingerprints: list[str], extra: Any = None) -> str:
    """`cell_version` from the frames' `frame_fingerprint`s (e.g. read from lake receipts) instead of the frames."""
    protocol = protocol_for(plan, task).as_dict()
    return lake.fingerprint(frame_fingerprints, protocol, plan.evaluation.groups, extra)


def reusable(previous: pl.DataFrame | None, version: str) -> bool:
    return (
        previous is not None
        and "cell_version" in previous.columns
        and previous.height > 0
        and (previous["cell_version"][0] == version)
    )


def stamp(frame: pl.DataFrame, version: str, checks: list[dict] | None = None, run_id: str | None = None):
    """The cell frame with its version, and the latest check records and MLflow run (which may change without
    the cell being refitted: a new check threshold changes a gate, not the model)."""
    columns = [pl.lit(version).alias("cell_version")]
    if checks is not None:
        columns.append(pl.lit(json.dumps(checks, default=str, sort_keys=True)).alias("checks"))
    if run_id is not None:
        columns.append(pl.lit(run_id).alias("mlflow_run_id"))
    return frame.with_columns(columns)


def train_blend_cell(
    plan: Plan,
    task: Task,
    synthesizer: str,
    ratio: float,
    blend: pl.DataFrame,
    real_train: pl.DataFrame,
    holdout: pl.DataFrame,
    checks: list[dict],
) -> tuple[pl.DataFrame, CellFit | None]:
    """A blend partition's cell: real-only at r = 0, TSTR at r = 1, a blend in between."""
    from hybrid_data.evaluation.bias import check_groups, group_shares
    from hybrid_data.evaluation.cells import blend_cell

    check_groups(plan.evaluation.groups, real_train, plan.target)
    protocol = protocol_for(plan, task)
    positive = positive_label(real_train, plan, task)
    name, kind = blend_cell(synthesizer, ratio)
    shares = group_shares(blend, real_train, plan.evaluation.groups, plan.target, positive)
    info = cell_info(
        name,
        kind,
        "synthesis" if ratio else "real_only",
        blend,
        real_train,
        holdout,
        protocol,
        positive,
        synthesizer=synthesizer,
        ratio=ratio,
        checks=checks,
        group_shares=shares,
    )
    return train_cell(plan, task, info, blend, real_train, holdout)


def headline_with_interval(
    cell: pl.DataFrame, holdout: pl.DataFrame, real_train: pl.DataFrame, plan: Plan, task: Task
) -> dict[str, float]:
    """A trained cell's metrics for its MLflow run, the primary metric first with its interval bounds
    (`pr_auc`, `pr_auc_ci_low`, `pr_auc_ci_high`, then the others). The interval is the scorecard's own: the same
    seeded holdout resamples and seed draws (evaluation.bootstrap, evaluation.confidence), so a run and its
    scorecard row agree. Empty for an untrainable cell."""
    from hybrid_data.evaluation.cells import TRAINED
    from hybrid_data.evaluation.metrics import PRIMARY_METRIC, metric
    from hybrid_data.evaluation.resampling import draw_resamples, percentile_interval
    from hybrid_data.evaluation.scorecard import holdout_truth, score_cell

    if cell.height == 0 or cell["status"][0] != TRAINED:
        return {}
    evaluation = plan.evaluation
    primary = metric(task, evaluation.primary_metric or PRIMARY_METRIC[task]).name
    truth = holdout_truth(holdout, real_train, plan.target, task)
    resamples = draw_resamples(holdout.height, evaluation.bootstrap, evaluation.repeats, plan.seed)
    point, spread = score_cell(cell.to_dicts(), truth, resamples)
    low, high = percentile_interval(spread[primary], evaluation.confidence)
    headline = {primary: point[primary], f"{primary}_ci_low": low, f"{primary}_ci_high": high}
    return headline | {name: value for name, value in point.items() if name != primary}


def run_description(cell: pl.DataFrame, plan: Plan, headline: dict[str, float], checks: list[dict]) -> str:
    """The MLflow run's description (Markdown, shown at the top of the run page): what was trained on what, the
    headline with its interval, and which checks did not pass."""
    first = cell.row(0, named=True)
    lines = [
        f"**{first['cell']}**: plan `{plan.name}`, {first['real_rows']} real + {first['synthetic_rows']} synthetic "
        f"rows ({plan.anchoring.mode}), {plan.model.kind}, {cell.height} seeded fit(s), scored on the real holdout.",
    ]
    if headline:
        primary, low, high = list(headline.items())[:3]
        level = round(plan.evaluation.confidence * 100)
        lines.append(f"{primary[0]} = {primary[1]:.4f} ({level}% interval {low[1]:.4f} to {high[1]:.4f}).")
    else:
        lines.append(f"Status: {first['status']} (no model trained).")
    failed = sorted(f"{r['check']} ({str(r['severity']).lower()})" for r in checks if not r["passed"])
    lines.append(f"Checks not passed: {', '.join(failed)}." if failed else "Every check passed.")
    lines.append("Per-check details: the `checks.json` table; the scorecard compares this cell with real-only.")
    return "\n\n".join(lines)
