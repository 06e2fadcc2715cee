"""Blend checks that guard correctness: schema, real-share floor and holdout isolation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from hybrid_data.source import ORIGIN_COLUMN

if TYPE_CHECKING:  # privacy imports this module
    from hybrid_data.privacy import RealPairs

REAL = "real"


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def schema_matches(blend: pl.DataFrame, real: pl.DataFrame) -> CheckOutcome:
    """The blend has exactly the real columns, with the real types (plus the `_origin` marker)."""
    expected = dict(real.schema)
    actual = {k: v for k, v in blend.schema.items() if k != ORIGIN_COLUMN}
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong_type = sorted(
        f"{c}: {actual[c]} != {expected[c]}" for c in set(expected) & set(actual) if actual[c] != expected[c]
    )
    passed = not (missing or extra or wrong_type) and ORIGIN_COLUMN in blend.columns
    return CheckOutcome(
        passed,
        "blend schema equals the real schema",
        {"missing_columns": missing, "extra_columns": extra, "type_mismatches": wrong_type},
    )


def real_share_floor(
    blend: pl.DataFrame, ratio: float, min_real_share: float, synthetic_baseline: bool
) -> CheckOutcome:
    """The blend's real share is at least the floor (the allowed pure-synthetic baseline excepted)."""
    share = float((blend[ORIGIN_COLUMN] == "real").sum()) / max(blend.height, 1)
    exempt = ratio == 1.0 and synthetic_baseline
    passed = exempt or share >= min_real_share - 1e-9
    return CheckOutcome(
        passed,
        f"real share >= {min_real_share:g}" + (" (pure-synthetic baseline exempt)" if exempt else ""),
        {"real_share": share, "min_real_share": min_real_share, "exempt_baseline": exempt},
    )


def holdout_isolation(
    blend: pl.DataFrame,
    holdout: pl.DataFrame,
    train: pl.DataFrame | None = None,
    max_ratio: float = 1.5,
    real: RealPairs | None = None,
) -> CheckOutcome:
    """The holdout stays unseen: no real row of the blend is a holdout row, and synthetic rows equal holdout
    rows no more often than chance explains.

    A real blend row equal to a holdout row is a bug (the split leaked; real rows are distinct after staging and
    identical rows hash to one side), so it always fails. A synthetic row can equal a holdout row by chance on
    low-entropy data; the yardstick is how often the synthetic rows reproduce rows they could have seen
    (`train`, else the blend's own real rows, stands for them). Holdout rows hit beyond chance (privacy.CopyTest:
    rate ratio above `max_ratio` and significant, or above the chance ceiling) mean the synthesizer saw them.
    """
    from hybrid_data.privacy import collisions

    origin = blend[ORIGIN_COLUMN] if ORIGIN_COLUMN in blend.columns else pl.Series([REAL] * blend.height)
    real_rows, synthetic_rows = blend.filter(origin == REAL), blend.filter(origin != REAL)
    columns = [c for c in holdout.columns if c in blend.columns]
    real_leaks = (
        real_rows.select(columns)
        .join(holdout.select(columns).unique(), on=columns, how="semi", nulls_equal=True)
        .height
    )
    seen_by_synthesizer = train if train is not None else real_rows.select(columns)
    real = real if train is not None else None  # measured on train; the blend's own real rows stand in otherwise
    chance = collisions(
        synthetic_rows.select(columns), seen_by_synthesizer.select(columns), holdout.select(columns), real
    )
    test = chance.holdout_test(max_ratio)
    synthetic_ok = test.passed
    return CheckOutcome(
        real_leaks == 0 and synthetic_ok,
        "no real_holdout row among the blend's real rows, and synthetic rows equal to holdout rows within chance",
        {
            "leaked_rows": real_leaks + (0 if synthetic_ok else chance.holdout_hits),
            "real_rows_from_holdout": real_leaks,
            "synthetic_rows_equal_to_holdout": chance.holdout_hits,
            "distinct_holdout_rows_hit": chance.distinct_holdout_hit,
            **test.metadata(),
            "holdout_rows": holdout.height,
            "max_ratio": max_ratio,
            "plan_key": "checks.max_copy_ratio",
        },
    )
