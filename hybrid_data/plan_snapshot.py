"""Plan snapshots: the plan a run uses is pinned when it starts, so a plan edit mid-run cannot mix two plans.

A snapshot is the plan file's text (and the folder its relative paths resolve from) stored in the home folder
under its fingerprint, `<home>/plans/<fingerprint>.json`. A launcher (the CLI, a sensor) snapshots the plan and
tags the run with the fingerprint; every step of that run loads the snapshot by the tag. A run launched without
the tag (the UI's Materialize button) is pinned by its first step: the first fingerprint recorded for a run id
in `<home>/plans/runs/` wins, and every later step of the run loads that one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from hybrid_data.lake import replace_atomically
from hybrid_data.plan import PLAN_ENV, Plan, PlanError, parse_plan

PLANS_FOLDER = "plans"
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinnedPlan:
    """A validated plan and the fingerprint of the text it was parsed from."""

    plan: Plan
    fingerprint: str


def plan_fingerprint(text: str, base_dir: Path) -> str:
    return hashlib.sha256(json.dumps([text, str(base_dir)]).encode()).hexdigest()[:16]


def snapshot_path(home_root: Path, fingerprint: str) -> Path:
    """Where the home keeps the snapshot of the plan text with this fingerprint (it exists once a run used it)."""
    return home_root / PLANS_FOLDER / f"{fingerprint}.json"


def snapshot_plan(plan_file: Path | str, home_root: Path) -> PinnedPlan:
    """Read, validate and snapshot the plan file as it is now (an invalid plan raises PlanError, naming the field)."""
    path = Path(plan_file).expanduser().resolve()
    if not path.exists():
        raise PlanError(f"plan file {path} does not exist; set {PLAN_ENV} or run 'hybrid-data plan init'")
    text = path.read_text()
    plan = parse_plan(text, base_dir=path.parent, source=str(path))
    fingerprint = plan_fingerprint(text, path.parent)
    target = snapshot_path(home_root, fingerprint)
    record, problem = _read_snapshot(target, fingerprint)
    if record is None:
        if problem != "missing":
            _LOG.warning(f"plan snapshot {target} is {problem}: rewriting it from {path}")
        record_text = json.dumps({"text": text, "base_dir": str(path.parent), "source": str(path)})
        replace_atomically(target, lambda tmp: tmp.write_text(record_text))
    return PinnedPlan(plan, fingerprint)


def _read_snapshot(target: Path, fingerprint: str) -> tuple[dict | None, str]:
    """A snapshot's record, or None and why ("missing", or corrupt: its content does not hash to its name, as a
    partial write or a bad copy leaves it)."""
    try:
        record = json.loads(target.read_text())
        if plan_fingerprint(record["text"], Path(record["base_dir"])) == fingerprint:
            return record, "ok"
        return None, "corrupt (its content does not match its fingerprint)"
    except FileNotFoundError:
        return None, "missing"
    except (ValueError, KeyError, TypeError, OSError) as exc:
        return None, f"corrupt ({type(exc).__name__}: {exc})"


def load_snapshot(home_root: Path, fingerprint: str) -> PinnedPlan:
    """The plan a fingerprint names, exactly as it was snapshotted."""
    target = snapshot_path(home_root, fingerprint)
    record, problem = _read_snapshot(target, fingerprint)
    if record is None:
        raise PlanError(
            f"plan snapshot {target} is {problem}: this run was tagged with plan fingerprint {fingerprint} "
            f"but the home folder has {'no such' if problem == 'missing' else 'no usable'} snapshot; relaunch the "
            "run (launching rewrites the snapshot)"
        )
    return PinnedPlan(parse_plan(record["text"], Path(record["base_dir"]), source=record["source"]), fingerprint)


def pin_run(home_root: Path, run_id: str, fingerprint: str) -> str:
    """Record `fingerprint` as the plan of run `run_id` unless one is recorded already; returns the run's plan.

    The first writer wins (an exclusive create), so parallel steps of one run agree on one plan."""
    folder = home_root / PLANS_FOLDER / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / run_id
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return path.read_text().strip() or fingerprint
    with os.fdopen(fd, "w") as handle:
        handle.write(fingerprint)
    return fingerprint


def plan_for_run(plan_file: Path | str, home_root: Path, run_id: str | None, tagged: str | None) -> PinnedPlan:
    """The plan of one run: the tagged snapshot, else the one its first step pinned, else the file now."""
    if tagged:
        return load_snapshot(home_root, tagged)
    current = snapshot_plan(plan_file, home_root)
    if run_id is None:
        return current
    pinned = pin_run(home_root, run_id, current.fingerprint)
    return current if pinned == current.fingerprint else load_snapshot(home_root, pinned)
