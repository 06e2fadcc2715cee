"""The scorecard: every cell judged against real-only with intervals and verdicts, in the Dagster UI and MLflow."""

import dagster as dg
import polars as pl

from hybrid_data import lake
from hybrid_data.column_types import decide_task
from hybrid_data.evaluation.currency import (
    MISSING,
    CurrentInputs,
    Exclusion,
    StoredCell,
    current_baselines,
    current_inputs,
    select_current,
)
from hybrid_data.evaluation.frontier import build_frontier, frontier_png, markdown_frontier, plotted_points
from hybrid_data.evaluation.mlflow_records import scorecard_runs
from hybrid_data.evaluation.report import inline_png, markdown_full_scorecard, markdown_scorecard, scorecard_png
from hybrid_data.evaluation.scorecard import build_scorecard, save_scorecard
from hybrid_data.lake import CorruptInLake, Lake
from hybrid_data.plan import SynthesizerName
from hybrid_data.tracking import FINGERPRINT_TAG, find_run, log_nested_runs

from .check_status import current_check_records
from .dagster_private import check_evaluations_of_run
from .metadata import markdown_table
from .partitions import blend_partitions, dims_key, synth_partitions
from .resources import HybridDataSettings, MlflowTracking

RISKS_ASSET = "privacy_risks"  # the contract with the pool privacy checks (checks/privacy_checks.py)


def _latest_failures(instance: dg.DagsterInstance, plan, partitions: list[dict[str, str]]) -> dict[str, str]:
    """Per blend partition key, why its latest attempt does not stand: the latest run of its synthesizer, pool,
    blend or model failed (Dagster's partition status, as the UI's grid shows it), or its latest blend
    materialization failed a blocking check (Dagster's own check records)."""
    failures: dict[str, str] = {}
    keys = {str(dims_key(d)): d for d in partitions}
    layers = (
        ("synthesizer_model", synth_partitions(plan), lambda d: d["synth"]),
        ("synthetic_pool", synth_partitions(plan), lambda d: d["synth"]),
        ("blend", blend_partitions(plan), lambda d: str(dims_key(d))),
        ("blend_model", blend_partitions(plan), lambda d: str(dims_key(d))),
    )
    for asset, partitions_def, key_of in layers:
        wanted = sorted({key_of(d) for d in keys.values()})
        # None when Dagster keeps no status for this partition set: no failure known, the versions still decide
        status = instance.get_status_by_partition(dg.AssetKey(asset), wanted, partitions_def) or {}
        for key, dims in keys.items():
            state = status.get(key_of(dims))
            if key not in failures and state is not None and state.value == "FAILED":
                failures[key] = f"the latest run of {asset} ({key_of(dims)}) failed"
    for key in keys:
        if key in failures:
            continue
        found = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("blend"), asset_partitions=[key]), limit=1
        ).records
        if found:
            records = current_check_records(
                check_evaluations_of_run(instance, found[0].run_id), key, found[0].storage_id
            )
            blocked = [r["check"] for r in records if not r["passed"] and r["severity"] == "ERROR"]
            if blocked:
                failures[key] = f"its latest blend failed blocking checks: {', '.join(blocked)}"
    return failures


def stored_cells(instance, store: Lake, plan, task, real_train: pl.DataFrame, holdout: pl.DataFrame):
    """Every cell of the plan's grid as stored, with the version its current blend and real data would give it
    and any failure Dagster recorded since. A blend's content fingerprint comes from its lake receipt: reading
    every blend back to hash it took 9.3 GB at 1M real rows."""
    from hybrid_data.evaluation.cell_training import cell_version_of

    grid = [{"synth": s, "ratio": r} for s in plan.synthesizer_names for r in plan.ratio_keys]
    failures = _latest_failures(instance, plan, grid) if instance is not None else {}
    real = [lake.frame_fingerprint(real_train), lake.frame_fingerprint(holdout)]
    cells = []
    for dims in grid:
        failure, frame, expected = failures.get(str(dims_key(dims))), None, None
        try:
            if not failure and store.exists("blend_model", dims):
                frame = store.read_frame("blend_model", dims)
            if frame is not None and store.exists("blend", dims):
                blend = store.content_fingerprint("blend", dims)
                blend = blend or lake.frame_fingerprint(store.read_frame("blend", dims))  # receipts before 2026-11-28
                expected = cell_version_of(plan, task, [blend, *real])
        except CorruptInLake as exc:  # one damaged file fails its cell, not the whole scorecard
            failure, frame = f"a stored file is unreadable: {exc}", None
        cells.append(StoredCell(dims["synth"], float(dims["ratio"]), frame, expected, failure))
    return cells


def collect_cells(instance, store: Lake, plan, task, real_train, holdout, inputs: CurrentInputs):
    """The current cells of the plan's grid and the current classical baselines, with every cell left out."""
    selection = select_current(stored_cells(instance, store, plan, task, real_train, holdout), inputs)
    cells, excluded = selection.cells, list(selection.excluded)
    if store.exists("classical_baselines"):
        baselines, stale = current_baselines(store.read_frame("classical_baselines"), inputs)
        cells, excluded = pl.concat([cells, baselines], how="diagonal_relaxed"), excluded + stale
    else:
        excluded.append(Exclusion("classical fixes", "classical_baselines", MISSING, "not materialized"))
    return cells, excluded


