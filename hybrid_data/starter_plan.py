"""`hybrid-data plan init`: a starter plan for any CSV or Parquet file, with what can be inferred filled in."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

from hybrid_data.plan import parse_plan
from hybrid_data.source import SourceError, infer_task


def _read_any(source: Path) -> pl.DataFrame:
    if not source.exists():
        raise SourceError(f"{source} does not exist; give --source a CSV or Parquet file")
    if source.suffix.lower() in {".parquet", ".pq"}:
        return pl.read_parquet(source)
    return pl.read_csv(source, infer_schema_length=100_000, try_parse_dates=True)


def id_like_columns(frame: pl.DataFrame, target: str) -> list[str]:
    """Columns that identify rows rather than describe them: unique per row and named like an ID, or unique
    strings. A synthesizer must not learn them, so the starter plan drops them."""
    found = []
    for name in frame.columns:
        if name == target or frame.height < 2:
            continue
        unique = frame[name].n_unique() == frame.height
        named_like_id = name.lower() in {"id", "key", "uuid"} or name.lower().endswith(("_id", "id"))
        if unique and (named_like_id or frame.schema[name] == pl.String):
            found.append(name)
    return found


def write_starter_plan(source: Path, target: str, output: Path) -> Path:
    frame = _read_any(source)
    if target not in frame.columns:
        raise SourceError(f"{source.name} has no column '{target}' (columns: {', '.join(frame.columns)})")
    task = infer_task(frame[target].drop_nulls())
    source_ref = source.resolve()
    plan = {
        "name": "".join(c if c.isalnum() or c in "_-" else "_" for c in source.stem) or "my_plan",
        "source": {"path": str(source_ref)},
        "target": target,
        "task": task.value,
        "drop_columns": id_like_columns(frame, target),
        "ratios": [0, 0.25, 0.5, 0.75, 1.0],
        "anchoring": {"mode": "augment", "min_real_share": 0.25, "allow_synthetic_only_baseline": True},
        "holdout": {"fraction": 0.2},
        "seed": 42,
        "synthesis": {"synthesizers": ["gaussian_copula"]},
        "model": {"kind": "hist_gradient_boosting"},
    }
    text = (
        f"# Starter plan for {source.name}: {frame.height} rows, {frame.width} columns; task inferred as "
        f"{task.value}.\n# Check drop_columns (inferred ID-like columns) and the ratios before running.\n"
        + yaml.safe_dump(plan, sort_keys=False)
    )
    output = output.resolve()
    parse_plan(text, output.parent, str(output))  # never write a plan that would not load
    output.write_text(text)
    return output
