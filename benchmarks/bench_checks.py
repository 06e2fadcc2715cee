"""Benchmark of the blend checks on a 100k-row blend, against one polars scan of the same data as the baseline.

Prints seconds per check and their ratio to the scan, measured in the same run. The data is the bundled
LendingClub sample resampled with jitter to 100k real training rows, 25k holdout rows and a 100k-row blend
(augment at ratio 0.5: 50k real + 50k synthetic), plus the privacy search on 100k synthetic x 100k real rows:
the exhaustive search (every synthetic row against every train and holdout row, and the holdout-to-train
yardstick) against the search it replaced (sklearn brute force over one-hot features on a 5000-row sample),
with the ratio; and a sampled run beside the exhaustive one, to show the sampling error it reports.

    python benchmarks/bench_checks.py [--rows 100000] [--threads 2] [--agreement 10000]

`--agreement N` also runs SDMetrics' DCROverfittingProtection on N synthetic x N train x N holdout rows (half
the synthetic rows copied from train) and prints its share beside ours: the 10k-sample agreement, too slow for
the test suite (which checks it on 200 x 800 x 800).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from hybrid_data.plan import BUNDLED_DATA_DIR, Checks
from hybrid_data.source import ORIGIN_COLUMN


def jittered(real: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    """`rows` rows resampled from the real ones, floats jittered by up to 5% so rows are not copies."""
    rng = np.random.default_rng(seed)
    sample = real.sample(n=rows, with_replacement=True, seed=seed)
    return sample.with_columns(
        pl.col(c) * pl.Series(rng.uniform(0.95, 1.05, rows)) for c, t in sample.schema.items() if t.is_float()
    )


def timed(label: str, action, results: dict):
    started = time.perf_counter()
    value = action()
    results[label] = time.perf_counter() - started
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2, help="threads of the privacy search")
    parser.add_argument("--privacy-only", action="store_true", help="only the privacy search, not every check")
    parser.add_argument("--agreement", type=int, default=0, help="compare the DCR share with SDMetrics on N rows")
    args = parser.parse_args()
    n = args.rows
    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv", infer_schema_length=100_000)
    train, holdout = jittered(real, n, 1), jittered(real, n // 4, 2)
    synthetic = jittered(real, n, 3)
    blend = pl.concat(
        [
            train.head(n // 2).with_columns(pl.lit("real").alias(ORIGIN_COLUMN)),
            synthetic.head(n // 2).with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN)),
        ]
    )
    checks = Checks()
    folder = Path(tempfile.mkdtemp())
    blend.write_parquet(folder / "blend.parquet")

    from hybrid_data.privacy import privacy_scores

    t: dict[str, float] = {}
    # Baseline: one polars scan computing per-column null counts, min and max (what any profile reads).
    timed(
        "baseline: one polars scan",
        lambda: (
            pl.scan_parquet(folder / "blend.parquet")
            .select(
                *[pl.col(c).null_count().alias(f"{c}_nulls") for c in blend.columns],
                *[pl.col(c).min().alias(f"{c}_min") for c in blend.columns],
                *[pl.col(c).max().alias(f"{c}_max") for c in blend.columns],
            )
            .collect()
        ),
        t,
    )
    if not args.privacy_only:
        check_set(folder, train, holdout, checks, t)
    checks_total = sum(v for k, v in t.items() if not k.startswith("baseline"))

    privacy = {}
    timed(
        f"privacy before: sampled sklearn, {checks.privacy_sample_rows} of {n // 1000}k",
        lambda: legacy_sampled_privacy(synthetic, train, holdout, checks.privacy_sample_rows, 0),
        privacy,
    )
    scores = timed(
        f"privacy {n // 1000}k x {n // 1000}k, exhaustive",
        lambda: privacy_scores(synthetic, train, holdout, n, 0, exclude=["Class"], threads=args.threads),
        privacy,
    )
    sampled = privacy_scores(
        synthetic, train, holdout, checks.privacy_sample_rows, 0, exclude=["Class"], exhaustive_max_rows=n - 1
    )

    if args.agreement:
        agreement(real, args.agreement)
    base = t["baseline: one polars scan"]
    print(f"blend {blend.height} rows x {blend.width} columns; real_train {train.height}; holdout {holdout.height}")
    print(f"{'step':<46}{'seconds':>10}{'x scan':>10}")
    for label, seconds in t.items():
        print(f"{label:<46}{seconds:>10.3f}{seconds / base:>10.1f}")
    print(f"{'full check set':<46}{checks_total:>10.3f}{checks_total / base:>10.1f}")
    before, after = privacy.values()
    for label, seconds in privacy.items():
        print(f"{label:<46}{seconds:>10.3f}{seconds / base:>10.1f}")
    print(f"exhaustive / before: {after / before:.2f} (goal for the exhaustive search: under 30 s)")
    print(f"distance: {scores.distance}")
    print(f"privacy: {scores.exact_copies} exact copies over {scores.synthetic_rows} rows")
    print(f"{'figure':<20}{'synthetic':>12}{'yardstick (holdout to train)':>32}")
    print(f"{'DCR median':<20}{scores.dcr_train_median:>12.4f}{scores.yardstick_dcr_median:>32.4f}")
    print(f"{'DCR p05':<20}{scores.dcr_train_p05:>12.4f}{scores.yardstick_dcr_p05:>32.4f}")
    print(f"{'NNDR p05':<20}{scores.nndr_p05:>12.4f}{scores.yardstick_nndr_p05:>32.4f}")
    print(f"{'NNDR median':<20}{scores.nndr_median:>12.4f}{scores.yardstick_nndr_median:>32.4f}")
    print(
        f"DCR share: exhaustive {scores.dcr_share:.4f}; sampled ({sampled.sampled_rows} rows) {sampled.dcr_share:.4f}"
        f" +- {sampled.dcr_share_se:.4f} (1 s.e.), off by {abs(sampled.dcr_share - scores.dcr_share):.4f}"
    )


def check_set(folder: Path, train: pl.DataFrame, holdout: pl.DataFrame, checks: Checks, t: dict) -> None:
    """Every blend check on the blend written in `folder`, timed into `t`."""
    import great_expectations  # noqa: F401  (import time is not check time)
    import sdmetrics.reports  # noqa: F401

    from hybrid_data.expectations import expectations_outcome, generate_suite, run_suites
    from hybrid_data.fidelity import detection_auc, quality_score
    from hybrid_data.privacy import exact_copies_outcome, privacy_scores
    from hybrid_data.profile import profile_frame
    from hybrid_data.quality import holdout_isolation, schema_matches
    from hybrid_data.tails import minority_share, rare_categories, tail_coverage

    loaded = timed("load blend", lambda: pl.read_parquet(folder / "blend.parquet"), t)
    synth_rows = loaded.filter(pl.col(ORIGIN_COLUMN) == "synthetic").drop(ORIGIN_COLUMN)
    timed("schema", lambda: schema_matches(loaded, train), t)
    timed("holdout isolation", lambda: holdout_isolation(loaded, holdout, train), t)
    timed("exact copies (with the holdout yardstick)", lambda: exact_copies_outcome(synth_rows, train, 0, holdout), t)
    suite = generate_suite(profile_frame(train), "bench", "Class", checks.range_margin)
    timed("expectations (GX)", lambda: expectations_outcome(run_suites(loaded, [("generated", suite)])), t)
    timed("fidelity quality (SDMetrics)", lambda: quality_score(train, synth_rows, "Class", 2000, 0), t)
    timed("detection AUC", lambda: detection_auc(train, synth_rows, 2000, 0), t)
    timed(
        "privacy (DCR, NNDR, exhaustive)",
        lambda: privacy_scores(synth_rows, train, holdout, checks.privacy_sample_rows, 0, exclude=["Class"]),
        t,
    )
    timed("minority share", lambda: minority_share(loaded, train, "Class", 0.5), t)
    timed("rare categories", lambda: rare_categories(loaded, train, "Class", 0.05, 0.5), t)
    timed("tail coverage", lambda: tail_coverage(loaded, train, "Class", 0.5), t)


def legacy_sampled_privacy(synthetic: pl.DataFrame, train: pl.DataFrame, holdout: pl.DataFrame, rows: int, seed: int):
    """The search this project used before (the baseline): one-hot Gower features, sklearn brute-force
    Euclidean neighbours, a seeded sample of synthetic rows, each side of the DCR share on a holdout-sized sample,
    target included; NNDR against all of train."""
    import math

    from sklearn.neighbors import NearestNeighbors

    def encode(reference: pl.DataFrame, *frames: pl.DataFrame) -> list[np.ndarray]:
        both = pl.concat([reference, *frames], how="vertical_relaxed")
        parts = []
        for name, dtype in reference.schema.items():
            if dtype.is_numeric():
                low, high = reference[name].min(), reference[name].max()
                parts.append(((both[name].cast(pl.Float64) - low) / ((high - low) or 1.0)).to_numpy()[:, None])
            else:
                levels = reference[name].value_counts(sort=True)[name].head(200).to_numpy()
                parts.append((both[name].to_numpy()[:, None] == levels[None, :]) * math.sqrt(0.5))
        matrix, out, start = np.hstack(parts).astype(np.float32), [], 0
        for frame in (reference, *frames):
            out.append(matrix[start : start + frame.height])
            start += frame.height
        return out

    def nearest(reference: pl.DataFrame, queries: pl.DataFrame, k: int) -> np.ndarray:
        ref, query = encode(reference, queries)
        index = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=-1).fit(ref)
        return index.kneighbors(query)[0]

    sample = synthetic.sample(n=rows, seed=seed)
    same = min(train.height, holdout.height)
    to_train = nearest(train.sample(n=same, seed=seed), sample, 1)[:, 0]
    to_holdout = nearest(holdout.sample(n=same, seed=seed), sample, 1)[:, 0]
    two = nearest(train, sample, 2)
    return float(np.mean(to_train < to_holdout)), two


def agreement(real: pl.DataFrame, n: int) -> None:
    import warnings

    from sdmetrics.single_table import DCROverfittingProtection

    from hybrid_data.fidelity import sdmetrics_metadata
    from hybrid_data.privacy import privacy_scores

    train, holdout, fresh = jittered(real, n, 11), jittered(real, n, 12), jittered(real, n // 2, 13)
    synthetic = pl.concat([train.sample(n=n - n // 2, seed=14), fresh])
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = DCROverfittingProtection.compute_breakdown(
            train.to_pandas(), synthetic.to_pandas(), holdout.to_pandas(), sdmetrics_metadata(train), None
        )["synthetic_data_percentages"]["closer_to_training"]
    sdmetrics_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = privacy_scores(synthetic, train, holdout, n, 0, common_scale=False)
    ours_seconds = time.perf_counter() - started
    common = privacy_scores(synthetic, train, holdout, n, 0)
    print(f"DCR share on {n} x {n} x {n}: SDMetrics {theirs:.4f} in {sdmetrics_seconds:.1f}s; ours (SDMetrics scaling)")
    print(f"  {ours.dcr_share:.4f} in {ours_seconds:.1f}s (difference {abs(ours.dcr_share - theirs):.4f});")
    print(f"  ours (common scaling) {common.dcr_share:.4f}")


if __name__ == "__main__":
    main()
