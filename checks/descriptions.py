"""What each blend and pool check says about itself in the UI: what it measures, the threshold with the plan key
that sets it, and whether a failure blocks or only warns, so nobody has to read code to know why a dot is red."""

from __future__ import annotations

from dataclasses import dataclass

from hybrid_data.plan import Plan


@dataclass(frozen=True)
class CheckText:
    """`measures` says what is measured; `threshold(plan)` the pass rule with its plan keys and current values."""

    measures: str
    threshold: object  # Callable[[Plan], str]


def _c(plan: Plan, key: str) -> str:
    return f"`checks.{key}` = {getattr(plan.checks, key)}"


BLEND = {
    "blend_schema_matches_real": CheckText(
        "The blend's columns and their types against real_train's: a synthesizer that drops or retypes a column "
        "would train the model on something else.",
        lambda plan: "Passes when every real column is present with the real type (no threshold).",
    ),
    "blend_real_share_above_floor": CheckText(
        "The share of real rows in the blend: real data anchors every blend.",
        lambda plan: (
            f"Passes when the real share >= `anchoring.min_real_share` = {plan.anchoring.min_real_share}; "
            f"the pure-synthetic baseline (r = 1) is exempt when `anchoring.allow_synthetic_only_baseline` = "
            f"{plan.anchoring.allow_synthetic_only_baseline}."
        ),
    ),
    "blend_excludes_holdout": CheckText(
        "Real holdout rows found in the blend: a leaked holdout row makes every score on it optimistic.",
        lambda plan: (
            "Passes when no real row of the blend is a holdout row, and synthetic rows equal to holdout "
            f"rows stay within {_c(plan, 'max_copy_ratio')} x the chance level."
        ),
    ),
    "blend_no_exact_copies": CheckText(
        "Synthetic rows identical to a real training row in every column (a memorised record).",
        lambda plan: (
            f"Passes when distinct train rows copied <= {_c(plan, 'max_exact_copies')} + "
            f"{_c(plan, 'max_copy_ratio')} x the chance level measured on the holdout."
        ),
    ),
    "blend_expectations": CheckText(
        "The Great Expectations suites (generated from real_profile: columns, types, ranges, category domains, "
        "null rates, every target class; plus hand-written suites in checks/suites/).",
        lambda plan: (
            f"Passes when every expectation holds; ranges are the real min/max widened by "
            f"{_c(plan, 'range_margin')} of the range."
        ),
    ),
    "blend_fidelity_quality": CheckText(
        "SDMetrics quality score of the synthetic rows against real_train, every column pair scored (the "
        "default report skips the weak pairs where a rare class shows).",
        lambda plan: (
            f"Passes when the score >= {_c(plan, 'min_quality_score')} "
            f"(on up to {_c(plan, 'fidelity_sample_rows')} rows per side)."
        ),
    ),
    "blend_detection_auc": CheckText(
        "How well a discriminator tells the synthetic rows from real_train rows (cross-validated ROC AUC; "
        "0.5: not at all).",
        lambda plan: (
            f"Passes when the AUC <= {_c(plan, 'max_detection_auc')} "
            f"(on up to {_c(plan, 'fidelity_sample_rows')} rows per side)."
        ),
    ),
    "blend_dcr_share": CheckText(
        "Share of synthetic rows closer to real_train than to real_holdout (0.5 is ideal; higher means the "
        "generator memorised its training rows).",
        lambda plan: f"Passes when the share <= {_c(plan, 'max_dcr_share')}.",
    ),
    "blend_nndr": CheckText(
        "Nearest / second-nearest real distance ratio of the synthetic rows: a low value singles out one real record.",
        lambda plan: f"Passes when its 5th percentile >= {_c(plan, 'min_nndr_p05')}.",
    ),
    "blend_minority_share": CheckText(
        "The minority class's share in the blend against real_train (a regression target: its distribution, "
        "tails and median).",
        lambda plan: (
            f"Fails when the relative drift exceeds {_c(plan, 'tail_tolerance')} and the difference is "
            "beyond 3 standard errors."
        ),
    ),
    "blend_rare_categories": CheckText(
        "Rare categories (rarer than `checks.rare_category_share` of real rows): covered, each near its real share.",
        lambda plan: (
            f"Fails when coverage < 1 - {_c(plan, 'tail_tolerance')}, or a category's relative drift "
            f"exceeds the tolerance beyond 3 standard errors ({_c(plan, 'rare_category_share')})."
        ),
    ),
    "blend_tail_coverage": CheckText(
        "Rows beyond each numeric column's real p1 and p99, against their real share.",
        lambda plan: (
            f"Fails when a tail's relative drift exceeds {_c(plan, 'tail_tolerance')} and the difference "
            "is beyond 3 standard errors."
        ),
    ),
    "blend_attack_risks": CheckText(
        "Singling-out, linkability and inference risks of the blend's synthetic rows for real_train people, beyond "
        "the real_holdout control (the pool's privacy_risks, or a rerun with `privacy.blend_attacks`); the blend's "
        "real rows are counted as disclosed.",
        lambda plan: f"Passes when every risk <= `privacy.max_attack_risk` = {plan.privacy.max_attack_risk}.",
    ),
    "synthetic_pool_keeps_minority": CheckText(
        "Every real class, the minority first, in the synthesizer's pool against its real share (rare classes "
        "vanish first when a synthesizer degrades).",
        lambda plan: (
            "Passes when each class keeps >= `synthesis.min_minority_share_ratio` = "
            f"{plan.synthesis.min_minority_share_ratio} of its real share."
        ),
    ),
}


TO_BLOCK = "add its name to `checks.blocking` in the plan"


def severity_text(blocking: bool, to_block: str | None, stops: str) -> str:
    """Says what a failure does: for a blocking check, what it stops; for a warning, how to make it block."""
    if blocking:
        return f"**Blocking**: a failure (red, ERROR) stops {stops}."
    how = f" To make it block, {to_block}." if to_block else ""
    return f"**Warning**: a failure shows as WARN (yellow) and {stops} still runs.{how}"


def describe(
    name: str, plan: Plan, blocking: bool, to_block: str | None = None, stops: str = "this partition's blend_model"
) -> str:
    """The check's description as Dagster shows it: what it measures, its threshold and plan key, and severity."""
    text = BLEND[name]
    return f"{text.measures} {text.threshold(plan)} {severity_text(blocking, to_block, stops)}"
