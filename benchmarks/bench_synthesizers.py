"""Fit + sample throughput of each synthesizer as hybrid_data configures it, against SDV's defaults in the same
run, with the SDMetrics quality score beside each (goal for the default: >= 5x SDV-default speed at 1M rows,
quality not lower).

Run: `python benchmarks/bench_synthesizers.py` (10k and 100k rows, deep synthesizers at 10k with 5 epochs,
about 10 minutes on 2 cores); add `--full` for 1M rows (about 20 more minutes). Data: the bundled LendingClub
loans resampled with replacement to each size. Both sides get the same corrected metadata (so SDV's default is not
penalised for its PII misdetection) and the same thread rule (hybrid_data/compute.py);
only the synthesizer settings differ. Quality is SDMetrics' QualityReport on 5,000 real vs 5,000 synthetic rows;
"rare"/"synth" are the real and synthetic shares of the rarest `sub_grade` level holding >= 1% of real rows,
to show category drift.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybrid_data.compute import compute_threads  # noqa: E402
from hybrid_data.plan import BUNDLED_DATA_DIR, Plan  # noqa: E402
from hybrid_data.synthesis import TABLE, detect_metadata, fit_synthesizer, sample_pool, to_sdv_frame  # noqa: E402

QUALITY_ROWS = 5_000
RARE_COLUMN = "sub_grade"
DEEP_EPOCHS = 5
RARE_FLOOR = 0.01  # the rarest level with at least this share: rarer ones are too noisy to compare at 10k rows


def real_rows(rows: int) -> pl.DataFrame:
    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv", infer_schema_length=100_000)
    return real.sample(n=rows, with_replacement=rows > real.height, seed=rows)


def plan_for(name: str, **synthesis) -> Plan:
    return Plan.model_validate(
        {
            "name": "bench",
            "source": {"path": "x.csv"},
            "target": "Class",
            "synthesis": {"synthesizers": [name], "epochs": DEEP_EPOCHS, **synthesis},
        }
    )


def quality(real: pl.DataFrame, synthetic: pl.DataFrame, metadata) -> float:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    sample_real = real.sample(n=min(QUALITY_ROWS, real.height), seed=0)
    sample_synth = synthetic.sample(n=min(QUALITY_ROWS, synthetic.height), seed=0)
    report.generate(
        to_sdv_frame(sample_real),
        to_sdv_frame(sample_synth),
        metadata.to_dict()["tables"][TABLE],
        verbose=False,
    )
    return report.get_score()


def rare_share(real: pl.DataFrame, synthetic: pl.DataFrame) -> tuple[float, float]:
    counts = real[RARE_COLUMN].value_counts(normalize=True, sort=True).filter(pl.col("proportion") >= RARE_FLOOR)
    rarest = counts[RARE_COLUMN][-1]
    return float((real[RARE_COLUMN] == rarest).mean()), float((synthetic[RARE_COLUMN] == rarest).mean())


def run_ours(name: str, real: pl.DataFrame, **synthesis) -> tuple[float, float, pl.DataFrame]:
    plan = plan_for(name, **synthesis)
    started = time.perf_counter()
    fitted = fit_synthesizer(name, real, plan)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    pool = sample_pool(fitted, real.height, seed=1).frame
    return fit, time.perf_counter() - started, pool


def run_sdv_default(name: str, real: pl.DataFrame) -> tuple[float, float, pl.DataFrame]:
    """SDV's own defaults (beta marginals for GaussianCopula; for the deep ones the same few epochs)."""
    from sdv import single_table

    classes = {
        "gaussian_copula": single_table.GaussianCopulaSynthesizer,
        "ctgan": single_table.CTGANSynthesizer,
        "tvae": single_table.TVAESynthesizer,
        "copulagan": single_table.CopulaGANSynthesizer,
    }
    metadata, _ = detect_metadata(real, plan_for(name))
    kwargs = {} if name == "gaussian_copula" else {"epochs": DEEP_EPOCHS}
    synthesizer = classes[name](metadata, **kwargs)
    with compute_threads():
        started = time.perf_counter()
        synthesizer.fit({TABLE: to_sdv_frame(real)})
        fit = time.perf_counter() - started
        started = time.perf_counter()
        sampled = synthesizer.sample(real.height)
        sample = time.perf_counter() - started
    table = sampled[TABLE] if isinstance(sampled, dict) else sampled
    frame = pl.from_pandas(table).select(pl.col(c).cast(t, strict=False) for c, t in real.schema.items())
    return fit, sample, frame


