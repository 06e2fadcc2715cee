"""Self-healing storage: a corrupt or partial lake file is reported with its path and rebuilt on the next run."""

from __future__ import annotations

import json
import logging

import pytest

from assets.synthesis import MODEL, POOL, usable_fingerprint
from hybrid_data.lake import FRAME_FILE, OBJECT_FILE, RECEIPT_SUFFIX, CorruptInLake, Lake, Status
from hybrid_data.plan import PlanError
from hybrid_data.plan_snapshot import load_snapshot, snapshot_plan

from .conftest import PREPARE, lake_checksums, materialize

DIMS = {"synth": "gaussian_copula"}


@pytest.mark.slow
def test_corrupt_parquet_and_receipt_are_named_and_rebuilt(prepared, home, instance):
    """A truncated parquet file and a garbled receipt are reported with their paths, and the next run rebuilds both."""
    plan_file, before = prepared
    lake = home.open_lake()
    train = lake.path("real_train")
    train.write_bytes(train.read_bytes()[:-100])
    receipt = lake.path("real_source", None, FRAME_FILE + RECEIPT_SUFFIX)
    receipt.write_text('{"sha256": "trunc')
    with pytest.raises(CorruptInLake, match=rf"{train.path} is corrupt: sha256 .* rematerialize real_train"):
        lake.read_frame("real_train")
    with pytest.raises(CorruptInLake, match=rf"{receipt.path}: unreadable receipt .* rematerialize real_source"):
        lake.read_frame("real_source")
    assert materialize(plan_file, home, instance, PREPARE).success
    assert lake.status("real_train") == Status.ok and lake.status("real_source") == Status.ok
    assert lake_checksums(home) == before  # the same data rebuilt byte for byte


@pytest.mark.parametrize("asset, name", [(MODEL, OBJECT_FILE), (POOL, FRAME_FILE)])
def test_corrupt_pickle_or_pool_is_refit_or_resampled(tmp_path, caplog, asset, name):
    """A corrupt synthesizer pickle or pool counts as missing (refit / resample) with a warning naming its path."""
    lake = Lake(tmp_path / "lake")
    write = lake.write_object if name == OBJECT_FILE else lake.write_frame
    import polars as pl

    write(asset, DIMS, {"fitted": True} if name == OBJECT_FILE else pl.DataFrame({"a": [1]}), fingerprint="v1")
    log = logging.getLogger("test")
    assert usable_fingerprint(lake, asset, DIMS, log) == "v1"
    path = lake.path(asset, DIMS, name)
    path.write_bytes(b"\x80\x04garbage")  # never unpickled: the checksum does not match
    with caplog.at_level(logging.WARNING):
        assert usable_fingerprint(lake, asset, DIMS, log) is None
    assert f"{path} is corrupt or partial" in caplog.text


def test_corrupt_plan_snapshot_is_named_and_rewritten(tmp_path, caplog):
    """A corrupt plan snapshot fails a run pinned to it with its path, and the next launch rewrites it."""
    from tests.conftest import tiny_frame, write_plan

    source = tmp_path / "loans.csv"
    tiny_frame().write_csv(source)
    plan_file = write_plan(tmp_path, source)
    home = tmp_path / "home"
    pinned = snapshot_plan(plan_file, home)
    snapshot = home / "plans" / f"{pinned.fingerprint}.json"
    snapshot.write_text(snapshot.read_text()[:40])
    with pytest.raises(PlanError, match=rf"plan snapshot {snapshot} is corrupt .*relaunch the run"):
        load_snapshot(home, pinned.fingerprint)
    with caplog.at_level(logging.WARNING):
        assert snapshot_plan(plan_file, home).fingerprint == pinned.fingerprint
    assert f"plan snapshot {snapshot} is corrupt" in caplog.text
    assert json.loads(snapshot.read_text())["text"] == plan_file.read_text()
    assert load_snapshot(home, pinned.fingerprint).plan == pinned.plan
