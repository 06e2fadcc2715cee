"""The collapse study as Dagster assets: materialized into a temporary instance, lake and MLflow store, and
checked on what was written."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.collapse import COLLAPSE_GROUP, COLLAPSE_JOB, FIRST_SYNTHESIZER, REPORT, generation_asset
from definitions import build_definitions
from hybrid_data.collapse import GENERATION, REAL_GENERATION, REPEAT
from hybrid_data.plan import load_plan

from .conftest import write_plan

TINY_STUDY = {
    "generations": 2,
    "repeats": 2,
    "modes": ["replace", "accumulate", "anchored"],
    "max_fit_rows": 150,
    "rows_per_generation": 150,
}
REAL_DATA = dg.AssetSelection.assets("real_train", "real_holdout").upstream()


def _materialize(defs: dg.Definitions, instance, selection, partition_key=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(defs.assets), instance=instance, resources=defs.resources, selection=selection, partition_key=partition_key
    )


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [event] = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.mark.slow
def test_study_assets_write_every_generation_and_a_report(tmp_path: Path, tiny_csv, home, instance, monkeypatch):
    # Same seeds give the same rows for a given thread count; the thread rule otherwise follows the machine's load
    # (parallel float reductions differ in the last bits), so the rerun below pins it.
    monkeypatch.setenv("HYBRID_DATA_THREADS", "1")
    plan_file = write_plan(tmp_path, tiny_csv, collapse=TINY_STUDY)
    defs = build_definitions(plan_file, home)
    assert _materialize(defs, instance, REAL_DATA).success

    # The study is its own job, partitioned by synthesizer, and outside the blend pipeline's selections.
    job = defs.resolve_job_def(COLLAPSE_JOB)
    assert job.partitions_def.get_partition_keys() == ["gaussian_copula"]
    study = _materialize(defs, instance, dg.AssetSelection.groups(COLLAPSE_GROUP), "gaussian_copula")
    assert study.success

    def stored(asset: str):
        return defs.load_asset_value(asset, partition_key="gaussian_copula", instance=instance)

    real_train = defs.load_asset_value("real_train", instance=instance)
    first = stored(FIRST_SYNTHESIZER)
    assert sorted(first) == [0, 1]  # one fitted synthesizer per repeat
    for mode in ("replace", "accumulate", "anchored"):
        fits = [stored(generation_asset(mode, g, "data")) for g in range(3)]
        assert set(fits[0].columns) == set(real_train.columns) | {REPEAT, GENERATION}
        for g, fit_set in enumerate(fits):
            assert sorted(fit_set[REPEAT].unique().to_list()) == [0, 1]
            # every generation sampled its own rows for each repeat
            assert fit_set.filter(pl.col(GENERATION) == g).height == 2 * 150
        assert sorted(stored(generation_asset(mode, 2, "synthesizer"))) == [0, 1]
        real_share = [float((f[GENERATION] == REAL_GENERATION).mean()) for f in fits]
        if mode == "replace":
            assert real_share == [0.0, 0.0, 0.0]
        elif mode == "anchored":
            assert real_share == pytest.approx([0.5, 0.5, 0.5])
        else:  # accumulate keeps the real rows and every earlier generation: 150 real + 150 per generation
            assert [f.height for f in fits] == [2 * 300, 2 * 450, 2 * 600]
            assert fits[2].filter(pl.col(GENERATION) == 0).height == 2 * 150
    # Generation 0 is shared: every mode's generation-0 rows are the same sample of the same fit.
    zero = [
        stored(generation_asset(m, 0, "data")).filter(pl.col(GENERATION) == 0).drop(GENERATION)
        for m in ("replace", "accumulate", "anchored")
    ]
    assert zero[0].equals(zero[1]) and zero[0].equals(zero[2])

    # Generation g+1 depends on generation g in the lineage.
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(generation_asset("replace", 2, "synthesizer"))).parent_keys
    assert dg.AssetKey(generation_asset("replace", 1, "data")) in parents

    # The report: every repeat's metric values, a chart, verdicts, and one MLflow run with metric histories.
    metrics = stored(REPORT)
    assert set(metrics["mode"].unique()) == {"real", "replace", "accumulate", "anchored"}
    assert set(metrics["generation"].unique()) == {-1, 0, 1, 2}
    assert {"minority_share", "tail_coverage", "categories_kept", "roc_auc"} <= set(metrics["metric"].unique())
    meta = _metadata(study, REPORT)
    assert "data:image/png;base64," in meta["charts"]
    assert meta["verdicts"].count("- ") >= 3 and "replace: minority-class share" in meta["verdicts"]
    from mlflow import MlflowClient

    client = MlflowClient(home.mlflow_tracking_uri())
    run = client.get_run(meta["mlflow_run_id"])
    assert run.data.params["generations"] == "2"
    history = client.get_metric_history(run.info.run_id, "replace/tail_coverage")
    assert sorted(m.step for m in history) == [0, 1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"collapse_overview.png", "collapse_tail_coverage.png", "verdicts.md"} <= artifacts

    # One generation can be recomputed alone: it rewrites only that generation, with the same seeds.
    before = stored(generation_asset("anchored", 1, "data"))
    again = _materialize(
        defs,
        instance,
        dg.AssetSelection.assets(generation_asset("anchored", 1, "data")).required_multi_asset_neighbors(),
        "gaussian_copula",
    )
    assert {e.asset_key.path[-1] for e in again.get_asset_materialization_events()} == {
        generation_asset("anchored", 1, "synthesizer"),
        generation_asset("anchored", 1, "data"),
    }
    assert stored(generation_asset("anchored", 1, "data")).equals(before)


def test_study_is_not_in_the_default_run(tmp_path: Path, tiny_csv, home):
    plan_file = write_plan(tmp_path, tiny_csv, collapse={**TINY_STUDY, "modes": ["replace"]})
    defs = build_definitions(plan_file, home)
    graph = defs.resolve_asset_graph()
    study = dg.AssetSelection.groups(COLLAPSE_GROUP).resolve(graph)
    # 1 shared generation-0 synthesizer, generation-0 data, 2 generations x (synthesizer, data), the report
    assert len(study) == 1 + 1 + 2 * 2 + 1
    pipeline = dg.AssetSelection.groups("ingest", "staging", "split", "synthesis", "blending", "training")
    assert not study & pipeline.resolve(graph)
    assert load_plan(plan_file).collapse.generations == 2


@pytest.mark.slow
def test_hybrid_data_collapse_runs_real_data_then_the_study(tmp_path: Path, tiny_csv, home, instance, capsys):
    from hybrid_data_dagster.launch import run_collapse_study

    study = {**TINY_STUDY, "generations": 1, "modes": ["replace"], "max_fit_rows": 100, "rows_per_generation": 100}
    plan_file = write_plan(tmp_path, tiny_csv, collapse=study)
    assert run_collapse_study(plan_file, home, instance) == 0
    printed = capsys.readouterr().out
    assert "collapse: real data first" in printed and "- replace: minority-class share" in printed
    runs = instance.get_runs()
    assert len(runs) == 2  # the real-data stage, then one study run per synthesizer
    assert {r.job_name for r in runs} == {"prepare_real_data", COLLAPSE_JOB}  # the code location's own jobs
    assert all(r.tags["hybrid_data/plan_fingerprint"] == runs[0].tags["hybrid_data/plan_fingerprint"] for r in runs)
    report = build_definitions(plan_file, home).load_asset_value(
        REPORT, partition_key="gaussian_copula", instance=instance
    )
    assert set(report["mode"].unique()) == {"real", "replace"}
