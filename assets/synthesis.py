"""Synthesis: one fitted synthesizer per generator and real-data version, and one pool sampled from it."""

import time

import dagster as dg
import polars as pl

from hybrid_data import lake
from hybrid_data.blending import pool_size
from hybrid_data.synthesis import fit_synthesizer, sample_pool

from .metadata import frame_metadata
from .resources import HybridDataSettings


def _sdv_version() -> str:
    from importlib.metadata import version

    return version("sdv")


def build_synthesis_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(group_name="synthesis", kinds={"sdv", "polars"}, partitions_def=partitions_def, code_version="1")
    def synthesizer_model(
        context: dg.AssetExecutionContext, settings: HybridDataSettings, real_train: pl.DataFrame
    ) -> dg.MaterializeResult:
        """A synthesizer fitted on real_train only (never the holdout). Fitted once per generator, settings and
        real-data version: rematerializing with nothing changed reuses the stored fit."""
        plan = settings.load_plan()
        name = context.partition_key
        folder = lake.partition_dir(settings.home_dir.lake, "synthesizer_model", {"synth": name})
        version = lake.fingerprint(
            lake.frame_fingerprint(real_train), name, plan.synthesis.model_dump(mode="json"), plan.seed, _sdv_version()
        )
        reused = lake.read_fingerprint(folder) == version and (folder / lake.OBJECT_FILE).exists()
        if reused:
            context.log.info(f"{name}: real data and settings unchanged, reusing the stored fit")
            fit_seconds = None
        else:
            fitted = fit_synthesizer(name, real_train, plan)
            for note in fitted.notes:
                context.log.warning(note)
            lake.write_object(folder, fitted)
            lake.write_fingerprint(folder, version)
            fit_seconds = round(fitted.fit_seconds, 2)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                "synthesizer": name,
                "reused_fit": reused,
                "fit_seconds": fit_seconds,
                "train_rows": real_train.height,
                "path": str(folder / lake.OBJECT_FILE),
            },
        )

    @dg.asset(
        group_name="synthesis",
        kinds={"sdv", "polars"},
        partitions_def=partitions_def,
        code_version="1",
        deps=[synthesizer_model],
    )
    def synthetic_pool(
        context: dg.AssetExecutionContext, settings: HybridDataSettings, real_train: pl.DataFrame
    ) -> dg.MaterializeResult:
        """Synthetic rows sampled once, enough for the plan's largest ratio; every blend takes its rows from here,
        so adding a smaller ratio never resamples."""
        plan = settings.load_plan()
        name = context.partition_key
        lake_root = settings.home_dir.lake
        model_folder = lake.partition_dir(lake_root, "synthesizer_model", {"synth": name})
        folder = lake.partition_dir(lake_root, "synthetic_pool", {"synth": name})
        rows = pool_size(plan, real_train.height)
        version = lake.fingerprint(lake.read_fingerprint(model_folder), rows, plan.seed)
        reused = lake.read_fingerprint(folder) == version and (folder / lake.FRAME_FILE).exists()
        started = time.perf_counter()
        if reused:
            context.log.info(f"{name}: model and pool size unchanged, reusing the stored pool")
            pool = lake.read_frame(folder)
        else:
            pool = sample_pool(lake.read_object(model_folder), rows, plan.seed)
            lake.write_frame(folder, pool)
            lake.write_fingerprint(folder, version)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                **frame_metadata(pool),
                "reused_pool": reused,
                "sample_seconds": round(time.perf_counter() - started, 2),
            },
        )

    return [synthesizer_model, synthetic_pool]
