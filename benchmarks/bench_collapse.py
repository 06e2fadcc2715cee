"""Runtime of the model-collapse study on the bundled data, against one fit + sample measured in the same run
(goal: the default study stays at a few minutes on 2 cores, so users actually run it).

Run: `python benchmarks/bench_collapse.py` (the bundled plan's collapse defaults with gaussian_copula). The study
runs in this process on one core ($HYBRID_DATA_THREADS, 1 by default), as `run_study` does; the Dagster job runs
the modes side by side on the cores it has. The baseline is one synthesizer fitted on `collapse.max_fit_rows` real
rows and sampled `collapse.rows_per_generation` rows, the unit of work the study repeats
`repeats x (1 + modes x generations)` times; the metrics (one downstream model per repeat and generation) come on
top. Options override the plan's collapse section; `--charts DIR` writes the charts (docs/img for docs/collapse.md):

    python benchmarks/bench_collapse.py --charts docs/img
    python benchmarks/bench_collapse.py --synth tvae --epochs 10 --generations 5 --repeats 3 --rows 1000 \\
        --charts docs/img

Data: the bundled LendingClub loans, split 80/20 at random (seeded) into train and holdout, as the pipeline's
holdout fraction does (its split is a hash of the row; a seeded shuffle is the same in distribution).
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybrid_data.collapse import chart_files, real_rows, run_study  # noqa: E402
from hybrid_data.plan import BUNDLED_DATA_DIR, load_plan  # noqa: E402
from hybrid_data.synthesis import fit_synthesizer, sample_pool  # noqa: E402

BASELINE_RUNS = 3


def bundled_split(seed: int, holdout_fraction: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv").sample(fraction=1.0, shuffle=True, seed=seed)
    n_holdout = round(real.height * holdout_fraction)
    return real.slice(n_holdout), real.head(n_holdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synth", default="gaussian_copula")
    parser.add_argument("--generations", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--rows", type=int, help="rows_per_generation and max_fit_rows")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--charts", type=Path, help="write the charts to this folder")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    plan = load_plan()
    overrides = {
        "generations": args.generations,
        "repeats": args.repeats,
        "rows_per_generation": args.rows,
        "max_fit_rows": args.rows,
        "epochs": args.epochs,
    }
    collapse = plan.collapse.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    plan = plan.model_copy(update={"collapse": collapse})
    train, holdout = bundled_split(plan.seed, plan.holdout.fraction)
    fits = collapse.repeats * (1 + len(collapse.modes) * collapse.generations)
    print(
        f"collapse study, {args.synth}: {collapse.generations} generations x {len(collapse.modes)} modes x "
        f"{collapse.repeats} repeats ({fits} fits), {collapse.max_fit_rows} fit rows, "
        f"{collapse.rows_per_generation} rows per generation; {train.height} train / {holdout.height} holdout rows; "
        f"threads {os.environ.get('HYBRID_DATA_THREADS', '1')}, cores {os.cpu_count()}",
        flush=True,
    )

    import sdv  # noqa: F401  (import time is not the study's)

    study_plan = plan.model_copy(
        update={"synthesis": plan.synthesis.model_copy(update={"max_fit_rows": None, "epochs": collapse.epochs})}
    )
    real = real_rows(train, plan).filter(pl.col("_repeat") == 0).drop("_repeat", "_generation")
    timings = []
    for _ in range(BASELINE_RUNS):  # the median, since one fit on a shared machine swings several-fold
        started = time.perf_counter()
        fitted = fit_synthesizer(args.synth, real, study_plan)
        sample_pool(fitted, collapse.rows_per_generation, plan.seed)
        timings.append(time.perf_counter() - started)
    baseline = statistics.median(timings)
    shown = ", ".join(f"{t:.2f}" for t in timings)
    print(f"baseline, one fit + sample: {baseline:.2f}s (median of {shown})", flush=True)

    started = time.perf_counter()
    result = run_study(train, holdout, plan, args.synth, progress=lambda m: print(f"  {m}", flush=True))
    seconds = time.perf_counter() - started
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nstudy: {seconds:.0f}s = {seconds / 60:.1f} min (load average {load} on {os.cpu_count()} cores)")
    ratio = seconds / baseline
    print(f"ratio to one fit + sample: {ratio:.0f}x ({fits} fits, so {ratio / fits:.2f}x per fit)")
    print("\nverdicts:")
    print("\n".join(f"- {line}" for line in result.verdict_lines()))
    print("\npublished shapes:")
    print("\n".join(f"- {line}" for line in result.shapes))
    if args.charts:
        title = f"LendingClub, {args.synth}"
        paths = chart_files(result.summary, result.infos, args.charts, title, prefix=f"collapse_{args.synth}")
        print("\ncharts: " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
