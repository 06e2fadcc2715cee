"""Sensors, schedule, dagster.yaml and the backfill command, evaluated against a real Dagster instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.automation import TRIGGER_TAG, source_state
from definitions import build_definitions
from hybrid_data.home import Home
from hybrid_data.instance import MARKER, write_dagster_yaml
from hybrid_data.plan import load_plan
from tests.conftest import tiny_frame, write_plan

SYNTH = "gaussian_copula"


def evaluate(defs: dg.Definitions, name: str, instance: dg.DagsterInstance, cursor: str | None = None):
    """One tick of a sensor. The context is closed when the tick ends, raising or not: left open, it keeps the
    instance's state storage as Dagster's current one, and a later test that loads definitions after the instance
    is gone fails ("undefined DagsterInstance weakref")."""
    sensor = defs.resolve_sensor_def(name)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=defs.resources)
    with context:
        return sensor.evaluate_tick(context)


def subset_of(run_request: dg.RunRequest) -> dict[str, set[str] | None]:
    """asset name -> partition keys (None when unpartitioned) of a backfill run request."""
    subset = run_request.asset_graph_subset
    found: dict[str, set[str] | None] = {k.path[-1]: None for k in subset.non_partitioned_asset_keys}
    for key, partitions in subset.partitions_subsets_by_asset_key.items():
        found[key.path[-1]] = set(partitions.get_partition_keys())
    return found


def mark_built(instance: dg.DagsterInstance) -> None:
    """The instance has seen real_train materialized: the home is built, so the plan sensor may start runs."""
    instance.report_runless_asset_event(dg.AssetMaterialization("real_train"))


def store_lake(home: Home, real_rows: int, pool_rows: int) -> None:
    """Upstream assets as the lake holds them after a build, with chosen sizes."""
    frame = pl.DataFrame({"x": list(range(max(real_rows, pool_rows)))})
    for name in ("real_source", "stg_real", "real_split", "real_train", "real_holdout", "real_profile"):
        home.open_lake().write_frame(name, None, frame.head(real_rows))
    home.open_lake().write_object("synthesizer_model", {"synth": SYNTH}, {"fitted": True})
    home.open_lake().write_frame("synthetic_pool", {"synth": SYNTH}, frame.head(pool_rows))


@pytest.mark.slow
def test_first_tick_adds_every_ratio_and_backfills_everything_missing(tiny_csv, home, instance, tmp_path):
    defs = build_definitions(write_plan(tmp_path, tiny_csv, ratios=[0, 0.5]), home)
    mark_built(instance)
    result = evaluate(defs, "plan_ratios_sensor", instance)

    assert instance.get_dynamic_partitions("ratio") == ["0", "0.5"]
    (request,) = result.run_requests
    assert request.tags[TRIGGER_TAG] == "plan_ratios"
    wanted = subset_of(request)
    assert wanted["blend"] == wanted["blend_model"] == {f"0|{SYNTH}", f"0.5|{SYNTH}"}
    assert wanted["real_source"] is None and wanted["real_train"] is None, "missing upstream is built first"
    assert wanted["synthetic_pool"] == {SYNTH}
    assert "blend_scorecard" in wanted


@pytest.mark.slow
def test_new_ratio_runs_exactly_its_partitions_and_grows_the_pool_only_when_needed(tiny_csv, home, instance, tmp_path):
    instance.add_dynamic_partitions("ratio", ["0", "0.5"])
    mark_built(instance)
    store_lake(home, real_rows=100, pool_rows=100)  # enough for 0.5 in augment mode (100 synthetic rows)

    defs = build_definitions(write_plan(tmp_path, tiny_csv, ratios=[0, 0.25, 0.5]), home)
    small = subset_of(evaluate(defs, "plan_ratios_sensor", instance).run_requests[0])
    assert small["blend"] == {f"0.25|{SYNTH}"}
    assert "synthetic_pool" not in small and "real_source" not in small, "nothing upstream is redone"

    defs = build_definitions(write_plan(tmp_path, tiny_csv, ratios=[0, 0.5, 0.75]), home)
    result = evaluate(defs, "plan_ratios_sensor", instance)
    assert instance.get_dynamic_partitions("ratio") == ["0", "0.25", "0.5", "0.75"]
    grown = subset_of(result.run_requests[0])
    assert grown["blend"] == grown["blend_model"] == {f"0.75|{SYNTH}"}
    assert grown["synthetic_pool"] == {SYNTH}, "0.75 needs 300 synthetic rows, the pool has 100"
    assert "synthesizer_model" not in grown, "a bigger pool never refits"


@pytest.mark.slow
def test_removed_ratio_is_reported_not_deleted(tiny_csv, home, instance, tmp_path):
    instance.add_dynamic_partitions("ratio", ["0", "0.5", "1"])
    defs = build_definitions(write_plan(tmp_path, tiny_csv, ratios=[0, 0.5]), home)
    result = evaluate(defs, "plan_ratios_sensor", instance)

    assert not result.run_requests and not result.dynamic_partitions_requests
    assert "ratio(s) 1 no longer in the plan" in result.skip_message and "kept" in result.skip_message
    assert set(instance.get_dynamic_partitions("ratio")) == {"0", "0.5", "1"}


@pytest.mark.slow
def test_broken_plan_edit_is_reported_and_changes_nothing(tiny_csv, home, instance, tmp_path):
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    defs = build_definitions(plan_file, home)
    mark_built(instance)
    first = evaluate(defs, "plan_ratios_sensor", instance)

    plan_file.write_text(plan_file.read_text().replace("ratios:", "ratioz:"))
    # a failed tick (red in the UI, with the message), not a quiet skip; nothing added, nothing launched
    with pytest.raises(Exception, match="ratioz") as failed:
        evaluate(defs, "plan_ratios_sensor", instance, cursor=first.cursor)
    message = str(failed.value)
    assert f"plan file {plan_file} is not usable" in message and "ratioz: unknown field" in message
    assert "keeping the last good plan (ratios ['0', '0.5'])" in message and "Fix the file" in message
    assert set(instance.get_dynamic_partitions("ratio")) == {"0", "0.5"}

    write_plan(tmp_path, tiny_csv, ratios=[0, 0.5, 1.0])  # fixed: the sensor picks up where it was
    fixed = evaluate(defs, "plan_ratios_sensor", instance, cursor=first.cursor)
    assert instance.get_dynamic_partitions("ratio") == ["0", "0.5", "1"] and fixed.run_requests


def test_source_hash_follows_content_not_timestamps(tiny_csv, tmp_path):
    plan = load_plan(write_plan(tmp_path, tiny_csv))
    first = source_state(plan, None)
    tiny_csv.touch()
    assert source_state(plan, first)["sha256"] == first["sha256"]
    tiny_csv.write_text(tiny_csv.read_text() + tiny_csv.read_text().splitlines()[1] + "\n")
    assert source_state(plan, first)["sha256"] != first["sha256"]


@pytest.mark.slow
def test_real_source_sensor_requests_one_real_data_run_per_content_change(tiny_csv, home, instance, tmp_path):
    defs = build_definitions(write_plan(tmp_path, tiny_csv), home)
    first = evaluate(defs, "real_source_sensor", instance)
    assert not first.run_requests, "the first look only remembers the content"
    assert not evaluate(defs, "real_source_sensor", instance, first.cursor).run_requests

    tiny_csv.write_text(tiny_csv.read_text() + tiny_csv.read_text().splitlines()[1] + "\n")
    changed = evaluate(defs, "real_source_sensor", instance, first.cursor)
    (request,) = changed.run_requests
    assert request.run_key.startswith("source-") and request.tags[TRIGGER_TAG] == "real_source_changed"
    assert defs.resolve_sensor_def("real_source_sensor").job_name == "prepare_real_data"
    assert not evaluate(defs, "real_source_sensor", instance, changed.cursor).run_requests


@pytest.mark.slow
def test_new_real_data_refreshes_everything_downstream_once(tiny_csv, home, instance, tmp_path):
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    defs = build_definitions(plan_file, home)
    instance.add_dynamic_partitions("ratio", ["0", "0.5"])
    every = [*defs.assets, *defs.asset_checks]

    def materialize(selection, partition_key=None) -> None:
        result = dg.materialize(
            every, instance=instance, resources=defs.resources, selection=selection, partition_key=partition_key
        )
        assert result.success

    real_data = dg.AssetSelection.groups("ingest", "staging", "split")
    materialize(real_data)
    assert "no synthesizer fitted" in evaluate(defs, "real_data_refresh_sensor", instance).skip_message
    materialize(dg.AssetSelection.assets("synthesizer_model"), SYNTH)
    assert "up to date" in evaluate(defs, "real_data_refresh_sensor", instance).skip_message

    tiny_frame(good=360, bad=80).write_csv(tiny_csv)  # new real rows arrive
    materialize(real_data)  # what the source sensor or the nightly schedule starts
    result = evaluate(defs, "real_data_refresh_sensor", instance)
    assert result.run_requests, result.skip_message
    (request,) = result.run_requests
    refresh = subset_of(request)
    assert refresh["synthesizer_model"] == refresh["synthetic_pool"] == {SYNTH}
    assert refresh["blend"] == refresh["blend_model"] == {f"0|{SYNTH}", f"0.5|{SYNTH}"}
    assert "real_source" not in refresh and "real_train" not in refresh, "only what is downstream"
    again = evaluate(defs, "real_data_refresh_sensor", instance, result.cursor)
    assert not again.run_requests, "one refresh per real-data version"


def test_nightly_schedule_uses_the_plan_cron(tiny_csv, home, tmp_path):
    plan_file = write_plan(tmp_path, tiny_csv, schedule={"cron": "30 3 * * 1-5", "timezone": "Europe/Paris"})
    schedule = build_definitions(plan_file, home).resolve_schedule_def("nightly_real_data")
    assert schedule.cron_schedule == "30 3 * * 1-5"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.job_name == "prepare_real_data"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_sensors_run_by_default_at_the_configured_interval(tiny_csv, home, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_DATA_SENSOR_INTERVAL", "7")
    defs = build_definitions(write_plan(tmp_path, tiny_csv), home)
    for name in ("plan_ratios_sensor", "real_source_sensor", "real_data_refresh_sensor"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == 7


def test_dagster_yaml_sets_up_a_run_queue_and_keeps_user_edits(tmp_path: Path):
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.run_coordinator import QueuedRunCoordinator

    path = write_dagster_yaml(tmp_path, cores=2)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4

    path.write_text(path.read_text().replace(MARKER, "# mine"))
    write_dagster_yaml(tmp_path, cores=8)
    assert "max_concurrent_runs: 4" in path.read_text(), "a file without the marker is the user's"


@pytest.mark.slow
def test_backfill_command_submits_the_grid(tiny_csv, home, instance, tmp_path):
    from hybrid_data_dagster.backfill import daemon_running, submit_backfill

    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 0.5])
    backfill_id = submit_backfill(plan_file, home, ratios=["0.5", "1"], instance=instance)

    (backfill,) = instance.get_backfills()
    assert backfill.backfill_id == backfill_id
    assert set(instance.get_dynamic_partitions("ratio")) == {"0.5", "1"}
    target = backfill.asset_backfill_data.target_subset
    blend_keys = set(target.get_partitions_subset(dg.AssetKey("blend")).get_partition_keys())
    assert blend_keys == {f"0.5|{SYNTH}", f"1|{SYNTH}"}
    assert dg.AssetKey("real_source") in target.asset_keys, "an empty home builds the real data first"
    assert not daemon_running(instance)


def test_a_wrong_schedule_in_the_plan_names_the_field(tmp_path):
    from hybrid_data.plan import PlanError, parse_plan

    text = "name: x\nsource: {path: a.csv}\ntarget: y\nschedule: {cron: 'every night', timezone: Mars/Base}\n"
    with pytest.raises(PlanError) as error:
        parse_plan(text, tmp_path)
    assert "schedule.cron: 'every night' is not a cron expression" in str(error.value)
    assert "schedule.timezone: unknown timezone 'Mars/Base'" in str(error.value)


def test_every_launcher_tags_its_runs_with_the_same_keys(tiny_csv, home, instance, tmp_path):
    """CLI runs, sensor backfills and the nightly schedule carry one set of tag keys: who launched the run,
    why, and the plan's name and fingerprint."""
    from hybrid_data_dagster.launch import Scheduler

    plan_file = write_plan(tmp_path, tiny_csv)
    defs = build_definitions(plan_file, home)
    mark_built(instance)
    (sensor_request,) = evaluate(defs, "plan_ratios_sensor", instance).run_requests
    with dg.build_schedule_context(instance=instance, resources=defs.resources) as schedule_context:
        schedule = defs.resolve_schedule_def("nightly_real_data").evaluate_tick(schedule_context)
    schedule_request = schedule.run_requests[0]
    cli_tags = Scheduler(plan_file, home, instance, say=lambda _: None).tags
    keys = {"hybrid_data/launched_by", TRIGGER_TAG, "hybrid_data/plan", "hybrid_data/plan_fingerprint"}
    for tags, launched_by in ((cli_tags, "cli"), (sensor_request.tags, "sensor"), (schedule_request.tags, "schedule")):
        assert keys <= set(tags), tags
        assert tags["hybrid_data/launched_by"] == launched_by and tags["hybrid_data/plan"] == "tiny"
    assert len({t["hybrid_data/plan_fingerprint"] for t in (cli_tags, sensor_request.tags, schedule_request.tags)}) == 1


