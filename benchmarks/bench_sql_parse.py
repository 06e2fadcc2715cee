"""Parsing and column lineage for 50 generated SQL models, as a code location load does them (goal: < 100 ms).

Run: `python benchmarks/bench_sql_parse.py`. The baseline, measured in the same run, only reads the files and
pulls table names with a regular expression (what a naive loader would do), so the ratio shows what real
parsing, checking and lineage cost on top of touching the files.
"""

import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from hybrid_data.sql_models import column_lineage, discover_models

MODELS = 50
COLUMNS = [f"c{i:02d}" for i in range(20)]
GOAL_SECONDS = 0.100


def model_sql(i: int) -> str:
    """Four shapes in turn: a filter over `SELECT *`, a CTE with expressions, a join, a subquery."""
    prev = "real_source" if i == 0 else f"m{i - 1:02d}"
    other = "real_source" if i < 2 else f"m{i // 2:02d}"
    cols = ", ".join(COLUMNS)
    shape = i % 4
    if shape == 0:
        return f"-- Model {i}: rows with a positive key.\nSELECT * FROM {prev} WHERE c00 > 0\n"
    if shape == 1:
        exprs = ", ".join(f"{c} * 2 AS {c}" if j % 3 == 0 else c for j, c in enumerate(COLUMNS))
        return f"-- Model {i}: doubled measures.\nWITH base AS (SELECT * FROM {prev})\nSELECT {exprs} FROM base\n"
    if shape == 2:
        picked = ", ".join(f"q.{c} AS {c}" if c == "c05" else f"p.{c}" for c in COLUMNS)
        return f"-- Model {i}: joined.\nSELECT {picked}\nFROM {prev} AS p JOIN {other} AS q ON p.c00 = q.c00\n"
    return f"-- Model {i}: through a subquery.\nSELECT * FROM (SELECT {cols} FROM {prev} WHERE c01 IS NOT NULL) AS s\n"


def write_models(root: Path) -> None:
    for i in range(MODELS):
        folder = root / ("staging" if i < 10 else "marts")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{i:02d}.sql").write_text(model_sql(i))


def load_with_lineage(root: Path) -> int:
    models = discover_models(root, {"real_source"})
    schema = dict.fromkeys(COLUMNS, "BIGINT")
    traced = 0
    for model in models:
        lineage = column_lineage(model, {dep: schema for dep in model.deps}, COLUMNS)
        traced += sum(bool(deps) for deps in lineage.values())
    return traced


def baseline(root: Path) -> int:
    pattern = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
    return sum(len(pattern.findall(path.read_text())) for path in sorted(root.rglob("*.sql")))


def best_of(fn, root: Path, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(root)
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_models(root)
        traced = load_with_lineage(root)  # warm-up: imports and sqlglot's caches, as at first load
        assert traced == MODELS * len(COLUMNS), f"lineage traced {traced} columns, expected {MODELS * len(COLUMNS)}"
        base_best, base_median = best_of(baseline, root, 20)
        best, median = best_of(load_with_lineage, root, 9)
    print(f"models: {MODELS}, columns each: {len(COLUMNS)}, columns traced: {traced}")
    print(f"baseline (read files + regex):     best {base_best * 1000:7.2f} ms   median {base_median * 1000:7.2f} ms")
    print(f"parse + checks + column lineage:   best {best * 1000:7.2f} ms   median {median * 1000:7.2f} ms")
    print(f"ratio to baseline (best):          {best / base_best:7.1f}x")
    # best of several runs is the figure least disturbed by other work on the machine; the load shows how much
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"goal < {GOAL_SECONDS * 1000:.0f} ms (best): {'met' if best < GOAL_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
