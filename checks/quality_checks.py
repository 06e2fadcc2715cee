"""Warning checks on every blend: fidelity, privacy and tails of its synthetic rows against the real data.

Each group is one multi-check (one step that loads the blend and the real data once) with one result per
concept. Every check is declared blocking, and the plan's `checks.blocking` decides its severity: WARN lets
`blend_model` run, ERROR stops it.
"""

import dagster as dg
import polars as pl

from assets.partitions import partition_dims
from assets.resources import HybridDataSettings
from hybrid_data.fidelity import detection_auc, detection_outcome, quality_outcome, quality_score
from hybrid_data.privacy import dcr_outcome, nndr_outcome, privacy_scores
from hybrid_data.quality import CheckOutcome
from hybrid_data.tails import minority_share, rare_categories, tail_coverage

from .blend_checks import synthetic_rows
from .outcomes import check_result

FIDELITY = {
    "blend_fidelity_quality": "SDMetrics quality score of the synthetic rows against real_train, every column "
    "pair scored (the default report skips the weak pairs where a rare class shows).",
    "blend_detection_auc": "How well a discriminator tells synthetic rows from real ones (0.5: not at all).",
}
PRIVACY = {
    "blend_dcr_share": "Share of synthetic rows closer to real_train than to real_holdout (0.5 is ideal; higher "
    "means the generator memorised its training rows).",
    "blend_nndr": "Nearest/second-nearest real distance ratio: a low value singles out one real record.",
}
TAILS = {
    "blend_minority_share": "The minority class keeps its real share: neither removed nor inflated.",
    "blend_rare_categories": "Rare categories are covered and keep their real share.",
    "blend_tail_coverage": "Rows beyond each numeric column's real p1 and p99 keep their real share.",
}


def _specs(described: dict[str, str], partitions_def, deps: list[str]) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name,
            asset="blend",
            description=text,
            blocking=True,
            partitions_def=partitions_def,
            additional_deps=deps,
        )
        for name, text in described.items()
    ]


def _no_synthetic(name: str) -> CheckOutcome:
    return CheckOutcome(True, f"{name}: no synthetic rows in this blend (the real-only baseline)", {})


def _on_synthetic_rows(described: dict[str, str], blend: pl.DataFrame, score) -> dict[str, CheckOutcome]:
    """`score(synthetic rows)`, or a pass for each check when the blend has none (the real-only baseline)."""
    synthetic = synthetic_rows(blend)
    if synthetic.height == 0:
        return {name: _no_synthetic(name) for name in described}
    return score(synthetic)


def _report(context, settings: HybridDataSettings, plan, blend: pl.DataFrame, outcomes: dict[str, CheckOutcome]):
    """One result per check, at the severity the plan gives it, also recorded in the lake for MLflow."""
    record = (settings.lake, partition_dims(context), blend)
    for name, outcome in outcomes.items():
        yield check_result(outcome, plan.checks.severity(name), check_name=name, record=record)


def build_quality_checks(partitions_def: dg.MultiPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    real_train_in = dg.AssetIn("real_train")

    @dg.multi_asset_check(
        specs=_specs(FIDELITY, partitions_def, ["real_train"]), ins={"blend": "blend", "real_train": real_train_in}
    )
    def blend_fidelity_checks(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
    ):
        """Fidelity of the blend's synthetic rows to real_train."""
        plan = settings.load_plan()
        checks = plan.checks

        def score(synthetic: pl.DataFrame) -> dict[str, CheckOutcome]:
            rows = checks.fidelity_sample_rows
            quality = quality_score(real_train, synthetic, plan.target, rows, plan.seed)
            auc = detection_auc(real_train, synthetic, rows, plan.seed)
            return {
                "blend_fidelity_quality": quality_outcome(quality, checks.min_quality_score),
                "blend_detection_auc": detection_outcome(
                    auc, checks.max_detection_auc, min(rows, synthetic.height, real_train.height)
                ),
            }

        yield from _report(context, settings, plan, blend, _on_synthetic_rows(FIDELITY, blend, score))

    @dg.multi_asset_check(
        specs=_specs(PRIVACY, partitions_def, ["real_train", "real_holdout"]),
        ins={"blend": "blend", "real_train": real_train_in, "real_holdout": dg.AssetIn("real_holdout")},
    )
    def blend_privacy_checks(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
        real_holdout: pl.DataFrame,
    ):
        """Privacy of the blend's synthetic rows: distances to the rows the generator saw versus rows it never saw."""
        plan = settings.load_plan()
        checks = plan.checks

        def score(synthetic: pl.DataFrame) -> dict[str, CheckOutcome]:
            scores = privacy_scores(synthetic, real_train, real_holdout, checks.privacy_sample_rows, plan.seed)
            return {
                "blend_dcr_share": dcr_outcome(scores, checks.max_dcr_share),
                "blend_nndr": nndr_outcome(scores, checks.min_nndr_p05),
            }

        yield from _report(context, settings, plan, blend, _on_synthetic_rows(PRIVACY, blend, score))

    @dg.multi_asset_check(
        specs=_specs(TAILS, partitions_def, ["real_train"]), ins={"blend": "blend", "real_train": real_train_in}
    )
    def blend_tail_checks(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
    ):
        """The model-collapse guard: the whole blend keeps the real rare classes, rare categories and tails."""
        plan = settings.load_plan()
        checks = plan.checks
        tolerance = checks.tail_tolerance
        outcomes = {
            "blend_minority_share": minority_share(blend, real_train, plan.target, tolerance),
            "blend_rare_categories": rare_categories(
                blend, real_train, plan.target, checks.rare_category_share, tolerance
            ),
            "blend_tail_coverage": tail_coverage(blend, real_train, plan.target, tolerance),
        }
        yield from _report(context, settings, plan, blend, outcomes)

    return [blend_fidelity_checks, blend_privacy_checks, blend_tail_checks]
