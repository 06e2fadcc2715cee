"""Attack-based privacy checks on every synthetic pool: singling out, linkability and inference risks measured
against real_holdout as the control (hybrid_data/privacy_attacks.py, docs/privacy.md).

The attacks run once, in the `privacy_risks` asset (assets/privacy.py); these checks judge its stored result,
one per risk family, so the UI shows pool -> privacy_risks -> checks. They warn by default; naming one in the
plan's `checks.blocking` makes it an error. `blend_attack_risks` carries the same judgement to every blend (its
synthetic rows; its real rows are counted as disclosed), where an error stops the blend's model.
"""

import dagster as dg
import polars as pl

from assets.privacy import RISKS_ASSET, dp_budget
from assets.resources import HybridDataSettings
from hybrid_data.blend_check_groups import synthetic_rows
from hybrid_data.plan import Plan
from hybrid_data.privacy_attacks import AttackRisk, BlendRisks, blend_risks, risks_from_frame
from hybrid_data.quality import CheckOutcome

from .descriptions import describe
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


def _failing(risks: list[AttackRisk], max_risk: float) -> list[str]:
    """The pool checks whose family has a risk above `max_risk`."""
    return [name for name in ATTACKS if any(r.attack.startswith(FAMILY[name]) and r.risk > max_risk for r in risks)]


def _interval(risk: AttackRisk) -> str:
    return f"{risk.risk:.3f} [{risk.risk_low:.3f}, {risk.risk_high:.3f}]"


MEASURED = {
    "none": "no synthetic rows: nothing synthesized to attack",
    "synthetic_pool": "the pool's report (privacy_risks): the blend's synthetic rows are the pool's first rows",
    "blend_synthetic_rows": "the attacks rerun on the blend's own synthetic rows (privacy.blend_attacks)",
    "not_measured": "not measured: the pool has no privacy_risks yet and privacy.blend_attacks is off",
}


def blend_attack_outcome(report: BlendRisks, pool_risks: list[AttackRisk] | None, max_risk: float) -> CheckOutcome:
    """Passes while every risk of the blend's synthetic rows stays at or below `privacy.max_attack_risk`; the
    metadata says what was attacked, how many real_train records the blend carries as they are, and, for a
    rerun, each risk beside the pool's."""
    share = report.real_rows_disclosed / max(report.real_train_rows, 1)
    metadata = {
        "attacked_with": MEASURED[report.attacked_with],
        "synthetic_rows": report.synthetic_rows,
        "pool_rows": report.pool_rows,
        "real_rows_disclosed": report.real_rows_disclosed,
        "real_train_share_disclosed": round(share, 4),
        "real_rows": "real_train records carried as they are: every attack on those people succeeds by "
        "construction, so share the blend like the real data; the risks below are what synthesis adds",
        "control": "real_holdout (real rows the synthesizer never saw)",
        "max_attack_risk": max_risk,
    }
    pool = {r.name: r for r in pool_risks or []}
    for risk in report.risks:
        metadata[f"{risk.name}.risk"] = f"{_interval(risk)} ({risk.confidence_level:.0%} interval)"
        if report.attacked_with == "blend_synthetic_rows" and risk.name in pool:
            other = pool[risk.name]
            overlap = risk.risk_low <= other.risk_high and other.risk_low <= risk.risk_high
            metadata[f"{risk.name}.pool_risk"] = _interval(other)
            metadata[f"{risk.name}.vs_pool"] = (
                "no detectable difference (intervals overlap)"
                if overlap
                else ("above" if risk.risk > other.risk else "below") + " the pool's"
            )
    failing = _failing(report.risks, max_risk)
    worst = max(report.risks, key=lambda r: r.risk, default=None)
    if worst is not None:
        metadata.update({"worst_attack": worst.name, "worst_risk": round(worst.risk, 4)})
    return CheckOutcome(
        not failing,
        f"attack risks of the blend's synthetic rows above the real_holdout control <= {max_risk:g} "
        f"(privacy.max_attack_risk); {metadata['attacked_with']}",
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


def blend_attack_spec(blend_partitions: dg.MultiPartitionsDefinition, loaded: Plan) -> dg.AssetCheckSpec:
    """`blend_attack_risks`, evaluated in the blend's quality step (checks/quality_checks.py)."""
    attacks_block = any(blocks(loaded, name) for name in ATTACKS)
    return dg.AssetCheckSpec(
        "blend_attack_risks",
        asset="blend",
        description=describe(
            "blend_attack_risks", loaded, attacks_block, f"add one of {', '.join(ATTACKS)} to `checks.blocking`"
        ),
        blocking=attacks_block,
        partitions_def=blend_partitions,
        additional_deps=[
            "real_train",
            "real_holdout",
            dg.AssetDep(RISKS_ASSET, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("synth")),
        ],
    )


def blend_attack_outcomes(
    settings: HybridDataSettings,
    synth: str,
    blend: pl.DataFrame,
    real_train: pl.DataFrame,
    real_holdout: pl.DataFrame,
) -> dict[str, tuple[CheckOutcome, str]]:
    """What an attacker holding this blend learns about real_train people from its synthetic rows, beyond
    the holdout control; an error (when the plan makes a pool attack check blocking) stops its model."""
    plan, lake = settings.plan, settings.lake
    pool = {"synth": synth}
    pool_risks = risks_from_frame(lake.read_frame(RISKS_ASSET, pool)) if lake.exists(RISKS_ASSET, pool) else None
    synthetic = synthetic_rows(blend)
    report = blend_risks(
        synthetic,
        blend.height - synthetic.height,
        lake.frame_rows("synthetic_pool", pool) or 0,
        pool_risks,
        real_train,
        real_holdout,
        plan.privacy,
        plan.target,
        plan.seed,
    )
    outcome = blend_attack_outcome(report, pool_risks, plan.privacy.max_attack_risk)
    failing = _failing(report.risks, plan.privacy.max_attack_risk)
    severity = "ERROR" if any(blocks(plan, name) for name in failing) else "WARN"
    return {"blend_attack_risks": (outcome, severity)}