def test_a_new_ratio_below_existing_ones_keeps_the_partition_list_in_numeric_order(tiny_csv, home, instance, tmp_path):
    """Ratio partitions are listed in numeric order however they were added (sensor or CLI)."""
    from assets.partitions import add_ratio_partitions

    instance.add_dynamic_partitions("ratio", ["0", "0.5", "1"])
    defs = build_definitions(write_plan(tmp_path, tiny_csv, ratios=[0, 0.25, 0.5, 1.0]), home)
    evaluate(defs, "plan_ratios_sensor", instance)
    assert instance.get_dynamic_partitions("ratio") == ["0", "0.25", "0.5", "1"]
    assert add_ratio_partitions(instance, ["0.75", "0.25"]) == ["0.75"]
    assert instance.get_dynamic_partitions("ratio") == ["0", "0.25", "0.5", "0.75", "1"]


def test_a_missing_source_file_fails_the_source_sensor_tick_naming_the_path(tiny_csv, home, instance, tmp_path):
    """A plan whose source file is gone (e.g. a copied plan with a relative path) is a failed tick naming the
    file and the plan key, not a skip that points at the nightly schedule."""
    defs = build_definitions(write_plan(tmp_path, tiny_csv), home)
    tiny_csv.unlink()
    with pytest.raises(Exception, match="does not exist") as failed:
        evaluate(defs, "real_source_sensor", instance)
    message = str(failed.value)
    assert str(tiny_csv) in message and "source.path" in message and "nightly" not in message
    assert instance.get_runs() == []
