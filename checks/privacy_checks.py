"""Attack-based privacy checks on every synthetic pool: singling out, linkability and inference risks measured
against real_holdout as the control (hybrid_data/privacy_attacks.py, docs/privacy.md).

One multi-check per pool runs the attacks once and reports one result per risk family. They warn by default;
naming one in the plan's `checks.blocking` makes a failure stop the blends built from the pool. The risk figures
are also kept in the lake (`privacy_risks/synth=<name>`) as one small frame per synthesizer, for the scorecard's
privacy-utility frontier, and logged to the synthesizer's MLflow run when there is one.
"""

import dagster as dg
import polars as pl

from assets.resources import HybridDataSettings, MlflowTracking
from hybrid_data.lake import Lake
from hybrid_data.plan import Plan
from hybrid_data.privacy_attacks import AttackRisk, attack_report, risk_frame
from hybrid_data.quality import CheckOutcome

from .outcomes import blocks, check_result

RISKS_ASSET = "privacy_risks"
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


def dp_budget(store: Lake, synth: str) -> dict:
    """What a differentially private synthesizer's fit spent (its ledger), else nothing."""
    if not store.exists("synthesizer_model", {"synth": synth}):
        return {}
    fitted = store.read_object("synthesizer_model", {"synth": synth})
    ledger = getattr(getattr(fitted.synthesizer, "fitted", None), "ledger", None)
    return ledger.summary() if ledger is not None else {}


def _log_to_mlflow(mlflow: MlflowTracking, plan, synth: str, risks: list[AttackRisk], budget: dict) -> None:
    """The risks (and a DP fit's budget) as metrics of the synthesizer's latest MLflow run."""
    import mlflow as mlflow_api

    from hybrid_data.synthesizer_tracking import experiment_name
    from hybrid_data.tracking import use_tracking_uri

    use_tracking_uri(mlflow.tracking_uri)
    runs = mlflow_api.search_runs(
        [mlflow.experiment_id(experiment_name(plan.name))],
        filter_string=f"tags.`hybrid_data.synthesizer` = '{synth}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    if not runs:
        return
    client = mlflow_api.MlflowClient()
    run_id = runs[0].info.run_id
    for risk in risks:
        key = f"privacy.{risk.name.replace(':', '.')}"
        for suffix, value in (("risk", risk.risk), ("risk_low", risk.risk_low), ("risk_high", risk.risk_high)):
            client.log_metric(run_id, f"{key}.{suffix}", value)
        client.log_metric(run_id, f"{key}.control_rate", risk.control.value)
    client.set_tag(run_id, "privacy.control", "real_holdout (rows the synthesizer never saw)")
    for name in ("epsilon_spent", "delta_spent", "rho_spent"):
        if name in budget:
            client.log_metric(run_id, f"dp.{name}", budget[name])
    if budget:
        client.set_tag(run_id, "dp.privacy_unit", budget["privacy_unit"])


def build_privacy_checks(
    blend_partitions: dg.MultiPartitionsDefinition, loaded: Plan
) -> list[dg.AssetChecksDefinition]:
    synth_partitions = blend_partitions.get_partitions_def_for_dimension("synth")
    specs = [
        dg.AssetCheckSpec(
            name,
            asset="synthetic_pool",
            description=text,
            blocking=blocks(loaded, name),
            partitions_def=synth_partitions,
            additional_deps=["real_train", "real_holdout", "synthesizer_model"],
        )
        for name, text in ATTACKS.items()
    ]

    @dg.multi_asset_check(
        specs=specs,
        ins={
            "synthetic_pool": dg.AssetIn("synthetic_pool"),
            "real_train": dg.AssetIn("real_train"),
            "real_holdout": dg.AssetIn("real_holdout"),
        },
    )
    def synthetic_pool_privacy_attacks(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        mlflow: MlflowTracking,
        synthetic_pool: pl.DataFrame,
        real_train: pl.DataFrame,
        real_holdout: pl.DataFrame,
    ):
        """What an attacker holding this pool learns about the people in real_train, beyond what it learns about
        anyone (the holdout control)."""
        plan = settings.plan
        synth = context.partition_key
        risks = attack_report(real_train, synthetic_pool, real_holdout, plan.privacy, plan.target, plan.seed)
        budget = dp_budget(settings.lake, synth) if synth == "dp_mst" else {}
        epsilon = budget.get("epsilon_spent")
        settings.lake.write_frame(RISKS_ASSET, {"synth": synth}, risk_frame(risks, synth, epsilon))
        try:
            _log_to_mlflow(mlflow, plan, synth, risks, budget)
        except Exception as exc:  # noqa: BLE001 - tracking is a copy of what the check reports; never fail on it
            context.log.warning(f"privacy risks not logged to MLflow: {exc}")
        for name in ATTACKS:
            outcome = attack_outcome(name, risks, plan.privacy.max_attack_risk)
            if budget:
                outcome.metadata["dp_budget_spent"] = budget
            yield check_result(outcome, plan.checks.severity(name), check_name=name)

    return [synthetic_pool_privacy_attacks]
