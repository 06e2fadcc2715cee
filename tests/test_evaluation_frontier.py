"""The privacy-utility frontier joins each synthesizer's (and epsilon's) utility with its pool's attack risks, both
with intervals; absent or unreadable risk frames become a note, never an error."""

from __future__ import annotations

import polars as pl
import pytest

from hybrid_data.evaluation.frontier import (
    NOT_COMPUTED,
    build_frontier,
    frontier_png,
    markdown_frontier,
    plotted_points,
)
from hybrid_data.evaluation.scorecard import Scorecard
from hybrid_data.plan import Task
from hybrid_data.privacy_attacks import _risk, risk_frame


def card_of(rows: list[tuple]) -> Scorecard:
    """A scorecard table with only what the frontier reads: (cell, kind, synthesizer, verdict, pr_auc)."""
    table = pl.DataFrame(
        [
            {
                "cell": c,
                "kind": k,
                "synthesizer": s,
                "verdict": v,
                "pr_auc": m,
                "pr_auc_low": None if m is None else m - 0.05,
                "pr_auc_high": None if m is None else m + 0.05,
            }
            for c, k, s, v, m in rows
        ]
    )
    return Scorecard(Task.binary, "pr_auc", True, 0.95, table, "", "", 100, 2, 50)


CARD = card_of(
    [
        ("real only", "real_only", "copula", "baseline", 0.50),
        ("copula r=0.25", "blend", "copula", "no detectable difference", 0.52),
        ("copula r=0.5", "blend", "copula", "helps", 0.60),
        ("TSTR copula", "tstr", "copula", "hurts", 0.40),
        ("dp_mst r=0.5", "blend", "dp_mst", "no detectable difference", 0.48),
        ("TSTR dp_mst", "tstr", "dp_mst", "failed", None),
        ("ctgan r=0.5", "blend", "ctgan", "hurts", 0.30),
    ]
)


def risks(synth: str, epsilon: float | None, leaked: int) -> pl.DataFrame:
    """The pool privacy checks' own frame (privacy_attacks.risk_frame): the contract the frontier reads."""
    attacks = [
        _risk("linkability", "a|b", 200, (leaked, 200), (10, 200), (5, 200), 0.95),
        _risk("singling_out_univariate", "", 200, (leaked // 2, 200), (10, 200), (5, 200), 0.95),
    ]
    return risk_frame(attacks, synth, epsilon)


def test_frontier_joins_utility_and_risk_per_synthesizer_and_epsilon(tmp_path):
    dp = pl.concat([risks("dp_mst", 1.0, 30), risks("dp_mst", 0.1, 12)])
    frames = {"copula": risks("copula", None, 120), "dp_mst": dp, "ctgan": None}
    frontier = build_frontier(CARD, frames)
    rows = {(r["synthesizer"], r["epsilon"]): r for r in frontier.table.to_dicts()}
    assert set(rows) == {("copula", None), ("dp_mst", 1.0), ("dp_mst", 0.1), ("ctgan", None)}
    copula = rows[("copula", None)]
    assert copula["best_blend"] == "copula r=0.5" and copula["blend_pr_auc"] == pytest.approx(0.60)
    assert copula["tstr_pr_auc"] == pytest.approx(0.40) and copula["worst_risk_name"] == "linkability"
    assert copula["worst_risk_low"] < copula["worst_risk"] < copula["worst_risk_high"]
    assert rows[("dp_mst", 1.0)]["worst_risk"] > rows[("dp_mst", 0.1)]["worst_risk"]
    assert rows[("dp_mst", 0.1)]["tstr_pr_auc"] is None  # its TSTR cell failed: no old number
    assert rows[("ctgan", None)]["worst_risk"] is None and frontier.notes == [f"ctgan: {NOT_COMPUTED}"]
    text = markdown_frontier(frontier)
    assert "| copula | - | 0.400 [0.350, 0.450] | 0.600 [0.550, 0.650] (copula r=0.5) |" in text
    assert "| dp_mst | 0.1 |" in text and "ctgan: privacy risks not computed: run the pool privacy checks" in text
    assert len(plotted_points(frontier)) == 3
    frontier_png(frontier, tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").stat().st_size > 10_000


def test_absent_or_unreadable_risks_are_a_note_not_an_error():
    frontier = build_frontier(
        CARD, {"copula": OSError("checksum mismatch"), "dp_mst": pl.DataFrame({"synthesizer": ["dp_mst"]})}
    )
    assert plotted_points(frontier) == []
    assert frontier.notes == [
        "copula: privacy risks unreadable (checksum mismatch); rerun the pool privacy checks",
        "dp_mst: privacy risk frame lacks columns ['risk', 'risk_low', 'risk_high']; rerun the pool privacy checks",
    ]
    assert "| copula | - | 0.400 [0.350, 0.450] |" in markdown_frontier(frontier)


def test_risks_at_another_epsilon_than_the_plans_are_left_out():
    dp = pl.concat([risks("dp_mst", 1.0, 30), risks("dp_mst", 0.1, 12)])
    frontier = build_frontier(CARD, {"dp_mst": dp}, epsilons={"dp_mst": 1.0, "copula": None})
    assert [(r["synthesizer"], r["epsilon"]) for r in plotted_points(frontier)] == [("dp_mst", 1.0)]
    assert "dp_mst: risks measured at epsilon [0.1] left out, the plan's is 1.0" in frontier.notes[0]
