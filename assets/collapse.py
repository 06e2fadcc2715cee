"""The model-collapse study as assets: every generation's synthesizers and fit set per mode, and a report.

Dagster 1.13 lets an asset depend on its own earlier partitions only along a time dimension, so generations are
assets (`collapse_<mode>_g<NN>_synthesizer` / `_data`), each depending on the generation before it: the
lineage graph shows the recursion, and a single generation is inspected or recomputed by clicking it. Every
asset is partitioned by the study's synthesizer (a static partition set), and holds all repeats of its step.
Generation 0's synthesizer is fitted once and shared by every mode. The study has its own job and is not part
of `hybrid-data run`; `hybrid-data collapse` launches it (hybrid_data_dagster/launch.run_collapse_study).
"""

import base64
import hashlib
import tempfile
import time
from pathlib import Path

import dagster as dg
import polars as pl

from hybrid_data.collapse import (
    GENERATION,
    PROVENANCE,
    REAL_GENERATION,
    by_repeat,
    chart_files,
    conclude,
    fit_generation,
    frame_metrics,
    generation_rows,
    next_fit_set,
    real_rows,
    reference,
    sample_generation,
    study_metrics,
)
from hybrid_data.plan import Plan

from .metadata import frame_metadata, markdown_table
from .resources import HybridDataSettings, MlflowTracking

COLLAPSE_GROUP = "collapse_study"
COLLAPSE_JOB = "collapse_study_job"
FIRST_SYNTHESIZER = "collapse_g00_synthesizer"
REPORT = "collapse_report"
KINDS = {"sdv", "polars"}


def collapse_partitions(plan: Plan) -> dg.StaticPartitionsDefinition:
    """One partition per synthesizer of the study (plan collapse.synthesizers)."""
    return dg.StaticPartitionsDefinition([s.value for s in plan.collapse.synthesizers])


def generation_asset(mode: str, generation: int, kind: str) -> str:
    """The asset name of one generation: collapse_replace_g03_data, collapse_accumulate_g10_synthesizer."""
    return f"collapse_{mode}_g{generation:02d}_{kind}"


def _generation_metadata(fit_set: pl.DataFrame, real_train: pl.DataFrame, plan: Plan, generation: int) -> dict:
    """What a user inspecting one generation sees: its data metrics against real (mean over repeats), the size
    of the fit set the next generation uses, and how much of it is real."""
    ref = reference(real_train, None, plan)
    rows = generation_rows(fit_set, generation)
    per_repeat = [frame_metrics(frame, ref, with_columns=False) for frame in by_repeat(rows).values()]
    means = {name: sum(m[name] for m in per_repeat) / len(per_repeat) for name in per_repeat[0]}
    real_share = float((fit_set[GENERATION] == REAL_GENERATION).mean())
    return {
        **frame_metadata(fit_set.drop(PROVENANCE)),
        "generation": generation,
        "repeats": len(per_repeat),
        "synthetic_rows_per_repeat": rows.height // max(len(per_repeat), 1),
        "real_share_of_fit_set": round(real_share, 4),
        **{f"mean_{name}": round(value, 5) for name, value in means.items() if value == value},  # NaN: n/a
    }


def _fit_metadata(fitted: dict, seconds: float) -> dict:
    first = next(iter(fitted.values()))
    notes = sorted({note for f in fitted.values() for note in f.notes})
    return {
        "synthesizer": first.name,
        "repeats": len(fitted),
        "fit_seconds": round(seconds, 2),
        "device": first.device,
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "(none)"),
    }


def _build_first_generation(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=FIRST_SYNTHESIZER,
        group_name=COLLAPSE_GROUP,
        kinds={"sdv"},
        partitions_def=partitions_def,
        ins={"real_train": dg.AssetIn("real_train")},
    )
    def first_synthesizer(context: dg.AssetExecutionContext, settings: HybridDataSettings, real_train: pl.DataFrame):
        """Generation 0: one synthesizer per repeat fitted on a sample of the real rows; every mode starts from
        it, so the modes differ only by what they do next."""
        plan = settings.plan
        started = time.perf_counter()
        fitted = fit_generation(context.partition_key, real_rows(real_train, plan), plan, 0, context.log.info)
        return dg.Output(fitted, metadata=_fit_metadata(fitted, time.perf_counter() - started))

    return first_synthesizer


