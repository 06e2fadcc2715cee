"""Classical baselines: class weighting, random oversampling and SMOTE in the scorecard's grid."""

import dagster as dg
import polars as pl

from hybrid_data.column_types import decide_task
from hybrid_data.evaluation.baselines import train_baseline_cells
from hybrid_data.evaluation.cell_training import cell_version, reusable, stamp

from .resources import HybridDataSettings


@dg.asset(group_name="training", kinds={"scikitlearn", "polars"}, code_version="1")
def classical_baselines(
    context: dg.AssetExecutionContext,
    settings: HybridDataSettings,
    real_train: pl.DataFrame,
    real_holdout: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """The classic fixes for a rare class, trained on real rows only under the same protocol and judged on the
    same holdout as the blends: synthesis is worth its cost only if it beats these. Empty for regression."""
    plan, store = settings.plan, settings.lake
    task = decide_task(plan, real_train)
    version = cell_version(plan, task, real_train, real_holdout, extra=plan.evaluation.baselines)
    previous = store.read_frame("classical_baselines") if store.exists("classical_baselines") else None
    if reusable(previous, version):
        context.log.info("real data and protocol unchanged; reusing the stored baseline predictions")
        cells = previous
    else:
        cells = train_baseline_cells(plan, task, real_train, real_holdout)
        cells = stamp(cells, version) if cells.height else cells
    methods = cells.unique("cell", maintain_order=True) if cells.height else cells
    return dg.Output(
        cells,
        data_version=dg.DataVersion(version),
        metadata={
            "methods": ", ".join(methods["cell"].to_list()) if methods.height else "none (regression plan)",
            "status": dg.MetadataValue.json(
                dict(methods.select("cell", "status").iter_rows()) if methods.height else {}
            ),
            "reused": reusable(previous, version),
        },
    )
