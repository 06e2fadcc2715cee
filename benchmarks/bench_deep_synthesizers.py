"""Deep synthesizers as hybrid_data trains them against SDV's defaults in the same run, then the bundled plan with
all four synthesizers end to end (goals on this machine: CTGAN on the bundled training rows in <= 120 s with
fidelity not worse than SDV's 300-epoch fit beyond noise; the four-synthesizer plan in <= 6 minutes).

Run: `python benchmarks/bench_deep_synthesizers.py` (about 15 minutes on 2 idle cores: the 300-epoch baseline
alone takes 4-8); `--quick` uses 2,000 training rows and a 60-epoch ceiling for both sides and the pipeline, and
says so; `--skip-pipeline` / `--skip-ctgan` run one part; `--fits 3` fits hybrid_data's CTGAN with two more
seeds and judges the differences against the spread between fits as well (`--baseline DIR` keeps SDV's fits;
`--sdv-fits 3` compares with three seeded SDV fits, Welch's interval over both sides' fits; `--only-sdv-seed S`
fits one of them alone, so that two can be fitted side by side first).

Part 1, CTGAN. Data: the bundled loans split 80/20 with a fixed seed (7,886 training rows, like the pipeline's
7,878). SDV default: `CTGANSynthesizer(metadata)` (300 epochs, batch 500) on the same corrected metadata and
under the same thread rule (hybrid_data/compute.py, applied once at the start; torch's own default of every core
spins badly when the machine is busy), so the speed-up shown is that of the epochs. hybrid_data:
`fit_synthesizer` with the plan's defaults (300 epochs as a ceiling, early stopping, the thread rule of
hybrid_data/compute.py re-applied every epoch). Fidelity of each pool against the 20% the
synthesizers never saw: SDMetrics' quality score (every pair) and the detection AUC of hybrid_data.fidelity, on
5 different subsamples of 2,000 rows; the difference is given with a 95% t-interval over those subsamples. That
interval covers evaluation noise only, not fit-to-fit variation (which is larger: it would take several
300-epoch fits to measure), so "no worse beyond noise" is judged against the spread of scores across epochs
shown in the fit's curve as well.

Part 2, the pipeline: `hybrid-data run` (a fresh process) on the bundled plan with synthesizers
[gaussian_copula, ctgan, tvae, copulagan], in a temporary home, then each deep fit's epochs and stopping reason
read back from MLflow.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import polars as pl
import yaml
from scipy.stats import ttest_1samp, ttest_ind

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_process import REPO, run_command, run_env  # noqa: E402 (benchmarks/ is the script's folder)

from hybrid_data.compute import compute_threads  # noqa: E402
from hybrid_data.fidelity import detection_auc, quality_score  # noqa: E402
from hybrid_data.instance import machine_cores  # noqa: E402
from hybrid_data.plan import BUNDLED_DATA_DIR, BUNDLED_PLAN, Plan  # noqa: E402
from hybrid_data.synthesis import TABLE, detect_metadata, fit_synthesizer, sample_pool, to_sdv_frame  # noqa: E402

EVAL_ROWS = 2_000
EVAL_REPEATS = 5
FOUR = ["gaussian_copula", "ctgan", "tvae", "copulagan"]


def sizes(quick: bool) -> tuple[int | None, int]:
    """Training rows (None: all) and the epoch ceiling, for both sides."""
    return (2_000, 60) if quick else (None, 300)


def split(rows: int | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv", infer_schema_length=100_000)
    real = real.sample(fraction=1.0, shuffle=True, seed=18)
    n_train = round(real.height * 0.8)
    train, unseen = real.head(n_train), real.tail(real.height - n_train)
    return (train.head(rows) if rows else train), unseen


def plan_for(epochs: int, seed: int = 42) -> Plan:
    synthesis = {"synthesizers": ["ctgan"], "epochs": epochs}
    return Plan.model_validate(
        {"name": "bench", "source": {"path": "x.csv"}, "target": "Class", "synthesis": synthesis, "seed": seed}
    )


def sdv_default(train: pl.DataFrame, epochs: int, stored: Path | None, seed: int = 0) -> tuple[float, pl.DataFrame]:
    """SDV's default fit (torch and numpy seeded with `seed`) and its pool; with `stored` (a folder), reused from
    there when it holds one for the same rows, epochs and seed, else fitted and kept there: each takes minutes."""
    import json

    info = {"rows": train.height, "epochs": epochs, "seed": seed}
    name = "baseline" if seed == 0 else f"baseline_seed{seed}"
    if stored and (stored / f"{name}.json").exists():
        kept = json.loads((stored / f"{name}.json").read_text())
        if {k: kept.get(k, 0) for k in info} == info:
            print(
                f"SDV default ({epochs} epochs, seed {seed}): REUSED from {stored} (fitted {kept['when']} in "
                f"{kept['seconds']:.1f} s with {kept['threads']} thread(s), load average {kept['load']:.1f}), "
                "not refitted in this run",
                flush=True,
            )
            return kept["seconds"], pl.read_parquet(stored / f"{name}.parquet")
    seconds, threads, pool = _fit_sdv_default(train, epochs, seed)
    if stored:
        stored.mkdir(parents=True, exist_ok=True)
        pool.write_parquet(stored / f"{name}.parquet")
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        info.update(seconds=seconds, threads=threads, load=os.getloadavg()[0], when=when)
        (stored / f"{name}.json").write_text(json.dumps(info))
    return seconds, pool


def _fit_sdv_default(train: pl.DataFrame, epochs: int, seed: int) -> tuple[float, int, pl.DataFrame]:
    import numpy as np
    import torch
    from sdv.single_table import CTGANSynthesizer

    metadata, _ = detect_metadata(train, plan_for(epochs))
    synthesizer = CTGANSynthesizer(metadata, epochs=epochs)
    if seed:  # seed 0: unseeded, as SDV runs by default (the single baseline of earlier runs)
        torch.manual_seed(seed)
        np.random.seed(seed)
    with compute_threads() as slot:  # the same thread rule as hybrid_data's fit, applied once at the start
        threads = slot.threads()
        started = time.perf_counter()
        synthesizer.fit({TABLE: to_sdv_frame(train)})
        seconds = time.perf_counter() - started
    print(f"SDV default ({epochs} epochs, seed {seed}): fit {seconds:.1f} s with {threads} thread(s)", flush=True)
    sampled = synthesizer.sample(train.height)
    table = sampled[TABLE] if isinstance(sampled, dict) else sampled
    pool = pl.from_pandas(table).select(pl.col(c).cast(t, strict=False) for c, t in train.schema.items())
    return seconds, threads, pool


def ours(train: pl.DataFrame, epochs: int, seed: int = 42):
    fitted = fit_synthesizer("ctgan", train, plan_for(epochs, seed))
    return fitted, sample_pool(fitted, train.height, seed=1).frame


def scores(unseen: pl.DataFrame, pool: pl.DataFrame) -> tuple[list[float], list[float]]:
    rows = min(EVAL_ROWS, unseen.height, pool.height)
    quality = [quality_score(unseen, pool, "Class", rows, seed).score for seed in range(EVAL_REPEATS)]
    auc = [detection_auc(unseen, pool, rows, seed) for seed in range(EVAL_REPEATS)]
    return quality, auc


def interval(test, mean: float, how: str = "") -> str:
    """A scipy t-test's 95% interval for `mean` in words, "no detectable difference" when it covers 0."""
    low, high = test.confidence_interval(0.95)
    verdict = "no detectable difference" if low <= 0 <= high else ("higher" if mean > 0 else "lower")
    return f"{mean:+.4f} (95% CI {low:+.4f} to {high:+.4f}{', ' + how if how else ''}: {verdict})"


