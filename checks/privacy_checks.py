"""Attack-based privacy checks on every synthetic pool: singling out, linkability and inference risks measured
against real_holdout as the control (hybrid_data/privacy_attacks.py, docs/privacy.md).

The attacks run once, in the `privacy_risks` asset (assets/privacy.py); these checks judge its stored result,
one per risk family, so the UI shows pool -> privacy_risks -> checks. They warn by default; naming one in the
plan's `checks.blocking` makes it an error.
"""

import dagster as dg
import polars as pl

from assets.privacy import RISKS_ASSET, dp_budget
from assets.resources import HybridDataSettings
from hybrid_data.plan import Plan
from hybrid_data.privacy_attacks import AttackRisk, risks_from_frame
from hybrid_data.quality import CheckOutcome

from .outcomes import blocks, check_result

ATTACKS = {
    "pool_singling_out_risk": "Singling-out risk: predicates built on the synthetic rows that isolate exactly one "
    "real_train row, beyond how often they isolate one real_holdout row (univariate and multivariate).",
    "pool_linkability_risk": "Linkability risk: whether the synthetic rows join two parties' columns of the same "
    "real_train person, beyond how often they do so for real_holdout people.",
    "pool_inference_risk": "Attribute-inference risk: guessing each sensitive column of a real_train person from "
    "the nearest synthetic row on the auxiliary columns, beyond the same guess on real_holdout people.",
}
FAMILY = {
    "pool_singling_out_risk": "singling_out",
    "pool_linkability_risk": "linkability",
    "pool_inference_risk": "inference",
}


def attack_outcome(name: str, risks: list[AttackRisk], max_risk: float) -> CheckOutcome:
    """Passes while every risk of the family stays at or below `privacy.max_attack_risk`; the metadata names
    each attack, its control and its interval."""
    family = [r for r in risks if r.attack.startswith(FAMILY[name])]
    if not family:
        return CheckOutcome(True, f"{name}: not run (no columns for this attack in the plan's privacy section)", {})
    worst = max(family, key=lambda r: r.risk)
    metadata = {"max_attack_risk": max_risk, "worst_attack": worst.name, "worst_risk": round(worst.risk, 4)}
    for risk in family:
        metadata.update({f"{risk.name}.{key}": value for key, value in risk.metadata().items() if key != "attack"})
    return CheckOutcome(
        worst.risk <= max_risk,
        f"{FAMILY[name].replace('_', '-')} risk above the real_holdout control <= {max_risk:g} "
        "(privacy.max_attack_risk)",
        metadata,
    )


def build_privacy_checks(
    blend_partitions: dg.MultiPartitionsDefinition, loaded: Plan
) -> list[dg.AssetChecksDefinition]:
    synth_partitions = blend_partitions.get_partitions_def_for_dimension("synth")
    specs = [
        dg.AssetCheckSpec(
            name,
            asset=RISKS_ASSET,
            description=text,
            blocking=blocks(loaded, name),
            partitions_def=synth_partitions,
        )
        for name, text in ATTACKS.items()
    ]

    @dg.multi_asset_check(specs=specs, ins={RISKS_ASSET: dg.AssetIn(RISKS_ASSET)})
    def synthetic_pool_privacy_attacks(
        context: dg.AssetCheckExecutionContext, settings: HybridDataSettings, privacy_risks: pl.DataFrame
    ):
        """Whether an attacker holding this pool learns more about the people in real_train than about anyone
        (the holdout control), judged on the risks the privacy_risks asset measured."""
        plan = settings.plan
        synth = context.partition_key
        risks = risks_from_frame(privacy_risks)
        budget = dp_budget(settings.lake, synth) if synth == "dp_mst" else {}
        for name in ATTACKS:
            outcome = attack_outcome(name, risks, plan.privacy.max_attack_risk)
            if budget:
                outcome.metadata["dp_budget_spent"] = budget
            yield check_result(outcome, plan.checks.severity(name), check_name=name)

    return [synthetic_pool_privacy_attacks]
