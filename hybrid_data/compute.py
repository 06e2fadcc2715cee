"""Threads for a step's numeric work (torch, BLAS, OpenMP): every core when the step computes alone, an equal
share of the cores when steps compute side by side.

A lone deep fit capped at one thread left half of this 2-core machine idle (CTGAN 437 s for 300 epochs), while
concurrent steps that each took every core oversubscribed it (OpenMP spin-waiting turned a 1 s scikit-learn fit
into 85 s). So each step that computes registers itself in a folder shared by every process of the machine
(a file named after its process id); its share is `cores // steps registered`, recomputed when it asks again
(deep fits ask after every epoch, so a fit that started beside another takes the freed core when that one
ends). Registrations of processes that died are dropped on sight. `$HYBRID_DATA_THREADS`, when set, is a fixed
number of threads instead (bit-identical deep fits need the same number every time).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hybrid_data.instance import machine_cores

THREADS_ENV = "HYBRID_DATA_THREADS"
STEPS_DIR_ENV = "HYBRID_DATA_STEPS_DIR"  # where computing steps register; default: a folder in the temp dir
_ids = itertools.count()


class ThreadSettingError(ValueError):
    """$HYBRID_DATA_THREADS is not a usable number; the message says what to set."""


def fixed_threads() -> int | None:
    """$HYBRID_DATA_THREADS as a number, or None when it is not set (then the share rule decides)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        count = int(raw)
    except ValueError:
        raise ThreadSettingError(
            f"{THREADS_ENV}={raw!r} is not a whole number; set it to the threads a step may use, or unset it to "
            "use every core when a step computes alone"
        ) from None
    if count < 1:
        raise ThreadSettingError(f"{THREADS_ENV}={count}; set it to 1 or more, or unset it")
    return count


def steps_dir() -> Path:
    folder = Path(os.environ.get(STEPS_DIR_ENV) or Path(tempfile.gettempdir()) / f"hybrid_data-steps-{os.getuid()}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
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


def share_of_cores(cores: int, steps: int) -> int:
    """An equal share of the cores, at least one thread."""
    return max(1, cores // max(1, steps))


class ComputeSlot:
    """One step's registration; `threads()` is its share now, `rebalance()` applies it to torch."""

    def __init__(self, folder: Path, fixed: int | None):
        self.fixed = fixed
        self.path = folder / f"{os.getpid()}-{next(_ids)}.step"

    def threads(self) -> int:
        if self.fixed is not None:
            return self.fixed
        return share_of_cores(machine_cores(), computing_steps(self.path.parent))

    def rebalance(self) -> int:
        import torch

        count = self.threads()
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        return count


@contextmanager
def compute_threads() -> Iterator[ComputeSlot]:
    """Register this step as computing and size torch and the BLAS/OpenMP pools to its share for the block."""
    import torch
    from threadpoolctl import threadpool_limits

    slot = ComputeSlot(steps_dir(), fixed_threads())
    slot.path.touch()
    before = torch.get_num_threads()
    try:
        count = slot.rebalance()
        with threadpool_limits(limits=count):
            yield slot
    finally:
        slot.path.unlink(missing_ok=True)
        torch.set_num_threads(before)
