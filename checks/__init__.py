"""Dagster asset checks on real data and blends; expectation suites live as files under checks/suites/."""

import dagster as dg

from checks.blend_checks import build_blend_checks
from checks.ingest_checks import build_ingest_checks
from checks.pool_checks import build_pool_checks
from checks.privacy_checks import build_privacy_checks
from checks.quality_checks import build_quality_checks
from hybrid_data.plan import Plan


def build_checks(blend_partitions: dg.MultiPartitionsDefinition, plan: Plan) -> list[dg.AssetChecksDefinition]:
    """Every asset check of the code location; the plan decides which warning checks block."""
    return [
        *build_ingest_checks(plan),
        *build_blend_checks(blend_partitions, plan),
        *build_quality_checks(blend_partitions, plan),
        *build_privacy_checks(blend_partitions, plan),
        *build_pool_checks(blend_partitions, plan),
    ]
