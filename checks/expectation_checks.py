"""Great Expectations suites (generated from real_profile plus hand-written ones in checks/suites/) run on
every blend partition, with the failed expectations and their observed values in the check's metadata.

The check runs in the blend's quality step (checks/quality_checks.py); this module says what it is and
computes its outcome."""

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
from hybrid_data.quality import CheckOutcome

from .descriptions import TO_BLOCK, describe
from .outcomes import blocks

NAME = "blend_expectations"


def expectation_spec(partitions_def: dg.MultiPartitionsDefinition, loaded: Plan) -> dg.AssetCheckSpec:
    blocking = blocks(loaded, NAME)
    return dg.AssetCheckSpec(
        NAME,
        asset="blend",
        description=describe(NAME, loaded, blocking, TO_BLOCK),
        blocking=blocking,
        partitions_def=partitions_def,
        additional_deps=["real_profile"],
    )


def expectation_outcomes(
    settings: HybridDataSettings, blend: pl.DataFrame, real_profile: pl.DataFrame
) -> dict[str, tuple[CheckOutcome, str]]:
    """The blend meets the expectations the real data sets (columns, types, ranges, category domains, null
    rates, every target class) and any hand-written suite in checks/suites/."""
    plan = settings.plan
    suite = generate_suite(real_profile, plan.name, plan.target, plan.checks.range_margin)
    generated = write_generated_suite(suite, plan.name, settings.home_dir.root / "suites")
    suites = [(f"generated/{generated.name}", suite)]
    suites += [(path.name, spec) for path, spec in hand_written_suites(plan.name)]
    return {NAME: (expectations_outcome(run_suites(blend, suites)), plan.checks.severity(NAME))}
