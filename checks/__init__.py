"""Dagster asset checks on real data and blends; expectation suites live as files under checks/suites/."""

import dagster as dg

from checks.blend_checks import build_blend_checks


def build_checks(blend_partitions: dg.MultiPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Every asset check of the code location."""
    return [*build_blend_checks(blend_partitions)]
