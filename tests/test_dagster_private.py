"""The private Dagster APIs of assets/dagster_private.py, each exercised: a Dagster upgrade that moves or changes
one fails here, by name, before any run does."""

import threading
import time

import dagster as dg

from assets.dagster_private import (
    FRESH,
    MISSING,
    STALE,
    backfill_state,
    backfill_subset,
    check_evaluations_of_run,
    stale_status,
    submit_backfill,
    unfinished_check_steps,
)

PARTS = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=PARTS, code_version="1")
def upstream() -> int:
    return 1


@dg.asset(partitions_def=PARTS, code_version="1")
def downstream(upstream: int) -> int:
    return upstream + 1


@dg.asset
def summary() -> int:
    return 0


def test_stale_status_tells_missing_fresh_and_stale(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        graph = dg.Definitions(assets=[upstream, downstream]).resolve_asset_graph()
        status = stale_status(instance, graph)
        assert status(dg.AssetKey("downstream"), "a") == MISSING
        dg.materialize([upstream, downstream], instance=instance, partition_key="a")
        status = stale_status(instance, graph)
        assert status(dg.AssetKey("downstream"), "a") == FRESH
        newer = dg.asset(partitions_def=PARTS, code_version="2", name="upstream")(lambda: 2)
        graph = dg.Definitions(assets=[newer, downstream]).resolve_asset_graph()
        assert stale_status(instance, graph)(dg.AssetKey("upstream"), "a") == STALE  # code version changed


@dg.asset_check(asset=upstream, partitions_def=PARTS)
def upstream_positive(upstream: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=upstream > 0, metadata={"value": upstream})


def test_the_check_evaluations_of_a_run_are_read_back(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([upstream, upstream_positive], instance=instance, partition_key="b")
        [evaluation] = check_evaluations_of_run(instance, result.run_id)
        assert (evaluation.check_name, evaluation.passed, evaluation.partition) == ("upstream_positive", True, "b")
        assert evaluation.target_materialization_data is not None


RELEASE = threading.Event()


@dg.asset_check(asset=upstream, partitions_def=PARTS)
def upstream_waits() -> dg.AssetCheckResult:
    RELEASE.wait(timeout=60)
    return dg.AssetCheckResult(passed=True)


def test_a_check_step_still_running_is_unfinished_until_it_ends(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        RELEASE.clear()
        results = []
        worker = threading.Thread(
            target=lambda: results.append(
                dg.materialize([upstream, upstream_waits], instance=instance, partition_key="a")
            )
        )
        worker.start()
        seen, deadline = set(), time.monotonic() + 60
        while not seen and time.monotonic() < deadline:
            for run in instance.get_runs():
                seen = unfinished_check_steps(instance, run.run_id, dg.AssetKey("upstream"))
            time.sleep(0.05)
        RELEASE.set()
        worker.join(timeout=60)
        assert seen == {"upstream_upstream_waits"}
        assert unfinished_check_steps(instance, results[0].run_id, dg.AssetKey("upstream")) == set()
        assert unfinished_check_steps(instance, results[0].run_id, dg.AssetKey("downstream")) == set()


def test_a_backfill_across_partitioned_and_unpartitioned_assets_is_submitted(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        graph = dg.Definitions(assets=[upstream, downstream, summary]).resolve_asset_graph()
        subset = backfill_subset(graph, {dg.AssetKey("upstream"): ["a"], dg.AssetKey("summary"): None})
        backfill_id = submit_backfill(instance, graph, subset, {"who": "test"}, "a test backfill")
        assert instance.get_backfill(backfill_id).tags == {"who": "test"}
        status, finished, succeeded = backfill_state(instance, backfill_id)
        assert (status, finished, succeeded) == ("REQUESTED", False, False)
