"""benchmarks/bench_overhead.py compares like with like: its plain loop of core calls scores every cell of a plan
exactly as the pipeline does (same cells, same numbers), so its time ratio measures orchestration, not other work.
And its split of the pipeline's wall time adds up to that wall time."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hybrid_data_dagster.launch import run_pipeline

from .conftest import write_plan

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def bench_overhead():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports pipeline_process from its own folder
    spec = importlib.util.spec_from_file_location("bench_overhead", BENCHMARKS / "bench_overhead.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_overhead"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_split_of_the_wall_time_adds_up_and_shares_parallel_steps():
    bench = bench_overhead()
    steps = [
        # its process started at 1, runs 2-6 with an input load 2-3 and an MLflow run 4-5
        bench.StepRecord("a[x]", 2.0, 6.0, "asset", 1.0, io=[(2.0, 3.0)]),
        # a check step running beside it 3-5
        bench.StepRecord("c", 3.0, 5.0, bench.CHECKS, 3.0),
    ]
    parts, by_step = bench.attribute(steps, [(4.0, 5.0)], [(0.5, 7.0)], 0.0, 10.0)
    assert sum(parts.values()) == pytest.approx(10.0)
    assert parts[bench.CLI] == pytest.approx(3.5)  # 0-0.5 and 7-10: no run going
    assert parts[bench.RUN] == pytest.approx(1.5)  # 0.5-1 and 6-7: a run going, no step
    assert parts[bench.STEP_START] == pytest.approx(1.0)
    assert parts["io"] == pytest.approx(1.0)
    assert parts["mlflow"] == pytest.approx(0.5)  # 4-5, shared with the check step
    assert parts[bench.CHECKS] == pytest.approx(1.0)  # 3-5, shared with a
    assert parts["asset"] == pytest.approx(1.5)  # 3-4 shared, 5-6 alone
    assert by_step == pytest.approx({"a": 3.0, "c": 1.0})


@pytest.mark.slow
def test_the_plain_loop_scores_every_cell_as_the_pipeline_does(tmp_path, tiny_csv, home, instance):
    bench = bench_overhead()
    plan_file = write_plan(
        tmp_path,
        tiny_csv,
        ratios=[0, 0.5],
        evaluation={"repeats": 2, "bootstrap": 200, "baselines": ["class_weight"]},
        privacy={"attacks": 50},
    )
    assert run_pipeline(plan_file, home, instance=instance, say=lambda _: None) == 0
    result = bench.plain_loop(plan_file, tmp_path / "plain")

    same = bench.scorecard_difference(Path(result["scorecard"]), home.root)
    assert same.startswith("same (3 cells"), same  # real only, r=0.5 and the class_weight baseline
    assert result["stages"][bench.CHECKS] > 0
