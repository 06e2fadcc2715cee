"""Blend checks that guard correctness: schema, real-share floor and holdout isolation."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from hybrid_data.source import ORIGIN_COLUMN


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


def holdout_isolation(blend: pl.DataFrame, holdout: pl.DataFrame) -> CheckOutcome:
    """No blend row, real or synthetic, equals a holdout row: the holdout must stay unseen."""
    columns = [c for c in holdout.columns if c in blend.columns]
    leaked = blend.select(columns).join(holdout.select(columns).unique(), on=columns, how="semi", nulls_equal=True)
    return CheckOutcome(
        leaked.height == 0,
        "no real_holdout row appears in the blend",
        {"leaked_rows": leaked.height, "holdout_rows": holdout.height},
    )
