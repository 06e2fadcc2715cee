"""Benchmark of the scorecard's repeats + paired bootstrap on the bundled plan, against a single fit.

For every cell of the bundled plan (ratios 0, 0.25, 0.5, 0.75 and the TSTR ratio 1, augment mode) it times:
- the baseline: one fit of the plan's model as blend_model did it before the protocol (sklearn defaults, so
  early stopping switches on by itself above 10,000 rows) plus scoring the holdout once;
- the protocol: K seeded fits (evaluation.repeats, default 5) on the blend minus the real validation slice,
  features encoded once and shared by the seeds, plus the cell's share of the paired bootstrap (B resamples,
  evaluation.bootstrap, default 1,000; every metric of the task, vectorised) against real-only.
Also one protocol fit alone (K = 1, no bootstrap), to separate the cost of repeats from that of the protocol.

Synthetic rows come from the plan's GaussianCopula fitted on the training rows (about 30 s, not timed): near-copies
of real rows would leak the validation slice into training and make early stopping run to its ceiling.

    python benchmarks/bench_evaluation.py [--repeats 5] [--bootstrap 1000] [--tries 3] [--patience 10]
"""

import argparse
import time

import numpy as np
import polars as pl

from hybrid_data.evaluation.cell_training import train_blend_cell
from hybrid_data.evaluation.resampling import draw_resamples
from hybrid_data.evaluation.scorecard import holdout_truth, score_cell
from hybrid_data.plan import BUNDLED_DATA_DIR, Task, load_plan
from hybrid_data.source import ORIGIN_COLUMN


def synthetic_pool(plan, real_train: pl.DataFrame, rows: int) -> pl.DataFrame:
    from hybrid_data.synthesis import fit_synthesizer, sample_pool

    fitted = fit_synthesizer(plan.synthesizer_names[0], real_train, plan)
    return sample_pool(fitted, rows, plan.seed, real=real_train).frame


def blend_for(real_train: pl.DataFrame, pool: pl.DataFrame, ratio: float) -> pl.DataFrame:
    synthetic = real_train.height if ratio == 1.0 else round(real_train.height * ratio / (1 - ratio))
    parts = [] if ratio == 1.0 else [real_train.with_columns(pl.lit("real").alias(ORIGIN_COLUMN))]
    parts.append(pool.head(synthetic).with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN)))
    return pl.concat(parts, how="vertical_relaxed")


def legacy_single_fit(plan, task, blend: pl.DataFrame, holdout: pl.DataFrame) -> None:
    """blend_model before the protocol: one fit with the plan's settings as sklearn reads them, scored once."""
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from hybrid_data.instance import step_threads
    from hybrid_data.training import _to_features, build_model, feature_columns

    columns = feature_columns(blend, plan.target)
    model = build_model(plan, task, blend, columns)
    with threadpool_limits(limits=step_threads()):
        model.fit(_to_features(blend, columns), blend[plan.target].cast(pl.String).to_numpy())
        score = model.predict_proba(_to_features(holdout, columns))[:, 0]
    roc_auc_score(holdout[plan.target].cast(pl.String).to_numpy() == model.classes_[0], score)


def best_of(tries: int, action) -> float:
    """The fastest of a few runs: the machine is shared, and the minimum is the least disturbed measurement."""
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--tries", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--patience", type=int, default=None, help="model.params.n_iter_no_change (default 10)")
    args = parser.parse_args()
    bundled = load_plan()
    if args.patience is not None:
        params = {**bundled.model.params, "n_iter_no_change": args.patience}
        bundled = bundled.model_copy(update={"model": bundled.model.model_copy(update={"params": params})})
    evaluation = bundled.evaluation.model_copy(update={"repeats": args.repeats, "bootstrap": args.bootstrap})
    plan = bundled.model_copy(update={"evaluation": evaluation})
    single = bundled.model_copy(update={"evaluation": evaluation.model_copy(update={"repeats": 1})})
    task = plan.task or Task.binary
    real = pl.read_csv(BUNDLED_DATA_DIR / "lending_club.csv", infer_schema_length=100_000)
    is_holdout = np.random.default_rng(plan.seed).random(real.height) < plan.holdout.fraction
    real_train, holdout = real.filter(pl.Series(~is_holdout)), real.filter(pl.Series(is_holdout))
    pool = synthetic_pool(plan, real_train, 3 * real_train.height)
    truth = holdout_truth(holdout, real_train, plan.target, task)
    resamples = draw_resamples(holdout.height, args.bootstrap, args.repeats, plan.seed)

    train_blend_cell(single, task, "bench", 0.0, real_train, real_train, holdout, [])  # warm imports
    totals = {"legacy": 0.0, "one": 0.0, "fits": 0.0, "bootstrap": 0.0}
    print(
        f"bundled plan, {real_train.height} real training rows, {holdout.height} holdout rows, "
        f"K={args.repeats} seeds, B={args.bootstrap} resamples; best of {args.tries} tries each"
    )
    header = ("cell", "rows", "single fit", "1 protocol fit", "K fits", "bootstrap", "ratio")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (6, 7, 11, 15, 8, 10, 6), strict=True)))
    for ratio in plan.ratios:
        blend = blend_for(real_train, pool, ratio)

        def cell_under(settings, ratio=ratio, blend=blend):
            return train_blend_cell(settings, task, "b", ratio, blend, real_train, holdout, [])[0]

        legacy = best_of(args.tries, lambda blend=blend: legacy_single_fit(plan, task, blend, holdout))
        one = best_of(args.tries, lambda: cell_under(single))
        fits = best_of(args.tries, lambda: cell_under(plan))
        cell = cell_under(plan)
        boot = best_of(args.tries, lambda cell=cell: score_cell(cell.to_dicts(), truth, resamples))
        for key, value in zip(totals, (legacy, one, fits, boot), strict=True):
            totals[key] += value
        print(
            f"{ratio:>6g} {blend.height:>7} {legacy:>10.2f}s {one:>14.2f}s {fits:>7.2f}s {boot:>9.2f}s "
            f"{(fits + boot) / legacy:>5.2f}x   rounds {cell['rounds'].to_list()}"
        )
    evaluated = totals["fits"] + totals["bootstrap"]
    print(
        f"all cells: repeats + bootstrap {evaluated:.2f}s vs single fits {totals['legacy']:.2f}s: "
        f"{evaluated / totals['legacy']:.2f}x (target <= 3x); vs one protocol fit per cell "
        f"{totals['one']:.2f}s: {evaluated / totals['one']:.2f}x; bootstrap alone {totals['bootstrap']:.2f}s"
    )


if __name__ == "__main__":
    main()
