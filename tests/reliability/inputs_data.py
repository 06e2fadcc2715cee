"""Small bad inputs for the reliability tests: tiny files written on the fly, and a snapshot of a home's state."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import yaml

HEADER = "amount,region,rate,Class"


def rows(n: int = 40, bad_every: int = 4) -> list[str]:
    """`n` CSV data rows of a small binary table (every `bad_every`-th row is the 'bad' class)."""
    return [
        f"{100 + i},{'north' if i % 3 else 'south'},{0.05 + i / 1000:.3f},{'bad' if i % bad_every == 0 else 'good'}"
        for i in range(n)
    ]


def write_csv_text(folder: Path, lines: list[str], name: str = "real.csv", encoding: str = "utf8") -> Path:
    path = folder / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding) if lines else b"")
    return path


def good_lines(n: int = 40) -> list[str]:
    return [HEADER, *rows(n)]


def plan_text(source: dict, target: str = "Class", **extra) -> str:
    """A small plan for `source` (a mapping of the plan's `source:` section)."""
    plan = {"name": "inputs", "source": source, "target": target, "checks": {"min_rows": 10}, **extra}
    return yaml.safe_dump(plan, sort_keys=False)


def write_plan_file(folder: Path, source: dict, target: str = "Class", **extra) -> Path:
    path = folder / "plan.yaml"
    path.write_text(plan_text(source, target, **extra))
    return path


def frame(n: int = 40) -> pl.DataFrame:
    """The same table as `good_lines`, as a frame."""
    return pl.DataFrame(
        {
            "amount": [100 + i for i in range(n)],
            "region": ["north" if i % 3 else "south" for i in range(n)],
            "rate": [0.05 + i / 1000 for i in range(n)],
            "Class": ["bad" if i % 4 == 0 else "good" for i in range(n)],
        }
    )


def tree_state(root: Path) -> dict[str, str]:
    """Every file under `root` with its sha256: equal before and after means nothing was written, replaced or
    removed there (the lake's files and receipts, the MLflow store)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
