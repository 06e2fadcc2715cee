"""Which plan edits make which asset partitions stale (hybrid_data_dagster/plan_settings.py), on plain plans."""

from __future__ import annotations

import pytest

from hybrid_data.plan import parse_plan
from hybrid_data_dagster.plan_settings import settings_changed

BASE = """
name: p
source: {path: a.csv}
target: y
synthesis: {synthesizers: [gaussian_copula, ctgan], epochs: 100, default_distribution: truncnorm}
model: {params: {max_iter: 30}}
"""


def plan():
    return parse_plan(BASE, base_dir=".")


@pytest.mark.parametrize(
    ("edit", "stale", "fresh"),
    [
        # a deep synthesizer's setting: only its own fit (and, through data versions, what follows it)
        (
            "synthesis: {synthesizers: [gaussian_copula, ctgan], epochs: 50}",
            [("synthesizer_model", "ctgan")],
            [("synthesizer_model", "gaussian_copula"), ("blend_model", "ctgan")],
        ),
        # a copula setting: only the copula's fit
        (
            "synthesis: {synthesizers: [gaussian_copula, ctgan], epochs: 100, default_distribution: beta}",
            [("synthesizer_model", "gaussian_copula")],
            [("synthesizer_model", "ctgan")],
        ),
        # the model: every blend model and the baselines, no blend, no fit
        (
            "model: {params: {max_iter: 60}}",
            [("blend_model", "ctgan"), ("classical_baselines", None)],
            [("blend", "ctgan"), ("synthesizer_model", "ctgan")],
        ),
        # a check threshold: the checks run again with the blend, nothing is refitted or retrained
        (
            "checks: {max_detection_auc: 0.9}",
            [("blend", "gaussian_copula")],
            [("blend_model", "gaussian_copula"), ("synthesizer_model", "gaussian_copula")],
        ),
        # a new ratio changes no stored output
        ("ratios: [0, 0.5, 0.6]", [], [("blend", "ctgan"), ("blend_model", "ctgan"), ("synthetic_pool", "ctgan")]),
    ],
)
def test_a_plan_edit_makes_stale_exactly_the_partitions_whose_settings_it_changes(edit, stale, fresh):
    """A plan edit makes stale the asset partitions whose settings it changes, and leaves the others fresh."""
    before = plan()
    lines = [line for line in BASE.strip().splitlines() if line.split(":")[0] != edit.split(":")[0]]
    after = parse_plan("\n".join([*lines, edit]), base_dir=".")
    for asset, synth in stale:
        assert settings_changed(asset, {"synth": synth} if synth else {}, before, after), (asset, synth)
    for asset, synth in fresh:
        assert not settings_changed(asset, {"synth": synth} if synth else {}, before, after), (asset, synth)


def test_an_unknown_past_plan_leaves_staleness_to_dagster():
    """Without the plan a partition was made with (a run launched outside hybrid-data), only Dagster's code and
    data versions decide."""
    assert not settings_changed("synthesizer_model", {"synth": "ctgan"}, None, plan())
