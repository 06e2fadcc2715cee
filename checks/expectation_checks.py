"""Great Expectations suites (generated from real_profile plus hand-written ones in checks/suites/) run on
every blend partition, with the failed expectations and their observed values in the check's metadata."""

import dagster as dg
import polars as pl

from assets.partitions import partition_dims
from assets.resources import HybridDataSettings
from hybrid_data.expectations import (
    expectations_outcome,
    generate_suite,
    hand_written_suites,
    run_suites,
    write_generated_suite,
)

from .outcomes import check_result

NAME = "blend_expectations"


def build_expectation_checks(partitions_def: dg.MultiPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset="blend",
        name=NAME,
        blocking=True,
        partitions_def=partitions_def,
        additional_ins={"real_profile": dg.AssetIn("real_profile")},
    )
    def blend_expectations(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_profile: pl.DataFrame,
    ) -> dg.AssetCheckResult:
        """The blend meets the expectations the real data sets (columns, types, ranges, category domains, null
        rates, every target class) and any hand-written suite in checks/suites/."""
        plan = settings.plan
        suite = generate_suite(real_profile, plan.name, plan.target, plan.checks.range_margin)
        generated = write_generated_suite(suite, plan.name)
        suites = [(f"generated/{generated.name}", suite)]
        suites += [(path.name, spec) for path, spec in hand_written_suites(plan.name)]
        outcome = expectations_outcome(run_suites(blend, suites))
        record = (settings.lake, partition_dims(context), blend)
        return check_result(outcome, plan.checks.severity(NAME), check_name=NAME, record=record)

    return [blend_expectations]
