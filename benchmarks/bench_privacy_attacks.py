"""Benchmark of the attack-based privacy report: agreement with anonymeter and cost, on the bundled data and at
100k rows.

anonymeter 1.1 cannot live in the project's environment (it pins numpy < 1.27 and pyarrow < 22), so it runs in
its own virtual environment, on the same frames written to Parquet, with the same attack settings:

    python3.11 -m venv /tmp/anon && /tmp/anon/bin/pip install anonymeter
    python benchmarks/bench_privacy_attacks.py [--anonymeter-python /tmp/anon/bin/python] [--rows 100000]

Two synthetic sets per size: `leaky` (real_train rows with floats jittered by up to 1%: a generator that
memorises) and `independent` (every column drawn on its own from real_train's values: a generator that cannot
leak a record). Printed per risk: ours and anonymeter's value with interval, whether each point estimate lies
in the other's interval, and the seconds each took (the ratio is ours / anonymeter's, measured in the same run).
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from hybrid_data.plan import BUNDLED_DATA_DIR, Privacy
from hybrid_data.privacy_attacks import attack_report, resolve_attack_columns

ANONYMETER_SCRIPT = r"""
import json, sys, time, warnings
import pandas as pd
from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator

warnings.simplefilter("ignore")
folder, settings = sys.argv[1], json.loads(sys.argv[2])
ori, syn, control = (pd.read_parquet(f"{folder}/{name}.parquet") for name in ("train", "synthetic", "control"))
n, cl, out = settings["attacks"], settings["confidence_level"], {}

def record(name, evaluator, started):
    risk = evaluator.risk(confidence_level=cl)
    out[name] = {"risk": risk.value, "low": risk.ci[0], "high": risk.ci[1], "seconds": time.perf_counter() - started}

for mode in ("univariate", "multivariate"):
    started = time.perf_counter()
    ev = SinglingOutEvaluator(ori=ori, syn=syn, control=control, n_attacks=n, n_cols=settings["columns"], seed=0)
    record(f"singling_out_{mode}", ev.evaluate(mode=mode), started)
started = time.perf_counter()
split = tuple(settings["split"])
ev = LinkabilityEvaluator(ori=ori, syn=syn, control=control, n_attacks=n, aux_cols=split, n_neighbors=1)
record("linkability", ev.evaluate(n_jobs=2), started)
for secret in settings["sensitive"]:
    started = time.perf_counter()
    aux = [c for c in settings["auxiliary"] if c != secret]
    ev = InferenceEvaluator(ori=ori, syn=syn, control=control, aux_cols=aux, secret=secret, n_attacks=n)
    record(f"inference:{secret}", ev.evaluate(n_jobs=2), started)
print(json.dumps(out))
"""


def resampled(real: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    """`rows` distinct-ish rows like the real ones (floats jittered by up to 5%), to reach 100k rows."""
    rng = np.random.default_rng(seed)
    sample = real.sample(n=rows, with_replacement=True, seed=seed)
    return sample.with_columns(
        pl.col(c) * pl.Series(rng.uniform(0.95, 1.05, rows)) for c, t in sample.schema.items() if t.is_float()
    )


def leaky(train: pl.DataFrame, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return train.with_columns(
        (pl.col(c) * pl.Series(rng.uniform(0.99, 1.01, train.height))).round(2)
        for c, t in train.schema.items()
        if t.is_float()
    )


def independent(train: pl.DataFrame, seed: int) -> pl.DataFrame:
    return pl.DataFrame(
        [train[c].sample(n=train.height, with_replacement=True, seed=seed + i) for i, c in enumerate(train.columns)]
    )


def ours(train, synthetic, control, privacy: Privacy) -> tuple[dict, float]:
    started = time.perf_counter()
    risks = attack_report(train, synthetic, control, privacy, "Class", seed=0)
    seconds = time.perf_counter() - started
    return {r.name: {"risk": r.risk, "low": r.risk_low, "high": r.risk_high} for r in risks}, seconds


def theirs(python: str, train, synthetic, control, privacy: Privacy) -> tuple[dict, float]:
    columns = resolve_attack_columns(privacy, "Class", train.columns)
    settings = {
        "attacks": privacy.attacks,
        "columns": privacy.singling_out_columns,
        "confidence_level": privacy.confidence_level,
        "split": [list(columns.split[0]), list(columns.split[1])],
        "sensitive": columns.sensitive,
        "auxiliary": columns.auxiliary,
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, frame in (("train", train), ("synthetic", synthetic), ("control", control)):
            frame.write_parquet(Path(folder) / f"{name}.parquet")
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-c", ANONYMETER_SCRIPT, folder, json.dumps(settings)], capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def report(label: str, mine: dict, seconds: float, other: dict | None, other_seconds: float | None) -> int:
    """Print one comparison; returns how many risks disagree (neither point estimate in the other's interval)."""
    disagreements = 0
    print(
        f"\n{label}: ours {seconds:.1f} s"
        + (f", anonymeter {other_seconds:.1f} s, ratio {seconds / other_seconds:.2f}" if other else "")
    )
    print(f"{'risk':<28}{'ours [interval]':>26}{'anonymeter [interval]':>28}   agree")
    for name, risk in mine.items():
        text = f"{risk['risk']:.3f} [{risk['low']:.3f}, {risk['high']:.3f}]"
        if other and name in other:
            o = other[name]
            inside = o["low"] <= risk["risk"] <= o["high"] or risk["low"] <= o["risk"] <= risk["high"]
            disagreements += not inside
            their_text = f"{o['risk']:.3f} [{o['low']:.3f}, {o['high']:.3f}]"
            print(f"{name:<28}{text:>26}{their_text:>28}   {'yes' if inside else 'NO'}")
        else:
            print(f"{name:<28}{text:>26}")
    return disagreements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anonymeter-python", default="/tmp/anon/bin/python")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of real_train in the scale run (0 skips it)")
    parser.add_argument("--attacks", type=int, default=500)
    args = parser.parse_args()
    python = args.anonymeter_python if Path(args.anonymeter_python).exists() else None
    if python is None:
        print(f"no anonymeter at {args.anonymeter_python}: printing our figures only (see the module docstring)")
    privacy = Privacy(attacks=args.attacks)
    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv", infer_schema_length=100_000)
    shuffled = real.sample(fraction=1.0, shuffle=True, seed=0)
    cut = int(shuffled.height * 0.8)
    sizes = [("bundled", shuffled[:cut], shuffled[cut:])]
    if args.rows:
        big = resampled(real, args.rows + args.rows // 4, 1).unique()
        sizes.append((f"{args.rows // 1000}k rows", big[: args.rows], big[args.rows :]))
    disagreements = 0
    for size, train, control in sizes:
        for kind, make in (("leaky", leaky), ("independent", independent)):
            synthetic = make(train, 7)
            mine, seconds = ours(train, synthetic, control, privacy)
            print(f"({size}, {kind}: ours took {seconds:.1f} s; anonymeter next)", flush=True)
            other, other_seconds = theirs(python, train, synthetic, control, privacy) if python else (None, None)
            label = f"{size} ({train.height} train, {control.height} control, {synthetic.height} synthetic), {kind}"
            disagreements += report(label, mine, seconds, other, other_seconds)
    if python:
        print(f"\nrisks where neither estimate lies in the other's interval: {disagreements}")


if __name__ == "__main__":
    main()
