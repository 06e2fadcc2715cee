"""Great Expectations suites (generated from real_profile plus hand-written ones in checks/suites/) run on
every blend partition, with the failed expectations and their observed values in the check's metadata."""

import dagster as dg
import polars as pl

from assets.resources import HybridDataSettings
from hybrid_data.expectations import (
    expectations_outcome,
    generate_suite,
    hand_written_suites,
    run_suites,
    write_generated_suite,
)
from hybrid_data.plan import Plan

from .descriptions import TO_BLOCK, describe
from .outcomes import blocks, check_result

NAME = "blend_expectations"


def build_expectation_checks(
    partitions_def: dg.MultiPartitionsDefinition, loaded: Plan
) -> list[dg.AssetChecksDefinition]:
    blocking = blocks(loaded, NAME)
    spec = dg.AssetCheckSpec(
        NAME,
        asset="blend",
        description=describe(NAME, loaded, blocking, TO_BLOCK),
        blocking=blocking,
        partitions_def=partitions_def,
        additional_deps=["real_profile"],
    )

    # a multi-check only to name the step after the check (an @asset_check's step is `blend_blend_expectations`)
    @dg.multi_asset_check(name=NAME, specs=[spec], ins={"blend": "blend", "real_profile": dg.AssetIn("real_profile")})
    def blend_expectations(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_profile: pl.DataFrame,
    ):
        """The blend meets the expectations the real data sets (columns, types, ranges, category domains, null
        rates, every target class) and any hand-written suite in checks/suites/."""
        plan = settings.plan
        suite = generate_suite(real_profile, plan.name, plan.target, plan.checks.range_margin)
        generated = write_generated_suite(suite, plan.name, settings.home_dir.root / "suites")
        suites = [(f"generated/{generated.name}", suite)]
        suites += [(path.name, spec) for path, spec in hand_written_suites(plan.name)]
        outcome = expectations_outcome(run_suites(blend, suites))
        yield check_result(outcome, plan.checks.severity(NAME), check_name=NAME)

    return [blend_expectations]
