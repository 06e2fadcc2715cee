"""Real data as it comes: every table of the messy corpus (tests/data/corpus.py) runs end to end with only the
plan `hybrid-data plan init` writes, through the public CLI, a real Dagster instance, SDV fit and MLflow store.

Only speed settings are changed in the written plan (two ratios, a small model, fewer seeds and attacks): no fix of
any decision."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
import yaml

from hybrid_data.home import Home
from hybrid_data_dagster import cli
from tests.data.corpus import CASES, Case, write_case

PRIMARY = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}


def speed_only(plan_text: str) -> str:
    """The written plan with two ratios, a small model, two seeded fits per cell and 50 privacy attacks per risk,
    to keep the run short; nothing else changes."""
    ratios = next(line for line in plan_text.splitlines() if line.startswith("ratios:"))
    text = plan_text.replace(ratios, "ratios: [0, 0.5]")
    text = text.replace("  kind: hist_gradient_boosting", "  kind: hist_gradient_boosting\n  params: {max_iter: 30}")
    return text + "evaluation:\n  repeats: 2\nprivacy:\n  attacks: 50\n"


def plan_init(case: Case, tmp_path, capsys) -> tuple[dict, str]:
    source = write_case(case, tmp_path / "data")
    plan_file = tmp_path / "plan.yaml"
    code = cli.main(["plan", "init", "--source", str(source), "--target", case.target, "--output", str(plan_file)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    text = plan_file.read_text()
    plan_file.write_text(speed_only(text))
    return yaml.safe_load(text), printed


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_init_then_run_needs_no_edit(case: Case, tmp_path, capsys, monkeypatch):
    home = Home(tmp_path / "home")
    for name, value in {"HYBRID_DATA_HOME": str(home.root), "DAGSTER_HOME": "", "HYBRID_DATA_PLAN": ""}.items():
        monkeypatch.setenv(name, value)  # cli.main sets these; monkeypatch restores them after the test

    proposed, printed = plan_init(case, tmp_path, capsys)
    assert proposed["task"] == case.task
    assert set(proposed.get("drop_columns") or []) == set(case.drops)
    written = (tmp_path / "plan.yaml").read_text()
    for column, word in case.drops.items():
        quoted = json.dumps(column, ensure_ascii=False)
        line = next(line for line in written.splitlines() if line.strip().startswith(f"- {quoted}"))
        assert word in line.split("#", 1)[1], line  # the drop's reason is a comment in the plan
    pinned = {c: spec["type"] for c, spec in (proposed.get("columns") or {}).items()}
    assert pinned == case.pinned
    for column in case.drops:
        assert "DROP: " in next(line for line in printed.splitlines() if line.strip().startswith(column))

    if case.note:
        assert case.note in next(line for line in printed.splitlines() if line.startswith("note:")), printed

    code = cli.main(["--plan", str(tmp_path / "plan.yaml"), "run"])
    output = capsys.readouterr().out
    assert code == 0, output

    lake = home.open_lake()
    card = lake.read_frame("blend_scorecard")
    metric = PRIMARY[case.task]
    cells = card.filter(pl.col("kind").is_in(["real_only", "blend"]))
    assert sorted(cells["ratio"].to_list()) == [0.0, 0.5]
    assert all(math.isfinite(v) for v in cells[metric].to_list()), card
    blend = lake.read_frame("blend", {"synth": "gaussian_copula", "ratio": "0.5"})
    assert (blend["_origin"] == "synthetic").sum() > 0
    assert not set(case.drops) & set(blend.columns)
    dims = {"synth": "gaussian_copula", "ratio": "0.5"}
    # The blend's check results as its model cell recorded them from Dagster's check evaluations.
    records = json.loads(lake.read_frame("blend_model", dims)["checks"][0])
    target_check = next(r for r in records if r["check"] == "blend_minority_share")["metadata"]
    if case.task == "regression":
        # A regression target is checked as a distribution, never as one share per distinct value.
        assert "target_ks_statistic" in target_check and len(target_check) < 10
    if case.drops and any("leak" in word for word in case.drops.values()):
        assert card.filter(pl.col("ratio") == 0)[metric][0] < 0.95  # the leak is gone: an honest score
    if case.task != "regression":
        # Classification targets are labels for synthesis: synthetic rows carry only real classes.
        real = lake.read_frame("real_train")
        synthetic = blend.filter(pl.col("_origin") == "synthetic")
        assert set(synthetic[case.target].cast(pl.String).unique()) <= set(real[case.target].cast(pl.String).unique())