def risk_frames(store: Lake, plan) -> dict[str, pl.DataFrame | Exception | None]:
    """Each synthesizer's privacy risk frame (written by the pool privacy checks), None when not computed, the
    error when unreadable: the frontier says which, the scorecard does not fail on it."""
    frames: dict[str, pl.DataFrame | Exception | None] = {}
    for synth in plan.synthesizer_names:
        dims = {"synth": synth}
        try:
            frames[synth] = store.read_frame(RISKS_ASSET, dims) if store.exists(RISKS_ASSET, dims) else None
        except Exception as exc:  # a corrupt or foreign file: reported in the frontier, never fatal here
            frames[synth] = exc
    return frames


@dg.asset(
    group_name="training", kinds={"polars", "mlflow"}, deps=["blend_model", "classical_baselines"], code_version="3"
)
def blend_scorecard(
    context: dg.AssetExecutionContext,
    settings: HybridDataSettings,
    mlflow: MlflowTracking,
    real_train: pl.DataFrame,
    real_holdout: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """The answer to "do synthetic rows help my model, and at which ratio?": every cell (blends, real-only,
    TSTR, classical fixes) with its metric, 95% interval, paired difference to real-only (Holm-adjusted) and a
    verdict, its blend's check status, a plan-level verdict, a bias audit, and a chart. One MLflow parent run per
    scorecard version with a nested run per cell; an unchanged scorecard logs nothing new."""
    plan, store = settings.plan, settings.lake
    task = decide_task(plan, real_train)
    inputs = current_inputs(plan, settings.plan_fingerprint, task, real_train, real_holdout)
    cells, excluded = collect_cells(context.instance, store, plan, task, real_train, real_holdout, inputs)
    card = build_scorecard(cells, real_holdout, real_train, plan, task, inputs, excluded)
    save_scorecard(card, store)
    chart = store.publish("blend_scorecard", None, "scorecard.png", lambda tmp: scorecard_png(card, tmp))
    full_table = {"scorecard.csv": card.table.write_csv(), "scorecard.md": markdown_full_scorecard(card)}
    for name, text in full_table.items():
        store.write_bytes("blend_scorecard", None, name, text.encode())
    dp_epsilon = plan.synthesis.dp.epsilon if plan.synthesis.dp else None
    epsilons = {s: dp_epsilon if s == SynthesizerName.dp_mst.value else None for s in plan.synthesizer_names}
    frontier = build_frontier(card, risk_frames(store, plan), epsilons)
    frontier_md = markdown_frontier(frontier)
    drawn = bool(plotted_points(frontier))
    if drawn:
        frontier_chart = store.publish("blend_scorecard", None, "frontier.png", lambda tmp: frontier_png(frontier, tmp))
    version = lake.fingerprint(
        lake.frame_fingerprint(cells),
        plan.evaluation.model_dump(),
        plan.target,
        task.value,
        card.versions,
        excluded,
        frontier_md,
    )
    exp_id = mlflow.experiment_id(plan.name)
    existing = find_run(mlflow.tracking_uri, exp_id, version)
    if existing is not None:
        context.log.info(f"scorecard unchanged since MLflow run {existing.info.run_id}; not logging a duplicate")
        run_id = existing.info.run_id
    else:
        tags = {"hybrid_data.plan": plan.name, "dagster.run_id": context.run_id, FINGERPRINT_TAG: version}
        tags.update(card.versions)
        files = [chart, *([frontier_chart] if drawn else [])]
        artifacts = {
            "frontier.md": frontier_md,
            **({"frontier.csv": frontier.table.write_csv()} if frontier.table.height else {}),
        }
        parent, children = scorecard_runs(card, cells, tags, files, artifacts)
        run_id = log_nested_runs(mlflow.tracking_uri, exp_id, parent, children)
    failed_cells = card.table.filter(pl.col("failed_gates") != "")["cell"].to_list()
    metadata = {
        "dagster/row_count": card.table.height,
        "verdict": card.verdict,
        "scorecard": dg.MetadataValue.md(markdown_scorecard(card)),
        "primary_metric": card.metric,
        "protocol": card.protocol,
        "cells_failing_checks": ", ".join(failed_cells) or "none",
        "built_from": card.built_from,
        **card.versions,
        "excluded_cells": dg.MetadataValue.md(
            markdown_table(pl.DataFrame(card.excluded)) if card.excluded else "none: every planned cell is current"
        ),
        "chart": dg.MetadataValue.md(inline_png(chart)),
        "chart_file": dg.MetadataValue.path(str(chart)),
        "full_table": dg.MetadataValue.path(str(store.path("blend_scorecard", None, "scorecard.csv"))),
        "privacy_utility_frontier": dg.MetadataValue.md(
            frontier_md + (f"\n\n{inline_png(frontier_chart)}" if drawn else "")
        ),
        "mlflow_run_id": run_id,
        "mlflow_reused": existing is not None,
    }
    if plan.evaluation.groups:
        warned = card.bias.filter(pl.col("warning") != "") if card.bias.height else card.bias
        metadata["bias_warnings"] = len(card.bias_warnings)
        metadata["bias_audit"] = dg.MetadataValue.md(
            markdown_table(warned.head(50)) if warned.height else "no warnings"
        )
    return dg.Output(card.table, metadata=metadata)