def fit_to_fit(train: pl.DataFrame, unseen: pl.DataFrame, epochs: int, base_pools, first, fits: int) -> None:
    """Refit hybrid_data's CTGAN with other seeds and judge the difference to SDV's fits against the spread
    between fits, not only between evaluation subsamples: seeds change the kept epoch and the pool, and the
    single-fit interval above cannot see that. With several SDV fits (`--sdv-fits`), the interval is Welch's over
    both sides' fits; with one, SDV's own fit-to-fit spread is not measured and the interval is narrower than
    the full one."""
    base = [tuple(statistics.fmean(v) for v in scores(unseen, pool)) for pool in base_pools]
    per_fit = [(42, *first)]
    for seed in range(43, 42 + fits):
        fitted, pool = ours(train, epochs, seed=seed)
        quality, auc = scores(unseen, pool)
        per_fit.append((seed, fitted, statistics.fmean(quality), statistics.fmean(auc)))
    print(f"\nhybrid_data with {fits} seeds (42..{41 + fits}); each fit's mean over {EVAL_REPEATS} subsamples:")
    for seed, fitted, quality, auc in per_fit:
        training = fitted.training
        print(
            f"  seed {seed}: fit {fitted.fit_seconds:5.1f} s, kept epoch {training.best_epoch:3d} "
            f"of {training.epochs_run:3d}: quality {quality:.4f}, detection AUC {auc:.4f}"
        )
    for index, (quality, auc) in enumerate(base):
        print(f"  SDV default fit {index + 1}: quality {quality:.4f}, detection AUC {auc:.4f}")
    for label, index in (("quality score", 2), ("detection AUC", 3)):
        ours_values = [row[index] for row in per_fit]
        sdv_values = [row[index - 2] for row in base]
        if len(sdv_values) > 1:
            test, how = ttest_ind(ours_values, sdv_values, equal_var=False), f"Welch, {fits} vs {len(sdv_values)} fits"
        else:
            test, how = ttest_1samp([v - sdv_values[0] for v in ours_values], 0.0), f"{fits} fits vs one SDV fit"
        mean = statistics.fmean(ours_values) - statistics.fmean(sdv_values)
        spread = f"fit-to-fit SD ours {statistics.stdev(ours_values):.4f}" + (
            f", SDV {statistics.stdev(sdv_values):.4f}" if len(sdv_values) > 1 else ""
        )
        print(f"  {label} hybrid_data - SDV default over fits: {interval(test, mean, how)}; {spread}")


