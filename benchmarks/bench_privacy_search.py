"""Benchmark of the exhaustive privacy search (DCR and NNDR) on 100k synthetic x 100k real rows, against a BLAS
brute force measured in the same run; goal (issue 16, P5): under 30 s on 2 cores.

Rows: the real table is `bench_scale.upsampled_table` (the bundled LendingClub table upsampled with 2% jitter,
23 columns), split into real_train and real_holdout by the bundled plan's holdout fraction (0.2). The synthetic
rows are, by default, sampled from the project's own GaussianCopula fitted on the bundled table (what the
pipeline's pool holds); `--synthetic jitter` takes a second upsampled draw instead (near copies of real rows: the
easy case for the search's pruning).

Timed: `privacy_scores` searching exhaustively (every synthetic row against every real_train and real_holdout
row, every holdout row against every train row: all the DCR and NNDR checks compute), and the same call under a
pair budget of a tenth, which samples and reports the DCR share's standard error beside the exhaustive share.

Baseline: the same nearest-row search as a plain float32 BLAS brute force (categories one-hot, scaled so that a
mismatch costs 1; squared distances as |a|^2 + |b|^2 - 2ab by numpy's matmul; the two nearest by argpartition)
on a slice of `--baseline-rows` synthetic rows against every train row, scaled to the exhaustive search's pairs.
The slice also checks exactness: the search's nearest distances against the float64 distances of the brute
force's candidates.

    python benchmarks/bench_privacy_search.py [--rows 100000] [--synthetic copula|jitter] [--baseline-rows 2000]

Both cores by default ($HYBRID_DATA_THREADS, set to 2 unless given, caps the search and BLAS alike). The line
`HEADLINE bench_privacy_search <search / brute force> ...` is what benchmarks/run_all.py shows.
"""

from __future__ import annotations

import os

from hybrid_data.instance import THREADS_ENV, limit_step_threads, step_threads

# Before numpy loads, so that BLAS takes the cap too: both cores unless the caller said otherwise.
os.environ.setdefault(THREADS_ENV, "2")
limit_step_threads()

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from bench_scale import load_average, upsampled_table  # noqa: E402 (benchmarks/ is the script's folder)

from hybrid_data.plan import BUNDLED_DATA_DIR, Plan, load_plan  # noqa: E402

GOAL_SECONDS = 30.0


def copula_rows(rows: int, plan: Plan) -> pl.DataFrame:
    """`rows` rows of the bundled plan's GaussianCopula fitted on the bundled table (the pipeline's pool)."""
    from hybrid_data.synthesis import fit_synthesizer, sample_pool

    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv", infer_schema_length=100_000)
    return sample_pool(fit_synthesizer("gaussian_copula", real, plan), rows, plan.seed).frame


def one_hot_features(scaling, *frames: pl.DataFrame) -> list[np.ndarray]:
    """float32 features whose squared Euclidean distance is the Gower sum the search minimises: the scaled
    numbers as they are, each category column one-hot divided by sqrt(2) (a mismatch then costs exactly 1)."""
    encoded = scaling.encode(*frames)
    width = [
        int(max(e.categorical[:, c].max(initial=0) for e in encoded)) + 1
        for c in range(encoded[0].categorical.shape[1])
    ]
    features = []
    for e in encoded:
        parts = [e.numeric.astype(np.float32)]
        for c, levels in enumerate(width):
            block = np.zeros((e.rows, levels), dtype=np.float32)
            block[np.arange(e.rows), e.categorical[:, c]] = 1 / math.sqrt(2)
            parts.append(block)
        features.append(np.ascontiguousarray(np.hstack(parts)))
    return features


