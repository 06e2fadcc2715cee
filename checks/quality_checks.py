"""Warning checks on every blend: fidelity, privacy and tails of its synthetic rows against the real data.

Each group is one multi-check (one step that loads the blend and the real data once) with one result per
concept. A check is declared blocking, with severity ERROR, only when the plan's `checks.blocking` names it;
otherwise it warns and `blend_model` runs.
"""

import dagster as dg
import polars as pl

from assets.resources import HybridDataSettings
from hybrid_data.column_types import decide_task, decide_types
from hybrid_data.fidelity import detection_auc, detection_outcome, quality_outcome, quality_score
from hybrid_data.plan import Plan
from hybrid_data.privacy import dcr_outcome, nndr_outcome, privacy_scores
from hybrid_data.quality import CheckOutcome
from hybrid_data.tails import minority_share, rare_categories, tail_coverage

from .blend_checks import synthetic_rows
from .descriptions import TO_BLOCK, describe
from .outcomes import blocks, check_result

FIDELITY = ("blend_fidelity_quality", "blend_detection_auc")
PRIVACY = ("blend_dcr_share", "blend_nndr")
TAILS = ("blend_minority_share", "blend_rare_categories", "blend_tail_coverage")


def _specs(names: tuple[str, ...], partitions_def, deps: list[str], plan: Plan) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name,
            asset="blend",
            description=describe(name, plan, blocks(plan, name), TO_BLOCK),
            blocking=blocks(plan, name),
            partitions_def=partitions_def,
            additional_deps=deps,
        )
        for name in names
    ]


def _no_synthetic(name: str) -> CheckOutcome:
    return CheckOutcome(True, f"{name}: no synthetic rows in this blend (the real-only baseline)", {})


def _on_synthetic_rows(names: tuple[str, ...], blend: pl.DataFrame, score) -> dict[str, CheckOutcome]:
    """`score(synthetic rows)`, or a pass for each check when the blend has none (the real-only baseline)."""
    synthetic = synthetic_rows(blend)
    if synthetic.height == 0:
        return {name: _no_synthetic(name) for name in names}
    return score(synthetic)


def _report(context, settings: HybridDataSettings, plan, blend: pl.DataFrame, outcomes: dict[str, CheckOutcome]):
    """One result per check, at the severity the plan gives it."""
    for name, outcome in outcomes.items():
        yield check_result(outcome, plan.checks.severity(name), check_name=name)


def build_quality_checks(partitions_def: dg.MultiPartitionsDefinition, loaded: Plan) -> list[dg.AssetChecksDefinition]:
    real_train_in = dg.AssetIn("real_train")

    @dg.multi_asset_check(
        specs=_specs(FIDELITY, partitions_def, ["real_train"], loaded),
        ins={"blend": "blend", "real_train": real_train_in},
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
            quality = quality_score(real_train, synthetic, plan.target, rows, plan.seed, plan)
            auc = detection_auc(real_train, synthetic, rows, plan.seed)
            return {
                "blend_fidelity_quality": quality_outcome(quality, checks.min_quality_score),
                "blend_detection_auc": detection_outcome(
                    auc, checks.max_detection_auc, min(rows, synthetic.height, real_train.height)
                ),
            }

        yield from _report(context, settings, plan, blend, _on_synthetic_rows(FIDELITY, blend, score))

    @dg.multi_asset_check(
        specs=_specs(PRIVACY, partitions_def, ["real_train", "real_holdout"], loaded),
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

        yield from _report(context, settings, plan, blend, _on_synthetic_rows(PRIVACY, blend, score))

    @dg.multi_asset_check(
        specs=_specs(TAILS, partitions_def, ["real_train"], loaded), ins={"blend": "blend", "real_train": real_train_in}
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
        types = decide_types(real_train, plan)
        outcomes = {
            "blend_minority_share": minority_share(
                blend, real_train, plan.target, tolerance, decide_task(plan, real_train)
            ),
            "blend_rare_categories": rare_categories(
                blend, real_train, plan.target, checks.rare_category_share, tolerance, types
            ),
            "blend_tail_coverage": tail_coverage(blend, real_train, plan.target, tolerance, types),
        }
        yield from _report(context, settings, plan, blend, outcomes)

    return [blend_fidelity_checks, blend_privacy_checks, blend_tail_checks]
