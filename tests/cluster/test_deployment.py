"""The deployment profile without services: what `cluster` means, its instance configuration, the deploy/ files,
and that the embedded default is untouched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hybrid_data import deployment
from tests.cluster.services import LIBS_FILE, PROCFILE, procfile_commands

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLUSTER_ENV = {
    deployment.PROFILE_ENV: "cluster",
    deployment.DAGSTER_PG_URL_ENV: "postgresql+psycopg2://dagster@127.0.0.1:5432/dagster",
    deployment.CELERY_BROKER_ENV: "pyamqp://127.0.0.1:5672//",
    deployment.CELERY_BACKEND_ENV: "redis://127.0.0.1:6379/1",
    deployment.TRACKING_URI_ENV: "http://127.0.0.1:5000",
}
# A URL carrying a password (user:secret@host), or an AWS-style key, anywhere in a deploy file.
CREDENTIAL = re.compile(
    r"://[^/\s:@]+:(?!\.\.\.@)[^/\s@]+@|AKIA[0-9A-Z]{16}|aws_secret_access_key\s*[:=]\s*(?!\.\.\.)\S", re.I
)


def test_embedded_is_the_default_and_keeps_its_executor() -> None:
    assert deployment.current_profile({}).name == "embedded"
    assert deployment.executor_for_profile({}) is None
    assert deployment.executor_for_profile({deployment.PROFILE_ENV: "Embedded "}) is None


def test_a_misspelled_profile_names_the_variable_and_the_choices() -> None:
    with pytest.raises(
        deployment.DeploymentError, match=r"HYBRID_DATA_PROFILE='clutser' is not a profile.*embedded, cluster"
    ):
        deployment.current_profile({deployment.PROFILE_ENV: "clutser"})


def test_cluster_lists_every_missing_setting_with_an_example() -> None:
    env = {deployment.PROFILE_ENV: "cluster", deployment.CELERY_BROKER_ENV: "pyamqp://127.0.0.1//"}
    with pytest.raises(deployment.DeploymentError) as error:
        deployment.executor_for_profile(env)
    message = str(error.value)
    for name in (deployment.DAGSTER_PG_URL_ENV, deployment.CELERY_BACKEND_ENV, deployment.TRACKING_URI_ENV):
        assert name in message
    assert deployment.CELERY_BROKER_ENV not in message
    assert "postgresql+psycopg2://" in message


def test_a_bare_postgresql_url_is_refused_with_the_driver_to_write() -> None:
    env = {**CLUSTER_ENV, deployment.DAGSTER_PG_URL_ENV: "postgresql://dagster@db/dagster"}
    with pytest.raises(deployment.DeploymentError, match=r"HYBRID_DATA_DAGSTER_PG_URL starts with postgresql://.*"):
        deployment.require_cluster_settings(env)


def test_cluster_executor_is_celery_reading_urls_from_the_environment() -> None:
    pytest.importorskip("dagster_celery", reason=f"dagster-celery: pip install --no-deps -r {LIBS_FILE}")
    assert deployment.executor_for_profile(CLUSTER_ENV).name == "celery"
    config = deployment.celery_executor_config(CLUSTER_ENV)
    assert config["broker"] == {"env": deployment.CELERY_BROKER_ENV}
    assert config["backend"] == {"env": deployment.CELERY_BACKEND_ENV}
    assert "pyamqp" not in str(config) and "redis" not in str(config), "no URL stored with the job"
    options = config["config_source"]
    assert options["task_acks_late"] and options["task_reject_on_worker_lost"]
    assert options["worker_prefetch_multiplier"] == 1
    assert options["task_default_queue"] == "hybrid_data"
    worker_settings = deployment.celery_settings(CLUSTER_ENV)
    assert worker_settings["broker_url"] == CLUSTER_ENV[deployment.CELERY_BROKER_ENV]
    assert {k: worker_settings[k] for k in options} == options, "workers and runs share one configuration"


def test_instance_yaml_is_valid_dagster_config_with_postgres_queue_and_pools(monkeypatch) -> None:
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config_schema

    monkeypatch.setenv(deployment.DAGSTER_PG_URL_ENV, CLUSTER_ENV[deployment.DAGSTER_PG_URL_ENV])
    text = deployment.dagster_yaml({deployment.MAX_RUNS_ENV: "6", deployment.POOL_LIMIT_ENV: "3"})
    config = yaml.safe_load(text)
    assert process_config(dagster_instance_config_schema(), config).success
    assert config["storage"]["postgres"]["postgres_url"] == {"env": deployment.DAGSTER_PG_URL_ENV}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 6
    assert config["concurrency"]["pools"] == {"default_limit": 3, "granularity": "op", "op_granularity_run_buffer": 6}
    with pytest.raises(deployment.DeploymentError, match="HYBRID_DATA_POOL_LIMIT='0' must be a whole number"):
        deployment.dagster_yaml({deployment.POOL_LIMIT_ENV: "0"})


def test_committed_instance_yaml_is_what_init_writes() -> None:
    assert (DEPLOY / "dagster.yaml").read_text() == deployment.dagster_yaml({})


def test_the_heavy_steps_declare_the_pools_the_instance_sizes() -> None:
    import dagster as dg

    from assets.synthesis import build_synthesis_assets
    from assets.training import build_blend_model_asset

    synth = dg.StaticPartitionsDefinition(["gaussian_copula"])
    grid = dg.MultiPartitionsDefinition({"synth": synth, "ratio": dg.DynamicPartitionsDefinition(name="ratio")})
    model, _pool = build_synthesis_assets(synth)
    assert model.op.pool == deployment.SYNTHESIZER_POOL
    assert build_blend_model_asset(grid).op.pool == deployment.TRAINING_POOL


def test_workspace_points_at_the_grpc_code_server() -> None:
    workspace = yaml.safe_load(deployment.workspace_yaml("127.0.0.1", 4266))
    assert workspace == {
        "load_from": [{"grpc_server": {"host": "127.0.0.1", "port": 4266, "location_name": "hybrid_data"}}]
    }


def test_processes_bind_to_loopback_and_deploy_files_hold_no_credentials() -> None:
    commands = procfile_commands(PROCFILE)
    assert list(commands) == ["mlflow", "codeserver", "worker", "daemon", "webserver"]
    for name in ("mlflow", "codeserver", "webserver"):
        assert ":-127.0.0.1}" in commands[name], name
    assert "dagster api grpc -m definitions" in commands["codeserver"]
    assert "celery -A dagster_celery.app worker" in commands["worker"]
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert not CREDENTIAL.search(path.read_text()), path
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["dagster-user-deployments"]["deployments"][0]["dagsterApiGrpcArgs"] == ["-m", "definitions"]
    assert values["concurrency"]["pools"]["defaultLimit"] == deployment.DEFAULT_POOL_LIMIT


def test_init_writes_the_instance_or_says_what_is_missing(tmp_path: Path, monkeypatch, capsys) -> None:
    for name, value in CLUSTER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert deployment.main(["init", "--grpc-port", "4300"]) == 0
    assert "port: 4300" in (tmp_path / "workspace.yaml").read_text()
    assert (tmp_path / "dagster.yaml").read_text() == deployment.dagster_yaml()
    monkeypatch.delenv(deployment.TRACKING_URI_ENV)
    assert deployment.main(["init"]) == 2
    assert "MLFLOW_TRACKING_URI" in capsys.readouterr().out