def report(label: str, rows: int, fit: float, sample: float, pool: pl.DataFrame, real: pl.DataFrame, metadata):
    score = quality(real, pool, metadata)
    real_rare, synth_rare = rare_share(real, pool)
    throughput = rows / (fit + sample)
    print(
        f"{label:<34} {rows:>9,} {fit:>8.1f} {sample:>8.1f} {throughput:>11,.0f} {score:>8.3f}"
        f" {real_rare:>7.2%} {synth_rare:>7.2%}",
        flush=True,
    )
    return fit + sample, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also run 1M rows (GaussianCopula only)")
    parser.add_argument("--sizes", type=int, nargs="*", help="row counts for GaussianCopula (overrides --full)")
    parser.add_argument("--skip-deep", action="store_true", help="skip ctgan, tvae, copulagan")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sizes = args.sizes or ([10_000, 100_000, 1_000_000] if args.full else [10_000, 100_000])
    threads = os.environ.get("HYBRID_DATA_THREADS") or "the free cores (hybrid_data/compute.py)"
    print(f"threads per fit: {threads}; quality on {QUALITY_ROWS:,} rows")
    header = f"{'synthesizer':<34} {'rows':>9} {'fit s':>8} {'sample s':>8} {'rows/s':>11} {'quality':>8}"
    print(f"{header} {'rare':>7} {'synth':>7}")
    summary = []
    for rows in sizes:
        real = real_rows(rows)
        metadata, _ = detect_metadata(real, plan_for("gaussian_copula"))
        base_t, base_q = report(
            "gaussian_copula SDV default (beta)",
            rows,
            *run_sdv_default("gaussian_copula", real),
            metadata=metadata,
            real=real,
        )
        ours_t, ours_q = report(
            "gaussian_copula hybrid_data", rows, *run_ours("gaussian_copula", real), metadata=metadata, real=real
        )
        norm_t, norm_q = report(
            "gaussian_copula norm",
            rows,
            *run_ours("gaussian_copula", real, default_distribution="norm"),
            metadata=metadata,
            real=real,
        )
        if rows > 100_000:  # what fitting on every row (no max_fit_rows sample) would cost and give
            report(
                "gaussian_copula all rows",
                rows,
                *run_ours("gaussian_copula", real, max_fit_rows=None),
                metadata=metadata,
                real=real,
            )
        summary.append((rows, base_t / ours_t, ours_q - base_q, base_t / norm_t, norm_q - base_q))
    if not args.skip_deep:
        rows = 10_000
        real = real_rows(rows)
        metadata, _ = detect_metadata(real, plan_for("ctgan"))
        for name in ("ctgan", "tvae", "copulagan"):
            base_t, _ = report(f"{name} SDV default", rows, *run_sdv_default(name, real), metadata=metadata, real=real)
            ours_t, _ = report(f"{name} hybrid_data", rows, *run_ours(name, real), metadata=metadata, real=real)
            print(f"  {name}: hybrid_data {base_t / ours_t:.2f}x SDV-default speed at {DEEP_EPOCHS} epochs", flush=True)
    print()
    for rows, speed, dq, norm_speed, norm_dq in summary:
        goal = "meets" if speed >= 5 and dq >= -0.005 else "misses"
        print(
            f"gaussian_copula at {rows:>9,} rows: {speed:5.1f}x SDV-default speed, quality {dq:+.3f}"
            f" ({goal} the >= 5x, quality-not-lower goal); norm would be {norm_speed:.1f}x, quality {norm_dq:+.3f}"
        )


if __name__ == "__main__":
    main()
