"""The Lake: publish (complete file, then checksum receipt), verified reads, missing vs corrupt, on a local folder
and on an fsspec object store (memory://), where nothing may depend on rename."""

from __future__ import annotations

import hashlib
import uuid

import polars as pl
import pytest

from hybrid_data.lake import (
    FRAME_FILE,
    OBJECT_FILE,
    RECEIPT_SUFFIX,
    CorruptInLake,
    Lake,
    MissingInLake,
    Status,
    frame_fingerprint,
)

FRAME = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
DIMS = {"ratio": "0.5", "synth": "gaussian_copula"}


@pytest.fixture(params=["local", "memory"])
def lake(request, tmp_path) -> Lake:
    if request.param == "local":
        yield Lake(tmp_path / "lake")
        return
    root = f"memory://lake-{uuid.uuid4().hex}"
    yield Lake(root)
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem().rm(root.removeprefix("memory://"), recursive=True)


def test_frames_and_objects_round_trip_with_checksum_and_fingerprint(lake: Lake):
    path = lake.write_frame("blend", DIMS, FRAME, fingerprint="f1")
    assert str(path).endswith("blend/synth=gaussian_copula/ratio=0.5/data.parquet")  # hive order, not alphabetical
    assert lake.read_frame("blend", DIMS).equals(FRAME)
    assert lake.checksum("blend", DIMS) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert lake.stored_fingerprint("blend", DIMS) == "f1"
    lake.write_object("synthesizer_model", {"synth": "tvae"}, {"fitted": [1, 2]}, fingerprint="m1")
    assert lake.read_object("synthesizer_model", {"synth": "tvae"}) == {"fitted": [1, 2]}
    assert lake.stored_fingerprint("synthesizer_model", {"synth": "tvae"}) == "m1"
    assert lake.partitions("blend") == [{"synth": "gaussian_copula", "ratio": "0.5"}]
    assert lake.assets() == ["blend"]  # frames only: what DuckDB can read
    # The receipt says which rows the file holds, as the frame read back would hash them: no load needed.
    assert lake.content_fingerprint("blend", DIMS) == frame_fingerprint(lake.read_frame("blend", DIMS))
    assert lake.content_fingerprint("blend", {"ratio": "1", "synth": "tvae"}) is None  # nothing published
    assert lake.frame_rows("blend", DIMS) == 3


def test_missing_and_corrupt_are_told_apart_and_a_corrupt_pickle_is_never_loaded(lake: Lake):
    assert lake.status("blend", DIMS) == Status.missing
    with pytest.raises(MissingInLake, match="materialize blend first"):
        lake.read_frame("blend", DIMS)
    lake.write_object("synthesizer_model", None, {"ok": True})
    path = lake.path("synthesizer_model", None, OBJECT_FILE)
    path.write_bytes(path.read_bytes()[:-5])  # truncated, as a crash or a bad copy leaves it
    assert lake.status("synthesizer_model") == Status.corrupt
    with pytest.raises(CorruptInLake, match=r"object\.pkl is corrupt: sha256 .* rematerialize synthesizer_model"):
        lake.read_object("synthesizer_model")
    lake.write_object("synthesizer_model", None, {"ok": True})  # a rerun rebuilds it
    assert lake.status("synthesizer_model") == Status.ok


def test_a_file_without_receipt_is_not_published(lake: Lake):
    path = lake.path("real_train")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1 half written")  # a writer that died before publishing its receipt
    assert lake.status("real_train") == Status.missing
    assert not lake.exists("real_train") and lake.partitions("real_train") == []


def test_a_failed_write_keeps_the_last_good_version(lake: Lake):
    lake.write_frame("real_train", None, FRAME)

    def fail(tmp):
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        lake.publish("real_train", None, FRAME_FILE, fail)
    assert lake.read_frame("real_train").equals(FRAME)
    assert lake.names("real_train") == [FRAME_FILE]  # no temporary file left behind


def test_object_store_write_is_one_put_under_the_final_key(monkeypatch):
    """On a non-local filesystem the lake never renames: it uploads the complete object under its final key."""
    from fsspec.implementations.memory import MemoryFileSystem

    calls = []
    for method in ("mv", "rename", "move", "copy"):
        monkeypatch.setattr(MemoryFileSystem, method, lambda *a, _m=method, **k: calls.append(_m), raising=False)
    lake = Lake(f"memory://lake-{uuid.uuid4().hex}")
    lake.write_frame("blend", DIMS, FRAME)
    assert lake.read_frame("blend", DIMS).equals(FRAME)
    assert calls == []
    listed = {p.name for p in lake.folder("blend", DIMS).iterdir()}
    assert listed == {FRAME_FILE, FRAME_FILE + ".receipt.json"}


