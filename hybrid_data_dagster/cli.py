"""The `hybrid-data` command: run the pipeline, backfill blends, write a starter plan, open the UIs.

Each subcommand is one `Command` in COMMANDS: a name, a help line, a function adding its arguments, and a
function running it. To add one, write those two functions and append a `Command` (nothing else changes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hybrid_data.home import HOME_ENV, Home, HomeError
from hybrid_data.instance import limit_step_threads, write_dagster_yaml
from hybrid_data.plan import PLAN_ENV, PlanError, load_plan, plan_path
from hybrid_data.starter_plan import write_starter_plan
from hybrid_data_dagster import code_location_dir, use_code_location
from hybrid_data_dagster.forkserver import warm_forkserver_for_new_plan

LOOPBACK = "127.0.0.1"
INTERRUPTED = 130  # the exit code of a command stopped by Ctrl-C or SIGTERM


def say(message: str) -> None:
    print(message, flush=True)


def use_home(plan_file: Path) -> Home:
    """The home folder, created, with DAGSTER_HOME pointed into it so CLI runs show up in `dagster dev`, its
    dagster.yaml (run queue, pools) written, native thread pools capped for every process started from here, and
    the plan and home exported so the run workers this process starts build the same code location. The plan is
    validated first: a plan that does not load creates nothing."""
    load_plan(plan_file)
    home = Home.from_env().ensure()
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    os.environ["HYBRID_DATA_HOME"] = str(home.root)
    os.environ[PLAN_ENV] = str(plan_file)
    write_dagster_yaml(home.dagster)
    limit_step_threads()
    use_code_location()
    return home


def print_scorecard(home: Home) -> None:
    """The scorecard as people read it in a terminal (one line per cell, interval, verdict, check summary),
    and the warehouse views refreshed (a warehouse held open elsewhere is said, not fatal: the lake is current)."""
    import duckdb

    from hybrid_data.evaluation.report import format_scorecard
    from hybrid_data.evaluation.scorecard import load_scorecard
    from hybrid_data.lake import MissingInLake
    from hybrid_data.warehouse import refresh_views

    lake = home.open_lake()
    try:
        card = load_scorecard(lake)
    except MissingInLake:
        return
    print(format_scorecard(card), flush=True)
    try:
        refresh_views(lake, home.warehouse)
    except duckdb.IOException as exc:
        say(
            f"warehouse {home.warehouse} is open in another process (e.g. the duckdb CLI), so its views were not "
            f"refreshed ({str(exc).splitlines()[0]}); close it and run `hybrid-data run` again to refresh them. "
            "The results above are current."
        )


# --- subcommands -------------------------------------------------------------------------------------------------


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synth", action="append", help="only this synthesizer (repeatable)")


def _run(args, plan_file: Path) -> int:
    home = use_home(plan_file)
    # Before Dagster is imported here: the steps' forkserver then loads beside this process's own imports.
    warm_forkserver_for_new_plan(plan_file, home)
    from hybrid_data_dagster.launch import run_pipeline

    code = run_pipeline(plan_file, home, args.synth, say=say)
    if code == 0:
        print_scorecard(home)
    elif code != INTERRUPTED:
        say(
            "The scorecard is not shown: it would mix these failures with older results. The last good results "
            "stay as they were; fix what is named above and run `hybrid-data run` again."
        )
    return code


def _backfill_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synth", action="append", help="only this synthesizer (repeatable)")
    parser.add_argument("--ratio", action="append", help="only this ratio, e.g. 0.25 (repeatable)")
    parser.add_argument("--wait", action="store_true", help="wait until it finishes; exit 1 if a run failed")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits at most")


def _backfill(args, plan_file: Path) -> int:
    import dagster as dg

    from hybrid_data_dagster.backfill import daemon_running, submit_backfill, wait_for_backfill

    home = use_home(plan_file)
    instance = dg.DagsterInstance.get()
    backfill_id = submit_backfill(plan_file, home, args.synth, args.ratio, instance)
    say(f"submitted backfill {backfill_id} to {home.dagster} (UI: Overview > Backfills)")
    if not daemon_running(instance):
        say("  no dagster-daemon is running for this home: start `hybrid-data ui` (or `dagster-daemon run`) to run it")
    if args.wait:
        return wait_for_backfill(instance, backfill_id, args.timeout, say)
    return 0


def _plan_init_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--output", type=Path, default=Path("plan.yaml"))


def _plan_init(args, plan_file: Path) -> int:
    written = write_starter_plan(args.source, args.target, args.output)
    say(f"wrote {written}; check it, then: {PLAN_ENV}={written} hybrid-data run")
    return 0


def _plan_show(args, plan_file: Path) -> int:
    say(load_plan(plan_file).model_dump_json(indent=2))
    return 0


def _collapse(args, plan_file: Path) -> int:
    home = use_home(plan_file)
    from hybrid_data_dagster.launch import run_collapse_study

    return run_collapse_study(plan_file, home, say=say)


def _port_args(default: int) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=default, help=f"port on 127.0.0.1 (default {default})")

    return add


def _ui(args, plan_file: Path) -> int:
    use_home(plan_file)
    folder = code_location_dir()
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(folder / "workspace.yaml"),
        "-h",
        LOOPBACK,
        "-p",
        str(args.port),
    ]
    return serve("Dagster UI", command, args.port, cwd=folder)


def _mlflow_ui(args, plan_file: Path) -> int:
    home = use_home(plan_file)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        home.mlflow_tracking_uri(),
        "--host",
        LOOPBACK,
    ]
    # one worker: a local UI for one person (uvicorn's supervisor also restarts slow workers on a busy machine)
    return serve("MLflow UI", [*command, "--port", str(args.port), "--workers", "1"], args.port)


def serve(name: str, command: list[str], port: int, cwd: Path | None = None) -> int:
    """Run a UI server until it exits or this command is stopped: Ctrl-C or SIGTERM stops the server's whole
    process group (webserver, daemon, code server, their runs' workers), never leaving one listening."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            raise UsageError(f"port {port} on {LOOPBACK} is taken (another UI still running?): pass --port") from None
    server = subprocess.Popen(command, cwd=cwd, start_new_session=True)
    say(f"{name}: http://{LOOPBACK}:{port}  (Ctrl-C stops it)")

    try:  # main() turns SIGTERM into KeyboardInterrupt too
        return server.wait()
    except KeyboardInterrupt:
        return stop_group(server)


def stop_group(server: subprocess.Popen, grace: float = 20.0) -> int:
    """SIGINT the server's process group (how it shuts its children down on Ctrl-C), then SIGKILL whatever of
    the group is left after `grace` seconds; returns 130, the exit code of an interrupted command."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    return INTERRUPTED


class UsageError(ValueError):
    """A command-line value that cannot work; the message says which and what to pass instead."""


@dataclass(frozen=True)
class Command:
    """One subcommand; `group` nests it (`hybrid-data plan init`)."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, Path], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    group: str | None = None


COMMANDS: list[Command] = [
    Command("run", "materialize what is missing or stale for every ratio of the plan", _run, _run_args),
    Command(
        "backfill",
        "submit a backfill of the blend grid to the home instance (the daemon runs it)",
        _backfill,
        _backfill_args,
    ),
    Command("init", "write a starter plan for a CSV or Parquet file", _plan_init, _plan_init_args, group="plan"),
    Command("show", "validate the plan and print it", _plan_show, group="plan"),
    Command("collapse", "run the model-collapse study (plan section collapse) and print its verdicts", _collapse),
    Command("ui", "start the Dagster UI on the home instance (dagster dev)", _ui, _port_args(3000)),
    Command("mlflow-ui", "start the MLflow UI on the home tracking store", _mlflow_ui, _port_args(5000)),
]
GROUP_HELP = {"plan": "plan files"}


def build_parser(commands: list[Command] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybrid-data", description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, help=f"plan file (default: ${PLAN_ENV} or the bundled plan)")
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for command in commands:
        if command.group is None:
            target = sub
        else:
            if command.group not in groups:
                group = sub.add_parser(command.group, help=GROUP_HELP.get(command.group))
                groups[command.group] = group.add_subparsers(dest=f"{command.group}_command", required=True)
            target = groups[command.group]
        child = target.add_parser(command.name, help=command.help)
        command.add_arguments(child)
        child.set_defaults(handler=command.run)
    return parser


def explain(exc: BaseException) -> str | None:
    """What a user reads for a foreseeable failure (what failed, which file or plan key, what to do), or None
    for a bug, which keeps its traceback."""
    import errno

    from hybrid_data.lake import LakeError

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return (
            f"no space left on the device holding {exc.filename or 'the home folder'}: free some space, or point "
            f"{HOME_ENV} at a larger disk, then run again. Nothing half-written was published: the last good "
            "results are intact."
        )
    if isinstance(exc, PermissionError):
        return f"permission denied on {exc.filename}: make it writable by this user, or use another {HOME_ENV}"
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8, or give its "
            "encoding in the plan's source section"
        )
    if isinstance(exc, (PlanError, HomeError, LakeError, FileNotFoundError, ValueError)):
        return str(exc)
    if type(exc).__module__.startswith("duckdb") or type(exc).__module__.startswith("polars"):
        return f"{type(exc).__name__}: {str(exc).strip()}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plan_file = (args.plan or plan_path()).resolve()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops a command like Ctrl-C
    try:
        return args.handler(args, plan_file)
    except KeyboardInterrupt:
        print("hybrid-data: interrupted; nothing further was started", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        print(f"hybrid-data: {message}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
