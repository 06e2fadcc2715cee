"""`hybrid-data plan init`: a starter plan for any CSV or Parquet file, proposed as a careful data scientist would.

It reads the real data once, decides every column's type (hybrid_data.column_types), proposes drops with their
reasons (identifiers, constant or empty columns, free text, suspected leaks), pins the type decisions a storage
type would get wrong, decides the task, prints all of it, and writes a plan whose comments give every reason.
A suspected leak is a column that alone predicts the target on the real data (ROC AUC above 0.95, or R² above
0.95 for regression), or whose missingness alone does: post-outcome columns, or a column filled only for one class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from hybrid_data.column_types import ColumnType, Kind, decide_types, infer_task, is_text
from hybrid_data.plan import Plan, Task, parse_plan
from hybrid_data.source import SourceError, with_real_types

LEAK_SCORE = 0.95  # a single column scoring above this alone is a suspected leak
LEAK_ROWS = 20_000  # rows the leak scan looks at (a sample keeps `plan init` within seconds)
LEAK_LEVELS = 32  # levels a column is cut into for the leak scan
DEFAULT_RATIOS = [0, 0.25, 0.5, 0.75, 1.0]


@dataclass(frozen=True)
class ColumnProposal:
    """What `plan init` decided for one column: its type, and whether (and why) it is dropped or pinned."""

    column: ColumnType
    storage: str
    drop_reason: str | None = None
    pinned: bool = False  # written to the plan's `columns` section: the storage type alone would mislead


@dataclass(frozen=True)
class StarterPlan:
    task: Task
    task_reason: str
    rows: int
    proposals: list[ColumnProposal]
    notes: list[str] = field(default_factory=list)  # what the user should know that no plan field fixes

    @property
    def drops(self) -> list[ColumnProposal]:
        return [p for p in self.proposals if p.drop_reason]


def _read_any(source: Path) -> pl.DataFrame:
    if not source.exists():
        raise SourceError(f"{source} does not exist; give --source a CSV or Parquet file")
    try:
        if source.suffix.lower() in {".parquet", ".pq"}:
            return pl.read_parquet(source)
        return pl.read_csv(source, infer_schema_length=100_000, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{source} could not be read as CSV or Parquet: {exc}") from exc


def id_like_columns(frame: pl.DataFrame, target: str) -> list[str]:
    """Columns the type decision reads as row identifiers (a distinct value on every row)."""
    types = decide_types(frame, None)
    return [c for c, t in types.items() if c != target and t.kind is Kind.id]


def _task_reason(target: pl.Series, task: Task) -> str:
    values = target.drop_nulls()
    if task is Task.regression:
        return f"{values.n_unique()} distinct {values.dtype} values: a quantity"
    shares = values.cast(pl.String).value_counts(sort=True, normalize=True)
    listed = ", ".join(f"{v!r} {s:.1%}" for v, s in shares.head(5).iter_rows())
    return f"{shares.height} classes of {values.dtype}: {listed}" + (", ..." if shares.height > 5 else "")


def _labels(target: pl.Series) -> np.ndarray:
    return target.cast(pl.String).to_numpy().astype(str)


def _levels(column: pl.Series, kind: Kind) -> np.ndarray:
    """The column cut into at most LEAK_LEVELS levels: quantile bins of numbers and datetimes, the most frequent
    categories plus one for the rest; a missing value is a level of its own."""
    if kind in (Kind.numeric, Kind.datetime) and column.dtype != pl.String:
        values = column.to_physical().cast(pl.Float64)
        ranks = values.rank("dense").to_numpy()
        top = np.nanmax(ranks) if np.isfinite(ranks).any() else 1.0
        codes = np.floor((ranks - 1) / max(top, 1.0) * LEAK_LEVELS)
    else:
        text = column.cast(pl.String)
        frequent = text.drop_nulls().value_counts(sort=True)[column.name].head(LEAK_LEVELS - 1)
        lookup = {v: i for i, v in enumerate(frequent.to_list())}
        codes = np.array([lookup.get(v, LEAK_LEVELS - 1) for v in text.to_list()], dtype=float)
        codes[text.is_null().to_numpy()] = np.nan
    return np.where(np.isnan(codes), -1, codes).astype(np.int64)


def _single_column_score(frame: pl.DataFrame, column: ColumnType, target: str, task: Task, seed: int) -> float:
    """How well this column alone predicts the target, out of fold: each level's mean target (or class shares),
    learned on one half of the rows and scored on the other, as ROC AUC (one class against the rest, averaged
    over classes) or R² for regression. Binning keeps non-monotone leaks visible and the scan to milliseconds."""
    from sklearn.metrics import r2_score, roc_auc_score

    levels = _levels(frame[column.name], column.kind)
    half = np.random.default_rng(seed).random(frame.height) < 0.5
    if task is Task.regression:
        targets = [frame[target].cast(pl.Float64).to_numpy()]
    else:
        labels = _labels(frame[target])
        targets = [(labels == label).astype(float) for label in np.unique(labels)]
    scores = []
    for y in targets:
        predicted = np.empty(frame.height)
        for fit, score in ((half, ~half), (~half, half)):
            means = {level: y[fit][levels[fit] == level].mean() for level in np.unique(levels[fit])}
            fallback = y[fit].mean() if fit.any() else 0.0
            predicted[score] = [means.get(level, fallback) for level in levels[score]]
        if task is Task.regression:
            scores.append(r2_score(y, predicted))
        elif 0 < y.sum() < y.size:
            scores.append(roc_auc_score(y, predicted))
    return float(np.mean(scores)) if scores else 0.0


def _missingness_score(frame: pl.DataFrame, name: str, target: str, task: Task) -> float | None:
    """How well 'is this value missing?' alone predicts the target (ROC AUC, or R² for regression)."""
    missing = frame[name].is_null()
    if not 0 < missing.sum() < frame.height:
        return None
    from sklearn.metrics import roc_auc_score

    indicator = missing.cast(pl.Float64).to_numpy()
    if task is Task.regression:
        y = frame[target].cast(pl.Float64).to_numpy()
        return float(np.corrcoef(indicator, y)[0, 1] ** 2)
    y = _labels(frame[target])
    scores = [roc_auc_score(y == label, indicator) for label in np.unique(y)]
    return float(max(max(s, 1 - s) for s in scores))


def _leak_reason(frame: pl.DataFrame, name: str, column: ColumnType, target: str, task: Task, seed: int):
    metric = "R²" if task is Task.regression else "ROC AUC"
    missing = _missingness_score(frame, name, target, task)
    if missing is not None and missing > LEAK_SCORE:
        return f"suspected leak: whether it is missing alone predicts '{target}' ({metric} {missing:.3f} on real data)"
    score = _single_column_score(frame, column, target, task, seed)
    if score > LEAK_SCORE:
        return f"suspected leak: alone it predicts '{target}' ({metric} {score:.3f} on real data)"
    return None


def _drop_reason(column: ColumnType, frame: pl.DataFrame) -> str | None:
    values = frame[column.name].drop_nulls()
    if values.len() == 0:
        return "empty: no value in any row"
    if column.is_constant:
        return f"constant: {values[0]!r} in every row that has a value"
    if column.kind is Kind.id:
        return f"identifier ({column.reason}): a model would memorize it"
    if column.kind is Kind.text:
        return f"{column.reason}: too many levels to synthesize or learn; derive features from it upstream"
    return None


def _pinned(column: ColumnType, storage: pl.DataType) -> bool:
    """Whether the plan should state this decision: the storage type would suggest another one."""
    if column.decided_by != "data" or column.kind in (Kind.id, Kind.text):
        return False
    if column.kind is Kind.categorical and storage.is_numeric():
        return True
    return column.kind is Kind.datetime and is_text(storage)


def propose(
    frame: pl.DataFrame, target: str, seed: int = 42, storage: dict[str, pl.DataType] | None = None
) -> StarterPlan:
    """Decide the task, every column's type and the proposed drops from the real rows; `storage` is the types
    as read (before ISO text became datetimes), to tell which decisions the plan should pin."""
    storage = storage or dict(frame.schema)
    if target not in frame.columns:
        raise SourceError(
            f"the source has no column '{target}' (columns: {', '.join(frame.columns)}); give --target one of them"
        )
    labelled = frame.filter(pl.col(target).is_not_null())
    if labelled.height < 2:
        raise SourceError(f"target '{target}' has a value in {labelled.height} row(s); choose another --target")
    task = infer_task(labelled[target])
    if task is not Task.regression and labelled[target].n_unique() < 2:
        raise SourceError(f"target '{target}' has a single class; a model needs two. Choose another --target")
    plan = Plan.model_validate({"name": "starter", "source": {"path": "."}, "target": target, "task": task})
    types = decide_types(labelled, plan, task)
    sample = labelled.sample(n=LEAK_ROWS, seed=seed) if labelled.height > LEAK_ROWS else labelled
    proposals = []
    for name, column in types.items():
        read_as = storage.get(name, frame.schema[name])
        if name == target:
            proposals.append(ColumnProposal(column, str(read_as)))
            continue
        if column.kind is Kind.datetime and is_text(read_as):
            column = replace(column, reason="ISO-8601 text, parsed as datetimes at ingest")
        reason = _drop_reason(column, labelled) or _leak_reason(sample, name, column, target, task, seed)
        proposals.append(ColumnProposal(column, str(read_as), reason, pinned=not reason and _pinned(column, read_as)))
    return StarterPlan(task, _task_reason(labelled[target], task), labelled.height, proposals, _notes(labelled))


def _notes(frame: pl.DataFrame) -> list[str]:
    """Facts about the rows as a whole: low-entropy data repeats rows, which staging keeps once."""
    repeated = 1.0 - frame.n_unique() / max(frame.height, 1)
    if repeated < 0.2:
        return []
    return [
        f"{repeated:.0%} of rows repeat another row exactly (few, mostly categorical columns); stg_real keeps each "
        f"distinct row once, so {frame.n_unique()} of {frame.height} rows are modeled, and synthetic rows will equal "
        "real ones by chance"
    ]


def _quoted(name: str) -> str:
    """A column name as a YAML scalar that survives spaces, quotes, colons, '#' and unicode."""
    return json.dumps(name, ensure_ascii=False)


def _comment(text: str) -> str:
    return " ".join(text.split())


def render_plan(starter: StarterPlan, source: Path, target: str, ratios: list[float] | None = None) -> str:
    """The plan as YAML text, with a comment giving the reason of every decision."""
    name = "".join(c if (c.isascii() and c.isalnum()) or c in "_-" else "_" for c in source.stem) or "my_plan"
    kept = len(starter.proposals) - len(starter.drops)
    lines = [
        f"# Starter plan for {source.name}: {starter.rows} rows with a target, {len(starter.proposals)} columns "
        f"({len(starter.drops)} proposed drops, {kept} kept).",
        "# Written by `hybrid-data plan init`: check the drops, the column types and the ratios before running.",
        *(f"# Note: {_comment(note)}" for note in starter.notes),
        f"name: {name}",
        "source:",
        f"  path: {_quoted(str(source.resolve()))}",
        f"target: {_quoted(target)}",
        f"task: {starter.task.value}  # {_comment(starter.task_reason)}",
    ]
    if starter.drops:
        lines.append("drop_columns:")
        lines += [f"  - {_quoted(p.column.name)}  # {_comment(p.drop_reason or '')}" for p in starter.drops]
    else:
        lines.append("drop_columns: []")
    pinned = [p for p in starter.proposals if p.pinned]
    if pinned:
        lines.append("columns:  # type decisions the storage type would get wrong (see docs/real_data.md)")
        lines += [
            f"  {_quoted(p.column.name)}: {{type: {p.column.kind.value}}}  # {p.storage}: {_comment(p.column.reason)}"
            for p in pinned
        ]
    ratio_text = ", ".join(f"{r:g}" for r in (ratios or DEFAULT_RATIOS))
    lines += [
        f"ratios: [{ratio_text}]  # share of synthetic rows per blend; 0 (real only) is the baseline",
        "anchoring:",
        "  mode: augment  # keep every real training row, add synthetic ones",
        "  min_real_share: 0.25",
        "  allow_synthetic_only_baseline: true",
        "holdout:",
        "  fraction: 0.2  # real rows no generator or model ever trains on",
        "seed: 42",
        "synthesis:",
        "  synthesizers: [gaussian_copula]",
        "model:",
        "  kind: hist_gradient_boosting",
    ]
    return "\n".join(lines) + "\n"


def describe(starter: StarterPlan) -> list[str]:
    """One line per column: storage type, decision and reason, and what the plan does with it."""
    width = min(40, max((len(p.column.name) for p in starter.proposals), default=10))
    lines = [f"task: {starter.task.value} ({starter.task_reason})"]
    lines += [f"note: {note}" for note in starter.notes]
    for p in starter.proposals:
        decision = f"{p.storage:<12} -> {p.column.kind.value:<11}"
        if p.drop_reason:
            lines.append(f"  {p.column.name:<{width}} {decision} DROP: {p.drop_reason}")
        else:
            lines.append(f"  {p.column.name:<{width}} {decision} {p.column.reason}{'; pinned' if p.pinned else ''}")
    return lines


def write_starter_plan(
    source: Path,
    target: str,
    output: Path,
    say: Callable[[str], None] = print,
    ratios: list[float] | None = None,
) -> Path:
    """Propose, print and write the starter plan; never write a plan that would not load."""
    frame = _read_any(source)
    storage = dict(frame.schema)
    if target in frame.columns:
        provisional = Plan.model_validate({"name": "starter", "source": {"path": str(source)}, "target": target})
        frame = with_real_types(frame.with_columns(pl.col(pl.String).str.strip_chars()), provisional)
    starter = propose(frame, target, storage=storage)
    for line in describe(starter):
        say(line)
    text = render_plan(starter, source, target, ratios)
    output = output.resolve()
    parse_plan(text, output.parent, str(output))
    output.write_text(text)
    return output