def test_a_receipt_written_before_content_fingerprints_reads_as_none(lake: Lake):
    """Homes built before receipts recorded content: readers fall back to loading the frame and hashing it."""
    import json

    lake.write_frame("blend", DIMS, FRAME)
    receipt_path = lake.folder("blend", DIMS) / (FRAME_FILE + RECEIPT_SUFFIX)
    old = {k: v for k, v in json.loads(receipt_path.read_text()).items() if k != "content"}
    receipt_path.write_text(json.dumps(old))
    assert lake.content_fingerprint("blend", DIMS) is None
    assert lake.read_frame("blend", DIMS).equals(FRAME)  # the receipt still verifies the file


def test_a_candidate_is_read_by_its_run_only_until_settled_and_promoted_without_rename(lake: Lake):
    from hybrid_data.publication import CheckOutcome, publish_decision, settle_partition

    lake.write_frame("blend", DIMS, FRAME, fingerprint="good")
    newer = FRAME.head(2)
    Lake(lake.root, run_id="r2").write_frame(
        "blend", DIMS, newer, fingerprint="new", awaiting=["c1"], partition_key="k"
    )
    assert lake.read_frame("blend", DIMS).equals(FRAME)  # other readers: the current version
    assert Lake(lake.root, run_id="r2").read_frame("blend", DIMS).equals(newer)  # its run (its checks) see it
    assert lake.partitions("blend") == [{"synth": "gaussian_copula", "ratio": "0.5"}]  # candidates are not listed

    def passed(candidate):
        return publish_decision(candidate.receipt.awaiting, {"c1": CheckOutcome(True, False)}, True)

    report = settle_partition(lake, "blend", DIMS, passed)
    assert report.published == [("r2", "blocking checks passed: c1")]
    assert lake.read_frame("blend", DIMS).equals(newer) and lake.stored_fingerprint("blend", DIMS) == "new"
    assert lake.content_fingerprint("blend", DIMS) == frame_fingerprint(newer)  # carried over by the promotion
    assert lake.current_receipt("blend", DIMS).reason == "blocking checks passed: c1"
    assert lake.candidates("blend", DIMS)[0].verdict["state"] == "published"
    assert not settle_partition(lake, "blend", DIMS, passed).changed  # decided once


def test_two_steps_settling_one_candidate_at_once_both_read_it(tmp_path):
    from hybrid_data.publication import CheckOutcome, publish_decision, settle_partition

    lake = Lake(tmp_path / "lake")
    Lake(lake.root, run_id="r1").write_frame("synthetic_pool", {"synth": "tvae"}, FRAME, awaiting=["c"])
    [candidate] = lake.candidates("synthetic_pool", {"synth": "tvae"})
    lake.promote(candidate, "passed")  # a parallel step promoted it between our listing and our promotion

    def passed(c):
        return publish_decision(c.receipt.awaiting, {"c": CheckOutcome(True, False)}, True)

    stale_lake = Lake(lake.root)
    # what this step listed and read before the other promoted it
    stale_lake.candidates = lambda asset, partition=None: [candidate]
    stale_lake.current_receipt = lambda *args, **kwargs: None
    report = settle_partition(stale_lake, "synthetic_pool", {"synth": "tvae"}, passed)
    assert report.rejected == [] and lake.read_frame("synthetic_pool", {"synth": "tvae"}).equals(FRAME)


def test_a_step_reading_its_candidate_while_a_sibling_step_promotes_it_reads_the_same_bytes(tmp_path):
    """Steps of one run read side by side: a check step locates the run's candidate, the model step promotes it
    (writes the current file, drops the candidate's copy), and the check step still reads the same bytes."""
    lake = Lake(tmp_path / "lake", run_id="r1")
    lake.write_frame("blend", DIMS, FRAME, awaiting=["c"])
    located = lake._locate("blend", DIMS, FRAME_FILE)  # the check step's view, before its sibling promotes
    [candidate] = lake.candidates("blend", DIMS)
    Lake(lake.root, run_id="r1").promote(candidate, "passed")
    lake._locate = lambda *args: located
    assert lake.read_frame("blend", DIMS).equals(FRAME)