def _build_first_data(mode: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=generation_asset(mode, 0, "data"),
        group_name=COLLAPSE_GROUP,
        kinds=KINDS,
        partitions_def=partitions_def,
        ins={"fitted": dg.AssetIn(FIRST_SYNTHESIZER), "real_train": dg.AssetIn("real_train")},
        description=f"Generation 0's synthetic rows and, under {mode}, the rows generation 1 is fitted on.",
    )
    def first_data(context: dg.AssetExecutionContext, settings: HybridDataSettings, fitted, real_train: pl.DataFrame):
        plan = settings.plan
        real = real_rows(real_train, plan)
        fit_set = next_fit_set(mode, sample_generation(fitted, plan, 0), plan, previous=real, real=real)
        return dg.Output(fit_set, metadata=_generation_metadata(fit_set, real_train, plan, 0))

    return first_data


def _build_generation(mode: str, generation: int, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    synthesizer_key = dg.AssetKey(generation_asset(mode, generation, "synthesizer"))
    data_key = dg.AssetKey(generation_asset(mode, generation, "data"))
    previous_key = dg.AssetKey(generation_asset(mode, generation - 1, "data"))

    @dg.multi_asset(
        name=f"collapse_{mode}_g{generation:02d}",
        group_name=COLLAPSE_GROUP,
        partitions_def=partitions_def,
        ins={"previous": dg.AssetIn(previous_key), "real_train": dg.AssetIn("real_train")},
        outs={
            "synthesizer": dg.AssetOut(
                key=synthesizer_key,
                kinds={"sdv"},
                description=f"Generation {generation} under {mode}: one synthesizer per repeat, fitted on "
                f"generation {generation - 1}'s fit set.",
            ),
            "data": dg.AssetOut(
                key=data_key,
                kinds=KINDS,
                description=f"Generation {generation}'s synthetic rows and, under {mode}, the rows generation "
                f"{generation + 1} is fitted on.",
            ),
        },
        internal_asset_deps={
            "synthesizer": {previous_key},
            "data": {synthesizer_key, previous_key, dg.AssetKey("real_train")},
        },
    )
    def one_generation(
        context: dg.AssetExecutionContext, settings: HybridDataSettings, previous: pl.DataFrame, real_train
    ):
        plan = settings.plan
        started = time.perf_counter()
        fitted = fit_generation(context.partition_key, previous, plan, generation, context.log.info)
        yield dg.Output(fitted, "synthesizer", metadata=_fit_metadata(fitted, time.perf_counter() - started))
        synthetic = sample_generation(fitted, plan, generation)
        fit_set = next_fit_set(mode, synthetic, plan, previous=previous, real=real_rows(real_train, plan))
        yield dg.Output(fit_set, "data", metadata=_generation_metadata(fit_set, real_train, plan, generation))

    return one_generation


def _png_markdown(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f"![{path.stem}](data:image/png;base64,{encoded})"


def _build_report(plan: Plan, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    modes = [m.value for m in plan.collapse.modes]
    last = plan.collapse.generations
    inputs = {
        generation_asset(mode, g, "data"): dg.AssetIn(generation_asset(mode, g, "data"))
        for mode in modes
        for g in range(last + 1)
    }

    @dg.asset(
        name=REPORT,
        group_name=COLLAPSE_GROUP,
        kinds={"polars", "mlflow"},
        partitions_def=partitions_def,
        ins={**inputs, "real_train": dg.AssetIn("real_train"), "real_holdout": dg.AssetIn("real_holdout")},
        required_resource_keys={"settings", "mlflow"},
    )
    def collapse_report(context: dg.AssetExecutionContext, real_train, real_holdout, **fit_sets):
        """What recursive synthesis does to this data: every metric per mode and generation with 95% intervals
        over the repeats, a chart per metric, and a verdict per mode against the published shapes, logged as one
        MLflow run. The stored frame is every repeat's value (mode, generation, repeat, metric, value)."""
        settings: HybridDataSettings = context.resources.settings
        mlflow: MlflowTracking = context.resources.mlflow
        plan = settings.plan
        synth = context.partition_key
        ref = reference(real_train, real_holdout, plan)
        by_mode = {mode: [fit_sets[generation_asset(mode, g, "data")] for g in range(last + 1)] for mode in modes}
        metrics = study_metrics(by_mode, real_rows(real_train, plan), ref, context.log.info)
        result = conclude(synth, by_mode, metrics, ref.model_metric)
        lines = result.verdict_lines()
        with tempfile.TemporaryDirectory() as folder:
            charts = chart_files(result.summary, result.infos, Path(folder), f"{plan.name}, {synth}")
            overview = _png_markdown(charts[-1])
            run_id, run_link = _log_study(context, mlflow, plan, synth, result, charts)
        last_rows = result.summary.filter(
            pl.col("generation").is_in([REAL_GENERATION, 0, last]) & ~pl.col("metric").str.starts_with("column_")
        )
        return dg.Output(
            metrics,
            metadata={
                **frame_metadata(metrics),
                "charts": dg.MetadataValue.md(overview),
                "verdicts": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines)),
                "published_shapes": dg.MetadataValue.md("\n".join(f"- {line}" for line in result.shapes)),
                "summary": dg.MetadataValue.md(markdown_table(last_rows)),
                **{f"outcome/{v.mode}/{v.metric}": v.outcome for v in result.verdicts},
                "mlflow_run_id": run_id,
                "mlflow_run": run_link,
            },
        )

    return collapse_report


def _log_study(context, mlflow: MlflowTracking, plan: Plan, synth: str, result, charts: list[Path]):
    """One MLflow run per study: the settings, the last generation's means, the charts, the verdicts, and every
    mode's per-generation means and interval bounds as metric histories (step = generation)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from hybrid_data.tracking import log_run, retry_on_lock, run_url

    exp_id = mlflow.experiment_id(f"{plan.name}-collapse")
    headline = result.summary.filter(
        pl.col("metric").is_in(list(result.infos)) & (pl.col("mode") != "real") & pl.col("generation").ge(0)
    )
    final = headline.filter(pl.col("generation") == plan.collapse.generations)
    summary_csv = result.summary.write_csv()
    run_id = log_run(
        mlflow.tracking_uri,
        exp_id,
        f"collapse {synth}",
        params={"synthesizer": synth, **plan.collapse.model_dump(mode="json", exclude={"synthesizers"})},
        metrics={f"{r['mode']}/{r['metric']}/last": r["mean"] for r in final.iter_rows(named=True)},
        tags={
            "dagster.run_id": context.run_id,
            "dagster.partition_key": synth,
            "dagster.asset_key": context.asset_key.to_user_string(),
            "hybrid_data.plan": plan.name,
            "hybrid_data.synthesizer": synth,
            "hybrid_data.study": "collapse",
            "hybrid_data.metrics_digest": hashlib.sha256(summary_csv.encode()).hexdigest()[:16],
        },
        artifacts={
            "verdicts.md": "\n".join(f"- {line}" for line in [*result.verdict_lines(), *result.shapes]) + "\n",
            "summary.csv": summary_csv,
        },
        files=charts,
    )
    client = MlflowClient(mlflow.tracking_uri)
    now = int(time.time() * 1000)
    history = [
        Metric(f"{r['mode']}/{r['metric']}{suffix}", float(r[column]), now, int(r["generation"]))
        for r in headline.iter_rows(named=True)
        for suffix, column in (("", "mean"), ("/low", "low"), ("/high", "high"))
        if r[column] == r[column]  # NaN-free: MLflow stores NaN, but charts of it help nobody
    ]
    for start in range(0, len(history), 1000):  # MLflow takes at most 1000 metrics per batch
        chunk = history[start : start + 1000]
        retry_on_lock(lambda chunk=chunk: client.log_batch(run_id, metrics=chunk))
    return run_id, run_url(mlflow.tracking_uri, exp_id, run_id)


def build_collapse_assets(plan: Plan) -> list[dg.AssetsDefinition]:
    """Every asset of the study for the plan's collapse section (generations, modes, synthesizers)."""
    partitions_def = collapse_partitions(plan)
    modes = [m.value for m in plan.collapse.modes]
    assets = [_build_first_generation(partitions_def)]
    for mode in modes:
        assets.append(_build_first_data(mode, partitions_def))
        assets += [_build_generation(mode, g, partitions_def) for g in range(1, plan.collapse.generations + 1)]
    assets.append(_build_report(plan, partitions_def))
    return assets


def build_collapse_job(plan: Plan):
    from .jobs import step_executor

    return dg.define_asset_job(
        COLLAPSE_JOB,
        selection=dg.AssetSelection.groups(COLLAPSE_GROUP),
        partitions_def=collapse_partitions(plan),
        description="The model-collapse study for one synthesizer: generation 0, every mode's generations (the "
        "modes run side by side) and the report. Needs real_train and real_holdout in the lake.",
        executor_def=step_executor(),
    )
