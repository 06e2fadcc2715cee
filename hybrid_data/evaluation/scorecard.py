"""The scorecard: every cell judged against real-only on the same holdout resamples, with intervals, Holm-adjusted
verdicts, the cells' quality gates and a bias audit. Input: the cells' stored results (cells.py); output: a
Scorecard of plain values that the Dagster asset, MLflow and the terminal all render."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hybrid_data import lake
from hybrid_data.evaluation import bias
from hybrid_data.evaluation.cells import FAILED, KINDS, TRAINED
from hybrid_data.evaluation.currency import CurrentInputs, Exclusion
from hybrid_data.evaluation.gates import gate_status
from hybrid_data.evaluation.metrics import (
    METRICS,
    PRIMARY_METRIC,
    binary_metrics,
    metric,
    multiclass_metrics,
    regression_metrics,
)
from hybrid_data.evaluation.resampling import (
    Resamples,
    bootstrap_p_value,
    draw_resamples,
    holm_adjust,
    holm_levels,
    percentile_interval,
    pick_resamples,
)
from hybrid_data.evaluation.verdicts import BASELINE, UNTRAINABLE, CellOutcome, cell_verdict, plan_verdict
from hybrid_data.evaluation.verdicts import FAILED as FAILED_VERDICT
from hybrid_data.features import target_labels
from hybrid_data.lake import Lake
from hybrid_data.plan import Plan, Task
from hybrid_data.training import minority_label


class ScorecardError(ValueError):
    """Cells that cannot be compared fairly (different holdout, protocol or validation rows, no real-only)."""


@dataclass(frozen=True)
class Truth:
    """The holdout's truth in the form the metrics read: minority flags, values, or class codes."""

    task: Task
    values: np.ndarray
    classes: tuple[str, ...] = ()
    smallest: int = 0
    positive_label: str | None = None

    def subset(self, rows: np.ndarray) -> Truth:
        return Truth(self.task, self.values[rows], self.classes, self.smallest, self.positive_label)


@dataclass
class Scorecard:
    task: Task
    metric: str
    higher_is_better: bool
    confidence: float
    table: pl.DataFrame  # one row per cell
    verdict: str
    protocol: str
    resamples: int
    repeats: int
    holdout_rows: int
    no_skill: float | None = None  # the primary metric of a model without skill (PR AUC: the prevalence)
    bias: pl.DataFrame = field(default_factory=pl.DataFrame)
    bias_warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    built_from: str = ""  # the plan fingerprint and real-data version every cell was built from
    versions: dict[str, str] = field(default_factory=dict)  # the same, as MLflow tags
    excluded: list[dict] = field(default_factory=list)  # cells left out: {cell, partition, state, reason}


def holdout_truth(holdout: pl.DataFrame, real_train: pl.DataFrame, target: str, task: Task) -> Truth:
    column = holdout[target]
    if task is Task.regression:
        return Truth(task, column.cast(pl.Float64).to_numpy())
    labels = target_labels(column)
    rarest = minority_label(real_train, target)
    if task is Task.binary:
        return Truth(task, labels == rarest, positive_label=rarest)
    classes = tuple(sorted(set(labels) | set(target_labels(real_train[target].drop_nulls()).tolist())))
    codes = np.searchsorted(np.array(classes), labels)
    return Truth(task, codes, classes, classes.index(rarest))


def _seed_metrics(row: dict, truth: Truth, weights: np.ndarray, rows: np.ndarray | None) -> dict[str, np.ndarray]:
    pick = slice(None) if rows is None else rows
    if truth.task is Task.multiclass:
        lookup = {label: code for code, label in enumerate(truth.classes)}
        predicted = np.array([lookup.get(v, -1) for v in row["predicted_label"]])[pick]
        return multiclass_metrics(predicted, truth.values, len(truth.classes), truth.smallest, weights)
    prediction = np.asarray(row["prediction"], dtype=float)[pick]
    if truth.task is Task.regression:
        return regression_metrics(prediction, truth.values, weights)
    return binary_metrics(prediction, truth.values, row["threshold"], weights)


def _whole_holdout(seed_rows: list[dict], truth: Truth, rows: np.ndarray | None) -> dict[str, float]:
    whole = [_seed_metrics(r, truth, np.ones((1, truth.values.size)), rows) for r in seed_rows]
    with np.errstate(all="ignore"):
        return {name: float(np.nanmean([w[name][0] for w in whole])) for name in whole[0]}


