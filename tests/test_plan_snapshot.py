"""Plan pinning: every step of a run uses the plan the run started with, whatever happens to the file meanwhile."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.ingest import real_source
from assets.resources import PLAN_FINGERPRINT_TAG, HybridDataSettings, LakeIOManager, plan_tags
from hybrid_data.plan import PlanError
from hybrid_data.plan_snapshot import load_snapshot, pin_run, plan_for_run, snapshot_plan

from .conftest import write_plan


def test_a_snapshot_outlives_edits_of_the_plan_file(tmp_path, tiny_csv, home):
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    first = snapshot_plan(plan_file, home.root)
    write_plan(tmp_path, tiny_csv, ratios=[0, 0.5, 0.6])
    second = snapshot_plan(plan_file, home.root)
    assert first.fingerprint != second.fingerprint
    assert load_snapshot(home.root, first.fingerprint).plan.ratios == [0.0, 0.5]
    assert snapshot_plan(plan_file, home.root).fingerprint == second.fingerprint  # same text, same fingerprint
    with pytest.raises(PlanError, match="no such snapshot; relaunch the run"):
        load_snapshot(home.root, "0" * 16)


def test_an_untagged_run_keeps_the_plan_its_first_step_saw(tmp_path, tiny_csv, home):
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    assert plan_for_run(plan_file, home.root, "run-1", None).plan.ratios == [0.0, 0.5]
    write_plan(tmp_path, tiny_csv, ratios=[0, 0.25])  # edited while run-1 is still going
    assert plan_for_run(plan_file, home.root, "run-1", None).plan.ratios == [0.0, 0.5]
    assert plan_for_run(plan_file, home.root, "run-2", None).plan.ratios == [0.0, 0.25]
    assert pin_run(home.root, "run-1", "another") != "another"  # first writer wins


def test_a_tagged_run_uses_its_snapshot_not_the_edited_file(tmp_path, tiny_csv, home, instance):
    plan_file = write_plan(tmp_path, tiny_csv, drop_columns=["term"])
    pinned = snapshot_plan(plan_file, home.root)
    write_plan(tmp_path, tiny_csv, drop_columns=[])  # the edit lands before the run's step starts
    resources = {
        "settings": HybridDataSettings(plan_path=str(plan_file), home=str(home.root)),
        "io_manager": LakeIOManager(lake_root=str(home.lake)),
    }
    result = dg.materialize([real_source], resources=resources, instance=instance, tags=plan_tags(pinned))
    assert result.success
    assert "term" not in home.open_lake().read_frame("real_source").columns
    assert instance.get_run_by_id(result.run_id).tags[PLAN_FINGERPRINT_TAG] == pinned.fingerprint
