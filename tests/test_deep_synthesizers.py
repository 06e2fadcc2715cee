"""Deep synthesizers: the thread share, training that stops when it has learned, rare classes kept or reported."""

import multiprocessing
import os
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml

from hybrid_data.boost import classes_kept
from hybrid_data.compute import (
    LoadWatch,
    ThreadSettingError,
    compute_threads,
    computing_steps,
    thread_rule,
)
from hybrid_data.deep_training import (
    CONVERGED,
    StoppingRule,
    column_shapes,
    correlation_similarity,
    curve_summary,
    stopping_score,
)
from hybrid_data.instance import THREADS_ENV, machine_cores
from hybrid_data.plan import Plan
from hybrid_data.synthesis import fit_settings, fit_synthesizer, sample_pool


@pytest.fixture(autouse=True)
def own_steps_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Steps computing elsewhere on the machine (other tests) must not change this test's thread share."""
    folder = tmp_path / "steps"
    monkeypatch.setenv("HYBRID_DATA_STEPS_DIR", str(folder))
    monkeypatch.delenv("HYBRID_DATA_THREADS", raising=False)
    return folder


def made_up(rows: int = 400, rare_share: float = 0.03, seed: int = 0) -> pl.DataFrame:
    """Loans-like rows with a 3% class that differs from the rest (higher amounts)."""
    rng = np.random.default_rng(seed)
    rare = round(rows * rare_share)
    label = np.array(["rare"] * rare + ["common"] * (rows - rare))
    return pl.DataFrame(
        {
            "amount": np.where(label == "rare", rng.normal(80, 5, rows), rng.normal(20, 5, rows)),
            "age": rng.integers(18, 80, rows),
            "region": rng.choice(["north", "south", "east"], rows),
            "label": label,
        }
    )


def _plan(name: str, **synthesis) -> Plan:
    settings = {"synthesizers": [name], "epochs": 3, "batch_size": 100, **synthesis}
    return Plan.model_validate({"name": "t", "source": {"path": "x.csv"}, "target": "label", "synthesis": settings})


# --- threads ---------------------------------------------------------------------------------------------------


def test_the_thread_rule_shares_cores_between_steps_and_leaves_busy_cores_alone():
    assert [thread_rule(8, steps, None) for steps in (1, 2, 3, 8, 20)] == [8, 4, 2, 1, 1]
    assert thread_rule(8, 1, 6.0) == 2  # other processes keep 6 of 8 cores busy
    assert thread_rule(8, 2, 1.0) == 4  # the share is the lower bound here
    assert [thread_rule(2, 1, busy) for busy in (0.0, 0.3, 0.7, 2.0)] == [2, 2, 1, 1]


def test_steps_register_while_they_compute_and_dead_ones_are_forgotten(own_steps_dir, monkeypatch):
    import torch

    monkeypatch.setenv("HYBRID_DATA_THREADS", "2")
    with compute_threads() as slot:
        assert torch.get_num_threads() == 2 and slot.path.exists()
        own_steps_dir.joinpath(f"{os.getpid()}-other.step").touch()  # a second step of a live process
        dead = own_steps_dir / "999999999-0.step"  # left by a process that died
        dead.touch()
        assert computing_steps(own_steps_dir) == 2 and not dead.exists()
    assert computing_steps(own_steps_dir) == 1  # the block unregistered itself
    monkeypatch.delenv("HYBRID_DATA_THREADS")
    with compute_threads() as slot:
        assert 1 <= torch.get_num_threads() <= thread_rule(machine_cores(), 2, None)


def test_the_load_watch_counts_other_processes_and_not_this_one():
    """A child process burning CPU for the window shows up as busy cores, at least as much as the kernel says the
    child used; this process spinning at the same time is left out."""
    import subprocess
    import sys
    import time

    watch = LoadWatch(machine_cores())
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 1: pass"])
    while True:  # this process is busy too, until the child ends
        pid, _, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
    child.returncode = 0  # reaped above, with the kernel's account of its CPU time
    others = watch.others_busy()
    child_cores = (usage.ru_utime + usage.ru_stime) / (time.perf_counter() - started)
    assert others is not None and others >= 0.8 * child_cores


def test_a_lone_fit_on_an_idle_machine_trains_with_every_core(monkeypatch):
    """One step computing and nothing else busy: every epoch gets all the machine's cores (this shared test
    machine is never idle, so the load watch is told it is)."""
    monkeypatch.setattr(LoadWatch, "others_busy", lambda self: 0.0)
    fitted = fit_synthesizer("tvae", made_up(), _plan("tvae", epochs=2, early_stopping=False))
    assert [row["threads"] for row in fitted.training.curve] == [machine_cores()] * 2


