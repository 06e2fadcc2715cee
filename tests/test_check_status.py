"""Check -> model through Dagster's records: only evaluations of this partition's current blend count."""

import dagster as dg

from assets.check_status import current_check_records
from hybrid_data.evaluation.gates import check_tags

PARTITION = "0.5|gaussian_copula"


def evaluation(name: str, passed: bool, storage_id: int, partition: str = PARTITION, **metadata):
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("blend"),
        check_name=name,
        passed=passed,
        metadata=metadata,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{name} described",
        target_materialization_data=_target(storage_id),
        partition=partition,
    )


def _target(storage_id: int):
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    return AssetCheckEvaluationTargetMaterializationData(storage_id=storage_id, run_id="r", timestamp=0.0)


def test_records_keep_the_latest_result_of_the_current_blend_only():
    evaluations = [
        evaluation("blend_dcr_share", True, 10, dcr_share=0.5),  # an earlier blend version
        evaluation("blend_dcr_share", False, 11, dcr_share=0.7),
        evaluation("blend_nndr", True, 10, nndr_p05=0.3),  # stale: checked another blend
        evaluation("blend_nndr", True, 11, partition="0|gaussian_copula"),  # another partition
    ]
    records = current_check_records(evaluations, PARTITION, blend_storage_id=11)
    assert records == [
        {
            "check": "blend_dcr_share",
            "passed": False,
            "severity": "WARN",
            "description": "blend_dcr_share described",
            "metadata": {"dcr_share": 0.7},
        }
    ]
    assert check_tags(records) == {"check.blend_dcr_share": "warn", "checks.failed": "blend_dcr_share"}


def test_only_checks_that_block_are_declared_blocking(tmp_path, tiny_csv, home):
    from definitions import build_definitions

    from .conftest import write_plan

    defs = build_definitions(write_plan(tmp_path, tiny_csv, checks={"blocking": ["blend_nndr"]}), home)
    blocking = {spec.name: spec.blocking for checks_def in defs.asset_checks for spec in checks_def.check_specs}
    assert blocking["blend_schema_matches_real"] and blocking["blend_no_exact_copies"]  # correctness: always
    assert blocking["blend_nndr"]  # named in checks.blocking
    assert not blocking["blend_dcr_share"] and not blocking["blend_expectations"]  # warnings: shown as such
