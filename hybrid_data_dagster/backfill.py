"""`hybrid-data backfill`: one asset backfill of the blend grid, handed to the daemon like the UI's own."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from hybrid_data.home import Home
from hybrid_data.plan import Plan, PlanError, Ratio, ratio_key
from hybrid_data.plan_snapshot import snapshot_plan
from hybrid_data_dagster import use_code_location

use_code_location()

from assets.automation import grid_partitions, run_tags  # noqa: E402 (needs the code location on the path)
from assets.dagster_private import backfill_state, backfill_subset  # noqa: E402
from assets.dagster_private import submit_backfill as submit_asset_backfill  # noqa: E402
from assets.partitions import add_ratio_partitions  # noqa: E402


def submit_backfill(
    plan_file: Path,
    home: Home,
    synths: list[str] | None = None,
    ratios: list[str] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> str:
    """Submit one asset backfill of the blend grid (default: every synthesizer x ratio of the plan), with any
    upstream that is missing or too small, to the home instance; the daemon runs it through the run queue.
    Returns the backfill id."""
    from definitions import build_definitions

    pinned = snapshot_plan(plan_file, home.root)
    plan = pinned.plan
    unknown = sorted(set(synths or []) - set(plan.synthesizer_names))
    if unknown:
        raise ValueError(f"synthesizer(s) {unknown} are not in the plan ({', '.join(plan.synthesizer_names)})")
    ratio_keys = validated_ratio_keys(plan, ratios, plan_file) if ratios else plan.ratio_keys
    instance = instance or dg.DagsterInstance.get()
    add_ratio_partitions(instance, ratio_keys)
    asset_graph = build_definitions(plan_file, home).resolve_asset_graph()
    partitions = grid_partitions(asset_graph, plan, synths or plan.synthesizer_names, ratio_keys, home.open_lake())
    tags = run_tags("cli", "cli_backfill", pinned)
    title = f"hybrid-data backfill: {len(ratio_keys)} ratio(s)"
    return submit_asset_backfill(instance, asset_graph, backfill_subset(asset_graph, partitions), tags, title)


def validated_ratio_keys(plan: Plan, ratios: list[str], plan_file: Path) -> list[str]:
    """The partition keys of ratios given on the command line, checked exactly like the plan's ratios (the
    `Ratio` type's range and the anchoring floor) before any partition is added: an added partition stays."""
    from pydantic import TypeAdapter, ValidationError

    keys = []
    for raw in ratios:
        try:
            ratio = TypeAdapter(Ratio).validate_python(float(raw))
        except (ValueError, ValidationError):
            raise PlanError(
                f"--ratio {raw}: a ratio is the share of synthetic rows in a blend, a number from 0 to 1 (e.g. 0.25); "
                "nothing was added"
            ) from None
        if not plan.anchoring.allows(ratio):
            raise PlanError(
                f"--ratio {raw} leaves a real share of {1 - ratio:g}, below anchoring.min_real_share="
                f"{plan.anchoring.min_real_share:g} in {plan_file}; lower the ratio or the floor. Nothing was added"
            )
        keys.append(ratio_key(ratio))
    return keys


def daemon_running(instance: dg.DagsterInstance, within_seconds: float = 120.0) -> bool:
    """Whether a dagster-daemon (alone or inside `dagster dev`) heartbeat reached this instance recently."""
    beats = instance.get_daemon_heartbeats()
    beat = beats.get("BACKFILL") or beats.get("SENSOR")
    return beat is not None and time.time() - beat.timestamp < within_seconds


def wait_for_backfill(
    instance: dg.DagsterInstance, backfill_id: str, timeout: float, say: Callable[[str], None] = print
) -> int:
    """Poll a backfill until it is done; print run counts as they change. 0 when every run succeeded."""
    deadline = time.time() + timeout
    shown = None
    while True:
        status, finished, succeeded = backfill_state(instance, backfill_id)
        runs = instance.get_runs(filters=dg.RunsFilter.for_backfill(backfill_id))
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.status.value] = counts.get(run.status.value, 0) + 1
        summary = f"  backfill {backfill_id}: {status}; runs " + (
            ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "none yet"
        )
        if summary != shown:
            say(summary)
            shown = summary
        if finished:
            return 0 if succeeded and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs) else 1
        if time.time() > deadline:
            say(f"  still running after {timeout:.0f}s; follow it in the UI (Overview > Backfills)")
            return 1
        time.sleep(2.0)
