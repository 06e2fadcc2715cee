"""Deployment profiles: what `HYBRID_DATA_PROFILE=cluster` means, the instance it writes, where its URLs come from.

Two profiles, one code base. `embedded` (the default) needs no service: a local Dagster instance, the
multiprocess executor, SQLite MLflow, a local lake. `cluster` runs the same code on services: the Dagster
instance on PostgreSQL with the run queue and concurrency pools, steps on Celery workers, MLflow as a tracking
server, and the lake on an object store ($HYBRID_DATA_LAKE, honoured in any profile). Every URL comes from an
environment variable, so no credential is ever written to a file in the repository; this module only names the
variables and renders the configuration that refers to them. It does not import Dagster (the Celery executor is built
lazily in `executor_for_profile`, the one function the Dagster layer calls).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hybrid_data.instance import DAEMON_YAML

PROFILE_ENV = "HYBRID_DATA_PROFILE"
EMBEDDED, CLUSTER = "embedded", "cluster"
PROFILES = (EMBEDDED, CLUSTER)

# The cluster profile's settings, all from the environment (see docs/deployment.md).
DAGSTER_PG_URL_ENV = "HYBRID_DATA_DAGSTER_PG_URL"  # postgresql+psycopg2://user[:password]@host:5432/dagster
CELERY_BROKER_ENV = "HYBRID_DATA_CELERY_BROKER"  # pyamqp://user:password@host:5672/vhost or redis://host:6379/0
CELERY_BACKEND_ENV = "HYBRID_DATA_CELERY_BACKEND"  # redis://host:6379/1 (results of the steps)
CELERY_QUEUE_ENV = "HYBRID_DATA_CELERY_QUEUE"  # one queue per deployment; workers listen on it
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # http://mlflow-host:5000, the tracking server
MLFLOW_STORE_ENV = "HYBRID_DATA_MLFLOW_STORE"  # postgresql+psycopg2://...: the tracking server's backend store
MLFLOW_ARTIFACTS_ENV = "HYBRID_DATA_MLFLOW_ARTIFACTS"  # s3://bucket/mlflow: where the server puts artifacts
LAKE_ENV = "HYBRID_DATA_LAKE"  # s3://bucket/lake: the lake on an object store (any profile); default: the home folder
MAX_RUNS_ENV = "HYBRID_DATA_MAX_CONCURRENT_RUNS"
POOL_LIMIT_ENV = "HYBRID_DATA_POOL_LIMIT"

# SQLAlchemy 2.1 reads a bare postgresql:// as the psycopg 3 driver, which is not installed: name psycopg2.
PG_DRIVER = "postgresql+psycopg2://"
DEFAULT_QUEUE = "hybrid_data"
DEFAULT_MAX_RUNS = 8
DEFAULT_POOL_LIMIT = 2  # = worker slots of the two-worker reference deployment
# The heavy steps name these pools (assets/synthesis.py, assets/training.py); each gets the pool limit.
SYNTHESIZER_POOL = "synthesizer_fit"
TRAINING_POOL = "model_training"

REQUIRED = {
    DAGSTER_PG_URL_ENV: "the Dagster instance's database, e.g. postgresql+psycopg2://dagster@127.0.0.1:5432/dagster",
    CELERY_BROKER_ENV: "the Celery broker, e.g. pyamqp://guest:guest@127.0.0.1:5672// (RabbitMQ)",
    CELERY_BACKEND_ENV: "the Celery result backend, e.g. redis://127.0.0.1:6379/1",
    TRACKING_URI_ENV: "the MLflow tracking server, e.g. http://127.0.0.1:5000",
}


class DeploymentError(ValueError):
    """The profile or one of its settings is wrong; the message says which variable to set and how."""


@dataclass(frozen=True)
class Profile:
    """Which deployment the processes of this environment belong to."""

    name: str

    @property
    def is_cluster(self) -> bool:
        return self.name == CLUSTER


def current_profile(env: Mapping[str, str] | None = None) -> Profile:
    env = os.environ if env is None else env
    name = (env.get(PROFILE_ENV) or EMBEDDED).strip().lower()
    if name not in PROFILES:
        raise DeploymentError(f"{PROFILE_ENV}={name!r} is not a profile; use one of: {', '.join(PROFILES)}")
    return Profile(name)


def missing_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The cluster settings not set in `env`, each with what it should point at."""
    env = os.environ if env is None else env
    return {name: meaning for name, meaning in REQUIRED.items() if not env.get(name)}


