"""Bad input met by a real run: the run fails with a message that says what to fix, and the lake and the MLflow
store keep exactly their last good content (sha256 of every file before and after)."""

from __future__ import annotations

import dagster as dg
import pytest

from definitions import build_definitions
from hybrid_data.home import Home
from hybrid_data_dagster.launch import failure_message

from .inputs_data import good_lines, tree_state, write_csv_text, write_plan_file


def _materialize(plan_file, home, instance, asset_names=("real_source",), with_checks=False):
    """Materialize only the named assets (and their checks): a bad source is refused in real_source itself."""
    defs = build_definitions(plan_file, home)
    keys = {dg.AssetKey(name) for name in asset_names}
    assets = [a for a in defs.assets if set(a.keys) & keys]
    checks = [c for c in defs.asset_checks if with_checks and {k.asset_key for k in c.check_keys} & keys]
    return dg.materialize([*assets, *checks], instance=instance, resources=defs.resources, raise_on_error=False)


def _latin1(folder):
    lines = good_lines()
    lines[5] = lines[5].replace("north", "Gen\xe8ve")
    write_csv_text(folder, lines, encoding="latin-1")


def _ragged(folder):
    lines = good_lines()
    lines[7] += ",extra"
    write_csv_text(folder, lines)


def _duplicate_names(folder):
    write_csv_text(folder, [good_lines()[0].replace("rate", "amount"), *good_lines()[1:]])


def _infinite(folder):
    lines = good_lines()
    lines[3] = lines[3].replace("0.052", "inf")
    write_csv_text(folder, lines)


# Each case: how the good source goes bad before the next run, and what the failure must say. The other bad
# sources are refused by the same code before anything is written (tests/reliability/test_input_source.py).
BROKEN = {
    "a latin-1 file read as UTF-8 fails naming the line and source.encoding; the lake is unchanged": (
        _latin1,
        "real source 'real.csv' line 6 is not valid utf8",
        "set source.encoding in the plan",
    ),
    "a ragged row fails naming the line, the field counts and source.delimiter; the lake is unchanged": (
        _ragged,
        "line 8 has 5 field(s) where the header has 4",
        "source.delimiter",
    ),
    "duplicate column names fail naming the column; the lake is unchanged": (
        _duplicate_names,
        "names column 'amount' twice",
        "rename",
    ),
    "an infinite value fails naming its column and row; the lake is unchanged": (
        _infinite,
        "infinite values in column(s) 'rate' (1 value(s), first in data row 3)",
        "source.null_values",
    ),
}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """One good real_source materialization in a home of its own, shared by this module's bad runs (each of which
    must leave it exactly as it is, which is what the tests assert)."""
    root = tmp_path_factory.mktemp("input_runs")
    folder = root / "project"
    folder.mkdir()
    write_csv_text(folder, good_lines())
    plan_file = write_plan_file(folder, {"path": "real.csv"})
    home = Home(root / "home").ensure()
    with dg.instance_for_test(temp_dir=str(home.dagster)) as instance:
        result = _materialize(plan_file, home, instance)
        assert result.success, failure_message(result)
        yield folder, plan_file, home, instance


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_bad_source_fails_the_run_clearly_and_leaves_lake_and_mlflow_unchanged(case, good_run):
    """A source that went bad since the last good run: the run fails saying what to fix; nothing is replaced."""
    folder, plan_file, home, instance = good_run
    write_csv_text(folder, good_lines())
    lake_before, mlflow_before = tree_state(home.lake), tree_state(home.mlflow)
    breaks, *expected = BROKEN[case]
    breaks(folder)
    result = _materialize(plan_file, home, instance)
    assert not result.success
    message = failure_message(result)
    for text in expected:
        assert text in message
    assert tree_state(home.lake) == lake_before and lake_before
    assert tree_state(home.mlflow) == mlflow_before


SPLIT = ("real_source", "stg_real_usable", "stg_real", "real_split", "real_train", "real_holdout", "real_profile")


def test_a_holdout_too_small_to_score_stops_the_run_naming_rows_needed_and_plan_key(tmp_path, home, instance):
    """A holdout too small to score stops everything built on real_train, saying how many rows and which key."""
    write_csv_text(tmp_path, good_lines(40))
    plan_file = write_plan_file(tmp_path, {"path": "real.csv"})
    mlflow_before = tree_state(home.mlflow)
    result = _materialize(plan_file, home, instance, SPLIT, with_checks=True)
    assert not result.success
    check = next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "real_split_scorable"
    )
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "scoring needs at least 20 (checks.min_holdout_rows): raise holdout.fraction (now 0.2)" in (
        check.description
    )
    assert "real_split_scorable" in failure_message(result)
    assert not result.asset_materializations_for_node("real_profile")
    assert not home.open_lake().path("real_profile").exists()
    assert tree_state(home.mlflow) == mlflow_before


ODD_NAMES = {"amount": "select", "region": "1st région (€)", "rate": 'order by "rate" #'}


def test_odd_column_names_work_end_to_end_through_staging_split_and_the_split_check(tmp_path, home, instance):
    """SQL keywords, leading digits, quotes, '#', spaces and unicode in names pass the SQL models and checks intact."""
    lines = good_lines(200)
    header = ",".join(ODD_NAMES.get(name, name) for name in lines[0].split(","))
    write_csv_text(tmp_path, [header.replace('order by "rate" #', '"order by ""rate"" #"'), *lines[1:]])
    plan_file = write_plan_file(tmp_path, {"path": "real.csv"})
    result = _materialize(plan_file, home, instance, SPLIT[:-1], with_checks=True)
    assert result.success, failure_message(result)
    lake = home.open_lake()
    train, holdout = lake.read_frame("real_train"), lake.read_frame("real_holdout")
    assert train.columns == [*ODD_NAMES.values(), "Class"]
    assert train.height + holdout.height == 200
