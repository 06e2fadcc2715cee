"""Checks against a real Dagster instance: a failing blocking check keeps blend_model from running for its
partition and leaves the other partitions alone; warnings do not block unless the plan says so; check results
reach the blend's MLflow run. The synthetic pool is written straight into the lake (real rows, lightly jittered
or copied) so no synthesizer has to be fitted."""

import dagster as dg
import polars as pl
import pytest

from hybrid_data.lake import frame_fingerprint
from tests.conftest import materialize_defs as _materialize
from tests.conftest import write_plan

SYNTH = "gaussian_copula"


def _key(ratio: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"synth": SYNTH, "ratio": ratio})


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _trained(instance, ratio: str) -> bool:
    return str(_key(ratio)) in instance.get_materialized_partitions(dg.AssetKey("blend_model"))


@pytest.fixture
def staged(tmp_path, tiny_csv, home, instance, monkeypatch):
    """Real data ingested, staged, split and profiled; returns a function building the definitions of a plan."""
    from definitions import build_definitions

    monkeypatch.setenv("HYBRID_DATA_SUITES_DIR", str(tmp_path / "suites"))
    instance.add_dynamic_partitions("ratio", ["0", "0.5"])

    def defs_for(**overrides) -> dg.Definitions:
        folder = tmp_path / f"plan{len(overrides)}"
        folder.mkdir(exist_ok=True)
        return build_definitions(write_plan(folder, tiny_csv, ratios=[0, 0.5], **overrides), home)

    defs = defs_for()
    result = _materialize(defs, instance, dg.AssetSelection.groups("ingest", "staging", "split"))
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())  # ingest checks pass on good data
    return defs_for


def _write_pool(home, pool: pl.DataFrame) -> None:
    home.open_lake().write_frame("synthetic_pool", {"synth": SYNTH}, pool)


def _real_train(home) -> pl.DataFrame:
    return home.open_lake().read_frame("real_train")


@pytest.mark.slow
def test_blocking_check_stops_only_its_partition_and_warnings_reach_mlflow(staged, home, instance):
    defs = staged()
    train = _real_train(home)
    blend_grid = dg.AssetSelection.assets("blend", "blend_model")

    # Near-copies of real rows: no exact copy (nothing blocks), but NNDR warns: each singles out one real row.
    _write_pool(home, train.with_columns(pl.col("int_rate") + 0.001))
    result = _materialize(defs, instance, blend_grid, _key("0.5"))
    checks = _checks(result)
    assert result.success and _trained(instance, "0.5")
    assert checks["blend_no_exact_copies"].passed
    assert not checks["blend_nndr"].passed
    assert checks["blend_nndr"].severity == dg.AssetCheckSeverity.WARN
    assert checks["blend_schema_matches_real"].passed and checks["blend_excludes_holdout"].passed
    assert len(checks) == 13  # 12 + blend_attack_risks (checks/privacy_checks.py)

    import mlflow

    run_id = home.open_lake().read_frame("blend_model", {"synth": SYNTH, "ratio": "0.5"})["mlflow_run_id"][0]
    run = mlflow.MlflowClient(home.mlflow_tracking_uri()).get_run(run_id)
    assert run.data.tags["check.blend_nndr"] == "warn"
    # Laid out for comparison: the headline with its interval, no per-check metrics, a description naming the
    # failed check, the Dagster run it came from, and its datasets with their lake files and digests.
    metrics = run.data.metrics
    assert metrics["pr_auc_ci_low"] <= metrics["pr_auc"] <= metrics["pr_auc_ci_high"]
    assert not [m for m in metrics if m.startswith("check.")]
    assert "blend_nndr (warn)" in run.data.tags["mlflow.note.content"]
    assert run.data.tags["dagster.run_url"].endswith(f"/runs/{run.data.tags['dagster.run_id']}")
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {f"blend {SYNTH} r=0.5", "real_train", "real_holdout"}
    assert inputs["real_train"].dataset.digest == frame_fingerprint(train)
    assert "blend" in inputs[f"blend {SYNTH} r=0.5"].dataset.source
    assert {t.value for t in inputs[f"blend {SYNTH} r=0.5"].tags} == {"training"}
    assert run.data.tags["check.blend_no_exact_copies"] == "passed"
    # The per-check details are one table on the run (not 50 metrics), with each check's observed numbers.
    client = mlflow.MlflowClient(home.mlflow_tracking_uri())
    table = client.load_table(run.info.experiment_id, "checks.json", run_ids=[run_id])
    nndr = table[table["check"] == "blend_nndr"]
    assert len(nndr) == 1 and not nndr["passed"].iloc[0]
    assert '"nndr_p05"' in nndr["metadata"].iloc[0]
    assert "blend_dcr_share" in set(table["check"])

    # Real training rows copied into the pool: the blocking exact-copies check stops this partition's model.
    _write_pool(home, train)
    result = _materialize(defs, instance, blend_grid, _key("0.5"))
    checks = _checks(result)
    assert not checks["blend_no_exact_copies"].passed
    assert checks["blend_no_exact_copies"].severity == dg.AssetCheckSeverity.ERROR
    model_steps = [e for e in result.all_events if e.is_step_success and e.step_key.startswith("blend_model")]
    assert not model_steps and not result.success

    # The real-only partition of the same grid is unaffected.
    result = _materialize(defs, instance, blend_grid, _key("0"))
    assert result.success and _trained(instance, "0")
    assert _checks(result)["blend_no_exact_copies"].passed

    # Rerun with nothing changed: blend_model reuses its MLflow run, which still gets the check results.
    result = _materialize(defs, instance, blend_grid, _key("0"))
    materialization = result.asset_materializations_for_node("blend_model")[0]
    assert materialization.metadata["reused_run"].value is True
    reused = mlflow.MlflowClient(home.mlflow_tracking_uri()).get_run(materialization.metadata["mlflow_run_id"].value)
    assert reused.data.tags["check.blend_no_exact_copies"] == "passed"
    assert reused.data.tags["checks.failed"] == "none"


