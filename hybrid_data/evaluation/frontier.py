"""The privacy-utility frontier: per synthesizer (and DP epsilon), its utility on the real holdout beside the attack
risks of its pool, both with intervals, so a user can pick an operating point (issue 17 item 4).

Utility is the scorecard's headline metric at the synthesizer's TSTR cell (what its rows carry on their own) and
at its best blend (what a user would train on); risk is each attack's residual risk from the pool's risk frame
(`privacy_attacks.risk_frame`, lake key "privacy_risks" per synthesizer), summarised by the worst attack."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hybrid_data.evaluation.scorecard import Scorecard
from hybrid_data.evaluation.verdicts import FAILED, UNTRAINABLE

NOT_COMPUTED = "privacy risks not computed: run the pool privacy checks (materialize synthetic_pool with its checks)"
RISK_COLUMNS = ("synthesizer", "risk", "risk_low", "risk_high")


@dataclass
class Frontier:
    metric: str
    table: pl.DataFrame  # one row per synthesizer (x epsilon)
    risks: pl.DataFrame  # every risk row read, for the full table
    notes: list[str]


def _interval(row: dict, name: str) -> str:
    value, low, high = row.get(name), row.get(f"{name}_low"), row.get(f"{name}_high")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def utility_by_synthesizer(card: Scorecard) -> list[dict]:
    """Per synthesizer: its TSTR cell's headline metric and its best blend's, each with its interval."""
    m, sign = card.metric, (1 if card.higher_is_better else -1)
    judged = [r for r in card.table.to_dicts() if r["verdict"] not in (UNTRAINABLE, FAILED) and r.get(m) is not None]
    out = []
    for synth in dict.fromkeys(r["synthesizer"] for r in judged if r["kind"] in ("blend", "tstr")):
        tstr = next((r for r in judged if r["kind"] == "tstr" and r["synthesizer"] == synth), {})
        blends = [r for r in judged if r["kind"] == "blend" and r["synthesizer"] == synth]
        best = max(blends, key=lambda r: sign * r[m]) if blends else {}
        row = {"synthesizer": synth, "best_blend": best.get("cell")}
        for prefix, source in (("tstr", tstr), ("blend", best)):
            for suffix in ("", "_low", "_high"):
                row[f"{prefix}_{m}{suffix}"] = source.get(f"{m}{suffix}")
        row["blend_verdict"] = best.get("verdict")
        out.append(row)
    return out


def read_risks(frames: dict[str, pl.DataFrame | Exception | None]) -> tuple[pl.DataFrame, list[str]]:
    """The risk frames per synthesizer, checked for the columns the frontier needs; what is missing or unreadable
    becomes a note instead of an error (privacy checks are optional and run on the pool)."""
    kept, notes = [], []
    for synth, frame in frames.items():
        if frame is None:
            notes.append(f"{synth}: {NOT_COMPUTED}")
        elif isinstance(frame, Exception):
            notes.append(f"{synth}: privacy risks unreadable ({frame}); rerun the pool privacy checks")
        elif missing := [c for c in RISK_COLUMNS if c not in frame.columns]:
            notes.append(f"{synth}: privacy risk frame lacks columns {missing}; rerun the pool privacy checks")
        elif frame.height:
            if "epsilon" not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.Float64).alias("epsilon"))
            if "risk_name" not in frame.columns:
                name = pl.col("attack") if "attack" in frame.columns else pl.lit("risk")
                frame = frame.with_columns(name.cast(pl.String).alias("risk_name"))
            kept.append(frame.with_columns(pl.col("epsilon").cast(pl.Float64)))
        else:
            notes.append(f"{synth}: {NOT_COMPUTED}")
    return (pl.concat(kept, how="diagonal_relaxed") if kept else pl.DataFrame()), notes


def _same_epsilon(measured: float | None, planned: float | None) -> bool:
    if measured is None or planned is None:
        return measured is None and planned is None
    return math.isclose(measured, planned, rel_tol=1e-6)


def build_frontier(
    card: Scorecard,
    risk_frames: dict[str, pl.DataFrame | Exception | None],
    epsilons: dict[str, float | None] | None = None,
) -> Frontier:
    """Join utility and risk per synthesizer (and epsilon); the worst attack (highest risk) stands for the pool.
    With `epsilons` (the plan's budget per synthesizer, None when not DP), risks measured at another epsilon than
    the one the scored cells were trained with are left out with a note: they describe another synthesizer."""
    risks, notes = read_risks(risk_frames)
    rows = []
    for utility in utility_by_synthesizer(card):
        synth = utility["synthesizer"]
        own = risks.filter(pl.col("synthesizer") == synth) if risks.height else risks
        if epsilons is not None and own.height:
            planned = epsilons.get(synth)
            stale = sorted({e for e in own["epsilon"].to_list() if not _same_epsilon(e, planned)}, key=str)
            if stale:
                notes.append(
                    f"{synth}: risks measured at epsilon {stale} left out, the plan's is {planned}: "
                    "rerun the pool privacy checks"
                )
                own = own.filter(pl.Series([_same_epsilon(e, planned) for e in own["epsilon"].to_list()]))
        if own.height == 0:
            rows.append({**utility, "epsilon": None, "worst_risk_name": None, "worst_risk": None})
            continue
        for (epsilon,), group in own.group_by("epsilon", maintain_order=True):
            worst = group.sort("risk", descending=True, nulls_last=True).row(0, named=True)
            rows.append(
                {
                    **utility,
                    "epsilon": epsilon,
                    "worst_risk_name": worst["risk_name"],
                    "worst_risk": worst["risk"],
                    "worst_risk_low": worst["risk_low"],
                    "worst_risk_high": worst["risk_high"],
                    "risks": "; ".join(
                        f"{r['risk_name']} {_interval(r, 'risk')}" for r in group.sort("risk_name").to_dicts()
                    ),
                }
            )
    table = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    if not rows:
        notes.append("no synthesizer cell was scored: the frontier needs TSTR or blend cells")
    return Frontier(card.metric, table, risks, notes)


def markdown_frontier(frontier: Frontier) -> str:
    """The frontier as a small table (utility and worst risk with intervals), then every risk and the notes."""
    m = frontier.metric
    lines = []
    if frontier.table.height:
        header = ["synthesizer", "epsilon", f"TSTR {m}", f"best blend {m}", "worst attack risk", "all risks"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in frontier.table.to_dicts():
            cells = [
                r["synthesizer"],
                "-" if r.get("epsilon") is None else f"{r['epsilon']:g}",
                _interval(r, f"tstr_{m}"),
                f"{_interval(r, f'blend_{m}')} ({r['best_blend']})" if r.get("best_blend") else "-",
                f"{_interval(r, 'worst_risk')} ({r['worst_risk_name']})" if r.get("worst_risk_name") else "-",
                r.get("risks") or "-",
            ]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    lines += ["", *(f"- {n}" for n in frontier.notes)] if frontier.notes else []
    lines.append(
        "\nRisk: (main - control) / (1 - control) of the worst attack (singling out, linkability, inference) "
        "against real_train with real_holdout as control (Giomi et al. 2023); intervals are the attacks' and the "
        "scorecard's."
    )
    return "\n".join(lines)


def plotted_points(frontier: Frontier) -> list[dict]:
    """The rows the chart can place: a synthesizer with a risk and a utility."""
    return [r for r in frontier.table.to_dicts() if r.get("worst_risk") is not None] if frontier.table.height else []


def frontier_png(frontier: Frontier, path: Path) -> None:
    """Utility (y) against the worst attack risk (x), error bars on both axes: a square per synthesizer's TSTR
    cell, a circle per its best blend (call only when `plotted_points` is not empty)."""
    m = frontier.metric
    points = plotted_points(frontier)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=100)
    for i, r in enumerate(points):
        color = f"C{i % 10}"
        label = r["synthesizer"] + ("" if r.get("epsilon") is None else f" (epsilon {r['epsilon']:g})")
        x, xerr = r["worst_risk"], [[r["worst_risk"] - r["worst_risk_low"]], [r["worst_risk_high"] - r["worst_risk"]]]
        for prefix, marker, what in (("tstr", "s", "TSTR"), ("blend", "o", "best blend")):
            y = r.get(f"{prefix}_{m}")
            if y is None:
                continue
            yerr = [[y - r[f"{prefix}_{m}_low"]], [r[f"{prefix}_{m}_high"] - y]]
            axes.errorbar(
                [x], [y], xerr=xerr, yerr=yerr, marker=marker, color=color, capsize=3, label=f"{label}, {what}"
            )
    axes.axvline(0, color="grey", linewidth=1, linestyle=":")
    axes.set_xlabel("worst attack risk (residual over the holdout control)")
    axes.set_ylabel(f"{m} on the real holdout")
    axes.set_title("Privacy-utility frontier")
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
