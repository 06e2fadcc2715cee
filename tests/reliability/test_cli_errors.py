"""`hybrid-data` on foreseeable mistakes: one message that says what failed, where, and what to do; no traceback;
nothing created, launched or changed."""

from __future__ import annotations

import socket
from pathlib import Path

import dagster as dg
import pytest

from hybrid_data.home import Home
from hybrid_data_dagster.cli import main
from tests.conftest import write_plan


def _instance_of(home: Home) -> dg.DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home.dagster)))


def _errors(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return captured.err


@pytest.fixture
def home_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv("HYBRID_DATA_HOME", str(tmp_path / "home"))
    for name in ("DAGSTER_HOME", "HYBRID_DATA_PLAN"):  # the CLI exports them: recorded here so they are restored
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return Home(tmp_path / "home")


def test_a_missing_plan_file_is_named_and_nothing_is_created(tmp_path, home_env, capsys):
    """A plan path that does not exist is named with what to do, and no home folder is created."""
    assert main(["--plan", str(tmp_path / "nope.yaml"), "run"]) == 2
    err = _errors(capsys)
    assert f"plan file {tmp_path / 'nope.yaml'} does not exist" in err and "plan init" in err
    assert not home_env.root.exists()


def test_an_invalid_plan_names_the_field_and_nothing_is_created(tmp_path, tiny_csv, home_env, capsys):
    """A plan that fails validation names the field and the allowed values; no home folder is created."""
    plan_file = write_plan(tmp_path, tiny_csv, ratios=[0, 1.5])
    assert main(["--plan", str(plan_file), "run"]) == 2
    assert "ratios" in _errors(capsys)
    assert not home_env.root.exists()


def test_a_home_that_is_a_file_is_named_with_what_to_do_and_left_untouched(tmp_path, tiny_csv, home_env, capsys):
    """HYBRID_DATA_HOME pointing at a file is refused with the path and the variable to change; the file stays."""
    home_env.root.write_text("not a folder")
    assert main(["--plan", str(write_plan(tmp_path, tiny_csv)), "run"]) == 2
    err = _errors(capsys)
    assert f"home folder {home_env.root} is a file" in err and "HYBRID_DATA_HOME" in err
    assert home_env.root.read_text() == "not a folder"


@pytest.mark.parametrize("ratio", ["1.5", "-0.5", "abc"])
def test_backfill_refuses_a_ratio_outside_zero_to_one_before_adding_any_partition(
    tmp_path, tiny_csv, home_env, capsys, ratio
):
    """`backfill --ratio` outside [0, 1] (or not a number) is refused like a plan ratio: no partition, no backfill."""
    plan_file = write_plan(tmp_path, tiny_csv)
    assert main(["--plan", str(plan_file), "backfill", "--ratio", "0.5", "--ratio", ratio]) == 2
    err = _errors(capsys)
    assert f"--ratio {ratio}: a ratio is the share of synthetic rows" in err and "nothing was added" in err
    with _instance_of(home_env) as instance:
        assert instance.get_dynamic_partitions("ratio") == [] and instance.get_backfills() == []


def test_backfill_refuses_a_ratio_below_the_real_share_floor_before_adding_any_partition(
    tmp_path, tiny_csv, home_env, capsys
):
    """`backfill --ratio` below the plan's real-share floor is refused with the plan key to change: nothing added."""
    plan_file = write_plan(tmp_path, tiny_csv, anchoring={"min_real_share": 0.5})
    assert main(["--plan", str(plan_file), "backfill", "--ratio", "0.75"]) == 2
    err = _errors(capsys)
    assert "--ratio 0.75 leaves a real share of 0.25, below anchoring.min_real_share=0.5" in err
    assert str(plan_file) in err and "Nothing was added" in err
    with _instance_of(home_env) as instance:
        assert instance.get_dynamic_partitions("ratio") == [] and instance.get_backfills() == []


@pytest.mark.parametrize("command", ["ui", "mlflow-ui"])
def test_a_ui_refuses_a_taken_port_and_starts_nothing(tmp_path, tiny_csv, home_env, capsys, command):
    """`hybrid-data ui` / `mlflow-ui` on a port already in use say so and how to choose another (--port)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--plan", str(write_plan(tmp_path, tiny_csv)), command, "--port", str(port)])
    assert code == 2
    err = _errors(capsys)
    assert f"port {port} on 127.0.0.1 is taken" in err and "--port" in err


@pytest.mark.slow
def test_a_failed_stage_names_the_cause_and_shows_no_stale_scorecard(tmp_path, tiny_csv, home_env, capsys):
    """When a stage fails, `hybrid-data run` prints the step's own message (what to fix), does not print the
    previous scorecard as if it were current, leaves it unchanged, and exits 1."""
    import polars as pl

    from hybrid_data.lake import sha256_file

    home = home_env.ensure()
    home.open_lake().write_frame("blend_scorecard", None, pl.DataFrame({"kind": ["real_only"], "ratio": [0.0]}))
    old_card = home.open_lake().path("blend_scorecard", None, "data.parquet")
    before = sha256_file(old_card)
    plan_file = write_plan(tmp_path, tiny_csv, target="no_such_column")
    assert main(["--plan", str(plan_file), "run"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "has no column 'no_such_column'" in captured.out and "FAILED" in captured.out
    assert "The scorecard is not shown" in captured.out and "real only" not in captured.out
    assert sha256_file(old_card) == before
    with _instance_of(home) as instance:
        assert {r.job_name for r in instance.get_runs()} == {"prepare_real_data"}, "no later stage was launched"