def bench_ctgan(quick: bool, stored: Path | None, fits: int = 1, sdv_fits: int = 1) -> None:
    rows, epochs = sizes(quick)
    train, unseen = split(rows)
    mode = f"QUICK: {train.height:,} training rows, {epochs} epochs" if quick else f"{train.height:,} training rows"
    print(f"== CTGAN ({mode}; fidelity against {unseen.height:,} unseen real rows, {machine_cores()} cores)")
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    base_seconds, base_pool = sdv_default(train, epochs, stored)
    fitted, pool = ours(train, epochs)
    training = fitted.training
    print(
        f"hybrid_data: fit {fitted.fit_seconds:.1f} s, {training.epochs_run} epochs, kept epoch {training.best_epoch}"
        f", threads {sorted({row.get('threads') for row in training.curve})}: {training.summary}",
        flush=True,
    )
    base_quality, base_auc = scores(unseen, base_pool)
    our_quality, our_auc = scores(unseen, pool)
    print(f"{'':<28}{'SDV default':>14}{'hybrid_data':>14}  difference (hybrid_data - SDV default)")
    speedup = base_seconds / fitted.fit_seconds
    print(f"{'fit seconds':<28}{base_seconds:>14.1f}{fitted.fit_seconds:>14.1f}  {speedup:.1f}x faster")
    for label, base, our in (
        ("quality score (higher=better)", base_quality, our_quality),
        ("detection AUC (lower=better)", base_auc, our_auc),
    ):
        diffs = [o - b for o, b in zip(our, base, strict=True)]
        summary = interval(ttest_1samp(diffs, 0.0), statistics.fmean(diffs))
        print(f"{label:<28}{statistics.fmean(base):>14.4f}{statistics.fmean(our):>14.4f}  {summary}")
    shares = [(p["Class"] == "bad").mean() for p in (train, base_pool, pool)]
    print(f"{'share of class bad':<28}{shares[1]:>14.2%}{shares[2]:>14.2%}  real_train {shares[0]:.2%}")
    checked = [r for r in training.curve if "score" in r]
    print(
        "fit curve (epoch: fidelity / detection AUC on training rows): "
        + ", ".join(f"{r['epoch']}: {r['fidelity']:.4f} / {r.get('detection_auc', float('nan')):.4f}" for r in checked)
    )
    check_seconds = sum(r.get("check_seconds", 0.0) for r in checked)
    print(
        f"stopping checks: {len(checked)} taking {check_seconds:.1f} s in all "
        f"({check_seconds / max(fitted.fit_seconds, 1e-9):.1%} of the fit; load average now {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    if fits > 1:
        base_pools = [base_pool] + [sdv_default(train, epochs, stored, seed)[1] for seed in range(1, sdv_fits)]
        first = (fitted, statistics.fmean(our_quality), statistics.fmean(our_auc))
        fit_to_fit(train, unseen, epochs, base_pools, first, fits)


def bench_pipeline(quick: bool) -> None:
    """`hybrid-data run` in a fresh process and a temporary home, as a user starts it; then each fit read back
    from MLflow: seconds, epochs, stopping reason, the thread counts its epochs trained with."""
    import subprocess

    from mlflow.tracking import MlflowClient

    plan = yaml.safe_load(BUNDLED_PLAN.read_text())
    plan["source"]["path"] = str((BUNDLED_PLAN.parent / plan["source"]["path"]).resolve())
    plan["synthesis"]["synthesizers"] = FOUR
    if quick:
        plan["synthesis"]["epochs"] = 60
    with tempfile.TemporaryDirectory() as tmp:
        plan_file = Path(tmp) / "four.yaml"
        plan_file.write_text(yaml.safe_dump(plan, sort_keys=False))
        home = Path(tmp) / "home"
        mode = "QUICK: epochs ceiling 60" if quick else "epochs ceiling 300 (the plan default)"
        print(f"\n== hybrid-data run, bundled plan with {FOUR} ({mode})", flush=True)
        print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(run_command(plan_file), env=run_env(home), cwd=REPO, stdout=subprocess.DEVNULL).returncode
        seconds = time.perf_counter() - started
        print(
            f"end to end: {seconds:.0f} s ({seconds / 60:.1f} min; goal <= 6 min), exit code {code}, "
            f"load average after: {os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min)"
        )
        client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name(f"{plan['name']}-synthesizers")
        for run in client.search_runs([experiment.experiment_id]) if experiment else []:
            metrics, tags = run.data.metrics, run.data.tags
            line = f"  {tags.get('hybrid_data.synthesizer', run.info.run_name):<16} fit {metrics['fit_seconds']:6.1f} s"
            if "epochs_run" in metrics:
                threads = sorted({int(m.value) for m in client.get_metric_history(run.info.run_id, "epoch.threads")})
                line += (
                    f", {int(metrics['epochs_run'])} epochs, stop reason {tags.get('hybrid_data.stop_reason')}, "
                    f"kept epoch {int(metrics.get('best_epoch', 0))}, threads per epoch {threads}"
                )
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows and 60 epochs; the output says so")
    parser.add_argument("--skip-ctgan", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="folder keeping the SDV-default fit's pool: reused when present (the output says so)",
    )
    parser.add_argument(
        "--fits", type=int, default=1, choices=range(1, 7), help="hybrid_data CTGAN fits with other seeds (2-6)"
    )
    parser.add_argument(
        "--sdv-fits", type=int, default=1, choices=range(1, 7), help="SDV default fits (seeds 0..N-1) for --fits"
    )
    parser.add_argument(
        "--only-sdv-seed",
        type=int,
        help="fit one SDV default with this seed into --baseline and stop (run several"
        " side by side, one per core, before a --sdv-fits run)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.only_sdv_seed is not None:
        rows, epochs = sizes(args.quick)
        sdv_default(split(rows)[0], epochs, args.baseline, args.only_sdv_seed)
        return
    if not args.skip_ctgan:
        bench_ctgan(args.quick, args.baseline, args.fits, args.sdv_fits)
    if not args.skip_pipeline:
        bench_pipeline(args.quick)


if __name__ == "__main__":
    main()
