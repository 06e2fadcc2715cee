"""The reuse decisions, as plain values in and out (no Dagster, no files): milliseconds each."""

from hybrid_data.plan import parse_plan
from hybrid_data.reuse import (
    fit_decision,
    pool_decision,
    real_data_decision,
    real_data_fingerprint,
    tracked_run_decision,
)


def test_a_fit_is_reused_only_when_current_and_intact():
    assert not fit_decision("v1", "v1", stored_ok=True).redo
    assert fit_decision("v1", "v1", stored_ok=True).metadata == {"reused_fit": True}
    assert fit_decision("v1", "v2", stored_ok=True).redo  # real data or fit settings changed
    assert fit_decision("v1", "v1", stored_ok=False).redo  # corrupt file: rebuild
    assert fit_decision(None, "v1", stored_ok=False).redo


def test_the_pool_is_topped_up_kept_or_resampled():
    topped = pool_decision("p", "p", stored_rows=300, needed=500)
    assert (topped.kept, topped.to_sample) == (300, 200)
    kept = pool_decision("p", "p", stored_rows=800, needed=500)  # a smaller plan never shrinks the pool
    assert (kept.kept, kept.to_sample, kept.metadata["reused_pool"]) == (800, 0, True)
    fresh = pool_decision("old", "p", stored_rows=800, needed=500)  # another fit: start over
    assert (fresh.kept, fresh.to_sample) == (0, 500)
    assert pool_decision(None, "p", stored_rows=None, needed=10).to_sample == 10


def test_an_mlflow_run_is_logged_once_per_fingerprint():
    assert tracked_run_decision(None).redo
    reused = tracked_run_decision("abc")
    assert not reused.redo and "abc" in reused.reason


def test_the_real_data_stage_reruns_only_on_change(tmp_path):
    plan = parse_plan("name: t\nsource: {path: x.csv}\ntarget: y\n", tmp_path)
    current = real_data_fingerprint(plan, "sha-1")
    assert not real_data_decision(current, current, stage_missing_or_stale=False).redo
    assert real_data_decision(current, real_data_fingerprint(plan, "sha-2"), False).redo  # new source content
    edited = parse_plan("name: t\nsource: {path: x.csv}\ntarget: y\ndrop_columns: [a]\n", tmp_path)
    assert real_data_decision(current, real_data_fingerprint(edited, "sha-1"), False).redo  # plan settings
    assert real_data_fingerprint(plan, None) is None
    assert real_data_decision(current, None, False).redo  # a query source: only a run can tell
    assert real_data_decision(current, current, stage_missing_or_stale=True).redo
    # the ratios are not real-data settings: adding one does not rerun the stage
    more = parse_plan("name: t\nsource: {path: x.csv}\ntarget: y\nratios: [0, 0.6]\n", tmp_path)
    assert real_data_fingerprint(more, "sha-1") == current
