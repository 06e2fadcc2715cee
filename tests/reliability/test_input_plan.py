"""Bad plans and bad ratios are refused before anything runs, naming the field and what is allowed; the ratio rule
is one function shared by the plan and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_data.plan import Anchoring, PlanError, load_plan, parse_plan, validate_ratios

from .inputs_data import plan_text

CSV = {"path": "real.csv"}

# Each case: the plan's source section (or extra fields) and the text the error must contain.
PLAN_CASES = {
    "an unknown source.encoding is refused with examples": (
        {"source": {"path": "real.csv", "encoding": "klingon"}},
        "source.encoding: unknown encoding 'klingon'; use a codec name such as utf8, latin-1",
    ),
    "a two-character source.delimiter is refused": (
        {"source": {"path": "real.csv", "delimiter": ";;"}},
        "source.delimiter: delimiter ';;' must be one character",
    ),
    "a quote as source.delimiter is refused": (
        {"source": {"path": "real.csv", "delimiter": '"'}},
        "must be one character other than a quote or a line break",
    ),
    "CSV options on a Parquet source are refused": (
        {"source": {"path": "real.parquet", "encoding": "latin-1"}},
        "CSV options (encoding) do not apply to format 'parquet'; remove them",
    ),
    "a misspelled source option is named": (
        {"source": {"path": "real.csv", "separator": ";"}},
        "source.separator: unknown field (misspelled?)",
    ),
    "a SQL source without a query is refused": (
        {"source": {"format": "sql", "database": "db.duckdb"}},
        "format 'sql' needs 'query' (a SELECT)",
    ),
    "a ratio above 1 in the plan is refused": (
        {"ratios": [0.5, 1.5]},
        "ratios.1: Input should be less than or equal to 1",
    ),
    "a negative ratio in the plan is refused": (
        {"ratios": [-0.5]},
        "ratios.0: Input should be greater than or equal to 0",
    ),
    "a ratio below the real-share floor in the plan is refused": (
        {"ratios": [0.9]},
        "ratio 0.9 leaves a real share of 0.1, below anchoring.min_real_share=0.25; lower the ratio or the floor",
    ),
    "a holdout fraction of 1 is refused": (
        {"holdout": {"fraction": 1.0}},
        "holdout.fraction: Input should be less than 1",
    ),
    "checks.min_class_rows of 0 is refused": (
        {"checks": {"min_class_rows": 0}},
        "checks.min_class_rows: Input should be",
    ),
}


@pytest.mark.parametrize("case", list(PLAN_CASES), ids=list(PLAN_CASES))
def test_bad_plan_is_refused_naming_the_field(case):
    """A plan with a bad value is refused before anything runs; the error names the field and what is allowed."""
    fields, expected = PLAN_CASES[case]
    text = plan_text(fields.pop("source", CSV) if "source" in fields else CSV, **fields)
    with pytest.raises(PlanError) as error:
        parse_plan(text, Path("."))
    assert expected in str(error.value)


RATIO_CASES = {
    "a command-line ratio of 1.5 is refused like in the plan": ("1.5", "ratio 1.5 is outside [0, 1]"),
    "a command-line ratio of -0.5 is refused": ("-0.5", "ratio -0.5 is outside [0, 1]"),
    "a command-line ratio below the floor is refused": ("0.9", "leaves a real share of 0.1, below anchoring.min_real"),
    "a command-line ratio that is not a number is refused": ("half", "ratio 'half' is not a number"),
    "a command-line ratio of nan is refused": ("nan", "ratio nan is outside [0, 1]"),
}


@pytest.mark.parametrize("case", list(RATIO_CASES), ids=list(RATIO_CASES))
def test_command_line_ratios_are_validated_by_the_plan_rule(case):
    """Ratios given outside the plan (backfill --ratio) pass through the plan's own rule, validate_ratios."""
    raw, expected = RATIO_CASES[case]
    with pytest.raises(ValueError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        validate_ratios([raw], Anchoring())


def test_valid_command_line_ratios_come_back_as_numbers():
    """Valid ratios, including the allowed pure-synthetic baseline, come back as floats."""
    assert validate_ratios(["0", "0.25", "1"], Anchoring()) == [0.0, 0.25, 1.0]


def test_a_missing_plan_file_says_how_to_make_one(tmp_path):
    """A plan path that does not exist is named, with the command that writes a starter plan."""
    with pytest.raises(
        PlanError, match=r"nope.yaml does not exist; set HYBRID_DATA_PLAN or run 'hybrid-data plan init'"
    ):
        load_plan(tmp_path / "nope.yaml")


def test_relative_database_resolves_beside_the_plan(tmp_path, monkeypatch):
    """source.database, like source.path, is resolved from the plan's folder, not the working folder."""
    (tmp_path / "plan.yaml").write_text(
        plan_text({"format": "sql", "database": "data/source.duckdb", "query": "SELECT * FROM t"})
    )
    monkeypatch.chdir("/")
    plan = load_plan(tmp_path / "plan.yaml")
    assert plan.database_path == tmp_path / "data" / "source.duckdb"
