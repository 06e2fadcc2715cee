"""The blend's check groups as plain functions: which core outcome each check calls with which plan settings.

The Dagster checks (checks/blend_checks.py, checks/quality_checks.py) and benchmarks/bench_overhead.py's plain loop
both call these, so a plan setting wired into a check (e.g. `privacy.exhaustive_max_pairs`) reaches both.
Each returns {check name: CheckOutcome}.
"""

from __future__ import annotations

import polars as pl

from hybrid_data.column_types import decide_task, decide_types
from hybrid_data.fidelity import detection_auc, detection_outcome, quality_outcome, quality_score
from hybrid_data.plan import Plan
from hybrid_data.privacy import dcr_outcome, exact_copies_outcome, nndr_outcome, privacy_scores, real_pairs
from hybrid_data.quality import CheckOutcome, holdout_isolation, real_share_floor, schema_matches
from hybrid_data.source import ORIGIN_COLUMN
from hybrid_data.tails import minority_share, rare_categories, tail_coverage

CORRECTNESS = (
    "blend_schema_matches_real",
    "blend_real_share_above_floor",
    "blend_excludes_holdout",
    "blend_no_exact_copies",
)
FIDELITY = ("blend_fidelity_quality", "blend_detection_auc")
PRIVACY = ("blend_dcr_share", "blend_nndr")
TAILS = ("blend_minority_share", "blend_rare_categories", "blend_tail_coverage")


def synthetic_rows(blend: pl.DataFrame) -> pl.DataFrame:
    return blend.filter(pl.col(ORIGIN_COLUMN) == "synthetic").drop(ORIGIN_COLUMN)


def correctness_outcomes(
    blend: pl.DataFrame, real_train: pl.DataFrame, real_holdout: pl.DataFrame, ratio: float, plan: Plan
) -> dict[str, CheckOutcome]:
    """Real schema, real share above the floor, no holdout row, no memorised training row. The real rows' own
    collisions are measured once for the holdout and copy checks."""
    checks, anchoring = plan.checks, plan.anchoring
    synthetic = synthetic_rows(blend)
    real = real_pairs(real_train, real_holdout, [c for c in real_train.columns if c in synthetic.columns])
    return {
        "blend_schema_matches_real": schema_matches(blend, real_train),
        "blend_real_share_above_floor": real_share_floor(
            blend, ratio, anchoring.min_real_share, anchoring.allow_synthetic_only_baseline
        ),
        "blend_excludes_holdout": holdout_isolation(blend, real_holdout, real_train, checks.max_copy_ratio, real),
        "blend_no_exact_copies": exact_copies_outcome(
            synthetic, real_train, checks.max_exact_copies, real_holdout, checks.max_copy_ratio, real=real
        ),
    }


def _no_synthetic(names: tuple[str, ...]) -> dict[str, CheckOutcome]:
    return {n: CheckOutcome(True, f"{n}: no synthetic rows in this blend (the real-only baseline)", {}) for n in names}


def fidelity_outcomes(blend: pl.DataFrame, real_train: pl.DataFrame, plan: Plan) -> dict[str, CheckOutcome]:
    """Fidelity of the blend's synthetic rows to real_train (a pass for each when there are none)."""
    synthetic, checks = synthetic_rows(blend), plan.checks
    if synthetic.height == 0:
        return _no_synthetic(FIDELITY)
    rows = checks.fidelity_sample_rows
    quality = quality_score(real_train, synthetic, plan.target, rows, plan.seed, plan)
    auc = detection_auc(real_train, synthetic, rows, plan.seed)
    return {
        "blend_fidelity_quality": quality_outcome(quality, checks.min_quality_score),
        "blend_detection_auc": detection_outcome(
            auc, checks.max_detection_auc, min(rows, synthetic.height, real_train.height)
        ),
    }


def privacy_outcomes(
    blend: pl.DataFrame, real_train: pl.DataFrame, real_holdout: pl.DataFrame, plan: Plan
) -> dict[str, CheckOutcome]:
    """Distances of the blend's synthetic rows to the rows the generator saw versus rows it never saw."""
    synthetic, checks = synthetic_rows(blend), plan.checks
    if synthetic.height == 0:
        return _no_synthetic(PRIVACY)
    scores = privacy_scores(
        synthetic,
        real_train,
        real_holdout,
        checks.privacy_sample_rows,
        plan.seed,
        exclude=() if plan.privacy.distance_include_target else (plan.target,),
        exhaustive_max_rows=plan.privacy.exhaustive_max_rows,
        exhaustive_max_pairs=plan.privacy.exhaustive_max_pairs,
    )
    return {
        "blend_dcr_share": dcr_outcome(scores, checks.max_dcr_share),
        "blend_nndr": nndr_outcome(scores, checks.min_nndr_p05),
    }


def tail_outcomes(blend: pl.DataFrame, real_train: pl.DataFrame, plan: Plan) -> dict[str, CheckOutcome]:
    """The model-collapse guard: the whole blend keeps the real rare classes, rare categories and tails."""
    checks, target = plan.checks, plan.target
    tolerance, types = checks.tail_tolerance, decide_types(real_train, plan)
    return {
        "blend_minority_share": minority_share(blend, real_train, target, tolerance, decide_task(plan, real_train)),
        "blend_rare_categories": rare_categories(
            blend, real_train, target, checks.rare_category_share, tolerance, types
        ),
        "blend_tail_coverage": tail_coverage(blend, real_train, target, tolerance, types),
    }
