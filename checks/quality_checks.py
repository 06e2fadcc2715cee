"""Quality checks on every blend, in one step: fidelity, privacy (distances and attack risks), tails and the
expectation suites of its rows against the real data.

One step loads the blend and the real data once and runs every group (what each computes is in
hybrid_data/blend_check_groups.py, checks/expectation_checks.py and checks/privacy_checks.py). They were five
steps: each a process start, another copy of the blend in memory (five of a 3M-row blend at once) and a
second or two of its own on a small machine, for checks that take a fraction of a second on the bundled data.
A group that raises does not cost the others their results: the step reports every group that finished, then
fails naming the one that did not. The step can run a subset (a check picked in the UI runs only its group).

A check is declared blocking, with severity ERROR, only when the plan's `checks.blocking` names it; otherwise
it warns and `blend_model` runs beside this step (it waits for the results before logging them).
"""

from collections.abc import Callable

import dagster as dg
import polars as pl

from assets.partitions import partition_dims
from assets.resources import HybridDataSettings
from hybrid_data.blend_check_groups import (
    FIDELITY,
    PRIVACY,
    TAILS,
    fidelity_outcomes,
    privacy_outcomes,
    tail_outcomes,
)
from hybrid_data.plan import Plan
from hybrid_data.quality import CheckOutcome

from .descriptions import TO_BLOCK, describe
from .expectation_checks import NAME as EXPECTATIONS
from .expectation_checks import expectation_outcomes, expectation_spec
from .outcomes import blocks, check_result
from .privacy_checks import blend_attack_outcomes, blend_attack_spec

STEP = "blend_quality_checks"
ATTACK_RISKS = "blend_attack_risks"
# Each group's checks, in the order the step runs them (cheap first, so a slow group delays the fewest results).
GROUPS = {
    "tails": TAILS,
    "expectations": (EXPECTATIONS,),
    "fidelity": FIDELITY,
    "privacy": PRIVACY,
    "attack risks": (ATTACK_RISKS,),
}


def _specs(names: tuple[str, ...], partitions_def, deps: list[str], plan: Plan) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name,
            asset="blend",
            description=describe(name, plan, blocks(plan, name), TO_BLOCK),
            blocking=blocks(plan, name),
            partitions_def=partitions_def,
            additional_deps=deps,
        )
        for name in names
    ]


def _at_plan_severity(plan: Plan, outcomes: dict[str, CheckOutcome]) -> dict[str, tuple[CheckOutcome, str]]:
    return {name: (outcome, plan.checks.severity(name)) for name, outcome in outcomes.items()}


def build_quality_checks(partitions_def: dg.MultiPartitionsDefinition, loaded: Plan) -> list[dg.AssetChecksDefinition]:
    specs = [
        *_specs(TAILS, partitions_def, ["real_train"], loaded),
        expectation_spec(partitions_def, loaded),
        *_specs(FIDELITY, partitions_def, ["real_train"], loaded),
        *_specs(PRIVACY, partitions_def, ["real_train", "real_holdout"], loaded),
        blend_attack_spec(partitions_def, loaded),
    ]

    @dg.multi_asset_check(
        name=STEP,
        specs=specs,
        can_subset=True,
        ins={
            "blend": "blend",
            "real_train": dg.AssetIn("real_train"),
            "real_holdout": dg.AssetIn("real_holdout"),
            "real_profile": dg.AssetIn("real_profile"),
        },
    )
    def blend_quality_checks(
        context: dg.AssetCheckExecutionContext,
        settings: HybridDataSettings,
        blend: pl.DataFrame,
        real_train: pl.DataFrame,
        real_holdout: pl.DataFrame,
        real_profile: pl.DataFrame,
    ):
        """Fidelity, privacy and tails of the blend's synthetic rows, and the real data's expectations."""
        plan = settings.plan
        synth = partition_dims(context)["synth"]
        groups: dict[str, Callable[[], dict[str, tuple[CheckOutcome, str]]]] = {
            "tails": lambda: _at_plan_severity(plan, tail_outcomes(blend, real_train, plan)),
            "expectations": lambda: expectation_outcomes(settings, blend, real_profile),
            "fidelity": lambda: _at_plan_severity(plan, fidelity_outcomes(blend, real_train, plan)),
            "privacy": lambda: _at_plan_severity(plan, privacy_outcomes(blend, real_train, real_holdout, plan)),
            "attack risks": lambda: blend_attack_outcomes(settings, synth, blend, real_train, real_holdout),
        }
        selected = {key.name for key in context.selected_asset_check_keys}
        crashed: list[str] = []
        for group, names in GROUPS.items():
            if not selected & set(names):
                continue
            try:
                results = groups[group]()
            except Exception:  # noqa: BLE001 (reported below, after the other groups' results)
                context.log.exception(f"the {group} checks ({', '.join(names)}) raised")
                crashed.append(group)
                continue
            for name, (outcome, severity) in results.items():
                if name in selected:
                    yield check_result(outcome, severity, check_name=name)
        if crashed:
            raise dg.Failure(
                f"the {', '.join(crashed)} checks of this blend raised (their tracebacks are in this step's log); "
                "the other checks reported. Fix the cause and re-materialize the blend's checks."
            )

    return [blend_quality_checks]
