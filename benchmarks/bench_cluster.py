"""The blend grid on the cluster profile with 1 and with 2 Celery workers: wall time, ratio, and how it scales.

Each measurement starts the whole cluster profile (deploy/Procfile: PostgreSQL-backed Dagster, code server, daemon,
MLflow server on PostgreSQL, RabbitMQ broker, Redis results, moto as the object store) with N workers, lets the
plan sensor build the plan on tiny data, and times the blend grid stage: from the first blend run's start to the
last one's end, every run launched together (run queue 8). The per-partition cost is the worker time its steps
took (sum of step durations); the estimate for N workers is

    T(N) ~ launch + max(P * cost / N, one partition's own steps)

since a partition's steps run one after another and partitions spread over the workers; the cost is the one
measured with a single worker, which has a core to itself.

Measured on the 2-core development machine (shared with other jobs, load average 10-20), 1 synthesizer x 8 ratios
on 400 real rows, two runs: grid 83.2 / 99.8 s on 1 worker, 97.5 / 89.5 s on 2 (x0.85 / x1.12): with two workers
every step took x2.14 / x1.53 as long, because the two cores were already saturated; a second worker only shares
them. Per partition 7.4-9.2 worker-seconds of steps (the longest 17-22 s), 24-26 s of launch and hand-off per
grid. Estimate with a core per worker (second run): N=1 100 s, N=2 63 s (x1.58), N>=4 48 s (x2.07): from 4
workers on, the grid is bound by its longest partition plus the launch overhead, not by workers; a larger grid
(more ratios or synthesizers) keeps scaling as P x cost / N.

    python benchmarks/bench_cluster.py [--synths gaussian_copula] [--ratios 0,0.1,0.2,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cluster.services import start_cluster, unreachable_services  # noqa: E402
from tests.conftest import tiny_frame, write_plan  # noqa: E402


def grid_timing(workers: int, synths: list[str], ratios: list[float]) -> dict:
    """Start the cluster with `workers` workers, run the plan, and time its blend grid."""
    from dagster import RunsFilter

    with tempfile.TemporaryDirectory(prefix="bench_cluster_") as folder:
        root = Path(folder)
        (root / "plan").mkdir()
        source = root / "plan" / "loans.csv"
        tiny_frame().write_csv(source)
        plan = write_plan(root / "plan", source, ratios=ratios, synthesis={"synthesizers": synths})
        cluster = start_cluster(root, plan, workers=workers, webserver=False)
        try:
            import os

            os.environ.update(cluster.env)
            runs = cluster.wait_backfill(cluster.sensor_backfill(), timeout=900)
            grid_ids = [r.run_id for r in runs if "|" in r.tags.get("dagster/partition", "")]
            with cluster.instance() as instance:
                records = instance.get_run_records(filters=RunsFilter(run_ids=grid_ids))
                per_partition = []
                for record in records:
                    stats = instance.get_run_step_stats(record.dagster_run.run_id)
                    per_partition.append(sum(s.end_time - s.start_time for s in stats if s.end_time and s.start_time))
            start = min(r.start_time for r in records)
            end = max(r.end_time for r in records)
            launch = statistics.median(r.start_time - r.create_timestamp.timestamp() for r in records)
        finally:
            cluster.stop()
    return {
        "partitions": len(records),
        "wall": end - start,
        "cost": statistics.mean(per_partition),
        "longest": max(per_partition),
        "launch": launch,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synths", default="gaussian_copula")
    parser.add_argument("--ratios", default="0,0.1,0.2,0.3,0.4,0.5,0.6,1")
    args = parser.parse_args()
    problems = unreachable_services()
    if problems:
        print("cannot run: " + "; ".join(problems))
        return 1
    synths = args.synths.split(",")
    ratios = [float(r) for r in args.ratios.split(",")]
    results = {}
    for workers in (1, 2):
        started = time.monotonic()
        results[workers] = grid_timing(workers, synths, ratios)
        print(f"{workers} worker(s): whole plan {time.monotonic() - started:.0f}s, grid {results[workers]}")
    one, two = results[1], results[2]
    partitions = one["partitions"]
    # One worker has a core to itself, so its step times are the per-partition cost on a dedicated core.
    cost, floor = one["cost"], one["longest"]
    overhead = max(0.0, one["wall"] - partitions * cost)
    print(f"\nblend grid: {partitions} partitions ({len(synths)} synthesizer(s) x {len(ratios)} ratios)")
    print(f"  1 worker : {one['wall']:6.1f} s")
    print(f"  2 workers: {two['wall']:6.1f} s   speed-up x{one['wall'] / two['wall']:.2f} (ideal x2.00)")
    print(
        f"  per partition: {cost:.1f} worker-seconds of steps (longest {floor:.1f} s), run launch {one['launch']:.1f} s"
    )
    print(
        f"  with 2 workers each step took x{two['cost'] / cost:.2f} as long: "
        + ("the cores are saturated, a second worker only shares them" if two["cost"] > 1.5 * cost else "no contention")
    )
    print(
        f"  estimate with a core per worker, T(N) = {overhead:.0f} s + max({partitions} x {cost:.1f} s / N,"
        f" {floor:.1f} s):"
    )
    for n in (1, 2, 4, 8, 16):
        estimate = overhead + max(partitions * cost / n, floor)
        print(f"    N={n:2d}: {estimate:6.1f} s   (x{one['wall'] / estimate:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
