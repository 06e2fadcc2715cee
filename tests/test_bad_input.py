"""Bad input fails the asset with a message that says what to fix, and the last good materialization survives."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from definitions import build_definitions
from hybrid_data_dagster.launch import failure_message

from .conftest import materialize as materialize_plan
from .conftest import tiny_frame, write_plan

PREPARE = dg.AssetSelection.groups("ingest", "staging", "split") - dg.AssetSelection.assets("real_profile")


def materialize(plan_file, home, instance, selection=PREPARE):
    return materialize_plan(plan_file, home, instance, selection)


@pytest.fixture
def good_state(tmp_path, tiny_csv, home, instance):
    """A good materialization of the real-data stage, and the bytes of its lake files."""
    plan_file = write_plan(tmp_path, tiny_csv)
    assert materialize(plan_file, home, instance).success
    files = {a: home.open_lake().path(a) for a in ("real_source", "real_train")}
    return plan_file, {a: p.read_bytes() for a, p in files.items()}, files


def break_source(tmp_path, tiny_csv, case: str):
    """Turn a good source/plan into a bad one; returns the plan to use."""
    if case == "missing_file":
        tiny_csv.unlink()
        return write_plan(tmp_path, tiny_csv)
    if case == "target_absent":
        return write_plan(tmp_path, tiny_csv, target="Default")
    if case == "empty_source":
        tiny_csv.write_text(tiny_csv.read_text().splitlines()[0] + "\n")
        return write_plan(tmp_path, tiny_csv)
    if case == "single_class":
        tiny_frame().filter(pl.col("Class") == "good").write_csv(tiny_csv)
        return write_plan(tmp_path, tiny_csv)
    if case == "ratio_out_of_range":
        return write_plan(tmp_path, tiny_csv, ratios=[0, 1.5])
    if case == "misspelled_field":
        return write_plan(tmp_path, tiny_csv, holdout={"fractoin": 0.2})
    raise AssertionError(case)


EXPECTED = {
    "missing_file": "does not exist; fix source.path in the plan",
    "target_absent": "has no column 'Default' (columns: funded_amnt, term",
    "empty_source": "is empty (0 rows); point source at a table with data",
    "single_class": "target 'Class' has a single class ('good')",
    "ratio_out_of_range": "ratios.1: Input should be less than or equal to 1",
    "misspelled_field": "holdout.fractoin: unknown field (misspelled?)",
}


# Two cases in the fast lane (a source error, a plan error); every case in the full run.
FAST = {"target_absent", "misspelled_field"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c in FAST else pytest.mark.slow) for c in EXPECTED])
def test_bad_input_fails_clearly_and_keeps_the_last_good_version(case, tmp_path, tiny_csv, home, instance, good_state):
    plan_file, before, files = good_state
    # Definitions were loaded from the good plan; the source or plan then goes bad before the next run,
    # as when a scheduled run meets a broken file or a careless plan edit.
    defs = build_definitions(plan_file, home)
    break_source(tmp_path, tiny_csv, case)
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=instance,
        resources=defs.resources,
        selection=PREPARE,
        raise_on_error=False,
    )
    assert not result.success
    assert EXPECTED[case] in failure_message(result)
    assert {a: p.read_bytes() for a, p in files.items()} == before


@pytest.mark.slow
def test_odd_column_names_flow_through_staging_and_split(tmp_path, home, instance):
    odd = tiny_frame().rename({"funded_amnt": "funded amnt ($)", "int_rate": "taux.d'intérêt", "term": 'Term "x"'})
    source = tmp_path / "odd.parquet"
    odd.write_parquet(source)
    result = materialize(write_plan(tmp_path, source), home, instance)
    assert result.success, failure_message(result)
    train = home.open_lake().read_frame("real_train")
    assert train.columns == odd.columns
    assert train.height + home.open_lake().read_frame("real_holdout").height == odd.height
