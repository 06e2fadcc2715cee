"""Quality gates: a cell's check records summarised, so a cell whose synthetic rows failed fidelity, privacy or
tail checks is marked wherever its utility is shown. Consumes only the check record shape
{check, passed, severity, description, metadata}, whoever produced it."""

from __future__ import annotations

from dataclasses import dataclass

# Which gate each known check belongs to; an unknown check counts under its own name.
GATE_OF_CHECK = {
    "blend_fidelity_quality": "fidelity",
    "blend_detection_auc": "fidelity",
    "blend_expectations": "fidelity",
    "blend_dcr_share": "privacy",
    "blend_nndr": "privacy",
    "blend_no_exact_copies": "privacy",
    "blend_attack_risks": "privacy",
    "blend_minority_share": "tails",
    "blend_rare_categories": "tails",
    "blend_tail_coverage": "tails",
    "blend_schema_matches_real": "correctness",
    "blend_real_share_above_floor": "correctness",
    "blend_excludes_holdout": "correctness",
}


# The word a terminal line uses for a check ("2 warnings: detection, tails").
LABEL_OF_CHECK = {
    "blend_fidelity_quality": "quality",
    "blend_detection_auc": "detection",
    "blend_expectations": "expectations",
    "blend_dcr_share": "dcr",
    "blend_nndr": "nndr",
    "blend_no_exact_copies": "copies",
    "blend_attack_risks": "attacks",
    "blend_minority_share": "minority",
    "blend_rare_categories": "rare levels",
    "blend_tail_coverage": "tails",
    "blend_schema_matches_real": "schema",
    "blend_real_share_above_floor": "real share",
    "blend_excludes_holdout": "holdout",
}


def short_name(check: str) -> str:
    """'blend_detection_auc' -> 'detection_auc': the name people read in a one-line summary."""
    return check.removeprefix("blend_")


@dataclass(frozen=True)
class GateStatus:
    checked: int
    failed: tuple[str, ...]  # check names
    errors: tuple[str, ...]  # failed checks of severity ERROR (blocking)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def gates_failed(self) -> tuple[str, ...]:
        return tuple(sorted({GATE_OF_CHECK.get(name, short_name(name)) for name in self.failed}))

    def summary(self, name=short_name) -> str:
        """'no checks', 'checks passed (9)' or '2 warnings: detection_auc, tail_coverage'."""
        if not self.checked:
            return "no checks"
        if not self.failed:
            return f"checks passed ({self.checked})"
        warnings = [name(c) for c in self.failed if c not in self.errors]
        parts = []
        if self.errors:
            parts.append(
                f"{len(self.errors)} error{'s' * (len(self.errors) > 1)}: " + ", ".join(map(name, self.errors))
            )
        if warnings:
            parts.append(f"{len(warnings)} warning{'s' * (len(warnings) > 1)}: " + ", ".join(warnings))
        return "; ".join(parts)

    def brief(self) -> str:
        """The summary in a terminal line's words: '2 warnings: detection, tails', 'ok (9)', '' (no checks)."""
        if not self.checked:
            return ""
        if not self.failed:
            return f"ok ({self.checked})"
        return self.summary(lambda check: LABEL_OF_CHECK.get(check, short_name(check)))


def gate_status(records: list[dict], has_synthetic_rows: bool = True) -> GateStatus:
    """The status of a cell's checks; a cell without synthetic rows has nothing for these gates to judge."""
    if not has_synthetic_rows:
        return GateStatus(0, (), ())
    failed = tuple(sorted(r["check"] for r in records if not r["passed"]))
    errors = tuple(sorted(r["check"] for r in records if not r["passed"] and r.get("severity") == "ERROR"))
    return GateStatus(len(records), failed, errors)


def check_tags(records: list[dict]) -> dict[str, str]:
    """Each check's outcome as an MLflow tag (`check.<name>`: passed, warn or error) plus `checks.failed`: enough
    to filter runs by check status, while the numbers stay in the run's checks table."""
    tags = {f"check.{r['check']}": "passed" if r["passed"] else str(r["severity"]).lower() for r in records}
    tags["checks.failed"] = ",".join(sorted(r["check"] for r in records if not r["passed"])) or "none"
    return tags
