"""Expectation suites (Great Expectations 1.x): generated from the real profile, kept as JSON files people can
read, diff and extend, and run on a frame with an ephemeral GX context.

Layout: `<home>/suites/generated/<plan>.json` is rewritten from real_profile on every run (an output, so it lives
in the home folder, never in the source tree; do not edit it); every `<suites>/*.json` is hand-written and applies
to the plans named in its `meta.plans` (all plans when absent). `<suites>` is $HYBRID_DATA_SUITES_DIR, else
`checks/suites/` in the project.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from hybrid_data.quality import CheckOutcome
from hybrid_data.source import ORIGIN_COLUMN

SUITES_DIR_ENV = "HYBRID_DATA_SUITES_DIR"
DEFAULT_SUITES_DIR = Path(__file__).resolve().parent.parent / "checks" / "suites"
GENERATED = "generated"
# Share of rows a blend must keep inside the widened real range: fresh real rows of a heavy-tailed column pass
# the real maximum now and then, a widened or shifted column fails by far more.
RANGE_MOSTLY = 0.999
# pandas dtype names a column may take after polars -> pandas, per polars kind (ints with nulls become floats).
PANDAS_TYPES = {
    "integer": ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "Int64", "float64"],
    "float": ["float32", "float64", "Float64"],
    "string": ["object", "str", "string"],
    "boolean": ["bool", "boolean", "object"],
}


def suites_dir() -> Path:
    """Where hand-written suites are read from."""
    return Path(os.environ.get(SUITES_DIR_ENV) or DEFAULT_SUITES_DIR).resolve()


def generated_suites_root(home_root: Path | None = None) -> Path:
    """Where generated suites are written: `<home>/suites` (the home folder of $HYBRID_DATA_HOME by default)."""
    from hybrid_data.home import Home

    return (home_root or Home.from_env().root) / "suites"


def _kind(dtype: str) -> str | None:
    if dtype.startswith(("Int", "UInt")):
        return "integer"
    if dtype.startswith(("Float", "Decimal")):
        return "float"
    if dtype in {"String", "Categorical", "Enum"}:
        return "string"
    if dtype == "Boolean":
        return "boolean"
    return None


def _expectation(kind: str, why: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs, "meta": {"why": why}}


def generate_suite(profile: pl.DataFrame, plan_name: str, target: str, range_margin: float) -> dict:
    """A GX suite (as its JSON dict) from the real profile: columns and types, ranges widened by `range_margin`
    of the range, category domains, null rates, and every target class present."""
    columns = profile["column"].to_list()
    expectations = [
        _expectation(
            "table_columns_to_match_set", "the blend has exactly the real columns", column_set=columns, exact_match=True
        )
    ]
    for row in profile.iter_rows(named=True):
        name, kind = row["column"], _kind(row["dtype"])
        if kind:
            expectations.append(
                _expectation(
                    "column_values_to_be_in_type_list",
                    f"real type {row['dtype']}",
                    column=name,
                    type_list=PANDAS_TYPES[kind],
                )
            )
        null_share = row["null_share"] or 0.0
        if null_share < 1.0:
            # The allowed excess of nulls: the margin share of the real rate, or sampling noise (3 standard errors
            # of the real rate) when that is larger: 5% nulls in 1,200 rows are 5.2% in the next 1,200 by chance.
            noise = 3.0 * math.sqrt(null_share * (1 - null_share) / row["rows"]) if row.get("rows") else 0.0
            mostly = max(0.0, round(1.0 - null_share - max(range_margin * max(null_share, 0.01), noise), 4))
            expectations.append(
                _expectation(
                    "column_values_to_not_be_null",
                    f"real null share {null_share:.4f}",
                    column=name,
                    **({"mostly": mostly} if mostly < 1.0 else {}),
                )
            )
        if row["kind"] == "numeric" and row["min"] is not None:
            margin = range_margin * (row["max"] - row["min"])
            expectations.append(
                _expectation(
                    "column_values_to_be_between",
                    f"real range [{row['min']:g}, {row['max']:g}] widened by {range_margin:g} of its width",
                    column=name,
                    min_value=round(row["min"] - margin, 6),
                    max_value=round(row["max"] + margin, 6),
                    mostly=RANGE_MOSTLY,
                )
            )
        elif row["categories"] is not None and kind in ("string", "integer"):  # dates, Booleans: as text
            # Integer codes and flags (a domain, not a range) are held to their real codes.
            domain = sorted(int(v) for v in row["categories"]) if kind == "integer" else sorted(row["categories"])
            expectations.append(
                _expectation("column_values_to_be_in_set", "real category domain", column=name, value_set=domain)
            )
            if name == target:
                expectations.append(
                    _expectation(
                        "column_distinct_values_to_contain_set",
                        "every real target class is present",
                        column=name,
                        value_set=domain,
                    )
                )
    return {
        "name": f"{GENERATED}.{plan_name}",
        "expectations": expectations,
        "meta": {"generated_from": "real_profile", "plan": plan_name, "do_not_edit": "rewritten on every run"},
    }


def write_generated_suite(suite: dict, plan_name: str, root: Path | None = None) -> Path:
    """Write the generated suite under `root` (default: `generated_suites_root()`), touching the file only when its
    content changed, so its modification time says when the real data last moved."""
    path = (root or generated_suites_root()) / GENERATED / f"{plan_name}.json"
    text = json.dumps(suite, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def hand_written_suites(plan_name: str, root: Path | None = None) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted((root or suites_dir()).glob("*.json")):
        try:
            suite = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"expectation suite {path} is not valid JSON: {exc}") from exc
        plans = (suite.get("meta") or {}).get("plans")
        if plans is None or plan_name in plans:
            found.append((path, suite))
    return found


@dataclass(frozen=True)
class SuiteRun:
    evaluated: int
    failed: list[dict] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _failure(result) -> dict:
    config = result.expectation_config
    observed = result.result or {}
    exception = (result.exception_info or {}).get("exception_message") if result.exception_info else None
    detail = observed.get("observed_value")
    if detail is None and observed.get("unexpected_count") is not None:
        sample = list(dict.fromkeys(str(v) for v in (observed.get("partial_unexpected_list") or [])))[:5]
        detail = f"{observed['unexpected_count']} unexpected ({observed.get('unexpected_percent', 0):.2f}%): {sample}"
    return {
        "expectation": config.type,
        "column": config.kwargs.get("column", ""),
        "observed": str(exception or detail)[:300],
    }


# Expectation types evaluated in one polars pass with GX's own semantics (tests/test_checks_expectations_polars.py
# holds them to GX's results); each with the keyword arguments it may carry. Anything else goes to GX.
POLARS_KWARGS = {
    "expect_table_columns_to_match_set": {"column_set", "exact_match"},
    "expect_column_values_to_be_in_type_list": {"column", "type_list"},
    "expect_column_values_to_not_be_null": {"column", "mostly"},
    "expect_column_values_to_be_between": {"column", "min_value", "max_value", "mostly"},
    "expect_column_values_to_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_distinct_values_to_contain_set": {"column", "value_set"},
}
SAMPLE_VALUES = 20  # GX's partial_unexpected_list holds the first 20 unexpected values


def _polars_can(frame: pl.DataFrame, expectation: dict) -> bool:
    """Whether this expectation is one the polars pass evaluates exactly as GX would on this frame."""
    kind, kwargs = expectation.get("type"), expectation.get("kwargs") or {}
    if kind not in POLARS_KWARGS or not set(kwargs) <= POLARS_KWARGS[kind]:
        return False
    column = kwargs.get("column")
    if column is None:
        return kind == "expect_table_columns_to_match_set"
    if column not in frame.columns:
        return False
    dtype = frame.schema[column]
    if kind == "expect_column_values_to_be_between":
        return dtype.is_numeric() and all(
            isinstance(kwargs.get(k), int | float | None) and not isinstance(kwargs.get(k), bool)
            for k in ("min_value", "max_value")
        )
    if kind in ("expect_column_values_to_be_in_set", "expect_column_distinct_values_to_contain_set"):
        values = kwargs.get("value_set") or []
        if dtype == pl.String:
            return all(isinstance(v, str) for v in values)
        return dtype.is_integer() and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return True


def _missing(column: pl.Series) -> pl.Series:
    """Null as pandas sees it after the conversion GX reads: polars nulls and float NaN alike."""
    return column.is_null() | column.is_nan() if column.dtype.is_float() else column.is_null()


def _pandas_dtype(column: pl.Series) -> str:
    """The pandas dtype name GX sees for this column: that of a two-row slice holding a null, if any, and a
    value, converted the way the whole frame would be (ints with nulls become float64)."""
    nulls = column.filter(column.is_null()).head(1)
    probe = pl.concat([column.drop_nulls().head(1), nulls]) if column.len() else column
    return str(probe.to_pandas().dtype)


def _map_result(kind: str, column: pl.Series, unexpected: pl.Series, considered: int, mostly: float) -> dict:
    count = int(unexpected.sum())
    success = considered == 0 or (considered - count) / considered >= mostly
    if success:
        return {"success": True}
    sample = column.filter(unexpected).head(SAMPLE_VALUES).to_list()
    sample = list(dict.fromkeys(str(v) for v in sample))[:5]
    return {"success": False, "observed": f"{count} unexpected ({100 * count / considered:.2f}%): {sample}"}


def _evaluate_with_polars(frame: pl.DataFrame, expectation: dict) -> dict:
    """One expectation's outcome, {'success': bool, 'observed': text when it failed}, as GX computes it on the
    pandas form of the frame."""
    kind, kwargs = expectation["type"], expectation.get("kwargs") or {}
    if kind == "expect_table_columns_to_match_set":
        expected, actual = set(kwargs["column_set"]), set(frame.columns)
        success = expected == actual if kwargs.get("exact_match", True) else expected <= actual
        return {"success": success, "observed": str(list(frame.columns))}
    column = frame[kwargs["column"]]
    mostly = float(kwargs.get("mostly", 1.0))
    if kind == "expect_column_values_to_be_in_type_list":
        dtype = _pandas_dtype(column)
        return {"success": dtype in kwargs["type_list"], "observed": dtype}
    missing = _missing(column)
    if kind == "expect_column_values_to_not_be_null":
        return _map_result(kind, column, missing, column.len(), mostly)
    present = column.filter(~missing)
    if kind == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        outside = pl.zeros(present.len(), dtype=pl.Boolean, eager=True)
        if low is not None:
            outside |= present < low
        if high is not None:
            outside |= present > high
        return _map_result(kind, present, outside, present.len(), mostly)
    values = list(kwargs.get("value_set") or [])
    if kind == "expect_column_values_to_be_in_set":
        return _map_result(kind, present, ~present.is_in(values), present.len(), mostly)
    distinct = set(present.unique().to_list())
    return {"success": set(values) <= distinct, "observed": str(sorted(distinct, key=str)[:20])}


def run_suites(frame: pl.DataFrame, suites: list[tuple[str, dict]]) -> SuiteRun:
    """Validate the frame (minus the `_origin` marker) against each suite.

    Expectations of the types the generated suites use are evaluated in one polars pass over the frame, with
    GX's semantics (nulls, NaN, `mostly`, pandas type names); the rest go to GX with one ephemeral context, on
    a pandas copy of the frame. GX on a 3M-row blend took minutes and a second copy of the blend in memory.
    """
    started = time.perf_counter()
    data = frame.drop(ORIGIN_COLUMN) if ORIGIN_COLUMN in frame.columns else frame
    evaluated, failed, for_gx = 0, [], []
    for label, spec in suites:
        rest = []
        for expectation in spec.get("expectations", []):
            if not _polars_can(data, expectation):
                rest.append(expectation)
                continue
            evaluated += 1
            outcome = _evaluate_with_polars(data, expectation)
            if not outcome["success"]:
                failed.append(
                    {
                        "suite": label,
                        "expectation": expectation["type"],
                        "column": (expectation.get("kwargs") or {}).get("column", ""),
                        "observed": outcome["observed"][:300],
                    }
                )
        if rest:
            for_gx.append((label, {**spec, "expectations": rest}))
    if for_gx:
        gx_run = run_suites_with_gx(data, for_gx)
        evaluated += gx_run.evaluated
        failed += gx_run.failed
    return SuiteRun(evaluated, failed, [label for label, _ in suites], time.perf_counter() - started)


def run_suites_with_gx(frame: pl.DataFrame, suites: list[tuple[str, dict]]) -> SuiteRun:
    """Validate the frame (minus the `_origin` marker) against each suite with GX, on a pandas copy."""
    started = time.perf_counter()
    results = gx_results(frame, suites)
    evaluated, failed = 0, []
    for (label, _), result in zip(suites, results, strict=True):
        evaluated += len(result.results)
        failed += [{"suite": label, **_failure(r)} for r in result.results if not r.success]
    return SuiteRun(evaluated, failed, [label for label, _ in suites], time.perf_counter() - started)


def gx_results(frame: pl.DataFrame, suites: list[tuple[str, dict]]) -> list:
    """GX's validation result of each suite on the frame (minus `_origin`), one ephemeral context for all."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("hybrid_data")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    data = frame.drop(ORIGIN_COLUMN) if ORIGIN_COLUMN in frame.columns else frame
    batch = batch_definition.get_batch(batch_parameters={"dataframe": data.to_pandas()})
    results = []
    for label, spec in suites:
        suite = ExpectationSuite(name=spec.get("name") or label, expectations=spec.get("expectations", []))
        if len(suite.expectations) != len(spec.get("expectations", [])):
            raise ValueError(f"expectation suite {label} has invalid expectations; GX logged which ones")
        results.append(batch.validate(suite, result_format="SUMMARY"))
    return results


def expectations_outcome(run: SuiteRun) -> CheckOutcome:
    return CheckOutcome(
        not run.failed,
        f"{run.evaluated - len(run.failed)} of {run.evaluated} expectations met ({', '.join(run.suites)})",
        {
            "evaluated_expectations": run.evaluated,
            "failed_expectations": len(run.failed),
            "failures": run.failed,
            "suites": run.suites,
            "seconds": round(run.seconds, 2),
        },
    )
