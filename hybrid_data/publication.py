"""Publish only what passed: which candidate version of an asset partition becomes current, and why.

A candidate (see hybrid_data/lake.py) awaits the blocking checks its run planned. Its verdict is a pure function
of those checks' results and whether the run can still report more (`publish_decision`); `settle_partition`
applies the verdicts of one partition in time order: the newest passed candidate becomes current, older passed
ones are superseded, failed ones are rejected with the failing checks named. The Dagster side (what the checks
said, whether a run is alive) is gathered in assets/check_status.py; nothing here knows Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hybrid_data.lake import Candidate, CorruptInLake, Lake, Partition, Receipt

PUBLISH, REJECT, WAIT = "publish", "reject", "wait"


@dataclass(frozen=True)
class CheckOutcome:
    """One blocking check's result on a candidate: `blocks` when it failed with severity ERROR."""

    passed: bool
    blocks: bool
    description: str = ""


@dataclass(frozen=True)
class Verdict:
    action: str  # PUBLISH, REJECT or WAIT
    reason: str


def publish_decision(awaiting: Sequence[str], outcomes: Mapping[str, CheckOutcome], run_finished: bool) -> Verdict:
    """Publish when every awaited blocking check reported and none blocks; reject as soon as one blocks, or when
    the run ended (finished, failed, killed) before all reported; otherwise wait."""
    blocked = sorted(name for name in awaiting if name in outcomes and outcomes[name].blocks)
    if blocked:
        details = "; ".join(f"{n}: {outcomes[n].description}" if outcomes[n].description else n for n in blocked)
        return Verdict(REJECT, f"blocking check failed ({details})")
    missing = sorted(name for name in awaiting if name not in outcomes)
    if not missing:
        return Verdict(PUBLISH, f"blocking checks passed: {', '.join(sorted(awaiting)) or '(none)'}")
    if run_finished:
        return Verdict(REJECT, f"the run ended before blocking check(s) {', '.join(missing)} reported")
    return Verdict(WAIT, f"waiting for blocking check(s) {', '.join(missing)}")


@dataclass
class Settlement:
    """What settling one partition did, for logs and metadata: the current version and each decision."""

    current: str | None
    published: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.published or self.rejected)


def settle_partition(
    lake: Lake, asset: str, partition: Partition, verdict_of: Callable[[Candidate], Verdict]
) -> Settlement:
    """Decide every undecided candidate of one partition; the newest one that passed (and is newer than the
    current file) becomes current. Nothing is promoted over a newer current version."""
    undecided = [c for c in lake.candidates(asset, partition) if c.verdict is None]
    current = _current(lake, asset, partition, undecided[0].name) if undecided else None
    report = Settlement(current.version if current else None)
    passed: list[tuple[Candidate, Verdict]] = []
    waiting: list[Candidate] = []
    for candidate in undecided:
        if current is not None and current.version == candidate.version:
            lake.decide(candidate, "published", current.reason or "published")  # promoted just before a crash
            continue
        verdict = verdict_of(candidate)
        if verdict.action == REJECT:
            lake.decide(candidate, "rejected", verdict.reason)
            report.rejected.append((candidate.version, verdict.reason))
        elif verdict.action == WAIT:
            waiting.append(candidate)
            report.waiting.append((candidate.version, verdict.reason))
        else:
            passed.append((candidate, verdict))
    current_written = (current.written_at or 0.0) if current else 0.0
    for index, (candidate, verdict) in enumerate(passed):
        if index < len(passed) - 1 or (candidate.receipt.written_at or 0.0) < current_written:
            lake.decide(candidate, "superseded", f"{verdict.reason}, but a newer version is current")
            continue
        try:
            lake.promote(candidate, verdict.reason)
        except CorruptInLake as exc:
            if _decided_meanwhile(lake, candidate):  # another step of a parallel run promoted it just now
                continue
            lake.decide(candidate, "rejected", f"its file is unusable: {exc}")
            report.rejected.append((candidate.version, str(exc)))
            continue
        report.current = candidate.version
        report.published.append((candidate.version, verdict.reason))
        current_written = candidate.receipt.written_at or 0.0
    for candidate in [c for c in waiting if (c.receipt.written_at or 0.0) < current_written]:
        lake.decide(candidate, "superseded", "a newer version became current while it waited (its run was killed?)")
        report.waiting = [w for w in report.waiting if w[0] != candidate.version]
    return report


def _current(lake: Lake, asset: str, partition: Partition, name: str) -> Receipt | None:
    """The current version's receipt; a corrupt one counts as none, so a passed candidate replaces it."""
    try:
        return lake.current_receipt(asset, partition, name)
    except CorruptInLake:
        return None


def _decided_meanwhile(lake: Lake, candidate: Candidate) -> bool:
    return lake.verdict(candidate) is not None
