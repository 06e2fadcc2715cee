"""The plan: validation that names the field, ratio rules, and the starter plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_data.plan import BUNDLED_PLAN, PLAN_ENV, PlanError, load_plan, parse_plan, ratio_key
from hybrid_data.starter_plan import write_starter_plan

from .conftest import tiny_frame

MINIMAL = "name: t\nsource: {path: data.csv}\ntarget: y\n"


def test_bundled_plan_loads_and_points_at_the_bundled_data():
    plan = load_plan(BUNDLED_PLAN)
    assert plan.target == "Class"
    assert plan.ratios == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert plan.source_path.exists()
    assert plan.ratio_keys == ["0", "0.25", "0.5", "0.75", "1"]


def test_env_variable_selects_another_plan(tmp_path, monkeypatch):
    other = tmp_path / "other.yaml"
    other.write_text(MINIMAL.replace("name: t", "name: other"))
    monkeypatch.setenv(PLAN_ENV, str(other))
    assert load_plan().name == "other"


def test_real_only_baseline_is_always_in_the_plan():
    plan = parse_plan(MINIMAL + "ratios: [0.5, 0.25]\n", Path("."))
    assert plan.ratios == [0.0, 0.25, 0.5]


def test_misspelled_field_is_named():
    with pytest.raises(PlanError) as err:
        parse_plan(MINIMAL + "ratio: [0.5]\n", Path("."))
    assert "ratio: unknown field" in str(err.value)


def test_nested_misspelling_and_bad_choice_are_named_with_allowed_values():
    with pytest.raises(PlanError) as err:
        parse_plan(MINIMAL + "anchoring: {mode: blend}\nmodel: {kinds: x}\n", Path("."))
    message = str(err.value)
    assert "anchoring.mode" in message and "'augment' or 'replace'" in message
    assert "model.kinds: unknown field" in message


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_ratio_outside_unit_interval_is_refused(ratio):
    with pytest.raises(PlanError, match=r"ratios\.0: Input should be (greater|less) than or equal to"):
        parse_plan(MINIMAL + f"ratios: [{ratio}]\n", Path("."))


def test_ratio_below_real_share_floor_is_refused():
    with pytest.raises(PlanError, match="ratio 0.9 leaves a real share of 0.1, below anchoring.min_real_share=0.25"):
        parse_plan(MINIMAL + "ratios: [0.9]\n", Path("."))


def test_pure_synthetic_baseline_needs_permission():
    text = MINIMAL + "ratios: [1.0]\nanchoring: {allow_synthetic_only_baseline: false}\n"
    with pytest.raises(PlanError, match="ratio 1 leaves a real share of 0"):
        parse_plan(text, Path("."))


def test_relative_source_is_resolved_next_to_the_plan(tmp_path):
    (tmp_path / "plan.yaml").write_text(MINIMAL)
    assert load_plan(tmp_path / "plan.yaml").source_path == tmp_path / "data.csv"


def test_missing_plan_file_says_how_to_fix(tmp_path):
    with pytest.raises(PlanError, match="hybrid-data plan init"):
        load_plan(tmp_path / "nope.yaml")


def test_ratio_keys_are_stable_strings():
    assert [ratio_key(r) for r in (0.0, 0.25, 1.0, 0.125)] == ["0", "0.25", "1", "0.125"]


def test_starter_plan_infers_task_and_drops_id_columns(tmp_path):
    frame = tiny_frame().with_row_index("loan_id")
    source = tmp_path / "loans.parquet"
    frame.write_parquet(source)
    written = write_starter_plan(source, "Class", tmp_path / "plan.yaml")
    plan = load_plan(written)
    assert plan.task.value == "binary"
    assert plan.drop_columns == ["loan_id"]
    assert plan.source_path == source.resolve()


def test_starter_plan_refuses_an_absent_target(tmp_path, tiny_csv):
    with pytest.raises(ValueError, match="has no column 'Default'"):
        write_starter_plan(tiny_csv, "Default", tmp_path / "plan.yaml")
    assert not (tmp_path / "plan.yaml").exists()
