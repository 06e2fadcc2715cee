"""The private Dagster APIs of assets/dagster_private.py, each exercised: a Dagster upgrade that moves or changes
one fails here, by name, before any run does."""

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


SEEN_WHILE_RUNNING: dict[str, set[str]] = {}


@dg.asset_check(asset=upstream, partitions_def=PARTS)
def upstream_looks_at_itself(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Asks, from inside its own running step, which check steps of its run are unfinished (as blend_model asks
    from its step while the blend's check steps run)."""
    SEEN_WHILE_RUNNING["checks"] = unfinished_check_steps(
        context.instance, context.op_execution_context.run_id, dg.AssetKey("upstream")
    )
    return dg.AssetCheckResult(passed=True)


def test_a_check_step_still_running_is_unfinished_until_it_ends(tmp_path):
    """No thread: a test that materialized in a thread and polled from the main one hung once in a full suite
    run, the run never reporting its end; asking from inside the running step needs no timing at all."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        SEEN_WHILE_RUNNING.clear()
        result = dg.materialize([upstream, upstream_looks_at_itself], instance=instance, partition_key="a")
        assert SEEN_WHILE_RUNNING["checks"] == {"upstream_upstream_looks_at_itself"}
        assert unfinished_check_steps(instance, result.run_id, dg.AssetKey("upstream")) == set()
        assert unfinished_check_steps(instance, result.run_id, dg.AssetKey("downstream")) == set()


def test_a_backfill_across_partitioned_and_unpartitioned_assets_is_submitted(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        graph = dg.Definitions(assets=[upstream, downstream, summary]).resolve_asset_graph()
        subset = backfill_subset(graph, {dg.AssetKey("upstream"): ["a"], dg.AssetKey("summary"): None})
        backfill_id = submit_backfill(instance, graph, subset, {"who": "test"}, "a test backfill")
        assert instance.get_backfill(backfill_id).tags == {"who": "test"}
        status, finished, succeeded = backfill_state(instance, backfill_id)
        assert (status, finished, succeeded) == ("REQUESTED", False, False)