def brute_force_two_nearest(queries: np.ndarray, reference: np.ndarray, chunk: int = 500) -> np.ndarray:
    """Indices of the two nearest reference rows of every query, by float32 BLAS (the baseline)."""
    ref_norms = np.einsum("ij,ij->i", reference, reference)
    found = np.empty((queries.shape[0], 2), dtype=np.int64)
    for start in range(0, queries.shape[0], chunk):
        q = queries[start : start + chunk]
        squared = ref_norms[None, :] - 2.0 * (q @ reference.T) + np.einsum("ij,ij->i", q, q)[:, None]
        found[start : start + chunk] = np.argpartition(squared, 1, axis=1)[:, :2]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic rows, and real rows (train + holdout)")
    parser.add_argument("--synthetic", choices=["copula", "jitter"], default="copula")
    parser.add_argument("--baseline-rows", type=int, default=2000, help="synthetic rows the brute force searches")
    args = parser.parse_args()

    from hybrid_data.privacy import DEFAULT_MAX_PAIRS, GowerScaling, nearest, privacy_scores

    plan = load_plan()
    real = upsampled_table(args.rows, seed=0)
    cut = round(real.height * (1 - plan.holdout.fraction))
    train, holdout = real[:cut], real[cut:]
    prepared = time.perf_counter()
    synthetic = copula_rows(args.rows, plan) if args.synthetic == "copula" else upsampled_table(args.rows, seed=1)
    synthesis_seconds = time.perf_counter() - prepared
    exclude = [plan.target]
    threads = step_threads()
    print(
        f"rows: {synthetic.height:,} synthetic ({args.synthetic}, {synthesis_seconds:.1f} s to make) x "
        f"{train.height:,} real_train + {holdout.height:,} real_holdout, {train.width} columns; "
        f"{threads} thread(s); load {load_average()}"
    )

    privacy_scores(synthetic[:200], train[:500], holdout[:200], 100, plan.seed, exclude=exclude)  # compile, not timed
    load_before = load_average()
    started = time.perf_counter()
    scores = privacy_scores(synthetic, train, holdout, 5000, plan.seed, exclude=exclude, exhaustive_max_pairs=10**15)
    seconds = time.perf_counter() - started
    search = scores.search
    sampled = privacy_scores(
        synthetic, train, holdout, 5000, plan.seed, exclude=exclude, exhaustive_max_pairs=search.pairs // 10
    )

    # Baseline on a slice, and the exactness check on the same slice.
    scaling = GowerScaling.fit(pl.concat([train, holdout]), exclude)
    slice_rows = synthetic[: args.baseline_rows]
    q_features, r_features = one_hot_features(scaling, slice_rows, train)
    started = time.perf_counter()
    candidates = brute_force_two_nearest(q_features, r_features)
    baseline_slice = time.perf_counter() - started
    baseline = baseline_slice * search.pairs / (slice_rows.height * train.height)
    exact = np.sqrt(((q_features[:, None, :].astype(np.float64) - r_features[candidates]) ** 2).sum(axis=2))
    exact = np.sort(exact / math.sqrt(scaling.n_columns), axis=1)
    queries, reference = scaling.encode(slice_rows, train)
    ours = nearest(queries, reference, 2, n_columns=scaling.n_columns).distances
    gap = float(np.abs(ours - exact).max())
    # The brute force's float32 cancellation can pick a wrong candidate; ours can only be nearer, never farther.
    farther = int((ours[:, 0] > exact[:, 0] + 1e-5).sum())

    ratio = seconds / baseline
    print(f"distance: {scores.distance}")
    print(f"search: {search.describe()}")
    print(f"{'step':<58}{'seconds':>10}")
    print(f"{'privacy_scores, exhaustive (DCR + NNDR + yardstick)':<58}{seconds:>10.2f}")
    print(f"{'BLAS float32 brute force, same pairs (extrapolated)':<58}{baseline:>10.2f}")
    print(
        f"{'  measured on':<58}{baseline_slice:>10.2f}  ({slice_rows.height:,} synthetic x {train.height:,} train rows)"
    )
    print(f"search / brute force: {ratio:.3f}; goal under {GOAL_SECONDS:g} s: {seconds:.1f} s")
    print(
        f"exactness on the slice: largest |ours - float64 brute force| {gap:.2e}; rows where ours is farther "
        f"than the brute force's candidate: {farther}"
    )
    off = abs(sampled.dcr_share - scores.dcr_share)
    print(
        f"DCR share: exhaustive {scores.dcr_share:.4f}; sampled at a tenth of the pairs ({sampled.sampled_rows:,} "
        f"rows, {sampled.seconds:.1f} s) {sampled.dcr_share:.4f} +- {sampled.dcr_share_se:.4f} (1 s.e.), off by "
        f"{off:.4f} ({off / max(sampled.dcr_share_se, 1e-12):.2f} s.e.)"
    )
    print(
        f"DCR median {scores.dcr_train_median:.4f} (yardstick {scores.yardstick_dcr_median:.4f}); NNDR p05 "
        f"{scores.nndr_p05:.4f} (yardstick {scores.yardstick_nndr_p05:.4f})"
    )
    print(f"default pair budget privacy.exhaustive_max_pairs: {DEFAULT_MAX_PAIRS:,}; this search: {search.pairs:,}")
    print(
        f"HEADLINE bench_privacy_search {ratio:.3f} seconds {seconds:.1f} goal_s {GOAL_SECONDS:g} "
        f"pairs {search.pairs:.3g} brute_force_s {baseline:.1f} threads {threads} load {load_before.replace(' ', '/')}"
    )


if __name__ == "__main__":
    main()
