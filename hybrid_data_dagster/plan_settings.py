"""Which plan settings each asset's output depends on, so a plan edit makes stale exactly what it changes.

Dagster's code versions belong to an asset, not to a partition, and a synthesizer's settings belong to one
partition: a code version made of them would make every synthesizer stale when one changed. So `hybrid-data run`
compares, per asset partition, the settings of the plan its latest materialization was made with (the run's
pinned plan, hybrid_data/plan_snapshot.py) with the current plan's. Settings not listed here (ratios, the
schedule, the collapse study) change no stored output of these assets; the real-data stage has its own
fingerprint (hybrid_data/reuse.real_data_fingerprint).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hybrid_data.lake import fingerprint
from hybrid_data.plan import Plan


def _fit(plan: Plan, dims: Mapping[str, str]) -> object:
    from hybrid_data.synthesis import fit_settings

    return fit_settings(dims["synth"], plan)


def _sections(*names: str) -> Callable[[Plan, Mapping[str, str]], object]:
    return lambda plan, dims: plan.model_dump(include=set(names), mode="json")


SETTINGS_READ: dict[str, Callable[[Plan, Mapping[str, str]], object]] = {
    "synthesizer_model": _fit,
    "synthetic_pool": lambda plan, dims: (
        plan.seed,
        plan.synthesis.boost_target_shares,
        plan.synthesis.boost_max_tries,
    ),
    # the blend's rows, and the checks that guard it (a new threshold must be judged again)
    "blend": _sections("anchoring", "seed", "checks", "privacy"),
    "blend_model": _sections("model", "evaluation", "seed", "columns"),
    "classical_baselines": _sections("model", "evaluation", "seed", "columns"),
    "blend_scorecard": _sections("evaluation", "checks"),
}


def settings_changed(asset: str, dims: Mapping[str, str], used: Plan | None, current: Plan) -> bool:
    """Whether the plan settings `asset`'s partition `dims` reads differ between the plan it was materialized
    with (`used`; None when unknown: then code and data versions alone decide) and the current plan."""
    read = SETTINGS_READ.get(asset)
    if read is None or used is None:
        return False
    return fingerprint(read(used, dims)) != fingerprint(read(current, dims))
