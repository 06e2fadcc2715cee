"""Automation: sensors and schedules that keep the blends in step with the plan and the real data."""

import dagster as dg

from hybrid_data.plan import Plan


def build_automation(plan: Plan, blend_partitions: dg.MultiPartitionsDefinition) -> tuple[list, list]:
    """(sensors, schedules) for the code location."""
    return [], []
