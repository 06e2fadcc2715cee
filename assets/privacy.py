"""Privacy risks of every synthetic pool: the attacks (singling out, linkability, inference) run once per pool
and stored, so the pool's privacy checks, the blends' privacy checks and the scorecard read one result.

The frame is kept in the lake under `privacy_risks/synth=<name>` (the scorecard's privacy-utility frontier reads
it there; columns are only ever added) and logged to the synthesizer's MLflow run. docs/privacy.md says what
each risk means.
"""

import dagster as dg
import polars as pl

from hybrid_data.lake import Lake

from .metadata import markdown_table
from .resources import HybridDataSettings, MlflowTracking

RISKS_ASSET = "privacy_risks"


def dp_budget(store: Lake, synth: str) -> dict:
    """What a differentially private synthesizer's fit spent (its ledger), else nothing."""
    if not store.exists("synthesizer_model", {"synth": synth}):
        return {}
    fitted = store.read_object("synthesizer_model", {"synth": synth})
    ledger = getattr(getattr(fitted.synthesizer, "fitted", None), "ledger", None)
    return ledger.summary() if ledger is not None else {}


def risk_table(frame: pl.DataFrame) -> str:
    """The risks as Markdown: each attack, what it attacked, its risk with interval, and the three rates (main
    against real_train, control against real_holdout, baseline random guessing)."""
    if frame.is_empty():
        return "(no attack run)"
    pct = f"{frame['confidence_level'][0]:.0%}"
    shown = frame.select(
        pl.col("risk_name").alias("attack"),
        pl.col("about").replace("", "(all columns)").alias("attacked"),
        pl.format("{} [{}, {}]", *(pl.col(c).round(3) for c in ("risk", "risk_low", "risk_high"))).alias(
            f"risk above control [{pct} interval]"
        ),
        pl.col("main_rate").round(3).alias("main rate (real_train)"),
        pl.col("control_rate").round(3).alias("control rate (real_holdout)"),
        pl.col("baseline_rate").round(3).alias("baseline (random guess)"),
        pl.col("attacks"),
    )
    return markdown_table(shown)


def _log_to_mlflow(mlflow: MlflowTracking, plan, synth: str, frame: pl.DataFrame, budget: dict) -> str | None:
    """The risks (and a DP fit's budget) on the synthesizer's latest MLflow run: one metric per figure named
    `privacy.<attack>.<figure>`, the control as a tag, and the whole frame (method, control, interval) as a
    table. Returns the run id, or None when the synthesizer has no run."""
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
        return None
    client = mlflow_api.MlflowClient()
    run_id = runs[0].info.run_id
    for row in frame.iter_rows(named=True):
        key = f"privacy.{row['risk_name'].replace(':', '.')}"
        for figure in ("risk", "risk_low", "risk_high", "main_rate", "control_rate", "baseline_rate"):
            client.log_metric(run_id, f"{key}.{figure}", row[figure])
        client.set_tag(run_id, f"{key}.method", row["method"])
    client.set_tag(run_id, "privacy.control", "real_holdout (rows the synthesizer never saw)")
    client.set_tag(
        run_id,
        "privacy.risk_formula",
        f"(main - control) / (1 - control), {frame['confidence_level'][0]:.0%} Wilson intervals (Giomi et al. 2023)",
    )
    client.log_table(run_id, frame.to_pandas(), artifact_file="privacy/privacy_risks.json")
    for name in ("epsilon_spent", "delta_spent", "rho_spent"):
        if name in budget:
            client.log_metric(run_id, f"dp.{name}", budget[name])
    if budget:
        client.set_tag(run_id, "dp.privacy_unit", budget["privacy_unit"])
    return run_id


def build_privacy_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name=RISKS_ASSET,
        group_name="synthesis",
        kinds={"polars", "mlflow"},
        partitions_def=partitions_def,
        code_version="1",
        deps=["synthesizer_model"],  # a DP fit's budget is read from it
    )
    def privacy_risks(
        context: dg.AssetExecutionContext,
        settings: HybridDataSettings,
        mlflow: MlflowTracking,
        synthetic_pool: pl.DataFrame,
        real_train: pl.DataFrame,
        real_holdout: pl.DataFrame,
    ) -> dg.Output[pl.DataFrame]:
        """What an attacker holding this pool learns about the people in real_train beyond what it learns about
        anyone (real_holdout, the control): singling-out, linkability and inference risks with their intervals,
        for the pool's privacy checks and the scorecard's privacy-utility frontier."""
        from hybrid_data.compute import fit_threads
        from hybrid_data.privacy_attacks import attack_report, risk_frame

        plan, synth = settings.plan, context.partition_key
        with fit_threads() as threads:  # the nearest-row searches are exact on any thread count
            risks = attack_report(
                real_train, synthetic_pool, real_holdout, plan.privacy, plan.target, plan.seed, threads=threads
            )
        budget = dp_budget(settings.lake, synth) if synth == "dp_mst" else {}
        frame = risk_frame(risks, synth, budget.get("epsilon_spent"))
        try:
            run_id = _log_to_mlflow(mlflow, plan, synth, frame, budget)
        except Exception as exc:  # noqa: BLE001 - tracking is a copy of what the asset stores; never fail on it
            context.log.warning(f"privacy risks not logged to MLflow: {exc}")
            run_id = None
        worst = max(risks, key=lambda r: r.risk)
        return dg.Output(
            frame,
            metadata={
                "risks": dg.MetadataValue.md(risk_table(frame)),
                "control": "real_holdout (real rows the synthesizer never saw)",
                "risk_formula": "(main - control) / (1 - control), Wilson score intervals (Giomi et al. 2023)",
                "worst_attack": worst.name,
                "worst_risk": round(worst.risk, 4),
                "worst_risk_interval": f"[{worst.risk_low:.3f}, {worst.risk_high:.3f}] "
                f"({worst.confidence_level:.0%} confidence)",
                "attacks_per_risk": plan.privacy.attacks,
                "dp_budget_spent": budget or "not a differentially private synthesizer",
                "mlflow_run_id": run_id or "",
            },
        )

    return [privacy_risks]
