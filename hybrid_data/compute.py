"""Threads for a step's numeric work (torch, BLAS, OpenMP): every core when the step computes alone, fewer
when steps compute side by side or other work keeps cores busy.

A lone deep fit capped at one thread left half of this 2-core machine idle (CTGAN 437 s for 300 epochs), while
threads that outnumber the free cores are far worse than too few: torch's OpenMP threads spin-wait for a
descheduled sibling, so 12 CTGAN steps took 48.8 s with 2 threads against 2.9 s with 1 while other processes
kept both cores busy (and a 1 s scikit-learn fit took 85 s among concurrent steps). The rule:

    threads = min(cores // steps computing, cores other processes left free), at least 1

- `steps computing`: every step inside `compute_threads()` registers a file named after its process id in a
  folder shared by the machine's processes ($HYBRID_DATA_STEPS_DIR, default a folder in the temp dir), so steps
  side by side (a multiprocess executor, concurrent runs) split the cores; files of dead processes are dropped.
- `cores left free`: the machine's busy CPU time from /proc/stat minus this process's own, over a short window
  before the step and over each epoch of a deep fit after it (Linux only; elsewhere the share alone decides).
- Deep fits ask again after every epoch, so a fit takes a core back when the work beside it ends.
- `$HYBRID_DATA_THREADS`, when set, is a fixed number of threads instead (bit-identical deep fits need the same
  count every time: threads change the order of floating-point sums).
- OpenMP threads that wait for work sleep instead of spinning (`OMP_WAIT_POLICY=PASSIVE`, set before torch
  loads unless the user set it): a spinning thread takes the core its busy sibling needs whenever the machine
  fills up during an epoch, which the rule can only correct at the next epoch (12 CTGAN steps with 2 threads
  each: 48.8 s spinning, 5.1 s passive, on a busy machine).
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hybrid_data.instance import THREADS_ENV, machine_cores

STEPS_DIR_ENV = "HYBRID_DATA_STEPS_DIR"
WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
FIRST_LOOK_SECONDS = 0.25  # how long the machine's load is watched before a step starts
_ids = itertools.count()


class ThreadSettingError(ValueError):
    """$HYBRID_DATA_THREADS is not a usable number; the message says what to set."""


def fixed_threads() -> int | None:
    """$HYBRID_DATA_THREADS as a number, or None when it is not set (then the rule decides)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        count = int(raw)
    except ValueError:
        raise ThreadSettingError(
            f"{THREADS_ENV}={raw!r} is not a whole number; set it to the threads a step may use, or unset it to "
            "use every free core"
        ) from None
    if count < 1:
        raise ThreadSettingError(f"{THREADS_ENV}={count}; set it to 1 or more, or unset it")
    return count


def passive_openmp() -> str | None:
    """Make torch's OpenMP threads sleep while they wait, if torch has not loaded yet (its OpenMP runtime reads
    the environment once, when it loads) and the user chose no policy; returns the policy torch runs with, None
    when it loaded before with none set."""
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY_ENV, "PASSIVE")
    return os.environ.get(WAIT_POLICY_ENV)


passive_openmp()  # on import: hybrid_data.synthesis imports this module before sdv or torch load


def steps_dir() -> Path:
    folder = Path(os.environ.get(STEPS_DIR_ENV) or Path(tempfile.gettempdir()) / f"hybrid_data-steps-{os.getuid()}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def computing_steps(folder: Path) -> int:
    """Steps registered in `folder` whose process is alive; registrations of dead processes are removed."""
    count = 0
    for entry in folder.glob("*.step"):
        try:
            pid = int(entry.name.split("-", 1)[0])
        except ValueError:
            continue
        if _alive(pid):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return count


def thread_rule(cores: int, steps: int, others_busy: float | None) -> int:
    """`cores // steps`, capped by the cores other processes leave free (rounded), at least 1."""
    share = max(1, cores // max(1, steps))
    if others_busy is None:
        return share
    return max(1, min(share, round(cores - others_busy)))


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user time
    return total - idle, total


class LoadWatch:
    """Cores the rest of the machine kept busy since the last look: machine busy time minus this process's."""

    def __init__(self, cores: int):
        self.cores = cores
        self._look()

    def _look(self) -> None:
        self.ticks, self.own = _machine_ticks(), time.process_time()

    def others_busy(self) -> float | None:
        """Busy share of the machine's CPU time not spent by this process, in this machine's cores."""
        before, own_before = self.ticks, self.own
        self._look()
        if before is None or self.ticks is None or self.ticks[1] <= before[1]:
            return None
        busy, total = self.ticks[0] - before[0], self.ticks[1] - before[1]
        own = (self.own - own_before) * os.sysconf("SC_CLK_TCK")
        return max(0.0, (busy - own) / total) * self.cores


class ComputeSlot:
    """One step's registration; `threads()` is its count now, `rebalance()` applies it to torch."""

    def __init__(self, folder: Path, fixed: int | None):
        self.fixed = fixed
        self.path = folder / f"{os.getpid()}-{next(_ids)}.step"
        self.cores = machine_cores()
        self.watch = LoadWatch(self.cores)

    def threads(self) -> int:
        if self.fixed is not None:
            return self.fixed
        return thread_rule(self.cores, computing_steps(self.path.parent), self.watch.others_busy())

    def rebalance(self) -> int:
        import torch

        count = self.threads()
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        return count


@contextmanager
def _computing() -> Iterator[ComputeSlot]:
    """This step counted among the steps computing for the block, after a first look at the machine's load."""
    slot = ComputeSlot(steps_dir(), fixed_threads())
    slot.path.touch()
    try:
        if slot.fixed is None:
            time.sleep(FIRST_LOOK_SECONDS)  # a first look at what the rest of the machine is doing
        yield slot
    finally:
        slot.path.unlink(missing_ok=True)


@contextmanager
def compute_threads() -> Iterator[ComputeSlot]:
    """Register this step as computing and size torch and the BLAS/OpenMP pools by the rule for the block."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    try:
        with _computing() as slot:
            count = slot.rebalance()
            with threadpool_limits(limits=count):
                yield slot
    finally:
        torch.set_num_threads(before)


@contextmanager
def fit_threads() -> Iterator[int]:
    """The rule for a block of scikit-learn work without torch (the BLAS/OpenMP pools only); yields the count.
    Only for work whose result does not depend on the count: threads change the order of floating-point sums in
    most numeric code, and a cell must score the same whatever ran beside it."""
    from threadpoolctl import threadpool_limits

    with _computing() as slot:
        count = slot.threads()
        with threadpool_limits(limits=count):
            yield count
