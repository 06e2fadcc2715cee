"""The privacy_risks asset and its attack-based checks in a real Dagster instance: a pool of copied real rows
warns (or blocks when the plan says so) with the attack, its control and its interval in the metadata, and the
risk frame for the scorecard lands in the lake. The pool is written straight into the lake (no fit)."""

import dagster as dg
import polars as pl
import pytest

from tests.conftest import write_plan

SYNTH = "gaussian_copula"
PRIVACY = {"attacks": 60}


@pytest.fixture
def defs_for(tmp_path, tiny_csv, home, instance):
    from definitions import build_definitions

    def build(**overrides) -> dg.Definitions:
        folder = tmp_path / f"plan{len(overrides)}"
        folder.mkdir(exist_ok=True)
        return build_definitions(write_plan(folder, tiny_csv, ratios=[0, 0.5], privacy=PRIVACY, **overrides), home)

    defs = build()
    staged = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=instance,
        resources=defs.resources,
        selection=dg.AssetSelection.groups("ingest", "staging", "split"),
    )
    assert staged.success
    return build


def _run_pool_checks(defs: dg.Definitions, instance, home, pool: pl.DataFrame) -> dict:
    home.open_lake().write_frame("synthetic_pool", {"synth": SYNTH}, pool)
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=instance,
        resources=defs.resources,
        selection=dg.AssetSelection.assets("privacy_risks"),  # with its checks
        partition_key=SYNTH,
        raise_on_error=False,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_risks_are_an_asset_between_the_pool_and_its_privacy_checks(tmp_path, tiny_csv, home):
    """Lineage the UI shows: synthetic_pool -> privacy_risks -> the attack checks, in the synthesize job."""
    from definitions import build_definitions

    defs = build_definitions(write_plan(tmp_path, tiny_csv), home)
    graph = defs.resolve_asset_graph()
    risks = dg.AssetKey("privacy_risks")
    assert {dg.AssetKey(k) for k in ("synthetic_pool", "real_train", "real_holdout")} <= graph.get(risks).parent_keys
    checks = {key.name for key in graph.get(risks).check_keys}
    assert {"pool_singling_out_risk", "pool_linkability_risk", "pool_inference_risk"} <= checks
    assert risks in defs.resolve_job_def("synthesize").asset_layer.selected_asset_keys


@pytest.mark.slow
def test_copied_pool_warns_with_attack_control_and_interval(defs_for, home, instance):
    train = home.open_lake().read_frame("real_train")
    checks = _run_pool_checks(defs_for(), instance, home, train)
    assert {"pool_singling_out_risk", "pool_linkability_risk", "pool_inference_risk"} <= set(checks)
    singling_out = checks["pool_singling_out_risk"]
    assert not singling_out.passed and singling_out.severity == dg.AssetCheckSeverity.WARN
    metadata = {k: v.value for k, v in singling_out.metadata.items()}
    assert metadata["singling_out_multivariate.risk"] > 0.5
    assert "control: against real_holdout" in metadata["singling_out_multivariate.rates"]  # the control is named
    assert metadata["singling_out_multivariate.risk_interval"].endswith("(95% confidence)")
    risks = home.open_lake().read_frame("privacy_risks", {"synth": SYNTH})
    assert set(risks["risk_name"]) >= {"singling_out_univariate", "linkability", "inference:Class"}
    assert risks["synthesizer"].unique().to_list() == [SYNTH]

    blend = _blend_attack_check(defs_for(), instance)  # the blend holds the whole pool: the pool's report
    assert not blend.passed and blend.severity == dg.AssetCheckSeverity.WARN
    assert "the pool's report" in blend.metadata["attacked_with"].value
    assert blend.metadata["real_train_share_disclosed"].value == 1.0

    blocking = defs_for(checks={"blocking": ["pool_inference_risk"]})
    checks = _run_pool_checks(blocking, instance, home, train)
    assert checks["pool_inference_risk"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["pool_linkability_risk"].severity == dg.AssetCheckSeverity.WARN
    assert _blend_attack_check(blocking, instance).severity == dg.AssetCheckSeverity.ERROR  # stops the model


def _blend_attack_check(defs: dg.Definitions, instance):
    """The blend of ratio 0.5 and only its attack check."""
    key = dg.MultiPartitionKey({"synth": SYNTH, "ratio": "0.5"})
    instance.add_dynamic_partitions("ratio", ["0.5"])
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=instance,
        resources=defs.resources,
        selection=dg.AssetSelection.assets("blend").without_checks()
        | dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("blend"), "blend_attack_risks")),
        partition_key=key,
        raise_on_error=False,
    )
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "blend_attack_risks")


@pytest.mark.slow
def test_dp_synthesizer_records_its_budget_in_dagster_and_mlflow(defs_for, home, instance):
    import mlflow

    defs = defs_for(synthesis={"synthesizers": ["dp_mst"], "dp": {"epsilon": 1.0, "delta": 1e-6}})
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=instance,
        resources=defs.resources,
        selection=dg.AssetSelection.assets("synthesizer_model", "synthetic_pool", "privacy_risks"),
        partition_key="dp_mst",
    )
    assert result.success
    notes = result.asset_materializations_for_node("synthesizer_model")[0].metadata["notes"].value
    assert "epsilon 1, delta 1e-06 spent of the plan's (1, 1e-06)" in notes
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert "epsilon_spent" in checks["pool_inference_risk"].metadata["dp_budget_spent"].value
    run_id = result.asset_materializations_for_node("synthesizer_model")[0].metadata["mlflow_run_id"].value
    run = mlflow.MlflowClient(home.mlflow_tracking_uri()).get_run(run_id)
    assert run.data.metrics["dp.epsilon_spent"] == pytest.approx(1.0)
    assert run.data.metrics["dp.delta_spent"] == pytest.approx(1e-6)
    assert "privacy.linkability.risk" in run.data.metrics and "privacy.linkability.risk_high" in run.data.metrics
    assert run.data.tags["privacy.control"].startswith("real_holdout") and "privacy.linkability.method" in run.data.tags
    client = mlflow.MlflowClient(home.mlflow_tracking_uri())
    assert "privacy/privacy_risks.json" in [a.path for a in client.list_artifacts(run_id, "privacy")]
    risks = home.open_lake().read_frame("privacy_risks", {"synth": "dp_mst"})
    assert risks["epsilon"].unique().to_list() == [1.0]
