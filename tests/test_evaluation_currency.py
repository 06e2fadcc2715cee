"""The scorecard uses only current cells: a mixed set of old and new stored cells gives a scorecard of the new ones,
with every old cell named and its reason; a failed cell is shown without its old numbers; nothing current fails
with what to materialize."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from hybrid_data import lake
from hybrid_data.evaluation.cells import protocol_fingerprint
from hybrid_data.evaluation.currency import (
    CurrentInputs,
    NoCurrentCells,
    StoredCell,
    current_baselines,
    select_current,
)
from hybrid_data.evaluation.protocol import protocol_for
from hybrid_data.evaluation.report import format_scorecard, markdown_scorecard
from hybrid_data.evaluation.scorecard import build_scorecard
from hybrid_data.plan import Task

from .test_evaluation_scorecard import binary_data, hand_cell, plan_for

BLOCKING_FAILED = {"check": "blend_real_share_above_floor", "passed": False, "severity": "ERROR", "metadata": {}}


@pytest.fixture(scope="module")
def grid():
    """Stored cells of one synthesizer at ratios 0, 0.25, 0.5, 0.75, 0.9, 1 (one per kind of currency)."""
    rng = np.random.default_rng(0)
    n = 400
    holdout, real_train, positive = binary_data(rng, n, 600, 0.2)
    plan = plan_for("label")
    protocol = protocol_for(plan, Task.binary)
    inputs = CurrentInputs(
        "plan-new", "train-new", lake.frame_fingerprint(holdout), protocol_fingerprint(protocol), "same"
    )

    def stored(name, kind, ratio, signal, version="v", checks=()):
        scores = [1 / (1 + np.exp(-(signal * positive + rng.normal(size=n) - 2))) for _ in range(2)]
        frame = hand_cell(name, kind, scores, holdout, protocol, checks=checks, synthetic_rows=0 if ratio == 0 else 50)
        return frame.with_columns(pl.lit(ratio).alias("ratio"), pl.lit(version).alias("cell_version"))

    old_holdout = stored("copula r=0.25", "blend", 0.25, 9.0).with_columns(pl.lit("old").alias("holdout_version"))
    cells = [
        StoredCell("copula", 0.0, stored("real only", "real_only", 0.0, 1.0), "v"),
        StoredCell("copula", 0.25, old_holdout, "v"),
        StoredCell("copula", 0.5, stored("copula r=0.5", "blend", 0.5, 2.0), "v"),
        StoredCell("copula", 0.75, stored("copula r=0.75", "blend", 0.75, 9.0, version="old"), "v"),
        StoredCell("copula", 0.9, stored("copula r=0.9", "blend", 0.9, 9.0, checks=[BLOCKING_FAILED]), "v"),
        StoredCell("copula", 1.0, stored("TSTR copula", "tstr", 1.0, 9.0), "v", "the latest run of blend_model failed"),
        StoredCell("copula", 0.6, None, None),
    ]
    return cells, inputs, holdout, real_train, plan


def test_old_cells_are_left_out_and_named(grid):
    cells, inputs, holdout, real_train, plan = grid
    selection = select_current(cells, inputs)
    states = {e.cell: (e.state, e.reason) for e in selection.excluded}
    assert states == {
        "copula r=0.25": ("stale", "scored on another version of real_holdout"),
        "copula r=0.75": ("stale", "its blend, real_train or the plan's audited groups changed since it was trained"),
        "copula r=0.9": ("failed", "its blend failed blocking checks: real_share_above_floor"),
        "TSTR copula": ("failed", "the latest run of blend_model failed"),
        "copula r=0.6": ("missing", "blend_model not materialized"),
    }
    card = build_scorecard(selection.cells, holdout, real_train, plan, Task.binary, inputs, selection.excluded)
    table = {r["cell"]: r for r in card.table.to_dicts()}
    assert list(table) == ["real only", "copula r=0.5", "copula r=0.9", "TSTR copula"]
    # the old cells' strong numbers (signal 9) appear nowhere: failed cells are rows without numbers
    for name in ("copula r=0.9", "TSTR copula"):
        assert table[name]["verdict"] == "failed" and table[name]["pr_auc"] is None
    assert table["copula r=0.5"]["pr_auc"] is not None
    assert "Failed (shown without numbers; rematerialize them): copula r=0.9, TSTR copula." in card.verdict
    text = format_scorecard(card)
    assert max(len(line) for line in text.splitlines()) <= 100
    text = " ".join(line.strip() for line in text.splitlines())
    assert "plan plan-new, real data" in text and f"real_holdout {inputs.holdout_version}" in text
    assert "copula r=0.75 (synth=copula, ratio=0.75): stale, its blend" in text
    assert "copula r=0.25" not in markdown_scorecard(card).split("Left out")[0]  # named only among the left out
    assert card.versions["hybrid_data.plan_fingerprint"] == "plan-new"


def test_no_current_real_only_fails_with_what_to_materialize(grid):
    cells, inputs, *_ = grid
    old_real = cells[0].frame.with_columns(pl.lit("other").alias("protocol_fingerprint"))
    with pytest.raises(NoCurrentCells, match=r"real only \(synth=copula, ratio=0\): stale, trained under other "):
        select_current([StoredCell("copula", 0.0, old_real, "v"), *cells[1:]], inputs)
    with pytest.raises(NoCurrentCells, match=r"Materialize blend \(and blend_model\) for synth=copula, ratio=0"):
        select_current([StoredCell("copula", 0.0, None, None)], inputs)


def test_stale_baseline_is_left_out_and_named(grid):
    cells, inputs, holdout, real_train, plan = grid
    real_only = cells[0].frame
    smote = real_only.with_columns(pl.lit("SMOTE").alias("cell"), pl.lit("baseline").alias("kind"))
    weights = smote.with_columns(pl.lit("class weighting").alias("cell"), pl.lit("x").alias("validation_version"))
    kept, excluded = current_baselines(pl.concat([smote, weights]), inputs)
    assert kept["cell"].unique().to_list() == ["SMOTE"]
    assert [e.text() for e in excluded] == [
        "class weighting (classical_baselines): stale, trained on another version of real_train"
    ]