def require_cluster_settings(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    missing = missing_settings(env)
    if missing:
        lines = "\n".join(f"  {name}: {meaning}" for name, meaning in missing.items())
        raise DeploymentError(f"{PROFILE_ENV}=cluster needs these environment variables:\n{lines}")
    for name in (DAGSTER_PG_URL_ENV, MLFLOW_STORE_ENV):
        url = env.get(name) or ""
        if url.startswith(("postgresql://", "postgres://")):
            scheme = url.split("://", 1)[0]
            raise DeploymentError(
                f"{name} starts with {scheme}://, which SQLAlchemy 2.1 opens with the psycopg 3 driver (not "
                f"installed); write {PG_DRIVER}... instead"
            )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise DeploymentError(f"{name}={raw!r} must be a whole number of at least 1")
    return value


def lake_root(home_lake: Path, env: Mapping[str, str] | None = None) -> str:
    """Where the lake lives: $HYBRID_DATA_LAKE (a folder or an fsspec URL such as s3://bucket/lake) when set, else
    the home folder's lake. Every worker of a cluster must see the same lake, hence an object store there."""
    env = os.environ if env is None else env
    return env.get(LAKE_ENV) or str(home_lake)


def celery_queue(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get(CELERY_QUEUE_ENV) or DEFAULT_QUEUE


def celery_settings(env: Mapping[str, str] | None = None) -> dict:
    """Celery configuration shared by the run (which submits steps) and the workers (which run them).

    A step must survive the loss of the worker running it: acknowledging a task only once it finished
    (`task_acks_late`) and handing it back when the worker process dies (`task_reject_on_worker_lost`) makes the
    broker redeliver it to another worker. With RabbitMQ that happens as soon as the dead worker's connection
    drops; Redis redelivers only after `visibility_timeout`, which must then exceed the longest step (a shorter
    one runs long steps twice), so RabbitMQ is the broker of the reference deployment. One task at a time per
    worker process (`worker_prefetch_multiplier=1`): a fit can take minutes and must not hold others back.
    """
    env = os.environ if env is None else env
    queue = celery_queue(env)
    return {
        "broker_url": env.get(CELERY_BROKER_ENV),
        "result_backend": env.get(CELERY_BACKEND_ENV),
        "task_default_queue": queue,
        # Result keys carry the queue's name, so deployments can share one Redis and a teardown finds its own.
        "result_backend_transport_options": {"global_keyprefix": f"{queue}:"},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "result_expires": 24 * 3600,
    }


def celery_executor_config(env: Mapping[str, str] | None = None) -> dict:
    """The Celery executor's config: the broker and backend as `{"env": ...}`, read when a run starts, so their
    URLs (and passwords) are never stored with the job or the run in the instance's database."""
    options = {k: v for k, v in celery_settings(env).items() if k not in ("broker_url", "result_backend")}
    return {"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}, "config_source": options}


def executor_for_profile(env: Mapping[str, str] | None = None):
    """The Celery executor when the profile is `cluster`, else None (the caller keeps its own executor)."""
    env = os.environ if env is None else env
    if not current_profile(env).is_cluster:
        return None
    require_cluster_settings(env)
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_executor_config(env), name="celery")


def dagster_yaml(env: Mapping[str, str] | None = None) -> str:
    """The cluster instance: run, event log and schedule storage on PostgreSQL (URL read from the environment by
    every process), the run queue, and pool limits for the heavy steps."""
    env = os.environ if env is None else env
    max_runs = _positive_int(env, MAX_RUNS_ENV, DEFAULT_MAX_RUNS)
    pool_limit = _positive_int(env, POOL_LIMIT_ENV, DEFAULT_POOL_LIMIT)
    return f"""\
# hybrid-data cluster instance (hybrid_data/deployment.py); written by `python -m hybrid_data.deployment init`.
# No credential in this file: every process reads the database URL from ${DAGSTER_PG_URL_ENV}.
telemetry:
  enabled: false

# Runs, event logs (with op concurrency slots) and schedules in PostgreSQL: shared by the webserver, the daemon,
# the run processes and the Celery workers on any machine.
storage:
  postgres:
    postgres_url:
      env: {DAGSTER_PG_URL_ENV}

# Runs wait in a queue; the daemon launches at most max_concurrent_runs, each through the code server.
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    # Launch queued runs in parallel: each launch is a round trip to the code server, which starts a process.
    dequeue_use_threads: true
    dequeue_num_workers: 4

concurrency:
  runs:
    max_concurrent_runs: {max_runs}
  pools:
    # {SYNTHESIZER_POOL} (synthesizer fits) and {TRAINING_POOL} (model training) each take at most this many
    # steps at once across all runs; change one with `dagster instance concurrency set <pool> <limit>`.
    default_limit: {pool_limit}
    granularity: op
    # A run whose pooled step must wait still starts (its other steps go ahead on the workers); without this
    # the queue holds back every run beyond the pool limit, and 8 blend runs would go 3 at a time.
    op_granularity_run_buffer: {max_runs}

{DAEMON_YAML}"""


def workspace_yaml(host: str, port: int, location: str = "hybrid_data") -> str:
    """The webserver's and daemon's view of the code: one gRPC code server, started on its own."""
    return f"""\
# The code location runs as its own process (`dagster api grpc`); the webserver and daemon only talk to it.
load_from:
  - grpc_server:
      host: {host}
      port: {port}
      location_name: {location}
"""


def write_instance(dagster_home: Path, grpc_host: str, grpc_port: int, env: Mapping[str, str] | None = None) -> Path:
    """Write dagster.yaml and workspace.yaml for the cluster profile into `dagster_home`."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(dagster_yaml(env))
    (dagster_home / "workspace.yaml").write_text(workspace_yaml(grpc_host, grpc_port))
    return dagster_home


def main(argv: list[str] | None = None) -> int:
    """`python -m hybrid_data.deployment init`: check the settings and write the instance into $DAGSTER_HOME."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hybrid_data.deployment", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write $DAGSTER_HOME/dagster.yaml and workspace.yaml for the cluster")
    init.add_argument("--grpc-host", default=os.environ.get("HYBRID_DATA_GRPC_HOST", "127.0.0.1"))
    init.add_argument("--grpc-port", type=int, default=int(os.environ.get("HYBRID_DATA_GRPC_PORT", "4266")))
    args = parser.parse_args(argv)
    try:
        require_cluster_settings()
        home = os.environ.get("DAGSTER_HOME")
        if not home:
            raise DeploymentError("set DAGSTER_HOME to the folder the cluster instance lives in")
        written = write_instance(Path(home), args.grpc_host, args.grpc_port)
    except DeploymentError as exc:
        print(f"error: {exc}")
        return 2
    print(f"wrote {written / 'dagster.yaml'} and {written / 'workspace.yaml'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