def test_a_deep_fit_leaves_no_worker_process_for_its_step_to_wait_for():
    """A Dagster step is a multiprocessing child, which joins every live child process before it exits: ctgan's
    loky workers (idle for 300 s after transforming 500 rows or more) held each deep fit step 180-220 s after its
    success. Its column transforms now run on threads."""
    before = set(multiprocessing.active_children())
    fit_synthesizer("ctgan", made_up(rows=600), _plan("ctgan", epochs=1, early_stopping=False))
    assert set(multiprocessing.active_children()) - before == set()


def test_openmp_threads_sleep_while_they_wait_unless_the_user_chose():
    """The wait policy is set when the synthesis module loads, before torch does (OpenMP reads it only then)."""
    import subprocess
    import sys

    probe = "import os, sys, hybrid_data.synthesis; print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for preset, expected in ((None, "False PASSIVE"), ("ACTIVE", "False ACTIVE")):
        run_env = env if preset is None else {**env, "OMP_WAIT_POLICY": preset}
        out = subprocess.run([sys.executable, "-c", probe], env=run_env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == expected.split()


def test_a_bad_thread_count_names_the_variable(monkeypatch):
    monkeypatch.setenv("HYBRID_DATA_THREADS", "many")
    with pytest.raises(ThreadSettingError, match=r"HYBRID_DATA_THREADS='many' is not a whole number"):
        fit_synthesizer("gaussian_copula", made_up(), _plan("gaussian_copula"))


# --- stopping rule and fidelity score --------------------------------------------------------------------------


def test_the_stopping_rule_waits_for_patience_without_a_gain():
    rule = StoppingRule(ceiling=300, patience=10, min_improvement=0.01)  # 10 epochs = 2 checks of 5
    assert rule.patience_checks == 2
    assert not rule.converged([0.70, 0.75])  # too few checks to judge
    assert not rule.converged([0.70, 0.75, 0.80, 0.85])  # still climbing
    assert not rule.converged([0.70, 0.80, 0.805, 0.82])  # the last check beat 0.80 by more than 0.01
    assert rule.converged([0.70, 0.80, 0.805, 0.809])  # two checks within 0.01 of the best before them
    assert rule.converged([0.70, 0.80, 0.75, 0.72])  # getting worse
    assert not StoppingRule(ceiling=300, enabled=False).converged([0.8] * 50)
    assert [e for e in range(1, 13) if StoppingRule(ceiling=12).checks_at(e)] == [5, 10, 12]


def test_the_stopping_score_averages_fidelity_and_sdmetrics_detection_score():
    assert stopping_score(0.9, 0.5) == pytest.approx(0.95)  # indistinguishable rows: detection score 1
    assert stopping_score(0.9, 0.3) == pytest.approx(0.95)  # below chance counts as chance, as in SDMetrics
    assert stopping_score(0.9, 1.0) == pytest.approx(0.45)
    assert stopping_score(0.8, 0.98) - stopping_score(0.8, 0.99) == pytest.approx(0.01)


def test_the_fidelity_score_agrees_with_sdmetrics():
    from sdmetrics.column_pairs import CorrelationSimilarity
    from sdmetrics.single_column import KSComplement, TVComplement

    rng = np.random.default_rng(3)
    real = pd.DataFrame({"x": rng.normal(0, 1, 500), "y": rng.gamma(2, 1, 500), "c": rng.choice(list("abc"), 500)})
    real["y"] += real["x"]
    fake = pd.DataFrame(
        {
            "x": rng.normal(0.3, 1.2, 400),
            "y": rng.gamma(2, 1, 400),
            "c": rng.choice(list("abcd"), 400, p=[0.5, 0.2, 0.2, 0.1]),
        }
    )
    expected_shapes = np.mean(
        [
            KSComplement.compute(real["x"], fake["x"]),
            KSComplement.compute(real["y"], fake["y"]),
            TVComplement.compute(real["c"], fake["c"]),
        ]
    )
    assert column_shapes(real, fake, {"c"}) == pytest.approx(expected_shapes, abs=1e-9)
    expected_pairs = CorrelationSimilarity.compute(real[["x", "y"]], fake[["x", "y"]], coefficient="Pearson")
    assert correlation_similarity(real[["x", "y"]], fake[["x", "y"]]) == pytest.approx(expected_pairs, abs=1e-9)


# --- early stopping on real fits -------------------------------------------------------------------------------


def test_a_fit_stops_when_fidelity_stops_improving_and_keeps_the_best_weights(monkeypatch):
    """With a gain no generator can make (0.5), the check at epoch 10 cannot beat epoch 5: the fit stops at 10
    of a 300-epoch ceiling and keeps epoch 5's weights, exactly those of a plain 5-epoch fit (scoring draws its
    own random numbers, so it never changes how training goes). Both fits train on one thread: the thread rule
    follows the machine's load epoch by epoch, and another thread count changes the order of floating-point sums
    (CI once saw the two fits differ in the 7th digit)."""
    monkeypatch.setenv(THREADS_ENV, "1")
    real = made_up()
    progress: list[str] = []
    stopped = fit_synthesizer(
        "ctgan", real, _plan("ctgan", epochs=300, patience=5, min_improvement=0.5), progress.append
    )
    training = stopped.training
    assert (training.epochs_run, training.stop_reason, training.best_epoch) == (10, CONVERGED, 5)
    assert (
        training.summary.startswith("converged: the 5 epochs after epoch 5 (score")
        and "ceiling 300" in training.summary
    )
    assert "kept the weights of epoch 5" in training.summary
    assert [row["epoch"] for row in training.curve] == list(range(1, 11))
    assert {"generator_loss", "discriminator_loss", "seconds"} <= set(training.curve[0])
    checks = [row for row in training.curve if "fidelity" in row]
    assert [row["epoch"] for row in checks] == [5, 10]
    for row in checks:  # the discriminator's AUC on decoded rows is half of the score
        assert 0.0 <= row["detection_auc"] <= 1.0 and row["check_seconds"] > 0
        assert row["score"] == pytest.approx(stopping_score(row["fidelity"], row["detection_auc"]), abs=1e-4)
    assert progress[-1].startswith("ctgan: epoch 10/300, generator loss")
    assert progress[-1].endswith(training.summary)
    assert type(stopped.synthesizer._model).__name__ == "CTGAN"  # plain ctgan again: loads without hybrid_data

    five = fit_synthesizer("ctgan", real, _plan("ctgan", epochs=5, early_stopping=False)).synthesizer._model
    kept = dict(stopped.synthesizer._model._generator.named_parameters())
    for name, weights in five._generator.named_parameters():
        assert np.array_equal(weights.detach().numpy(), kept[name].detach().numpy()), name
    assert sample_pool(stopped, 50, seed=1).frame.height == 50

    table = curve_summary(training, rows=4)
    assert [row["epoch"] for row in table] == [1, 3, 5, 6, 9, 10]  # every 3rd plus the first, kept and last


def test_without_early_stopping_a_fit_runs_to_the_ceiling():
    fitted = fit_synthesizer("tvae", made_up(), _plan("tvae", epochs=2, early_stopping=False))
    assert (fitted.training.epochs_run, fitted.training.stop_reason) == (2, "ceiling")
    assert fitted.training.summary == "ceiling: ran all 2 epochs (synthesis.epochs)"
    assert [set(row) for row in fitted.training.curve] == [{"epoch", "loss", "seconds", "threads"}] * 2


def test_stopping_settings_refit_only_deep_synthesizers_and_check_settings_never_refit():
    base = _plan("ctgan")
    assert fit_settings("ctgan", _plan("ctgan", patience=7)) != fit_settings("ctgan", base)
    assert fit_settings("gaussian_copula", _plan("ctgan", patience=7)) == fit_settings("gaussian_copula", base)
    for check_only in ({"min_minority_share_ratio": 0.2}, {"minority_loss_blocking": True}):
        assert fit_settings("ctgan", _plan("ctgan", **check_only)) == fit_settings("ctgan", base)


# --- rare classes ----------------------------------------------------------------------------------------------


def test_the_minority_check_reports_a_lost_class_with_its_numbers():
    real = pl.Series("label", ["common"] * 388 + ["rare"] * 12)
    lost = classes_kept(pl.Series("label", ["common"] * 400), real, 0.5)
    assert not lost.passed
    assert lost.description.startswith("synthesizer lost the minority class: 'rare': 0.0% of 400 pool rows")
    assert "vs 3.0% of real_train, below the threshold 1.5%" in lost.description
    ci95 = (lost.metadata["minority_share_pool_ci95_low"], lost.metadata["minority_share_pool_ci95_high"])
    assert ci95 == (0.0, 0.0095)  # Wilson interval of 0/400
    # 10 of 400 (2.5%) is above half the real share; 4 of 400 (1%) is below it, but 1.5% is inside its interval.
    assert classes_kept(pl.Series("label", ["common"] * 390 + ["rare"] * 10), real, 0.5).passed
    assert classes_kept(pl.Series("label", ["common"] * 396 + ["rare"] * 4), real, 0.5).passed
    assert not classes_kept(pl.Series("label", ["common"] * 3990 + ["rare"] * 10), real, 0.5).passed
    assert classes_kept(pl.Series("y", [1.5, 2.5]), pl.Series("y", [1.0, 2.0]), 0.5).passed  # regression


def test_a_gan_boost_conditions_its_generator_and_hits_the_share_exactly():
    real = made_up()
    fitted = fit_synthesizer("ctgan", real, _plan("ctgan", epochs=3, early_stopping=False))
    chunk = sample_pool(fitted, 300, seed=4, boost_target_shares={"rare": 0.3}, boost_max_tries=5)
    assert chunk.achieved_shares == {"common": 0.7, "rare": 0.3}
    assert chunk.notes == []
    assert fitted.synthesizer._model.__dict__.get("sample") is None  # the conditioned sampler was put back


@pytest.mark.slow
def test_a_pool_that_lost_the_minority_class_is_reported_and_a_boost_restores_it(tmp_path, home, instance):
    """Acceptance: TVAE after 3 epochs generates no row of a 3% class. The pool check says so with the numbers
    (a warning: the run succeeds); the fit's epochs and stopping reason are in MLflow. CTGAN with a boost on
    the same data holds the boost's share exactly, and the check passes."""
    from mlflow import MlflowClient

    from definitions import build_definitions

    real = made_up()
    source = tmp_path / "made_up.csv"
    real.write_csv(source)
    plan = {
        "name": "rare",
        "source": {"path": str(source)},
        "target": "label",
        "ratios": [0, 0.5],  # a pool of as many rows as real_train
        "synthesis": {"synthesizers": ["tvae", "ctgan"], "epochs": 3, "batch_size": 100},
    }
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    home.open_lake().write_frame("real_train", None, real)
    home.open_lake().write_frame("real_holdout", None, made_up(200, seed=1))  # the privacy checks' control

    def minority_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
        """The lost-minority check among the pool's checks (the privacy attacks run beside it)."""
        return next(c for c in result.get_asset_check_evaluations() if c.check_name == "synthetic_pool_keeps_minority")

    def synthesize(synth: str) -> dg.ExecuteInProcessResult:
        defs = build_definitions(plan_file, home)
        return dg.materialize(
            [*defs.assets, *defs.asset_checks],
            instance=instance,
            resources=defs.resources,
            selection=dg.AssetSelection.assets("synthesizer_model", "synthetic_pool"),
            partition_key=synth,
            raise_on_error=False,
        )

    result = synthesize("tvae")
    assert result.success
    check = minority_check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("synthesizer lost the minority class: 'rare': 0.0% of 400 pool rows")
    assert check.metadata["minority_share_real"].value == 0.03

    [model_event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "synthesizer_model"
    ]
    metadata = model_event.materialization.metadata
    assert metadata["epochs_run"].value == 3 and metadata["stop_reason"].value.startswith("ceiling")
    assert "| epoch | loss |" in metadata["loss_curve"].value
    client = MlflowClient(home.mlflow_tracking_uri())
    run = client.get_run(metadata["mlflow_run_id"].value)
    assert run.data.metrics["epochs_run"] == 3 and run.data.tags["hybrid_data.stop_reason"] == "ceiling"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "epoch.loss")] == [1, 2, 3]

    # The plan can make it blocking; the stored fit and pool are reused (a check setting changes neither).
    plan["synthesis"]["minority_loss_blocking"] = True
    plan_file.write_text(yaml.safe_dump(plan))
    check = minority_check(synthesize("tvae"))
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR

    plan["synthesis"]["boost_target_shares"] = {"rare": 0.25}
    plan_file.write_text(yaml.safe_dump(plan))
    boosted = synthesize("ctgan")
    check = minority_check(boosted)
    assert check.passed, check.description
    # With the loss check blocking, the pool waits as a candidate until a read settles it (its check passed).
    from assets.check_status import settle_lake

    lake = home.open_lake()
    settle_lake(instance, lake)
    pool = lake.read_frame("synthetic_pool", {"synth": "ctgan"})
    assert (pool["label"] == "rare").sum() == pool.height // 4
