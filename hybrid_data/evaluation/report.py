"""The scorecard rendered for people: a terminal text, a Markdown table for the Dagster UI and MLflow, and a chart
with error bars, the real-only band, and TSTR and classical baselines shown apart from the ratio axis."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from hybrid_data.evaluation.metrics import METRICS
from hybrid_data.evaluation.scorecard import Scorecard
from hybrid_data.evaluation.verdicts import BASELINE, UNTRAINABLE

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
    return row["verdict"] + (f" {FAILED_MARK}" if row["failed_gates"] else "")


def _header(card: Scorecard) -> list[str]:
    direction = "higher" if card.higher_is_better else "lower"
    no_skill = f"; no skill = {card.no_skill:.3f} (the prevalence)" if card.no_skill is not None else ""
    compared = int(card.table["p_holm"].is_not_null().sum()) if "p_holm" in card.table.columns else 0
    return [
        f"{card.metric} on {card.holdout_rows} real holdout rows ({direction} is better{no_skill}).",
        f"Intervals: {card.confidence:.0%}, {card.resamples} paired bootstrap resamples x {card.repeats} seeds; "
        f"differences to real-only adjusted (Holm) over {compared} comparisons.",
    ]


def format_scorecard(card: Scorecard) -> str:
    """One line per cell: headline metric with its interval, the adjusted difference to real-only, the verdict
    and a short check summary; then the plan's verdict and the protocol."""
    rows = card.table.to_dicts()
    width = max(len(r["cell"]) for r in rows) + 2
    lines = ["Scorecard", *(f"  {h}" for h in _header(card)), ""]
    for row in rows:
        if row["verdict"] == UNTRAINABLE:
            lines.append(f"  {row['cell']:<{width}}{row['status']}")
            continue
        change = _difference(row, card.metric)
        change = f"  vs real-only {change}" if change else ""
        verdict = "real-only baseline" if row["verdict"] == BASELINE else _verdict(row)
        checks = f"  ({row['checks']})" if row["checks"] != "no checks" else ""
        lines.append(f"  {row['cell']:<{width}}{card.metric} {_estimate(row, card.metric)}{change}  {verdict}{checks}")
    lines += ["", f"Verdict: {card.verdict}"]
    if card.bias_warnings:
        lines.append(f"Bias audit: {len(card.bias_warnings)} warning(s), e.g. {card.bias_warnings[0]}")
    lines += [f"Note: {note}" for note in card.notes]
    lines.append(f"Protocol: {card.protocol}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown_scorecard(card: Scorecard) -> str:
    """The table for the Dagster UI and MLflow: the headline metric, its adjusted difference, p-values, verdict,
    checks, then the task's other metrics with their intervals."""
    others = [m.name for m in METRICS[card.task] if m.name != card.metric]
    header = ["cell", f"{card.metric} [{card.confidence:.0%}]", "vs real-only [adjusted]", "p (Holm)", "verdict"]
    header += ["checks", *others, "rows real + synthetic", "fits (rounds)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in card.table.to_dicts():
        trained = row["verdict"] != UNTRAINABLE
        cells = [
            row["cell"],
            _estimate(row, card.metric) if trained else "-",
            _difference(row, card.metric),
            f"{_number(row.get('p_value'))} ({_number(row.get('p_holm'))})" if row.get("p_holm") is not None else "",
            _verdict(row),
            row["checks"],
            *(_estimate(row, name) if trained else "-" for name in others),
            f"{row['real_rows']} + {row['synthetic_rows']}",
            f"{row['fits']} ({row['rounds']})" if trained else "-",
        ]
        lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    notes = [f"Note: {note}" for note in card.notes]
    verdict = ["", f"**Verdict:** {card.verdict}", "", f"Protocol: {card.protocol}", *notes]
    return "\n".join([*_header(card), "", *lines, *verdict])


def scorecard_png(card: Scorecard, path: Path) -> None:
    """Left: the headline metric against the synthetic ratio, one line per synthesizer with interval bars, the
    real-only interval as a band; cells whose synthetic rows failed a check drawn hollow with a warning mark.
    Right: TSTR and classical baselines as separate points, since they are not ratios of a blend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = card.table.filter(pl.col("verdict") != UNTRAINABLE)
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
