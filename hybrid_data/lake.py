"""The lake: every asset as files under one root, written atomically so a failure keeps the last good version.

Layout: `<lake>/<asset>/[synth=<s>/][ratio=<r>/]data.parquet` (hive style, so DuckDB reads a whole asset
with `hive_partitioning`) and `object.pkl` for fitted models. A single DuckDB file is not used for storage
because it takes one writer process at a time, and backfills run many.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

FRAME_FILE = "data.parquet"
OBJECT_FILE = "object.pkl"
FINGERPRINT_FILE = "fingerprint.json"
# Partition dimensions in folder order; other dimensions follow alphabetically.
DIMENSION_ORDER = ("synth", "ratio")


def partition_dir(lake: Path, asset: str, partition: Mapping[str, str] | None = None) -> Path:
    folder = lake / asset
    if partition:
        ordered = sorted(partition, key=lambda d: (DIMENSION_ORDER.index(d) if d in DIMENSION_ORDER else 99, d))
        for dim in ordered:
            folder = folder / f"{dim}={partition[dim]}"
    return folder


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_frame(folder: Path, frame: pl.DataFrame) -> Path:
    path = folder / FRAME_FILE
    _atomic_write(path, lambda tmp: frame.write_parquet(tmp))
    return path


def read_frame(folder: Path) -> pl.DataFrame:
    path = folder / FRAME_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize the upstream asset first")
    return pl.read_parquet(path)


def write_object(folder: Path, obj: Any) -> Path:
    import cloudpickle  # SDV's own serializer; handles the synthesizers' closures

    path = folder / OBJECT_FILE

    def dump(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            cloudpickle.dump(obj, handle)

    _atomic_write(path, dump)
    return path


def read_object(folder: Path) -> Any:
    import cloudpickle

    path = folder / OBJECT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize the upstream asset first")
    with path.open("rb") as handle:
        return cloudpickle.load(handle)


def write_fingerprint(folder: Path, fingerprint: str) -> None:
    _atomic_write(folder / FINGERPRINT_FILE, lambda tmp: tmp.write_text(json.dumps({"fingerprint": fingerprint})))


def read_fingerprint(folder: Path) -> str | None:
    path = folder / FINGERPRINT_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("fingerprint")


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """A content hash of a frame (schema, row order and values), to tell whether an input really changed."""
    digest = hashlib.sha256(str(frame.schema).encode())
    if frame.height:
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def partitions_of(lake: Path, asset: str) -> list[tuple[dict[str, str], Path]]:
    """Every materialized partition of an asset, as (dimension values, folder)."""
    root = lake / asset
    found = []
    for data in sorted(root.glob(f"**/{FRAME_FILE}")):
        parts = data.parent.relative_to(root).parts
        found.append((dict(p.split("=", 1) for p in parts if "=" in p), data.parent))
    return found
