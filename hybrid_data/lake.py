"""The lake: the only door to stored assets. Every read and write of an asset's files goes through a `Lake`.

Layout: `<root>/<asset>/[synth=<s>/][ratio=<r>/]data.parquet` (hive style, so DuckDB reads a whole asset with
`hive_partitioning`), `object.pkl` for fitted models, and any named file (a chart). The root is a local folder or
an fsspec URL (`s3://bucket/lake`, `memory://lake`): the Lake is built on `universal_pathlib`.

Publishing a file, in order:
1. write it completely: locally to a temporary file beside its final name, then `os.replace` (readers see the
   old file or the new one, never half); on an object store as one put under its final key, since rename is not
   atomic there (nor supported by mountpoint-s3);
2. then write its receipt `<name>.receipt.json`: the sha256 and size of the bytes just written, and the
   fingerprint of the inputs it was built from.
A file without a receipt is not published; a file whose bytes do not match its receipt (a crash between the two
steps, a truncated copy, bit rot) is corrupt. Readers verify before parsing, so a pickle is never loaded from
bytes the pipeline did not write; `status()` tells missing and corrupt apart so a rerun can rebuild.

Publish only what passed. A write that blocking checks still have to judge (`awaiting` names them) is a
*candidate*: published the same way, but under `<root>/_candidates/<asset>/<partition>/<version>/` (the version
is the writing run's id), so the current file, the one every other reader sees, stays the last good one. The
run that wrote a candidate reads it back while it is undecided (`Lake(root, run_id=...)`): that is what its
checks judge. Settling (hybrid_data/publication.py) copies the newest passed candidate to the current path (a
complete write, then its receipt: no rename, so object stores work) or records why it was rejected; a Lake given
a `settle` callback settles a partition before its first read of it, so the writing run's downstream steps
(which Dagster starts only after the blocking checks passed) publish the version they read.
A single DuckDB file is not used for storage because it takes one writer process at a time, and backfills run many.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl
from upath import UPath

FRAME_FILE = "data.parquet"
OBJECT_FILE = "object.pkl"
RECEIPT_SUFFIX = ".receipt.json"
CANDIDATES = "_candidates"
VERDICT_FILE = "verdict.json"
# Files holding real rows must not be world-readable: every published file (and receipt) gets this mode locally.
FILE_MODE = 0o600
# Partition dimensions in folder order; other dimensions follow alphabetically.
DIMENSION_ORDER = ("synth", "ratio")
_LOCAL_PROTOCOLS = ("", "file", "local")
_HASH_BLOCK = 1 << 20

Partition = Mapping[str, str] | None
# settle(lake, asset, partition): decide the partition's waiting candidates (see hybrid_data/publication.py)
Settle = Callable[["Lake", str, Partition], None]


class LakeError(Exception):
    """A stored asset that cannot be used; the message names its path."""


class MissingInLake(LakeError, FileNotFoundError):
    """Nothing is published at this path (never materialized, or a write that did not finish)."""


class CorruptInLake(LakeError):
    """The bytes at this path are not the bytes that were published there; rematerialize the asset."""


class Status(StrEnum):
    ok = "ok"
    missing = "missing"
    corrupt = "corrupt"


@dataclass(frozen=True)
class Receipt:
    """What was published: the file's sha256 and size, and the fingerprint of what it was built from; for versioned
    writes also the version (run id), when it was written, the blocking checks a candidate awaits, the Dagster
    partition key the checks report under, and why it became current; for a frame, its content fingerprint
    (`frame_fingerprint`), so a reader that only needs to know which rows a file holds need not load it."""

    sha256: str
    size: int
    fingerprint: str | None = None
    version: str | None = None
    written_at: float | None = None
    awaiting: tuple[str, ...] = ()
    partition_key: str | None = None
    reason: str | None = None
    content: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()})

    @classmethod
    def from_json(cls, text: str) -> Receipt:
        data = json.loads(text)
        return cls(
            data["sha256"],
            int(data["size"]),
            data.get("fingerprint"),
            data.get("version"),
            data.get("written_at"),
            tuple(data.get("awaiting") or ()),
            data.get("partition_key"),
            data.get("reason"),
            data.get("content"),
        )


@dataclass(frozen=True)
class Candidate:
    """A version written for blocking checks to judge, and the verdict once settled (None: still waiting)."""

    asset: str
    partition: dict[str, str] | None
    name: str
    receipt: Receipt
    verdict: dict | None

    @property
    def version(self) -> str:
        return self.receipt.version or ""


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """A content hash of a frame (schema, row order and values), to tell whether an input really changed."""
    digest = hashlib.sha256(str(frame.schema).encode())
    if frame.height:
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def fingerprint(*parts: Any) -> str:
    """A short stable hash of plain values (JSON-serialised with sorted keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write a local file through a temporary file beside it, then rename: readers see the old file or the new,
    never half. The one atomic local write of the project (the lake, generated suites and plan snapshots use it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # the real suffix last: writers that pick a format from the name (matplotlib) still see it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, FILE_MODE)  # some writers (DuckDB's COPY) recreate the file with the umask's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Lake:
    """One lake root (a folder or an fsspec URL) and every operation on what is stored under it."""

    def __init__(self, root: str | os.PathLike | UPath, run_id: str | None = None, settle: Settle | None = None):
        """`run_id`: the run this Lake reads and writes for (its own candidates are read back, new candidates are
        versioned by it); `settle`: called once per partition before its first read of the current version."""
        root = UPath(root)
        self.is_local = root.protocol in _LOCAL_PROTOCOLS
        self.root: UPath = UPath(Path(root.path).resolve()) if self.is_local else root
        self.run_id = run_id
        self._settle = settle
        self._settled: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lake) and str(self.root) == str(other.root)

    def __hash__(self) -> int:
        return hash(str(self.root))

    # --- where -------------------------------------------------------------------------------------------------

    def folder(self, asset: str, partition: Partition = None) -> UPath:
        """The folder of one asset partition (hive style: `synth=<s>/ratio=<r>`)."""
        return _partition_folder(self.root / asset, partition)

    def candidate_folder(self, asset: str, partition: Partition, version: str) -> UPath:
        """Where a candidate version of one asset partition is kept until its blocking checks are settled."""
        return _partition_folder(self.root / CANDIDATES / asset, partition) / version

    def path(self, asset: str, partition: Partition = None, name: str = FRAME_FILE) -> UPath:
        """Where a file is (or would be) published; for metadata and for DuckDB's `read_parquet`."""
        return self.folder(asset, partition) / name

    def uri(self, asset: str, partition: Partition = None, name: str = FRAME_FILE) -> str:
        """The path of the version this Lake reads (its run's own candidate, else the current file) as DuckDB and
        people read it: a plain path for a local lake, the URL otherwise."""
        path = self._locate(asset, partition, name)[0]
        return path.path if self.is_local else str(path)

    def frame_glob(self, asset: str) -> str:
        """Every published partition's frame of an asset, as a DuckDB glob."""
        path = self.path(asset, None, f"**/{FRAME_FILE}")
        return path.path if self.is_local else str(path)

    def assets(self) -> list[str]:
        """Assets with at least one published frame."""
        if not self.root.exists():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith("_") and self.partitions(p.name, FRAME_FILE)
        )

    def partitions(self, asset: str, name: str | None = None) -> list[dict[str, str]]:
        """Dimension values of every published partition of an asset (a frame or an object, or file `name`)."""
        base = self.root / asset
        if not base.exists():
            return []
        names = (name,) if name else (FRAME_FILE, OBJECT_FILE)
        found = []
        for receipt in sorted(base.glob(f"**/*{RECEIPT_SUFFIX}"), key=str):
            if receipt.name.removesuffix(RECEIPT_SUFFIX) not in names:
                continue
            parts = receipt.parent.relative_to(base).parts if self.is_local else _relative_parts(receipt.parent, base)
            dims = dict(p.split("=", 1) for p in parts if "=" in p)
            if dims not in found:
                found.append(dims)
        return found

    def names(self, asset: str, partition: Partition = None) -> list[str]:
        """Names of the files published in one asset partition's folder."""
        folder = self.folder(asset, partition)
        if not folder.exists():
            return []
        return sorted(p.name.removesuffix(RECEIPT_SUFFIX) for p in folder.glob(f"*{RECEIPT_SUFFIX}"))

    def register_with(self, con: Any) -> None:
        """Let a DuckDB connection read this lake's URLs. DuckDB's own S3 support is an extension it downloads at
        run time (httpfs); an object-store lake is read through the lake's fsspec file system instead."""
        if not self.is_local:
            con.register_filesystem(self.root.fs)

    # --- publish -----------------------------------------------------------------------------------------------

    def publish(
        self,
        asset: str,
        partition: Partition,
        name: str,
        write: Callable[[Path], None],
        fingerprint: str | None = None,
        awaiting: Sequence[str] = (),
        partition_key: str | None = None,
        content: str | None = None,
    ) -> UPath:
        """Publish a file written by `write(local_path)`: the complete file under its final name, then its receipt.
        With blocking checks `awaiting`, the file is a candidate of this Lake's run instead (see the module doc).

        Locally `write` fills a temporary file beside the target, which is then renamed over it; on an object
        store it fills a local temporary file that is uploaded in one put under the final key."""
        version = self.run_id or f"local-{time.time_ns():x}"
        if awaiting:
            folder = self.candidate_folder(asset, partition, version)
            extra = {"version": version, "awaiting": tuple(sorted(awaiting)), "partition_key": partition_key}
        else:
            folder, extra = self.folder(asset, partition), {"version": version, "reason": "no blocking checks"}
        return self._put(
            folder / name, write, fingerprint=fingerprint, written_at=time.time(), content=content, **extra
        )

    def _put(self, target: UPath, write: Callable[[Path], None], **receipt: Any) -> UPath:
        """The complete file under `target`, then its receipt (sha256 and size of the bytes written, and `receipt`).
        A full disk is reported as such, naming the file; the version published before stays as it was."""
        try:
            return self._put_unchecked(target, write, **receipt)
        except Exception as exc:  # writers wrap the OS error their own way (polars: ComputeError "os error 28")
            if getattr(exc, "errno", None) != errno.ENOSPC and "No space left on device" not in str(exc):
                raise
            raise LakeError(
                f"{target}: no space left on the device holding the lake; free space there or "
                "move the home (HYBRID_DATA_HOME / HYBRID_DATA_LAKE) and rerun: the version published before is intact"
            ) from exc

    def _put_unchecked(self, target: UPath, write: Callable[[Path], None], **receipt: Any) -> UPath:
        if self.is_local:
            final = Path(target.path)
            holder: dict[str, tuple[str, int]] = {}

            def write_and_hash(tmp: Path) -> None:
                write(tmp)
                holder["hash"] = sha256_file(tmp)

            replace_atomically(final, write_and_hash)
            sha256, size = holder["hash"]
        else:
            with tempfile.TemporaryDirectory(prefix="hybrid-data-lake-") as scratch:
                tmp = Path(scratch) / target.name
                write(tmp)
                sha256, size = sha256_file(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tmp.read_bytes())
        self._write_receipt(target, Receipt(sha256, size, **receipt))
        return target

    def write_frame(
        self, asset: str, partition: Partition, frame: pl.DataFrame, fingerprint: str | None = None, **candidate: Any
    ) -> UPath:
        """`candidate`: `awaiting` and `partition_key`, as for `publish`. The receipt records the frame's content
        fingerprint (a hash pass over the rows, ~0.1 s per million)."""
        content = frame_fingerprint(frame)
        return self.publish(
            asset, partition, FRAME_FILE, frame.write_parquet, fingerprint, content=content, **candidate
        )

    def write_object(
        self, asset: str, partition: Partition, obj: Any, fingerprint: str | None = None, **candidate: Any
    ) -> UPath:
        import cloudpickle  # SDV's own serializer; handles the synthesizers' closures

        def dump(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                cloudpickle.dump(obj, handle)

        return self.publish(asset, partition, OBJECT_FILE, dump, fingerprint, **candidate)

    def write_bytes(
        self, asset: str, partition: Partition, name: str, data: bytes, fingerprint: str | None = None
    ) -> UPath:
        return self.publish(asset, partition, name, lambda tmp: tmp.write_bytes(data), fingerprint)

    def _write_receipt(self, target: UPath, receipt: Receipt) -> None:
        self._write_text(target.with_name(target.name + RECEIPT_SUFFIX), receipt.to_json())

    def _write_text(self, path: UPath, text: str) -> None:
        """A small object written whole (locally through a temporary file; on an object store in one put)."""
        if self.is_local:
            replace_atomically(Path(path.path), lambda tmp: tmp.write_text(text))
        else:
            path.write_text(text)

    # --- candidates --------------------------------------------------------------------------------------------

    def candidates(self, asset: str, partition: Partition = None) -> list[Candidate]:
        """Every candidate version of one asset partition, oldest first, with its verdict (None: undecided)."""
        base = _partition_folder(self.root / CANDIDATES / asset, partition)
        try:
            folders = [p for p in base.iterdir() if p.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for folder in folders:
            for receipt_path in folder.glob(f"*{RECEIPT_SUFFIX}"):
                try:
                    receipt = Receipt.from_json(receipt_path.read_text())
                except (ValueError, KeyError, OSError):
                    continue  # a candidate whose receipt did not finish is no candidate
                verdict = _read_json(folder / VERDICT_FILE)
                name = receipt_path.name.removesuffix(RECEIPT_SUFFIX)
                found.append(Candidate(asset, dict(partition) if partition else None, name, receipt, verdict))
        return sorted(found, key=lambda c: (c.receipt.written_at or 0.0, c.version))

    def promote(self, candidate: Candidate, reason: str) -> UPath:
        """Make a candidate the current version: its verified bytes written whole under the current path, then the
        receipt (with the reason), then the verdict; the candidate's copy is dropped."""
        folder = self.candidate_folder(candidate.asset, candidate.partition, candidate.version)
        data = self._verified(folder / candidate.name, candidate.receipt, candidate.asset)
        old = candidate.receipt
        target = self._put(
            self.path(candidate.asset, candidate.partition, candidate.name),
            lambda tmp: tmp.write_bytes(data),
            fingerprint=old.fingerprint,
            version=old.version,
            written_at=old.written_at,
            partition_key=old.partition_key,
            reason=reason,
            content=old.content,
        )
        self.decide(candidate, "published", reason)
        (folder / candidate.name).unlink(missing_ok=True)
        return target

    def decide(self, candidate: Candidate, state: str, reason: str) -> None:
        """Record a candidate's verdict (`published`, `rejected` or `superseded`) and why, for people and reruns."""
        folder = self.candidate_folder(candidate.asset, candidate.partition, candidate.version)
        self._write_text(folder / VERDICT_FILE, json.dumps({"state": state, "reason": reason, "at": time.time()}))
        if state == "superseded":
            (folder / candidate.name).unlink(missing_ok=True)

    def verdict(self, candidate: Candidate) -> dict | None:
        """A candidate's verdict as stored now (None: undecided)."""
        folder = self.candidate_folder(candidate.asset, candidate.partition, candidate.version)
        return _read_json(folder / VERDICT_FILE)

    def _own_candidate(self, asset: str, partition: Partition, name: str) -> tuple[UPath, Receipt] | None:
        """This Lake's run's own candidate of a file, unless rejected: what the run's checks and steps read."""
        if not self.run_id:
            return None
        folder = self.candidate_folder(asset, partition, self.run_id)
        try:
            receipt = Receipt.from_json((folder / (name + RECEIPT_SUFFIX)).read_text())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (ValueError, KeyError, OSError) as exc:
            raise CorruptInLake(f"{folder / name}: unreadable receipt ({exc}); rematerialize {asset}") from exc
        if _read_json(folder / VERDICT_FILE) is not None:
            return None  # rejected (never read again), or promoted meanwhile (the current file holds its bytes)
        return folder / name, receipt

    def _locate(self, asset: str, partition: Partition, name: str) -> tuple[UPath, Receipt | None]:
        """The file this Lake reads for a name and its receipt. The partition's waiting candidates are settled
        first (once per Lake, when it settles): a downstream step of the writing run finds the version its checks
        passed promoted already. Then the run's own candidate while still undecided (what its checks judge), else
        the current file."""
        key = (asset, json.dumps(dict(partition or {}), sort_keys=True))
        if self._settle is not None and key not in self._settled:
            self._settled.add(key)
            self._settle(self, asset, partition)
        own = self._own_candidate(asset, partition, name)
        if own is not None:
            return own
        return self.path(asset, partition, name), self.current_receipt(asset, partition, name)

    def current_receipt(self, asset: str, partition: Partition = None, name: str = FRAME_FILE) -> Receipt | None:
        """The receipt of the current version (never a candidate, no settling): what every other run reads."""
        receipt_path = self.path(asset, partition, name + RECEIPT_SUFFIX)
        try:
            return Receipt.from_json(receipt_path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, OSError) as exc:
            raise CorruptInLake(f"{receipt_path}: unreadable receipt ({exc}); rematerialize {asset}") from exc

    # --- read --------------------------------------------------------------------------------------------------

    def receipt(self, asset: str, partition: Partition = None, name: str = FRAME_FILE) -> Receipt | None:
        """The receipt of the file this Lake reads (None when nothing is published under that name)."""
        return self._locate(asset, partition, name)[1]

    def checksum(self, asset: str, partition: Partition = None, name: str = FRAME_FILE) -> str | None:
        """The sha256 recorded when the file was published (None: not published)."""
        receipt = self.receipt(asset, partition, name)
        return receipt.sha256 if receipt else None

    def stored_fingerprint(self, asset: str, partition: Partition = None) -> str | None:
        """The fingerprint the asset's frame or object was published with (None: not published, or none given)."""
        for name in (FRAME_FILE, OBJECT_FILE):
            receipt = self.receipt(asset, partition, name)
            if receipt is not None:
                return receipt.fingerprint
        return None

    def content_fingerprint(self, asset: str, partition: Partition = None) -> str | None:
        """The `frame_fingerprint` of the frame this Lake reads, from its receipt, without loading the frame (None:
        not published, or published before receipts recorded it: then read the frame and hash it)."""
        receipt = self.receipt(asset, partition, FRAME_FILE)
        return receipt.content if receipt else None

    def read_bytes(self, asset: str, partition: Partition = None, name: str = FRAME_FILE) -> bytes:
        """The published bytes (or this run's candidate's), verified against their receipt."""
        path, receipt = self._locate(asset, partition, name)
        if receipt is None:
            raise MissingInLake(f"{path} is not in the lake: materialize {asset} first")
        current = self.path(asset, partition, name)
        try:
            return self._verified(path, receipt, asset)
        except CorruptInLake:
            if path == current:
                raise
            # Another step of this run promoted the candidate between locating and reading it (steps run side by
            # side): the same bytes are now the current file.
            promoted = self.current_receipt(asset, partition, name)
            if promoted is None or promoted.sha256 != receipt.sha256:
                raise
            return self._verified(current, promoted, asset)

    def _verified(self, path: UPath, receipt: Receipt, asset: str) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CorruptInLake(f"{path} has a receipt but no file; rematerialize {asset}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != receipt.sha256 or len(data) != receipt.size:
            raise CorruptInLake(
                f"{path} is corrupt: sha256 {actual[:12]} ({len(data)} bytes) does not match the published "
                f"{receipt.sha256[:12]} ({receipt.size} bytes); rematerialize {asset}"
            )
        return data

    def read_frame(self, asset: str, partition: Partition = None) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.read_bytes(asset, partition, FRAME_FILE)))

    def read_object(self, asset: str, partition: Partition = None) -> Any:
        import cloudpickle

        # verified first: unpickling runs code, so only bytes this lake published are loaded
        return cloudpickle.loads(self.read_bytes(asset, partition, OBJECT_FILE))

    def read(self, asset: str, partition: Partition = None) -> Any:
        """The asset partition's frame, else its object."""
        if self.receipt(asset, partition, FRAME_FILE) is not None:
            return self.read_frame(asset, partition)
        if self.receipt(asset, partition, OBJECT_FILE) is not None:
            return self.read_object(asset, partition)
        raise MissingInLake(f"{self.folder(asset, partition)} holds nothing published: materialize {asset} first")

    def frame_rows(self, asset: str, partition: Partition = None) -> int | None:
        """Rows of a published frame from its Parquet footer (no data read); None when not published."""
        import pyarrow.parquet as pq

        path, receipt = self._locate(asset, partition, FRAME_FILE)
        if receipt is None:
            return None
        with path.open("rb") as handle:
            return pq.ParquetFile(handle).metadata.num_rows

    def status(self, asset: str, partition: Partition = None, name: str | None = None) -> Status:
        """ok, missing or corrupt (verifies the bytes): what a rerun uses to decide whether to rebuild."""
        names = (name,) if name else (FRAME_FILE, OBJECT_FILE)
        for candidate in names:
            try:
                if self.receipt(asset, partition, candidate) is None:
                    continue
                self.read_bytes(asset, partition, candidate)
                return Status.ok
            except CorruptInLake:
                return Status.corrupt
        return Status.missing

    def exists(self, asset: str, partition: Partition = None) -> bool:
        """Whether a frame or object is published (receipt present; bytes not verified)."""
        return any(self.receipt(asset, partition, n) is not None for n in (FRAME_FILE, OBJECT_FILE))


def _partition_folder(base: UPath, partition: Partition) -> UPath:
    """`base` plus one hive-style folder per dimension (`synth=<s>/ratio=<r>`, known dimensions first)."""
    folder = base
    if partition:
        ordered = sorted(partition, key=lambda d: (DIMENSION_ORDER.index(d) if d in DIMENSION_ORDER else 99, d))
        for dim in ordered:
            folder = folder / f"{dim}={partition[dim]}"
    return folder


def _read_json(path: UPath) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (ValueError, OSError):
        return None


def _relative_parts(path: UPath, base: UPath) -> tuple[str, ...]:
    return tuple(Path(path.path).relative_to(Path(base.path)).parts)
