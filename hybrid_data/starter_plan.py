"""`hybrid-data plan init`: a starter plan for any CSV or Parquet file, proposed as a careful data scientist would.

It reads the real data once, decides every column's type (hybrid_data.column_types), proposes drops with their
reasons (identifiers, constant or empty columns, free text, suspected leaks), pins the type decisions a storage
type would get wrong, decides the task, prints all of it, and writes a plan whose comments give every reason.
A suspected leak is a column that alone predicts the target on the real data (ROC AUC above 0.95, or R² above
0.95 for regression), or whose missingness alone does: post-outcome columns, or a column filled only for one class.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from hybrid_data.column_types import ColumnType, Kind, decide_types, infer_task, is_text
from hybrid_data.plan import Plan, Source, Task, parse_plan
from hybrid_data.source import (
    OTHER_DELIMITERS,
    SourceError,
    clean_non_finite,
    delimiter_hint,
    first_undecodable_line,
    read_file,
    with_real_types,
)

LEAK_SCORE = 0.95  # a single column scoring above this alone is a suspected leak
LEAK_ROWS = 20_000  # rows the leak scan looks at (a sample keeps `plan init` within seconds)
LEAK_LEVELS = 32  # levels a column is cut into for the leak scan
DEFAULT_RATIOS = [0, 0.25, 0.5, 0.75, 1.0]
HOLDOUT_MARGIN = 1.5  # expected holdout rows over the split check's minimums: the hash split varies around them
MAX_HOLDOUT_FRACTION = 0.5  # never propose holding out more real rows than are trained on


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
    holdout_fraction: float = 0.2

    @property
    def drops(self) -> list[ColumnProposal]:
        return [p for p in self.proposals if p.drop_reason]


def sniff_csv_options(path: Path) -> tuple[Source, list[str]]:
    """CSV options that read this file, and a note for each guess the user should confirm: UTF-8 unless a line
    does not decode (then cp1252, Windows' Western encoding, or latin-1, which decodes any byte); the delimiter
    among , ; tab | that splits the header into the most fields."""
    notes = []
    encoding = "utf8"
    line = first_undecodable_line(path, "utf8")
    if line is not None:
        encoding = "cp1252" if first_undecodable_line(path, "cp1252") is None else "latin-1"
        notes.append(
            f"{path.name} is not UTF-8 (line {line}); it is read as {encoding}: check accented values in the levels "
            "printed by plan init, and set source.encoding to the file's real encoding if they look wrong"
        )
    with path.open(encoding=encoding, newline="") as handle:
        header = handle.readline()
    delimiter = max(OTHER_DELIMITERS, key=lambda d: (len(header.split(d)), d == ","))
    if delimiter != ",":
        notes.append(f"{path.name} is read with delimiter {delimiter!r} (its header splits best on it)")
    return Source(path=str(path), encoding=encoding, delimiter=delimiter), notes


def _read_any(path: Path) -> tuple[pl.DataFrame, Source, list[str]]:
    """The file, the options that read it and what the user should know about them; a SourceError (naming the
    file, the line and what to change) for a file no plan could use: absent, empty, header only, ragged."""
    if not path.exists():
        raise SourceError(f"{path} does not exist; give --source a CSV or Parquet file")
    if path.suffix.lower() in {".parquet", ".pq"}:
        source, notes = Source(path=str(path)), []
    elif path.stat().st_size == 0:
        raise SourceError(f"{path.name} is empty (0 bytes); give --source a CSV with a header row and data rows")
    else:
        source, notes = sniff_csv_options(path)
    frame = read_file(path, source)
    if frame.width and not frame.height:
        raise SourceError(
            f"{path.name} has a header ({frame.width} columns) but no data rows; give --source a file with data"
        )
    return frame, source, notes


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
    if frame.width < 2:
        raise SourceError(
            f"the source has only the target column '{target}'; a model needs at least one other column to learn "
            "from (if the file has several, check its delimiter)"
        )
    plan = Plan.model_validate({"name": "starter", "source": {"path": "."}, "target": target, "task": task})
    if labelled.height < plan.checks.min_rows:
        raise SourceError(
            f"the source has {labelled.height} rows with a target; a run needs at least {plan.checks.min_rows} "
            "(checks.min_rows) to split, fit and score: give --source more rows"
        )
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
    features = [p for p in proposals if p.column.name != target]
    if all(p.drop_reason for p in features):
        reasons = "; ".join(f"'{p.column.name}': {p.drop_reason}" for p in features)
        raise SourceError(f"every column besides the target would be dropped ({reasons}); nothing is left to learn")
    fraction, holdout_notes = _holdout_fraction(labelled, target, task, plan)
    notes = _notes(labelled) + holdout_notes
    return StarterPlan(task, _task_reason(labelled[target], task), labelled.height, proposals, notes, fraction)


def _holdout_fraction(labelled: pl.DataFrame, target: str, task: Task, plan: Plan) -> tuple[float, list[str]]:
    """The holdout fraction to propose, with a note when it is not the default or when none would do.

    The split check (hybrid_data.ingest_checks.split_scorable) needs checks.min_holdout_rows rows in the holdout
    and checks.min_class_rows rows of every class on both sides; staging keeps each distinct row once, so distinct
    rows are what count. A fraction up to MAX_HOLDOUT_FRACTION that reaches HOLDOUT_MARGIN times those minimums
    is proposed (the hash split varies around its fraction); beyond it, the plan keeps the default and its notes
    say what the split check will refuse and what to change."""
    checks, default = plan.checks, plan.holdout.fraction
    distinct = labelled.unique()
    counts = {} if task is Task.regression else dict(distinct[target].cast(pl.String).value_counts().iter_rows())
    needed = max(
        [
            HOLDOUT_MARGIN * checks.min_holdout_rows / distinct.height,
            *(HOLDOUT_MARGIN * checks.min_class_rows / n for n in counts.values()),
        ]
    )
    if needed <= default:
        return default, []
    if needed <= MAX_HOLDOUT_FRACTION:
        fraction = math.ceil(needed * 20) / 20
        return fraction, [
            f"holdout.fraction is {fraction:g}, not {default:g}: with {distinct.height} distinct rows (staging keeps "
            f"each once) a {default:g} holdout would be too small to score (checks.min_holdout_rows="
            f"{checks.min_holdout_rows}, checks.min_class_rows={checks.min_class_rows} per class)"
        ]
    notes = []
    if distinct.height * default < checks.min_holdout_rows:
        notes.append(
            f"{distinct.height} distinct rows give a holdout of about {distinct.height * default:.0f} rows at "
            f"holdout.fraction={default:g}, below checks.min_holdout_rows={checks.min_holdout_rows}, so the split "
            "check will stop the run: add rows before running"
        )
    notes += [
        f"class '{v}' has {n} rows: a holdout of {default:g} gets about {n * default:.0f}, below "
        f"checks.min_class_rows={checks.min_class_rows}, so the split check will stop the run: add rows of "
        f"'{v}', merge it into another class, or raise holdout.fraction"
        for v, n in sorted(counts.items())
        if n * default < checks.min_class_rows
    ]
    return default, notes


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


def render_plan(
    starter: StarterPlan, source: Path, target: str, ratios: list[float] | None = None, options: Source | None = None
) -> str:
    """The plan as YAML text, with a comment giving the reason of every decision; `options` are the CSV options
    that read the file (written when they differ from the defaults)."""
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
        *_csv_option_lines(options),
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
        f"  fraction: {starter.holdout_fraction:g}  # real rows no generator or model ever trains on",
        "seed: 42",
        "synthesis:",
        "  synthesizers: [gaussian_copula]",
        "model:",
        "  kind: hist_gradient_boosting",
    ]
    return "\n".join(lines) + "\n"


def _csv_option_lines(options: Source | None) -> list[str]:
    if options is None:
        return []
    lines = []
    if options.encoding != "utf8":
        lines.append(f"  encoding: {_quoted(options.encoding)}  # guessed: the file is not UTF-8")
    if options.delimiter != ",":
        lines.append(f"  delimiter: {_quoted(options.delimiter)}")
    return lines


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
    """Propose, print and write the starter plan; never write a plan that would not load, nor one for data no
    run could use (the SourceError says why); data usable after an edit gets a plan whose notes say which."""
    frame, options, read_notes = _read_any(source)
    if target not in frame.columns:
        hint = delimiter_hint(frame.columns, options.delimiter)
        raise SourceError(
            f"the source has no column '{target}' (columns: {', '.join(frame.columns)}); "
            + (hint or "give --target one of them")
        )
    frame, _ = clean_non_finite(
        frame.with_columns(pl.col(pl.String).str.strip_chars()),
        source.name,
        "replace them in the file (plan init does not guess what an infinity stands for)",
    )
    storage = dict(frame.schema)
    provisional = Plan.model_validate({"name": "starter", "source": {"path": str(source)}, "target": target})
    frame = with_real_types(frame, provisional)
    starter = propose(frame, target, storage=storage)
    starter = replace(starter, notes=read_notes + starter.notes)
    for line in describe(starter):
        say(line)
    text = render_plan(starter, source, target, ratios, options)
    output = output.resolve()
    parse_plan(text, output.parent, str(output))
    output.write_text(text)
    return output
