"""Blocking checks on the real data as it arrives: a failure stops staging, so no blend is built from it."""

import dagster as dg
import polars as pl

from assets.resources import HybridDataSettings
from hybrid_data.ingest_checks import enough_rows, no_all_null_column, split_scorable, target_usable, unique_key
from hybrid_data.plan import Plan

from .outcomes import check_result

INGEST = {
    "real_source_target_usable": "The target column exists and, for classification, has at least two classes.",
    "real_source_enough_rows": "At least checks.min_rows real rows.",
    "real_source_no_all_null_column": "No column is entirely null.",
    "real_source_unique_key": "No duplicate key (holdout.key_columns; whole rows when unset, a warning only, "
    "since stg_real drops exact duplicates).",
}


def build_real_source_checks(plan: Plan) -> dg.AssetChecksDefinition:
    """The key check blocks only when the plan names key columns: without them it compares whole rows, and exact
    duplicates are dropped by stg_real anyway, so it warns (and the UI must not call it blocking)."""
    keyed = bool(plan.holdout.key_columns)
    specs = [
        dg.AssetCheckSpec(
            name, asset="real_source", description=text, blocking=keyed or name != "real_source_unique_key"
        )
        for name, text in INGEST.items()
    ]

    @dg.multi_asset_check(specs=specs, name="real_source_checks")
    def real_source_checks(settings: HybridDataSettings, real_source: pl.DataFrame):
        """Checks that make the real data usable at all."""
        plan = settings.plan
        keys = plan.holdout.key_columns
        outcomes = {
            "real_source_target_usable": (target_usable(real_source, plan), "ERROR"),
            "real_source_enough_rows": (enough_rows(real_source, plan.checks.min_rows), "ERROR"),
            "real_source_no_all_null_column": (no_all_null_column(real_source), "ERROR"),
            "real_source_unique_key": (unique_key(real_source, keys), "ERROR" if keys else "WARN"),
        }
        for name, (outcome, severity) in outcomes.items():
            yield check_result(outcome, severity, check_name=name)

    return real_source_checks


@dg.asset_check(
    asset="real_train",
    name="real_split_scorable",
    additional_ins={"real_holdout": dg.AssetIn("real_holdout")},
    blocking=True,
    description="Every class has checks.min_class_rows rows on both sides of the split, the holdout has "
    "checks.min_holdout_rows rows, and the task on real_train is the task of all real rows.",
)
def real_split_scorable(settings: HybridDataSettings, real_train: pl.DataFrame, real_holdout: pl.DataFrame):
    """Nothing is fitted or scored on a split that cannot give a meaningful score (no silent NaN metrics)."""
    return check_result(split_scorable(real_train, real_holdout, settings.plan), "ERROR")


def build_ingest_checks(plan: Plan) -> list[dg.AssetChecksDefinition]:
    """The checks on real data as it arrives and as it is split."""
    return [build_real_source_checks(plan), real_split_scorable]
