"""Verdicts: what each cell's comparison with real-only allows one to say, and the plan's answer in a sentence.

A verdict comes from the Holm-adjusted test of the cell's paired difference to real-only, never from which
cell scored highest on this one holdout: 'no detectable difference' is the honest answer when the interval
covers zero, and 'no ratio beat real-only' is a valid, useful result.
"""

from __future__ import annotations

from dataclasses import dataclass

HELPS = "helps"
NO_DIFFERENCE = "no detectable difference"
HURTS = "hurts"
UNTRAINABLE = "untrainable"
FAILED = "failed"  # the cell's latest run, or its blend's blocking check, failed: no numbers shown
BASELINE = "baseline"


def cell_verdict(difference: float, adjusted_p: float, alpha: float, higher_is_better: bool) -> str:
    """helps / hurts when the adjusted test rejects 'no difference', in the metric's good or bad direction."""
    if adjusted_p != adjusted_p:  # NaN: nothing was tested
        return NO_DIFFERENCE
    if adjusted_p >= alpha or difference == 0:
        return NO_DIFFERENCE
    return HELPS if (difference > 0) == higher_is_better else HURTS


@dataclass(frozen=True)
class CellOutcome:
    cell: str
    kind: str  # real_only, blend, tstr, baseline
    verdict: str
    gates_failed: tuple[str, ...] = ()


def _names(outcomes: list[CellOutcome]) -> str:
    return ", ".join(
        o.cell + (f" (failed checks: {', '.join(o.gates_failed)})" if o.gates_failed else "") for o in outcomes
    )


def plan_verdict(outcomes: list[CellOutcome], metric: str, confidence: float, comparisons: int) -> str:
    """The plan's answer in a few sentences: which blends help or hurt, then the classical fixes and TSTR."""
    by = {kind: [o for o in outcomes if o.kind == kind] for kind in ("blend", "baseline", "tstr")}
    blends = by["blend"]
    helping = [o for o in blends if o.verdict == HELPS]
    hurting = [o for o in blends if o.verdict == HURTS]
    untrained = [o for o in outcomes if o.verdict == UNTRAINABLE]
    failed = [o for o in outcomes if o.verdict == FAILED]
    blends = [o for o in blends if o.verdict not in (UNTRAINABLE, FAILED)]
    scope = f"{metric} on the real holdout, {confidence:.0%} level, Holm-adjusted over {comparisons} comparisons"
    if not blends:
        sentences = ["No blend with synthetic rows was scored."]
    elif helping:
        clean = [o for o in helping if not o.gates_failed]
        sentences = [f"Beat real-only: {_names(helping)} ({scope})."]
        if not clean:
            sentences.append("Every blend that helped failed a quality check: read its synthetic rows before using it.")
    else:
        sentences = [f"No ratio beat real-only on this data ({scope})."]
    if hurting:
        sentences.append(f"Worse than real-only: {_names(hurting)}.")
    for label, kind in (("Classical fixes", "baseline"), ("Trained on synthetic rows only (TSTR)", "tstr")):
        if by[kind]:
            parts = [f"{o.cell}: {o.verdict}" for o in by[kind] if o.verdict not in (UNTRAINABLE, FAILED)]
            if parts:
                sentences.append(f"{label} vs real-only: {'; '.join(parts)}.")
    if untrained:
        sentences.append(f"Untrainable: {', '.join(o.cell for o in untrained)}.")
    if failed:
        sentences.append(f"Failed (shown without numbers; rematerialize them): {', '.join(o.cell for o in failed)}.")
    return " ".join(sentences)
