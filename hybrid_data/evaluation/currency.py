"""Which stored cells a scorecard may use: only those built from the current real data under the current plan,
and not overtaken by a failed run. A cell left out is named with its reason and the partition to rematerialize,
so a scorecard never shows an old number as if it were current (the stale-results fault of issue 15)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hybrid_data import lake
from hybrid_data.evaluation.cells import TRAINED, blend_cell, failed_cell, protocol_fingerprint, validation_version
from hybrid_data.evaluation.gates import gate_status, short_name
from hybrid_data.plan import Plan, Task, ratio_key

FAILED, STALE, MISSING = "failed", "stale", "missing"


class NoCurrentCells(ValueError):
    """Nothing current to judge: the message names the partitions to materialize."""


@dataclass(frozen=True)
class CurrentInputs:
    """What every cell the scorecard uses must have been built from."""

    plan_fingerprint: str
    real_train_version: str
    holdout_version: str
    protocol_fingerprint: str
    validation_version: str

    @property
    def real_data_version(self) -> str:
        """One version for the real data (real_train and real_holdout together)."""
        return lake.fingerprint(self.real_train_version, self.holdout_version)

    def describe(self) -> str:
        return (
            f"plan {self.plan_fingerprint}, real data {self.real_data_version} "
            f"(real_train {self.real_train_version}, real_holdout {self.holdout_version})"
        )

    def tags(self) -> dict[str, str]:
        """The versions as MLflow tags (the keys blend_model's runs use for their inputs)."""
        return {
            "hybrid_data.plan_fingerprint": self.plan_fingerprint,
            "hybrid_data.data_version.real": self.real_data_version,
            "hybrid_data.data_version.real_train": self.real_train_version,
            "hybrid_data.data_version.real_holdout": self.holdout_version,
        }


def current_inputs(plan: Plan, plan_fingerprint: str, task: Task, real_train: pl.DataFrame, holdout: pl.DataFrame):
    from hybrid_data.evaluation.protocol import protocol_for, validation_slice

    protocol = protocol_for(plan, task)
    return CurrentInputs(
        plan_fingerprint=plan_fingerprint,
        real_train_version=lake.frame_fingerprint(real_train),
        holdout_version=lake.frame_fingerprint(holdout),
        protocol_fingerprint=protocol_fingerprint(protocol),
        validation_version=validation_version(validation_slice(real_train, protocol)),
    )


@dataclass(frozen=True)
class StoredCell:
    """One blend_model partition of the plan's grid as the scorecard finds it."""

    synthesizer: str
    ratio: float
    frame: pl.DataFrame | None  # as stored (None: never materialized)
    expected_version: str | None  # the cell version its current blend and real data give (None: no blend stored)
    failure: str | None = None  # the latest run failed, or its blend failed a blocking check (from Dagster)

    @property
    def partition(self) -> str:
        return f"synth={self.synthesizer}, ratio={ratio_key(self.ratio)}"


@dataclass(frozen=True)
class Exclusion:
    """A cell the scorecard does not judge, and why."""

    cell: str
    partition: str  # the blend_model partition (or asset) to rematerialize
    state: str  # failed | stale | missing
    reason: str

    def text(self) -> str:
        return f"{self.cell} ({self.partition}): {self.state}, {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"cell": self.cell, "partition": self.partition, "state": self.state, "reason": self.reason}


def input_mismatch(row: dict, current: CurrentInputs) -> str | None:
    """Whether a stored cell was scored and trained on the current holdout, protocol and real_train slice."""
    if row.get("holdout_version") != current.holdout_version:
        return "scored on another version of real_holdout"
    if row.get("protocol_fingerprint") != current.protocol_fingerprint:
        return "trained under other evaluation settings than the current plan's"
    if row.get("validation_version") != current.validation_version:
        return "trained on another version of real_train"
    return None


def stale_reason(row: dict, expected_version: str | None, current: CurrentInputs) -> str | None:
    """Why a stored blend cell is not current (None: it is). The first difference found, most specific first."""
    mismatch = input_mismatch(row, current)
    if mismatch:
        return mismatch
    if expected_version is None:
        return "its blend is no longer in the lake"
    if row.get("cell_version") != expected_version:
        return "its blend, real_train or the plan's audited groups changed since it was trained"
    return None


def blocking_failure(row: dict) -> str | None:
    """The blend's failed blocking checks, from the cell's own check records (None: none failed)."""
    import json

    errors = gate_status(json.loads(row.get("checks") or "[]")).errors
    return f"its blend failed blocking checks: {', '.join(map(short_name, errors))}" if errors else None


@dataclass
class Selection:
    cells: pl.DataFrame  # current cells, plus one failed row (no numbers) per failed cell
    excluded: list[Exclusion]


def select_current(stored: list[StoredCell], current: CurrentInputs) -> Selection:
    """Keep the current cells; turn failed ones into rows without numbers; leave stale and missing ones out,
    each named. Raises NoCurrentCells when no current, trained real-only cell remains to judge against."""
    kept, excluded = [], []
    for item in stored:
        name, kind = blend_cell(item.synthesizer, item.ratio)
        row = item.frame.row(0, named=True) if item.frame is not None and item.frame.height else None
        failure = item.failure or (blocking_failure(row) if row else None)
        if failure:
            excluded.append(Exclusion(name, item.partition, FAILED, failure))
            kept.append(failed_cell(name, kind, item.synthesizer, item.ratio, failure))
            continue
        if row is None:
            excluded.append(Exclusion(name, item.partition, MISSING, "blend_model not materialized"))
            continue
        reason = stale_reason(row, item.expected_version, current)
        if reason:
            excluded.append(Exclusion(name, item.partition, STALE, reason))
            continue
        kept.append(item.frame)
    cells = pl.concat(kept, how="diagonal_relaxed") if kept else pl.DataFrame()
    real_only = cells.filter((pl.col("kind") == "real_only") & (pl.col("status") == TRAINED)) if kept else cells
    if real_only.height == 0:
        raise NoCurrentCells(_nothing_current(excluded, current))
    return Selection(cells, excluded)


def _nothing_current(excluded: list[Exclusion], current: CurrentInputs) -> str:
    real_only = [e for e in excluded if e.cell == "real only"]
    listing = "; ".join(e.text() for e in (real_only or excluded)[:6]) or "no blend_model partition in the plan"
    partitions = sorted({e.partition for e in real_only}) or ["synth=<each>, ratio=0"]
    return (
        f"no current real-only cell to judge the blends against ({listing}). Materialize blend (and blend_model) "
        f"for {' and '.join(partitions)} with the current plan and real data ({current.describe()}), e.g. the "
        "blend_grid job, then the scorecard"
    )


def current_baselines(cells: pl.DataFrame, current: CurrentInputs) -> tuple[pl.DataFrame, list[Exclusion]]:
    """Classical baselines trained under another protocol, validation slice or holdout are left out and named
    (they are an extra that blend backfills do not refresh)."""
    excluded, keep = [], []
    for (name,), frame in cells.group_by("cell", maintain_order=True):
        reason = input_mismatch(frame.row(0, named=True), current) if frame["status"][0] == TRAINED else None
        if reason:
            excluded.append(Exclusion(name, "classical_baselines", STALE, reason))
        else:
            keep.append(name)
    return cells.filter(pl.col("cell").is_in(keep)), excluded
