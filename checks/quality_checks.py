"""Warning checks on every blend: fidelity, privacy and tails of its synthetic rows against the real data.

Each group is one multi-check (one step that loads the blend and the real data once) with one result per
concept; what each computes is in hybrid_data/blend_check_groups.py. A check is declared blocking, with severity
ERROR, only when the plan's `checks.blocking` names it; otherwise it warns and `blend_model` runs.
"""

import dagster as dg
import polars as pl

from assets.resources import HybridDataSettings
from hybrid_data.blend_check_groups import (
    FIDELITY,
    PRIVACY,
    TAILS,
    fidelity_outcomes,
    privacy_outcomes,
    tail_outcomes,
)
from hybrid_data.plan import Plan
from hybrid_data.quality import CheckOutcome

from .descriptions import TO_BLOCK, describe
from .outcomes import blocks, check_result


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
        yield from _report(context, settings, plan, blend, fidelity_outcomes(blend, real_train, plan))

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
        yield from _report(context, settings, plan, blend, privacy_outcomes(blend, real_train, real_holdout, plan))

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
        yield from _report(context, settings, plan, blend, tail_outcomes(blend, real_train, plan))

    return [blend_fidelity_checks, blend_privacy_checks, blend_tail_checks]
