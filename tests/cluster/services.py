"""The cluster profile started for real on this machine: the processes of deploy/Procfile against PostgreSQL,
RabbitMQ and Redis, plus moto's S3-compatible server, each on a free loopback port, all torn down afterwards.

Used by the cluster test and by benchmarks/bench_cluster.py. Databases and queues get unique names, so runs in
parallel never share state, and every process is started in its own process group so teardown reaches its
children (Celery's pool, the code server's run processes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_data import deployment

REPO = Path(__file__).resolve().parents[2]
PROCFILE = REPO / "deploy" / "Procfile"
LIBS_FILE = "deploy/requirements-dagster-libs.txt"
# Services of the development and CI machines (trust auth on loopback; kombu logs in as RabbitMQ's guest).
PG_ADMIN_URL = os.environ.get("HYBRID_DATA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("HYBRID_DATA_TEST_BROKER", "pyamqp://127.0.0.1:5672//")
REDIS_URL = os.environ.get("HYBRID_DATA_TEST_REDIS", "redis://127.0.0.1:6379/11")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_services() -> list[str]:
    """Which of PostgreSQL, RabbitMQ and Redis cannot be reached, and which packages are missing."""
    problems = []
    for module, package in (("dagster_postgres", "dagster-postgres"), ("dagster_celery", "dagster-celery")):
        try:
            __import__(module)
        except ImportError:
            problems.append(f"{package} is not installed (pip install --no-deps -r {LIBS_FILE})")
    for module in ("psycopg2", "celery", "redis", "moto"):
        try:
            __import__(module)
        except ImportError:
            problems.append(f"{module} is not installed (pip install -e '.[cluster]')")
    if problems:
        return problems
    import psycopg2
    import redis
    from kombu import Connection

    checks: dict[str, Callable[[], object]] = {
        f"PostgreSQL at {PG_ADMIN_URL}": lambda: psycopg2.connect(PG_ADMIN_URL, connect_timeout=3).close(),
        f"RabbitMQ at {BROKER_URL}": lambda: Connection(BROKER_URL, connect_timeout=3).ensure_connection(max_retries=1),
        f"Redis at {REDIS_URL}": lambda: redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping(),
    }
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # any failure to connect means the service is not usable here
            problems.append(f"{name} is not reachable ({type(exc).__name__}: {exc})")
    return problems


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    """The Procfile's processes by name, in file order."""
    commands = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = command.strip()
    return commands


