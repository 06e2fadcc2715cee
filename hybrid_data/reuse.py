"""What to reuse and what to redo: pure decisions over plain values, each returning its answer and why.

The assets gather the inputs (stored fingerprints, row counts, MLflow lookups) and act on the answer; keeping the
rules here lets them be tested in milliseconds and read in one place:
- `fit_decision`: is the stored synthesizer fit current?
- `pool_decision`: how many rows must the synthetic pool gain, and does the stored one survive?
- `tracked_run_decision`: is there an MLflow run for this fingerprint already?
- `real_data_decision`: does the real-data stage have to run again (with `real_data_fingerprint`)?
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybrid_data.lake import fingerprint


@dataclass(frozen=True)
class Decision:
    """An answer (`redo` or not) and the reason, as metadata for the UI."""

    redo: bool
    reason: str
    metadata: dict[str, Any] = field(default_factory=dict)


def fit_decision(stored_fingerprint: str | None, wanted_fingerprint: str, stored_ok: bool) -> Decision:
    """Refit unless the stored fit was made from the same real data and fit settings and its file is intact."""
    if stored_fingerprint is None or not stored_ok:
        return Decision(True, "no usable stored fit (missing or corrupt)", {"reused_fit": False})
    if stored_fingerprint != wanted_fingerprint:
        return Decision(True, "real data or fit settings changed since the stored fit", {"reused_fit": False})
    return Decision(False, "real data and fit settings unchanged: reusing the stored fit", {"reused_fit": True})


@dataclass(frozen=True)
class PoolPlan:
    """How the synthetic pool is brought to size: keep `kept` stored rows, sample `to_sample` more from row
    offset `kept` (each top-up has its own seed offset, so rows already in blends never change)."""

    kept: int
    to_sample: int
    reason: str

    @property
    def metadata(self) -> dict[str, Any]:
        return {"rows_kept": self.kept, "rows_sampled_now": self.to_sample, "reused_pool": self.to_sample == 0}


def pool_decision(stored_fingerprint: str | None, wanted_fingerprint: str, stored_rows: int | None, needed: int):
    """A pool built from another fit or sampling setting starts over; a matching one is kept and topped up to
    `needed` rows; one at least that big is reused whole (a smaller plan never shrinks it: blends take its head)."""
    if stored_rows is None or stored_fingerprint != wanted_fingerprint:
        return PoolPlan(0, needed, "no pool from this fit and these sampling settings: sampling it")
    if stored_rows >= needed:
        return PoolPlan(stored_rows, 0, f"pool of {stored_rows} rows covers the {needed} needed: reusing it")
    return PoolPlan(stored_rows, needed - stored_rows, f"topping the pool up from {stored_rows} to {needed} rows")


def tracked_run_decision(existing_run_id: str | None) -> Decision:
    """Log a new MLflow run only when none carries this fingerprint: identical inputs, identical run."""
    if existing_run_id is None:
        return Decision(True, "no MLflow run for this fingerprint: logging one", {"reused_run": False})
    return Decision(False, f"reusing MLflow run {existing_run_id}", {"reused_run": True})


def real_data_decision(recorded: str | None, current: str | None, stage_missing_or_stale: bool) -> Decision:
    """Rerun the real-data stage when any of it is missing or stale, when the source or the plan settings it
    reads changed (`current` differs from what the last real_source run recorded), or when the source cannot be
    fingerprinted cheaply (`current` None: a database query), which only a run can tell."""
    if stage_missing_or_stale:
        return Decision(True, "part of the real-data stage is missing or stale")
    if current is None:
        return Decision(True, "the source is a query: only reading it tells whether it changed")
    if recorded != current:
        return Decision(True, "the source or the plan's source settings changed")
    return Decision(False, "source and source settings unchanged")


def source_file(plan) -> Path | None:
    """The file the real data is read from (a CSV/Parquet source, or a SQL source's database file), if any."""
    path = plan.source_path
    if path is None and plan.source.database:
        database = Path(os.path.expanduser(plan.source.database))
        path = database if database.is_absolute() else Path(plan.base_dir) / database
    return path if path is not None and path.exists() else None


def real_data_fingerprint(plan, source_sha256: str | None) -> str | None:
    """What the real-data stage is built from: the source's content and the plan settings it reads (source,
    dropped columns, target, task, holdout, seed). None when the content cannot be hashed (a query)."""
    if source_sha256 is None:
        return None
    settings = plan.model_dump(include={"source", "drop_columns", "target", "task", "holdout", "seed"}, mode="json")
    return fingerprint(source_sha256, settings)
