"""blend_model, classical_baselines and blend_scorecard materialized through a real Dagster instance, lake and
MLflow store: cells carry predictions and checks, the scorecard shows verdicts, MLflow gets a parent run with a
nested run per cell and no duplicate when nothing changed."""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl
import pytest

from definitions import build_definitions
from hybrid_data.plan import load_plan

from .conftest import tiny_frame, write_plan


def mlflow_runs(home, experiment: str) -> list:
    import mlflow

    from hybrid_data.tracking import use_tracking_uri

    use_tracking_uri(home.mlflow_tracking_uri())
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


@pytest.mark.slow
def test_scorecard_assets_through_dagster_and_mlflow(tmp_path, tiny_csv, home, instance):
    # A detection threshold no synthetic rows can meet, so the blend's fidelity check warns and the scorecard
    # must carry that gate through Dagster's own check records.
    plan_file = write_plan(
        tmp_path, tiny_csv, evaluation={"repeats": 2, "bootstrap": 200}, checks={"max_detection_auc": 0.5}
    )
    plan = load_plan(plan_file)
    defs = build_definitions(plan_file, home)
    every = [*defs.assets, *defs.asset_checks]
    # Upstream assets written straight into the lake: the real split and a pool of "synthetic" rows (real rows
    # with noise), so the test exercises only the evaluation assets.
    real = tiny_frame()
    is_holdout = np.random.default_rng(0).random(real.height) < 0.25
    real_train, real_holdout = real.filter(pl.Series(~is_holdout)), real.filter(pl.Series(is_holdout))
    store = home.open_lake()
    store.write_frame("real_train", None, real_train)
    store.write_frame("real_holdout", None, real_holdout)
    pool = real_train.sample(real_train.height, with_replacement=True, seed=1).with_columns(pl.col("int_rate") * 1.1)
    store.write_frame("synthetic_pool", {"synth": "gaussian_copula"}, pool)
    instance.add_dynamic_partitions("ratio", plan.ratio_keys)

    def materialize(names, partition=None, succeed=True):
        result = dg.materialize(
            every,
            instance=instance,
            resources=defs.resources,
            selection=dg.AssetSelection.assets(*names),
            partition_key=partition,
            raise_on_error=succeed,
        )
        assert result.success == succeed
        return result

    materialize(["real_profile"])  # the blend's expectation suite is generated from it
    for ratio in plan.ratio_keys:
        materialize(["blend", "blend_model"], dg.MultiPartitionKey({"synth": "gaussian_copula", "ratio": ratio}))
    cell = store.read_frame("blend_model", {"synth": "gaussian_copula", "ratio": "0.5"})
    assert cell.height == 2 and len(cell["prediction"][0]) == real_holdout.height
    assert "blend_detection_auc" in cell["checks"][0]
    # The pool's privacy risks as the pool privacy checks store them (privacy_attacks.risk_frame's columns).
    risks = pl.DataFrame(
        {
            "synthesizer": ["gaussian_copula"] * 2,
            "epsilon": [None, None],
            "risk_name": ["linkability", "singling_out_univariate"],
            "risk": [0.05, 0.01],
            "risk_low": [0.0, -0.02],
            "risk_high": [0.11, 0.04],
        },
        schema_overrides={"epsilon": pl.Float64},
    )
    store.write_frame("privacy_risks", {"synth": "gaussian_copula"}, risks)
    result = materialize(["classical_baselines", "blend_scorecard"])

    card = store.read_frame("blend_scorecard")
    assert card["cell"].to_list() == [
        "real only",
        "gaussian_copula r=0.5",
        "TSTR gaussian_copula",
        "class weighting",
        "random oversampling",
        "SMOTE-NC",
    ]
    assert set(card["verdict"]) <= {"baseline", "helps", "no detectable difference", "hurts"}
    assert "fidelity" in card.filter(pl.col("cell") == "gaussian_copula r=0.5")["failed_gates"][0]
    metadata = result.asset_materializations_for_node("blend_scorecard")[0].metadata
    assert "real-only" in metadata["verdict"].value
    assert "| gaussian_copula r=0.5 |" in metadata["scorecard"].value and "⚠" in metadata["scorecard"].value
    assert "early stopping on the real validation slice" in metadata["protocol"].value
    assert metadata["chart"].value.startswith("![scorecard](data:image/png;base64,")
    assert "\n|---|---|---|---|---|\n" in metadata["scorecard"].value  # five columns: nothing clipped
    assert "| gaussian_copula | - | " in metadata["privacy_utility_frontier"].value  # no epsilon: not DP
    assert "0.050 [0.000, 0.110] (linkability)" in metadata["privacy_utility_frontier"].value
    assert "data:image/png;base64," in metadata["privacy_utility_frontier"].value
    assert metadata["hybrid_data.plan_fingerprint"].value in metadata["built_from"].value
    assert {"scorecard.csv", "scorecard.md", "frontier.png"} <= set(store.names("blend_scorecard"))

    runs = mlflow_runs(home, plan.name)
    parents = [r for r in runs if r.data.tags.get("hybrid_data.kind") == "scorecard"]
    assert len(parents) == 1
    assert {"real_only.pr_auc", "real_only.pr_auc_low", "best.pr_auc", "best.pr_auc_diff_adjusted_high"} <= set(
        parents[0].data.metrics
    )
    assert parents[0].data.tags["hybrid_data.plan_fingerprint"] == metadata["hybrid_data.plan_fingerprint"].value
    assert "Best cell:" in parents[0].data.tags["mlflow.note.content"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(r.info.run_name for r in children) == sorted(card["cell"].to_list())
    blend_child = next(r for r in children if r.info.run_name == "gaussian_copula r=0.5")
    assert {"pr_auc", "pr_auc_low", "pr_auc_high", "pr_auc_diff", "p_holm"} <= set(blend_child.data.metrics)
    assert not any(k.startswith("check.") for k in blend_child.data.metrics)  # details live in the table
    from mlflow.tracking import MlflowClient

    client = MlflowClient(home.mlflow_tracking_uri())
    assert "checks.json" in {a.path for a in client.list_artifacts(blend_child.info.run_id)}
    model_runs = [r for r in runs if r.data.tags.get("dagster.asset_key") == "blend_model"]
    assert len(model_runs) == 3 and all(r.data.params["protocol.model.early_stopping"] == "True" for r in model_runs)

    # Nothing changed: the cells reuse their predictions and the scorecard logs no new runs.
    materialize(["blend_model"], dg.MultiPartitionKey({"synth": "gaussian_copula", "ratio": "0.5"}))
    again = materialize(["classical_baselines", "blend_scorecard"])
    assert again.asset_materializations_for_node("blend_scorecard")[0].metadata["mlflow_reused"].value is True
    assert len(mlflow_runs(home, plan.name)) == len(runs)

    # A failed latest run: blend_model of r=0.5 fails on a corrupt blend; the scorecard shows the cell as failed,
    # without the numbers it stored before.
    blend_file = store.path("blend", {"synth": "gaussian_copula", "ratio": "0.5"})
    blend_file.write_bytes(b"not parquet")
    materialize(["blend_model"], dg.MultiPartitionKey({"synth": "gaussian_copula", "ratio": "0.5"}), succeed=False)
    failed = materialize(["blend_scorecard"]).asset_materializations_for_node("blend_scorecard")[0].metadata
    row = store.read_frame("blend_scorecard").filter(pl.col("cell") == "gaussian_copula r=0.5").row(0, named=True)
    assert row["verdict"] == "failed" and row["pr_auc"] is None
    assert "the latest run of blend_model" in row["status"] and "failed" in failed["excluded_cells"].value

    # New real data: every stored cell is stale, so the scorecard fails and says what to materialize.
    store.write_frame("real_holdout", None, real_holdout.head(real_holdout.height - 3))
    stale = materialize(["blend_scorecard"], succeed=False)
    message = stale.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "no current real-only cell" in message and "scored on another version of real_holdout" in message