def headline_metrics(
    cell: pl.DataFrame, holdout: pl.DataFrame, real_train: pl.DataFrame, target: str, task: Task
) -> dict[str, float]:
    """A cell's metrics on the whole holdout, averaged over its seeds (the scorecard adds the intervals)."""
    if cell.height == 0 or cell["status"][0] != TRAINED:
        return {}
    return _whole_holdout(cell.to_dicts(), holdout_truth(holdout, real_train, target, task), None)


def score_cell(
    seed_rows: list[dict], truth: Truth, resamples: Resamples, rows: np.ndarray | None = None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """A cell's metrics on the whole holdout (averaged over its seeds) and on every resample (each resample
    scored by the seed drawn for it). `rows` restricts both to some holdout rows (a group of the bias audit)."""
    return score_cells({"cell": seed_rows}, truth, resamples, rows)["cell"]


def score_cells(
    cells: dict[str, list[dict]], truth: Truth, resamples: Resamples, rows: np.ndarray | None = None
) -> dict[str, tuple[dict[str, float], dict[str, np.ndarray]]]:
    """`score_cell` for several cells on the same resamples, counted once per block of resamples and shared by
    every cell (the scorecard's paired comparisons need the same resamples for all)."""
    subset = truth if rows is None else truth.subset(rows)
    points = {name: _whole_holdout(seed_rows, subset, rows) for name, seed_rows in cells.items()}
    spreads = {name: {m: np.empty(resamples.size) for m in point} for name, point in points.items()}
    for span, counts in resamples.count_blocks():
        counts = counts if rows is None else counts[:, rows]
        for name, seed_rows in cells.items():
            assignment = resamples.seed_choice[span] % len(seed_rows)
            for k, row in enumerate(seed_rows):
                chosen = assignment == k
                if not chosen.any():
                    continue
                for metric_name, values in _seed_metrics(row, subset, pick_resamples(counts, chosen), rows).items():
                    spreads[name][metric_name][span][chosen] = values
    return {name: (points[name], spreads[name]) for name in cells}


def _check_comparable(cells: pl.DataFrame, holdout_version: str) -> None:
    trained = cells.filter(pl.col("status") == TRAINED)
    stale = trained.filter(pl.col("holdout_version") != holdout_version)["cell"].unique(maintain_order=True)
    if stale.len():
        raise ScorecardError(
            f"cells {stale.to_list()} were scored on another version of real_holdout; re-materialize their "
            "blend_model (and classical_baselines) partitions so every cell is judged on the same rows"
        )
    for column, what in (("protocol_fingerprint", "training protocol"), ("validation_version", "validation slice")):
        versions = trained.group_by(column, maintain_order=True).agg(pl.col("cell").unique())
        if versions.height > 1:
            listing = "; ".join(f"{sorted(c)}" for c in versions["cell"].to_list())
            raise ScorecardError(
                f"cells were trained under different {what}s ({listing}); re-materialize blend_model and "
                "classical_baselines with the current plan so every cell follows one protocol"
            )


def _ordered_cells(cells: pl.DataFrame) -> list[pl.DataFrame]:
    """Real-only once (every synthesizer has an identical r = 0 cell; the first stands for all), then blends by
    synthesizer and ratio, TSTR rows, and the classical baselines."""
    real = cells.filter((pl.col("kind") == "real_only") & (pl.col("status") == TRAINED))
    if real.height == 0:
        raise ScorecardError("no real-only cell (ratio 0) is trained; materialize blend_model for ratio 0")
    first = real.sort("synthesizer")["synthesizer"][0]
    cells = cells.filter((pl.col("kind") != "real_only") | (pl.col("synthesizer") == first))
    rank = {k: i for i, k in enumerate(KINDS)}
    cells = cells.with_columns(pl.col("kind").replace_strict(rank, return_dtype=pl.Int32).alias("_rank"))
    cells = cells.sort("_rank", "synthesizer", "ratio", "method", "seed", nulls_last=True).drop("_rank")
    return cells.partition_by("cell", maintain_order=True)


def _describe_cell(frame: pl.DataFrame) -> dict:
    first = frame.row(0, named=True)
    gates = gate_status(json.loads(first["checks"]), first["synthetic_rows"] > 0)
    rounds = [r for r in frame["rounds"].to_list() if r is not None]
    return {
        "cell": first["cell"],
        "kind": first["kind"],
        "method": first["method"],
        "synthesizer": first["synthesizer"],
        "ratio": first["ratio"],
        "status": first["status"],
        "real_rows": first["real_rows"],
        "synthetic_rows": first["synthetic_rows"],
        "train_rows": first["train_rows"],
        "fits": frame.height if first["status"] == TRAINED else 0,
        "rounds": f"{min(rounds)}-{max(rounds)}" if rounds else "",
        "checks": gates.summary(),
        "checks_brief": gates.brief(),
        "failed_gates": ", ".join(gates.gates_failed),
        "mlflow_run_id": first["mlflow_run_id"],
    }


def build_scorecard(
    cells: pl.DataFrame,
    holdout: pl.DataFrame,
    real_train: pl.DataFrame,
    plan: Plan,
    task: Task,
    inputs: CurrentInputs | None = None,
    excluded: list[Exclusion] = (),
):
    """Judge every cell against real-only on one shared set of paired holdout resamples. `cells` must be
    comparable (currency.select_current picks them); `inputs` and `excluded` say what they were built from and
    which stored cells were left out."""
    evaluation = plan.evaluation
    primary = metric(task, evaluation.primary_metric or PRIMARY_METRIC[task])
    alpha = 1.0 - evaluation.confidence
    holdout_version = lake.frame_fingerprint(holdout)
    notes = [f"left out {e.text()}" for e in excluded if e.state != FAILED]
    _check_comparable(cells, holdout_version)
    ordered = _ordered_cells(cells)
    truth = holdout_truth(holdout, real_train, plan.target, task)
    resamples = draw_resamples(holdout.height, evaluation.bootstrap, evaluation.repeats, plan.seed)
    trained = {frame["cell"][0]: frame.to_dicts() for frame in ordered if frame["status"][0] == TRAINED}
    scored = score_cells(trained, truth, resamples)
    base_cell = ordered[0]["cell"][0]
    if base_cell not in scored:
        raise ScorecardError(f"the real-only cell is {ordered[0]['status'][0]}; nothing can be judged against it")
    base_point, base_spread = scored[base_cell]

    rows, differences = [], {}
    for frame in ordered:
        row = _describe_cell(frame)
        name = row["cell"]
        if name in scored:
            point, spread = scored[name]
            for m in METRICS[task]:
                row[m.name] = point[m.name]
                row[f"{m.name}_low"], row[f"{m.name}_high"] = percentile_interval(spread[m.name], evaluation.confidence)
                if name != base_cell:
                    change = spread[m.name] - base_spread[m.name]
                    row[f"{m.name}_diff"] = point[m.name] - base_point[m.name]
                    low, high = percentile_interval(change, evaluation.confidence)
                    row[f"{m.name}_diff_low"], row[f"{m.name}_diff_high"] = low, high
            if name != base_cell:
                differences[name] = spread[primary.name] - base_spread[primary.name]
                row["p_value"] = bootstrap_p_value(differences[name])
        rows.append(row)

    tested = [r["cell"] for r in rows if r["cell"] in differences]
    p_values = np.array([rows[i]["p_value"] for i, r in enumerate(rows) if r["cell"] in differences])
    adjusted, levels = holm_adjust(p_values), holm_levels(p_values, alpha)
    outcomes = []
    for row in rows:
        if row["cell"] in differences:
            i = tested.index(row["cell"])
            row["p_holm"] = float(adjusted[i])
            low, high = percentile_interval(differences[row["cell"]], 1.0 - levels[i])
            row["diff_adjusted_low"], row["diff_adjusted_high"] = low, high
            row["verdict"] = cell_verdict(row[f"{primary.name}_diff"], adjusted[i], alpha, primary.higher_is_better)
        else:
            failed = row["status"].startswith(FAILED)
            row["verdict"] = BASELINE if row["cell"] == base_cell else FAILED_VERDICT if failed else UNTRAINABLE
        failed = tuple(g for g in row["failed_gates"].split(", ") if g)
        outcomes.append(CellOutcome(row["cell"], row["kind"], row["verdict"], failed))
    table = pl.DataFrame(rows, infer_schema_length=None)
    protocol_json = json.loads(ordered[0]["protocol"][0])
    card = Scorecard(
        task=task,
        metric=primary.name,
        higher_is_better=primary.higher_is_better,
        confidence=evaluation.confidence,
        table=table,
        verdict=plan_verdict(outcomes, primary.name, evaluation.confidence, len(tested)),
        protocol=_protocol_text(protocol_json, plan),
        resamples=evaluation.bootstrap,
        repeats=evaluation.repeats,
        holdout_rows=holdout.height,
        no_skill=float(truth.values.mean()) if primary.name == "pr_auc" else None,
        notes=notes,
        built_from=inputs.describe() if inputs else "",
        versions=inputs.tags() if inputs else {},
        excluded=[e.as_dict() for e in excluded],
    )
    if evaluation.groups:
        card.bias, card.bias_warnings = audit_groups(ordered, scored, truth, holdout, real_train, plan, resamples)
    return card


def _protocol_text(protocol: dict, plan: Plan) -> str:
    from hybrid_data.evaluation.protocol import Protocol

    restored = Protocol(
        task=Task(protocol["task"]),
        target=plan.target,
        model_kind=protocol["model_kind"],
        estimator_params=protocol["estimator_params"],
        seeds=tuple(protocol["seeds"]),
        validation_fraction=protocol["validation_fraction"],
        validation_salt=protocol["validation_salt"],
        threshold=protocol["threshold"],
        seed_sensitive=protocol["seed_sensitive"],
    )
    return restored.describe()


def audit_groups(ordered, scored, truth, holdout, real_train, plan: Plan, resamples):
    """Per group of each `evaluation.groups` column and per cell: the share findings of its synthetic rows and
    the primary metric within the group, with its paired difference to real-only. Returns (rows, warnings)."""
    evaluation = plan.evaluation
    task = truth.task
    primary = metric(task, evaluation.primary_metric or PRIMARY_METRIC[task])
    bias.check_groups(evaluation.groups, real_train, plan.target)
    base = ordered[0]
    records, warnings = [], []
    for column in evaluation.groups:
        labels = bias.group_labels(holdout[column], real_train[column]).to_numpy()
        for group in sorted(set(labels)):
            rows = np.flatnonzero(labels == group)
            in_group = score_cells(
                {f["cell"][0]: f.to_dicts() for f in ordered if f is base or f["cell"][0] in scored},
                truth,
                resamples,
                rows,
            )
            _, base_spread = in_group[base["cell"][0]]
            for frame in ordered:
                name = frame["cell"][0]
                if name not in scored:
                    continue
                record = {"group_column": column, "group": group, "cell": name, "holdout_rows": rows.size}
                shares = [
                    s
                    for s in json.loads(frame["group_shares"][0])
                    if s["group_column"] == column and s["group"] == group
                ]
                if shares and frame["kind"][0] in ("blend", "tstr"):
                    record.update(bias.share_findings(shares[0], task is not Task.regression, evaluation.confidence))
                point, spread = in_group[name]
                record[primary.name] = point[primary.name]
                low, high = percentile_interval(spread[primary.name], evaluation.confidence)
                record[f"{primary.name}_low"], record[f"{primary.name}_high"] = low, high
                notes = [record["share_warning"]] if record.get("share_warning") else []
                if frame is not base:
                    d_low, d_high = percentile_interval(
                        spread[primary.name] - base_spread[primary.name], evaluation.confidence
                    )
                    record["diff_low"], record["diff_high"] = d_low, d_high
                    worse = d_high < 0 if primary.higher_is_better else d_low > 0
                    if worse:
                        notes.append(f"{primary.name} worse than real-only in this group [{d_low:+.3f}, {d_high:+.3f}]")
                record["warning"] = "; ".join(notes)
                if notes:
                    warnings.append(f"{name}, {column}={group}: {record['warning']}")
                records.append(record)
    return pl.DataFrame(records, infer_schema_length=None), warnings


SCORECARD_ASSET = "blend_scorecard"
SUMMARY_FILE = "scorecard.json"
BIAS_FILE = "bias_audit.parquet"


def save_scorecard(card: Scorecard, store: Lake) -> None:
    """The scorecard's summary (everything but its table, which is the asset's frame) and bias audit, published
    beside the table, so the CLI can print it later without recomputing."""
    summary = {k: v for k, v in card.__dict__.items() if k not in ("table", "bias")}
    summary["task"] = card.task.value
    store.write_bytes(SCORECARD_ASSET, None, SUMMARY_FILE, json.dumps(summary, default=str).encode())
    if card.bias.height:
        store.publish(SCORECARD_ASSET, None, BIAS_FILE, card.bias.write_parquet)


def load_scorecard(store: Lake) -> Scorecard:
    """The last materialized blend_scorecard, as a Scorecard (for `format_scorecard`)."""
    import io

    summary = json.loads(store.read_bytes(SCORECARD_ASSET, None, SUMMARY_FILE))
    summary["task"] = Task(summary["task"])
    bias_frame = pl.DataFrame()
    if BIAS_FILE in store.names(SCORECARD_ASSET):
        bias_frame = pl.read_parquet(io.BytesIO(store.read_bytes(SCORECARD_ASSET, None, BIAS_FILE)))
    return Scorecard(table=store.read_frame(SCORECARD_ASSET), bias=bias_frame, **summary)
