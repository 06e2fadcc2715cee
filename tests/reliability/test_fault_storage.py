"""Storage faults: a killed writer, a killed run's candidate, a full disk, a held warehouse, file modes."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from hybrid_data.lake import FRAME_FILE, Lake, LakeError, Status
from hybrid_data.publication import publish_decision, settle_partition
from hybrid_data.warehouse import refresh_views

GOOD = pl.DataFrame({"x": list(range(100)), "y": ["good"] * 100})
DIMS = {"synth": "gaussian_copula", "ratio": "0.5"}

KILLED_WRITER = """
import sys, time
from hybrid_data.lake import FRAME_FILE, Lake

def write(tmp):
    with open(tmp, "wb") as handle:
        handle.write(b"PAR1" + b"x" * 100_000)
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

Lake(sys.argv[1], run_id=sys.argv[2]).publish("blend", {"synth": "gaussian_copula", "ratio": "0.5"}, FRAME_FILE,
    write, awaiting=tuple(sys.argv[3:]))
"""


@pytest.mark.parametrize("awaiting", [(), ("blend_excludes_holdout",)], ids=["published", "candidate"])
def test_kill_9_while_writing_keeps_the_last_good_version(tmp_path: Path, awaiting):
    """kill -9 while any stage writes its lake file (published or candidate) leaves the last good version current."""
    lake = Lake(tmp_path / "lake")
    lake.write_frame("blend", DIMS, GOOD)
    before = lake.path("blend", DIMS).read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(lake.root), "killed-run", *awaiting],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert writer.stdout.readline().strip() == "writing"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert lake.path("blend", DIMS).read_bytes() == before
    assert lake.status("blend", DIMS) == Status.ok and lake.read_frame("blend", DIMS).equals(GOOD)
    assert lake.candidates("blend", DIMS) == []  # a candidate without its receipt is no candidate
    assert Lake(lake.root, run_id="killed-run").read_frame("blend", DIMS).equals(GOOD)


def test_killed_runs_candidate_never_becomes_current(tmp_path: Path):
    """A candidate whose run was killed before its checks reported waits, then is rejected; the last good stays."""
    lake = Lake(tmp_path / "lake")
    lake.write_frame("blend", DIMS, GOOD)
    Lake(lake.root, run_id="killed").write_frame("blend", DIMS, GOOD.head(3), awaiting=("blend_excludes_holdout",))
    alive = settle_partition(lake, "blend", DIMS, lambda c: publish_decision(c.receipt.awaiting, {}, False))
    assert alive.waiting and lake.read_frame("blend", DIMS).equals(GOOD)
    ended = settle_partition(lake, "blend", DIMS, lambda c: publish_decision(c.receipt.awaiting, {}, True))
    assert ended.rejected == [("killed", "the run ended before blocking check(s) blend_excludes_holdout reported")]
    assert lake.read_frame("blend", DIMS).equals(GOOD)
    assert lake.candidates("blend", DIMS)[0].verdict["state"] == "rejected"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 512 KiB tmpfs (skipped, with the reason, where this machine does not let the test mount one)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_is_reported_and_keeps_the_last_good_version(small_disk: Path):
    """A full disk fails the write with a message naming the file and what to do; the last good version stays."""
    lake = Lake(small_disk / "lake")
    lake.write_frame("real_train", None, GOOD)
    before = lake.path("real_train").read_bytes()
    big = pl.DataFrame({"noise": [os.urandom(64).hex() for _ in range(20_000)]})
    with pytest.raises(LakeError, match=r"real_train/data.parquet: no space left on the device holding the lake"):
        lake.write_frame("real_train", None, big)
    assert lake.path("real_train").read_bytes() == before and lake.status("real_train") == Status.ok
    assert sorted(p.name for p in lake.folder("real_train").iterdir()) == [FRAME_FILE, FRAME_FILE + ".receipt.json"]


def test_held_warehouse_skips_views_with_a_warning(tmp_path: Path, caplog):
    """A warehouse.duckdb held open by another DuckDB process skips the browse views with a warning, never fails."""
    lake = Lake(tmp_path / "lake")
    lake.write_frame("real_train", None, GOOD)
    warehouse = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys; c=duckdb.connect({str(warehouse)!r}); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with caplog.at_level(logging.WARNING):
            assert refresh_views(lake, warehouse, attempts=2) == []
    finally:
        holder.communicate("")
    assert f"{warehouse} is held by another process" in caplog.text
    assert refresh_views(lake, warehouse) == ["real_train"]  # released: refreshed


def test_lake_files_holding_real_rows_are_private(tmp_path: Path):
    """Every lake file (real rows included, whatever wrote it) and its receipt is 0600, whatever the umask."""
    lake = Lake(tmp_path / "lake")
    old = os.umask(0o022)
    try:

        def duckdb_like(tmp: Path) -> None:  # DuckDB's COPY replaces the file, with the umask's mode
            tmp.unlink()
            GOOD.write_parquet(tmp)

        path = lake.publish("real_train", None, FRAME_FILE, duckdb_like)
        lake.write_frame("real_holdout", None, GOOD, awaiting=("x",))
    finally:
        os.umask(old)
    files = [Path(path.path), Path(path.path + ".receipt.json")]
    files += [p for p in (tmp_path / "lake" / "_candidates").rglob("*") if p.is_file()]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o600"}