@pytest.mark.slow
def test_plan_can_make_a_warning_check_blocking(staged, home, instance):
    defs = staged(checks={"blocking": ["blend_minority_share"], "tail_tolerance": 0.25})
    train = _real_train(home)
    # The minority class removed from the pool: at ratio 0.5 the blend's minority share halves.
    good = train.filter(pl.col("Class") == "good")
    _write_pool(home, pl.concat([good.with_columns(pl.col("int_rate") + d) for d in (0.001, 0.002)]))
    result = _materialize(defs, instance, dg.AssetSelection.assets("blend", "blend_model"), _key("0.5"))
    check = _checks(result)["blend_minority_share"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert not result.success and not _trained(instance, "0.5")


@pytest.mark.slow
def test_a_quality_group_that_raises_leaves_the_other_groups_their_results(staged, home, instance, tmp_path):
    """The quality checks share one step: a hand-written suite that is not JSON makes the expectations group
    raise; the step still reports every other group, then fails naming the one that raised."""
    defs = staged()
    _write_pool(home, _real_train(home).with_columns(pl.col("int_rate") + 0.001))
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "suites" / "broken.json").write_text("{not json")
    result = _materialize(defs, instance, dg.AssetSelection.assets("blend"), _key("0.5"))
    checks = _checks(result)
    assert "blend_expectations" not in checks
    assert {"blend_minority_share", "blend_detection_auc", "blend_dcr_share", "blend_attack_risks"} <= set(checks)
    assert checks["blend_schema_matches_real"].passed  # the correctness step is its own
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "blend_quality_checks"
    assert "the expectations checks of this blend raised" in failure.event_specific_data.error.message
    # Picking one check runs only its group: no other group's result, and the broken suite is not read.
    one = dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("blend"), "blend_tail_coverage"))
    result = _materialize(defs, instance, dg.AssetSelection.assets("blend").without_checks() | one, _key("0.5"))
    assert result.success and set(_checks(result)) == {"blend_tail_coverage"}


@pytest.mark.slow
def test_ingest_check_blocks_staging_on_an_all_null_column(tmp_path, home, instance, tiny_csv):
    from definitions import build_definitions

    source = tmp_path / "with_empty.csv"
    pl.read_csv(tiny_csv).with_columns(pl.lit(None, dtype=pl.Float64).alias("empty")).write_csv(source)
    defs = build_definitions(write_plan(tmp_path, source), home)
    result = _materialize(defs, instance, dg.AssetSelection.assets("real_source", "stg_real"))
    checks = _checks(result)
    assert not checks["real_source_no_all_null_column"].passed
    assert checks["real_source_target_usable"].passed
    assert instance.get_latest_materialization_event(dg.AssetKey("stg_real")) is None


def test_checks_declare_what_they_are(tmp_path, tiny_csv, home):
    """The UI's labels tell the truth: only checks that stop something are declared blocking, every description
    names its threshold's plan key, and no step name repeats its asset's (`blend_blend_expectations`)."""
    from checks.blend_checks import CORRECTNESS
    from definitions import build_definitions

    def specs(**overrides) -> dict[str, tuple[str, dg.AssetCheckSpec]]:
        folder = tmp_path / f"plan{len(overrides)}"
        folder.mkdir()
        defs = build_definitions(write_plan(folder, tiny_csv, **overrides), home)
        return {spec.name: (c.node_def.name, spec) for c in defs.asset_checks for spec in c.check_specs}

    found = specs()
    blend = {name: spec for name, (_, spec) in found.items() if spec.asset_key == dg.AssetKey("blend")}
    assert {name for name, spec in blend.items() if spec.blocking} == set(CORRECTNESS)
    assert not found["synthetic_pool_keeps_minority"][1].blocking
    assert "`checks.min_quality_score` = 0.7" in blend["blend_fidelity_quality"].description
    assert "`checks.max_detection_auc` = 0.95" in blend["blend_detection_auc"].description
    assert "`anchoring.min_real_share`" in blend["blend_real_share_above_floor"].description
    for name, spec in blend.items():
        expected = "**Blocking**" if name in CORRECTNESS else "**Warning**: a failure shows as WARN (yellow)"
        assert expected in spec.description, name
    assert not [
        step for step, _ in found.values() if step.startswith("blend_blend") or step.count("synthetic_pool") > 1
    ]

    made_blocking = specs(
        checks={"blocking": ["blend_detection_auc"]},
        synthesis={"synthesizers": [SYNTH], "minority_loss_blocking": True},
    )
    assert made_blocking["blend_detection_auc"][1].blocking
    assert made_blocking["synthetic_pool_keeps_minority"][1].blocking
    assert "**Blocking**" in made_blocking["synthetic_pool_keeps_minority"][1].description
