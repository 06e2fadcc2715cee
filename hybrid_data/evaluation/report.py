"""The scorecard rendered for people: a terminal text, a Markdown table for the Dagster UI and MLflow, and a chart
with error bars, the real-only band, and TSTR and classical baselines shown apart from the ratio axis."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from hybrid_data.evaluation.metrics import METRICS
from hybrid_data.evaluation.scorecard import Scorecard
from hybrid_data.evaluation.verdicts import BASELINE, FAILED, NO_DIFFERENCE, UNTRAINABLE

FAILED_MARK = "⚠"


def _number(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _signed(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.3f}"


def _estimate(row: dict, name: str) -> str:
    return f"{_number(row.get(name))} [{_number(row.get(name + '_low'))}, {_number(row.get(name + '_high'))}]"


def _difference(row: dict, name: str) -> str:
    if row.get(f"{name}_diff") is None:
        return ""
    low, high = _signed(row.get("diff_adjusted_low")), _signed(row.get("diff_adjusted_high"))
    return f"{_signed(row[name + '_diff'])} [{low}, {high}]"


def _verdict(row: dict) -> str:
    if row["verdict"] == UNTRAINABLE:
        return row["status"]
    if row["verdict"] == FAILED:
        return FAILED
    return row["verdict"] + (f" {FAILED_MARK}" if row["failed_gates"] else "")


def _header(card: Scorecard) -> list[str]:
    direction = "higher" if card.higher_is_better else "lower"
    no_skill = f"; no skill = {card.no_skill:.3f} (the prevalence)" if card.no_skill is not None else ""
    compared = int(card.table["p_holm"].is_not_null().sum()) if "p_holm" in card.table.columns else 0
    lines = [
        f"{card.metric} on {card.holdout_rows} real holdout rows ({direction} is better{no_skill}).",
        f"Intervals: {card.confidence:.0%}, {card.resamples} paired bootstrap resamples x {card.repeats} seeds; "
        f"differences to real-only adjusted (Holm) over {compared} comparisons.",
    ]
    if card.built_from:
        lines.append(f"Built from {card.built_from}.")
    return lines


SHORT_VERDICT = {NO_DIFFERENCE: "no diff", BASELINE: "baseline"}
TERMINAL_WIDTH = 100


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrapped(label: str, text: str, width: int) -> list[str]:
    import textwrap

    indent = "  " + " " * (len(label) - len(label.lstrip()))
    return textwrap.wrap(f"{label}{text}", width, subsequent_indent=indent, break_on_hyphens=False) if text else []


def _left_out(card: Scorecard) -> list[str]:
    """Stale and missing cells (failed ones are rows of the table, shown without numbers)."""
    return [
        f"{e['cell']} ({e['partition']}): {e['state']}, {e['reason']}" for e in card.excluded if e["state"] != FAILED
    ]


def format_scorecard(card: Scorecard, width: int = TERMINAL_WIDTH) -> str:
    """One line per cell, at most `width` columns: the headline metric with its interval, the adjusted
    difference to real-only with its interval, the verdict and a short check summary ("2 warnings: detection,
    tails"); a failed or untrainable cell shows why instead of numbers. Then the plan's verdict, the cells left
    out and the protocol, wrapped. The full table is scorecard.csv / scorecard.md (lake and MLflow)."""
    rows = card.table.to_dicts()
    cell_width = min(max(len(r["cell"]) for r in rows), 24)
    metric_head = f"{card.metric} [{card.confidence:.0%}]"
    columns = (cell_width, max(len(metric_head), 20), 23, 8)
    head = (
        f"{'cell':<{columns[0]}}  {metric_head:<{columns[1]}}  {'vs real-only [adj.]':<{columns[2]}}  "
        f"{'verdict':<{columns[3]}}  checks"
    )
    lines = ["Scorecard", *(w for h in _header(card) for w in _wrapped("  ", h, width)), ""]
    lines.append(_clip("  " + head, width))
    for row in rows:
        name = _clip(row["cell"], cell_width)
        if row["verdict"] in (UNTRAINABLE, FAILED):
            lines.append(_clip(f"  {name:<{columns[0]}}  {row['status']}", width))
            continue
        estimate = _estimate(row, card.metric)
        change = _difference(row, card.metric) or "-"
        verdict = SHORT_VERDICT.get(row["verdict"], row["verdict"])
        checks = row.get("checks_brief") or ("" if row["checks"] == "no checks" else row["checks"])
        line = f"  {name:<{columns[0]}}  {estimate:<{columns[1]}}  {change:<{columns[2]}}  {verdict:<{columns[3]}}"
        if len(f"{line}  {checks}".rstrip()) <= width:
            lines.append(f"{line}  {checks}".rstrip())
        else:  # a long check summary goes under its cell rather than being cut off
            lines += [_clip(line.rstrip(), width), _clip(f"  {'':<{columns[0]}}  checks: {checks}", width)]
    lines += ["", "  no diff = no detectable difference (the adjusted interval covers 0)", ""]
    lines += _wrapped("Verdict: ", card.verdict, width)
    if card.bias_warnings:
        lines += _wrapped("Bias audit: ", f"{len(card.bias_warnings)} warning(s), e.g. {card.bias_warnings[0]}", width)
    for text in _left_out(card):
        lines += _wrapped("Left out: ", text, width)
    lines += [w for note in card.notes if not note.startswith("left out") for w in _wrapped("Note: ", note, width)]
    lines += _wrapped("Protocol: ", card.protocol, width)
    return "\n".join(lines)


def inline_png(path) -> str:
    """A PNG as Markdown with the image inline (base64): Dagster's UI renders `data:` images in Markdown metadata
    (its sanitizer allows the `data` protocol for img src), where a file path would show as plain text."""
    import base64

    return f"![{Path(str(path)).stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _markdown_rows(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_escape(c) for c in cells) + " |" for cells in rows]


def _footer(card: Scorecard) -> list[str]:
    left_out = ["", "Left out (not current):", *(f"- {t}" for t in _left_out(card))] if _left_out(card) else []
    notes = [f"Note: {note}" for note in card.notes if not note.startswith("left out")]
    return ["", f"**Verdict:** {card.verdict}", *left_out, "", f"Protocol: {card.protocol}", *notes]


def _markdown(card: Scorecard, full: bool) -> str:
    """The five readable columns, or (full) every column people compare."""
    others = [m.name for m in METRICS[card.task] if m.name != card.metric] if full else []
    header = ["cell", f"{card.metric} [{card.confidence:.0%}]", "vs real-only [adjusted]"]
    full_columns = ["p (Holm)", "verdict", "checks", *others, "rows real + synthetic", "fits (rounds)"]
    header += full_columns if full else ["verdict", "checks"]
    rows = []
    for row in card.table.to_dicts():
        trained = row["verdict"] not in (UNTRAINABLE, FAILED)
        cells = [row["cell"], _estimate(row, card.metric) if trained else row["status"]]
        cells.append(_difference(row, card.metric) if trained else "")
        if full:
            has_p = row.get("p_holm") is not None
            cells.append(f"{_number(row.get('p_value'))} ({_number(row.get('p_holm'))})" if has_p else "")
        cells += [_verdict(row), row["checks"]]
        if full:
            cells += [_estimate(row, name) if trained else "-" for name in others]
            failed = row["verdict"] == FAILED
            cells.append("-" if failed else f"{row['real_rows']} + {row['synthetic_rows']}")
            cells.append(f"{row['fits']} ({row['rounds']})" if trained else "-")
        rows.append(cells)
    return "\n".join([*_header(card), "", *_markdown_rows(header, rows), *_footer(card)])


def markdown_scorecard(card: Scorecard) -> str:
    """The readable table for the Dagster UI: five columns (cell, headline metric [interval], adjusted
    difference to real-only [interval], verdict, checks), so nothing is clipped; the rest is in
    `markdown_full_scorecard` and scorecard.csv."""
    return _markdown(card, full=False)


def markdown_full_scorecard(card: Scorecard) -> str:
    """Every column people compare (for scorecard.md in the lake and MLflow): the headline metric, its adjusted
    difference, p-values, verdict, checks, then the task's other metrics with their intervals."""
    return _markdown(card, full=True)


def scorecard_png(card: Scorecard, path: Path) -> None:
    """Left: the headline metric against the synthetic ratio, one line per synthesizer with interval bars, the
    real-only interval as a band; cells whose synthetic rows failed a check drawn hollow with a warning mark.
    Right: TSTR and classical baselines as separate points, since they are not ratios of a blend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = card.table.filter(~pl.col("verdict").is_in([UNTRAINABLE, FAILED]))
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(10, 4.5), dpi=100, gridspec_kw={"width_ratios": [3, 2]}, sharey=True
    )
    base = table.filter(pl.col("kind") == "real_only").row(0, named=True)
    for axes in (left, right):
        axes.axhspan(base[f"{card.metric}_low"], base[f"{card.metric}_high"], color="grey", alpha=0.2)
        axes.axhline(base[card.metric], color="grey", linestyle="--", linewidth=1)
    if card.no_skill is not None:
        left.axhline(card.no_skill, color="black", linestyle=":", linewidth=1, label=f"no skill ({card.no_skill:.3f})")
    left.plot([], [], color="grey", linestyle="--", label=f"real only, {card.confidence:.0%} band")
    blends = table.filter(pl.col("kind") == "blend")
    for (synth,), rows in blends.sort("ratio").group_by("synthesizer", maintain_order=True):
        points = [base, *rows.to_dicts()]
        x = [p["ratio"] or 0.0 for p in points]
        y = [p[card.metric] for p in points]
        errors = [
            [p[card.metric] - p[f"{card.metric}_low"] for p in points],
            [p[f"{card.metric}_high"] - p[card.metric] for p in points],
        ]
        left.errorbar(x, y, yerr=errors, marker="o", capsize=3, label=synth)
        for p in points[1:]:
            if p["failed_gates"]:
                left.plot(p["ratio"], p[card.metric], marker="o", markersize=11, markerfacecolor="none", color="red")
                left.annotate(
                    FAILED_MARK, (p["ratio"], p[f"{card.metric}_high"]), ha="center", va="bottom", color="red"
                )
    if (table["failed_gates"] != "").any():
        left.plot(
            [],
            [],
            marker="o",
            markerfacecolor="none",
            color="red",
            linestyle="none",
            label="synthetic rows failed a check",
        )
    left.set_xlabel("share of synthetic rows in the blend (ratio)")
    left.set_ylabel(f"{card.metric} on the real holdout")
    left.set_title("Blends vs real-only")
    left.legend(fontsize=8, loc="best")
    apart = table.filter(pl.col("kind").is_in(["tstr", "baseline"])).to_dicts()
    for i, p in enumerate(apart):
        hollow = bool(p["failed_gates"])
        color = "tab:purple" if p["kind"] == "tstr" else "tab:green"
        right.errorbar(
            [i],
            [p[card.metric]],
            yerr=[[p[card.metric] - p[f"{card.metric}_low"]], [p[f"{card.metric}_high"] - p[card.metric]]],
            marker="s",
            capsize=3,
            color=color,
            markerfacecolor="none" if hollow else color,
        )
        if hollow:
            right.annotate(FAILED_MARK, (i, p[f"{card.metric}_high"]), ha="center", va="bottom", color="red")
    right.set_xticks(range(len(apart)), [p["cell"] for p in apart], rotation=30, ha="right", fontsize=8)
    right.set_title("TSTR and classical fixes")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