def _admin(sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(PG_ADMIN_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def _sqlalchemy_url(database: str) -> str:
    """The admin URL pointed at `database`, with the psycopg2 driver named (see deployment.PG_DRIVER)."""
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    return url.replace("postgresql://", deployment.PG_DRIVER, 1)


@dataclass
class Cluster:
    """A running cluster profile; `env` is what every process of it (and a client) needs."""

    root: Path
    env: dict[str, str]
    databases: list[str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    moto: object | None = None

    @property
    def dagster_home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"])

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, name: str, process: str | None = None, **extra_env: str) -> subprocess.Popen:
        """Start one Procfile process (`process`, default `name`) as `name`, in its own process group."""
        command = procfile_commands()[process or name]
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        popen = subprocess.Popen(
            ["bash", "-c", command],
            cwd=REPO,
            env={**self.env, **extra_env},
            stdout=(logs / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = popen
        return popen

    def start_worker(self, name: str) -> subprocess.Popen:
        return self.start(name, "worker", HYBRID_DATA_WORKER_NAME=name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a process and everything it started (e.g. a Celery worker and its pool), at once."""
        popen = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
        popen.wait(timeout=30)

    def wait_until(self, name: str, ready: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            popen = self.processes.get(name)
            if popen is not None and popen.poll() is not None:
                raise RuntimeError(f"{name} exited with {popen.returncode}:\n{self.log(name)[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout:.0f}s:\n{self.log(name)[-4000:]}")
            time.sleep(0.5)

    def instance(self):
        """The cluster's Dagster instance, as any client opens it (dagster.yaml plus the environment)."""
        import dagster as dg

        return dg.DagsterInstance.from_config(str(self.dagster_home))

    def submit_backfill(self) -> str:
        """The first build of the plan's grid, submitted to the cluster's instance the way `hybrid-data backfill`
        does (the plan sensor adds the ratio partitions but builds nothing on an unbuilt home)."""
        from hybrid_data.home import Home
        from hybrid_data_dagster.backfill import submit_backfill

        saved = dict(os.environ)
        os.environ.update(self.env)  # the lake on S3, the profile: as any client of this cluster sees them
        try:
            with self.instance() as instance:
                home = Home(Path(self.env["HYBRID_DATA_HOME"]))
                return submit_backfill(Path(self.env["HYBRID_DATA_PLAN"]), home, instance=instance)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def wait_backfill(self, backfill_id: str, on_tick: Callable[[], None] = lambda: None, timeout: float = 420):
        """The backfill's runs once it is done, calling `on_tick` every half second meanwhile. Raises, with the
        failed runs' errors, unless the backfill and every one of its runs succeeded."""
        from dagster import DagsterRunStatus, RunsFilter
        from dagster._core.execution.backfill import BulkActionStatus

        done = {
            BulkActionStatus.COMPLETED,
            BulkActionStatus.COMPLETED_SUCCESS,
            BulkActionStatus.COMPLETED_FAILED,
            BulkActionStatus.FAILED,
            BulkActionStatus.CANCELED,
        }
        deadline = time.monotonic() + timeout
        with self.instance() as instance:
            while (backfill := instance.get_backfill(backfill_id)).status not in done:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"backfill {backfill_id} still {backfill.status} after {timeout:.0f}s")
                on_tick()
                time.sleep(0.5)
            runs = instance.get_runs(filters=RunsFilter.for_backfill(backfill_id))
            failed = [r for r in runs if r.status != DagsterRunStatus.SUCCESS]
            if backfill.status != BulkActionStatus.COMPLETED_SUCCESS or failed:
                errors = [
                    f"{r.run_id} {e.dagster_event.event_type_value}: {e.message}"
                    for r in failed
                    for e in instance.all_logs(r.run_id)
                    if e.dagster_event and (e.dagster_event.is_failure or e.dagster_event.is_engine_event)
                ]
                raise RuntimeError(
                    f"backfill {backfill.status} {backfill.error or ''}; {len(failed)} of {len(runs)} runs failed:\n"
                    + "\n".join(errors)[-6000:]
                )
            return runs

    def stop(self) -> None:
        """Stop every process (TERM, then KILL), the S3 server, and drop the databases and the queue."""
        for name in reversed(list(self.processes)):
            popen = self.processes[name]
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                try:
                    os.killpg(popen.pid, sig)
                    popen.wait(timeout=grace)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.moto is not None:
            self.moto.stop()
        for database in self.databases:
            _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        queue = self.env[deployment.CELERY_QUEUE_ENV]
        with contextlib.suppress(Exception):  # a queue already gone is fine
            from kombu import Connection

            with Connection(self.env[deployment.CELERY_BROKER_ENV], connect_timeout=3) as connection:
                connection.default_channel.queue_delete(queue)
        import redis

        results = redis.Redis.from_url(self.env[deployment.CELERY_BACKEND_ENV])
        for key in results.scan_iter(f"{queue}:*"):
            results.delete(key)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def start_cluster(root: Path, plan_file: Path, workers: int = 2, webserver: bool = True) -> Cluster:
    """Databases, an S3 bucket, and the Procfile's processes for `plan_file`; returns once every one answers.
    The daemon's sensors start the plan's backfill on their own, as in production."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's log line per request
    tag = uuid.uuid4().hex[:10]
    databases = [f"hd_dagster_{tag}", f"hd_mlflow_{tag}"]
    for database in databases:
        _admin(f'CREATE DATABASE "{database}"')
    s3_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    moto.start()
    bucket = f"hybrid-data-{tag}"
    ports = {name: free_port() for name in ("grpc", "webserver", "mlflow")}
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(root / "dagster"),
        "HYBRID_DATA_HOME": str(root / "home"),
        "HYBRID_DATA_PLAN": str(plan_file),
        "HYBRID_DATA_SENSOR_INTERVAL": "5",
        deployment.PROFILE_ENV: deployment.CLUSTER,
        deployment.DAGSTER_PG_URL_ENV: _sqlalchemy_url(databases[0]),
        deployment.CELERY_BROKER_ENV: BROKER_URL,
        deployment.CELERY_BACKEND_ENV: REDIS_URL,
        deployment.CELERY_QUEUE_ENV: f"hybrid_data_{tag}",
        deployment.MLFLOW_STORE_ENV: _sqlalchemy_url(databases[1]),
        deployment.MLFLOW_ARTIFACTS_ENV: f"s3://{bucket}/mlflow",
        deployment.LAKE_ENV: f"s3://{bucket}/lake",
        deployment.TRACKING_URI_ENV: f"http://127.0.0.1:{ports['mlflow']}",
        "HYBRID_DATA_GRPC_PORT": str(ports["grpc"]),
        "HYBRID_DATA_WEBSERVER_PORT": str(ports["webserver"]),
        "HYBRID_DATA_MLFLOW_PORT": str(ports["mlflow"]),
        "HYBRID_DATA_MAX_CONCURRENT_RUNS": "8",
        # The S3-compatible server: boto3, s3fs and the MLflow server all read these.
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "HYBRID_DATA_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    cluster = Cluster(root=root, env=env, databases=databases, moto=moto)
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
        cluster.env["HYBRID_DATA_TEST_BUCKET"] = bucket
        deployment.write_instance(cluster.dagster_home, "127.0.0.1", ports["grpc"], env)
        cluster.start("mlflow")
        cluster.start("codeserver")
        for index in range(workers):
            cluster.start_worker(f"worker{index + 1}")
        cluster.start("daemon")
        if webserver:
            cluster.start("webserver")
        cluster.wait_until("mlflow", lambda: _http_ok(f"http://127.0.0.1:{ports['mlflow']}/health"), timeout=180)
        health = ["dagster", "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(ports["grpc"])]
        cluster.wait_until(
            "codeserver", lambda: subprocess.run(health, capture_output=True, env=env).returncode == 0, timeout=180
        )
        for index in range(workers):
            name = f"worker{index + 1}"
            cluster.wait_until(name, lambda name=name: " ready." in cluster.log(name), timeout=120)
        if webserver:
            cluster.wait_until(
                "webserver", lambda: _http_ok(f"http://127.0.0.1:{ports['webserver']}/server_info"), timeout=180
            )
    except BaseException:
        cluster.stop()
        raise
    cluster.env["HYBRID_DATA_TEST_WEBSERVER_PORT"] = str(ports["webserver"])
    return cluster
