"""Deep synthesizers (CTGAN, TVAE, CopulaGAN) trained until they have learned, not for a fixed 300 epochs.

SDV fits them through the `ctgan` package, whose training loop runs every epoch it was given and, at the end of
each, assigns the epoch's losses to `loss_values`. That assignment is the hook: while SDV fits, its model class
is a subclass whose `loss_values` setter scores the generator every few epochs and ends training (a controlled
exception caught in `fit`) once the score has stopped improving. The plan's `epochs` stays the ceiling.

Why a fidelity score and not the training loss: a GAN's losses do not converge (CTGAN's generator loss drifts
by the critic's scale for hundreds of epochs while what it generates stopped changing), so the signal is how
close generated rows are to real rows, in two halves averaged (`stopping_score`): per-column shapes
(1 - Kolmogorov-Smirnov for numbers, 1 - total variation distance for categories) and numeric correlations,
SDMetrics' quality score computed in the model's own column space in milliseconds; and a discriminator's
detection AUC on decoded rows (`DetectionProbe`, about a quarter of a second), which sees the joint structure the
marginals miss. Every check draws the same noise and compares with the same real rows (common random numbers),
so score differences come from the generator, not from sampling.
The real rows are a seeded sample of the training rows rather than a slice withheld from training: the score
compares distributions, which a held-out slice of the same data estimates no better, and withholding rows
would take them from the rare classes, which have few to spare. The best-scoring weights are kept.
After the fit the model is plain ctgan again, so stored synthesizers load without this module.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas loads with the fit (SDV), not with the code location (0.25 s of its import)
    import pandas as pd

CHECK_EVERY = 5  # epochs between checks of the stopping score
CHECK_ROWS = 2_000  # generated and real rows per check
PROGRESS_SECONDS = 5.0
_PATCH_LOCK = threading.Lock()

CONVERGED = "converged"
CEILING = "ceiling"


@dataclass(frozen=True)
class StoppingRule:
    """When a deep fit stops: `patience` epochs without a stopping-score gain of at least `min_improvement` over the
    best score before them, or the `ceiling` (the plan's epochs). `enabled=False` trains to the ceiling."""

    ceiling: int
    enabled: bool = True
    patience: int = 25
    min_improvement: float = 0.002
    check_every: int = CHECK_EVERY

    @property
    def patience_checks(self) -> int:
        return max(1, math.ceil(self.patience / self.check_every))

    def converged(self, scores: list[float]) -> bool:
        """True when none of the last `patience_checks` scores beat the best one before them by the margin."""
        recent = self.patience_checks
        if not self.enabled or len(scores) <= recent:
            return False
        best_before = max(scores[:-recent])
        return max(scores[-recent:]) < best_before + self.min_improvement

    def checks_at(self, epoch: int) -> bool:
        return self.enabled and (epoch % self.check_every == 0 or epoch == self.ceiling)


@dataclass
class TrainingRecord:
    """What a deep fit did: epochs run, why it stopped, which epoch's weights it kept, and its curve
    (one dict per epoch: losses, seconds since the fit started, and on check epochs the fidelity score, the
    detection AUC, the stopping score they make and the check's seconds)."""

    epochs_run: int = 0
    stop_reason: str = ""  # converged | ceiling
    summary: str = ""  # the reason in words, with the numbers
    best_epoch: int | None = None
    best_score: float | None = None
    curve: list[dict] = field(default_factory=list)


def stop_summary(rule: StoppingRule, record: TrainingRecord) -> str:
    """Why the fit stopped, in words. Converged names the best score before the last `patience` epochs (the one
    they failed to beat by `min_improvement`) and, apart, the epoch whose weights were kept: the best score
    overall, which may lie inside that window with a gain smaller than the margin."""
    if record.stop_reason == CONVERGED:
        checked = [row for row in record.curve if "score" in row]
        window = rule.patience_checks
        anchor = max(checked[:-window], key=lambda row: row["score"])
        kept = next(row for row in checked if row["epoch"] == record.best_epoch)
        parts = ", ".join(
            f"{key.replace('_', ' ')} {kept[key]:.4f}" for key in ("fidelity", "detection_auc") if key in kept
        )
        return (
            f"converged: the {window * rule.check_every} epochs after epoch {anchor['epoch']} (score "
            f"{anchor['score']:.4f}) did not raise the score by {rule.min_improvement:g}; kept the weights of epoch "
            f"{record.best_epoch} (score {record.best_score:.4f}, {parts}; ceiling {rule.ceiling})"
        )
    kept = f"; kept the weights of epoch {record.best_epoch}" if record.best_epoch else ""
    return f"ceiling: ran all {rule.ceiling} epochs (synthesis.epochs){kept}"


def fidelity_score(real: pd.DataFrame, synthetic: pd.DataFrame, discrete: set[str]) -> float:
    """Column shapes and numeric correlation similarity, averaged as SDMetrics' quality score averages them
    (1 = identical): a cheap stand-in computed on the model's columns to tell whether training still helps."""
    shapes = column_shapes(real, synthetic, discrete)
    numeric = [c for c in real.columns if c not in discrete]
    trends = correlation_similarity(real[numeric], synthetic[numeric]) if len(numeric) > 1 else None
    return shapes if trends is None else (shapes + trends) / 2.0


def stopping_score(fidelity: float, detection_auc: float) -> float:
    """What early stopping maximizes: the fidelity score and the detection score (SDMetrics' detection metric,
    1 - (2 * max(AUC, 0.5) - 1): 1 when a discriminator cannot tell the rows apart, 0 when it always can),
    averaged. Fidelity alone stopped CTGAN with every column's shape right while a discriminator still told
    99.2% of rows apart (98.0% after SDV's 300 epochs): the joint structure it misses keeps improving after
    the marginals have settled, and only a discriminator sees it."""
    detection = 1.0 - (2.0 * max(detection_auc, 0.5) - 1.0)
    return (fidelity + detection) / 2.0


@dataclass(frozen=True)
class DetectionProbe:
    """What the detection half of the stopping score needs: real rows as the user gave them (a seeded sample of
    the training rows) and `decode`, which turns the model's generated columns into such rows (SDV's reverse
    transform: rounding, clipping, categories, dates). Detection on the model's own columns saw unrounded
    numbers and smeared zero spikes and stayed at AUC 0.9997 from epoch 5 to 35, telling nothing."""

    real: object  # polars DataFrame
    decode: Callable[[pd.DataFrame], pd.DataFrame]

    def auc(self, generated: pd.DataFrame, seed: int) -> float:
        """hybrid_data.fidelity's detection AUC (the one the pool checks and benchmarks report): about 0.25 s on
        2,000 + 2,000 rows, a small part of the five epochs between checks."""
        import polars as pl

        from hybrid_data.fidelity import detection_auc

        decoded = pl.from_pandas(self.decode(generated).reset_index(drop=True))
        return detection_auc(self.real, decoded, rows=self.real.height, seed=seed % 2**32)


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, discrete: set[str]) -> float:
    """Mean over columns of 1 - Kolmogorov-Smirnov statistic (numbers) or 1 - total variation distance
    (categories): SDMetrics' KSComplement and TVComplement."""
    from scipy.stats import ks_2samp

    shapes = []
    for column in real.columns:
        if column in discrete:
            ours = real[column].astype(str).value_counts(normalize=True)
            theirs = synthetic[column].astype(str).value_counts(normalize=True)
            shapes.append(1.0 - 0.5 * ours.sub(theirs, fill_value=0.0).abs().sum())
        else:
            left, right = real[column].dropna().to_numpy(float), synthetic[column].dropna().to_numpy(float)
            shapes.append(1.0 - ks_2samp(left, right).statistic if len(left) and len(right) else 0.0)
    return float(np.mean(shapes))


def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> float | None:
    """Mean over numeric column pairs of 1 - |Pearson r real - Pearson r synthetic| / 2 (SDMetrics'
    CorrelationSimilarity); None when no pair has a defined correlation (constant columns)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ours = real.astype(float).corr().to_numpy()
        theirs = synthetic.astype(float).corr().to_numpy()
    upper = np.triu_indices(real.shape[1], k=1)
    similarity = 1.0 - np.abs(ours[upper] - theirs[upper]) / 2.0
    similarity = similarity[~np.isnan(similarity)]
    return float(similarity.mean()) if similarity.size else None


class _Watcher:
    """One fit's state: scores the model at check epochs, keeps the best weights, reports progress."""

    def __init__(
        self,
        name: str,
        rule: StoppingRule,
        seed: int,
        progress,
        rebalance: Callable[[], int] | None,
        probe: DetectionProbe | None,
    ):
        self.name, self.rule, self.seed, self.progress, self.rebalance = name, rule, seed, progress, rebalance
        self.probe = probe
        self.record = TrainingRecord()
        self.scores: list[float] = []
        self.best_state: dict | None = None
        self.real: pd.DataFrame | None = None
        self.discrete: set[str] = set()
        self.started = time.perf_counter()
        self.reported_at = 0.0

    def start(self, train_data, discrete_columns) -> None:
        import pandas as pd

        self.started = time.perf_counter()
        if self.rule.enabled and isinstance(train_data, pd.DataFrame):
            rows = min(CHECK_ROWS, len(train_data))
            self.real = train_data.sample(n=rows, random_state=self.seed % 2**32).reset_index(drop=True)
            self.discrete = set(discrete_columns)

    def epoch_done(self, model, losses: pd.DataFrame) -> None:
        now = time.perf_counter()
        epoch = int(losses["Epoch"].iloc[-1]) + 1
        row = {"epoch": epoch, **_epoch_losses(losses, epoch - 1), "seconds": round(now - self.started, 2)}
        self.record.curve.append(row)
        self.record.epochs_run = epoch
        if self.rebalance is not None:
            row["threads"] = torch_threads()  # the count this epoch trained with
            self.rebalance()
        if self.real is not None and self.rule.checks_at(epoch):
            row.update(self._score(model))
            self.scores.append(row["score"])
            if self.record.best_score is None or row["score"] > self.record.best_score:
                self.record.best_score, self.record.best_epoch = row["score"], epoch
                self.best_state = copy.deepcopy(_network(model).state_dict())
        self._report(row, final=False)
        if self.rule.converged(self.scores):
            self.record.stop_reason = CONVERGED
            raise _StopTraining

    def finish(self, model) -> None:
        self.record.stop_reason = self.record.stop_reason or CEILING
        self.record.summary = stop_summary(self.rule, self.record)
        if self.best_state is not None and self.record.best_epoch != self.record.epochs_run:
            _network(model).load_state_dict(self.best_state)
        if self.record.curve:
            self._report(self.record.curve[-1], final=True, ending=f"; {self.record.summary}")

    def _score(self, model) -> dict[str, float]:
        """The check's numbers: fidelity, detection AUC, the stopping score they make, and the seconds it took."""
        import torch

        started = time.perf_counter()
        numpy_state = np.random.get_state()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(self.seed)
            np.random.seed(self.seed % 2**32)
            try:
                synthetic = model._plain.sample(model, len(self.real))
            finally:
                np.random.set_state(numpy_state)
        synthetic = synthetic[self.real.columns]
        fidelity = fidelity_score(self.real, synthetic, self.discrete)
        if self.probe is None:
            return {"fidelity": round(fidelity, 5), "score": round(fidelity, 5)}
        detection = self.probe.auc(synthetic, self.seed)
        return {
            "fidelity": round(fidelity, 5),
            "detection_auc": round(detection, 5),
            "score": round(stopping_score(fidelity, detection), 5),
            "check_seconds": round(time.perf_counter() - started, 3),
        }

    def _report(self, row: dict, final: bool, ending: str = "") -> None:
        now = time.perf_counter()
        if self.progress is None or (not final and now - self.reported_at < PROGRESS_SECONDS):
            return
        self.reported_at = now
        values = ", ".join(
            f"{k.replace('_', ' ')} {v:.4f}" for k, v in row.items() if isinstance(v, float) and k != "seconds"
        )
        self.progress(f"{self.name}: epoch {row['epoch']}/{self.rule.ceiling}, {values}{ending}")


class _StopTraining(Exception):
    """Raised from the epoch hook to end ctgan's training loop early."""


class _EpochHook:
    """Mixed into ctgan's CTGAN or TVAE for the length of a fit; see the module docstring."""

    _watcher: _Watcher
    _plain: type  # the ctgan class this hooks

    @property
    def loss_values(self):
        return self.__dict__.get("loss_values")

    @loss_values.setter
    def loss_values(self, value) -> None:
        self.__dict__["loss_values"] = value
        if value is not None and len(value):
            self._watcher.epoch_done(self, value)

    def fit(self, train_data, discrete_columns=(), *args, **kwargs):
        self._watcher.start(train_data, discrete_columns)
        with suppress(_StopTraining):
            super().fit(train_data, discrete_columns, *args, **kwargs)
        self._watcher.finish(self)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _network(model):
    """The part of the model that generates rows: CTGAN's generator, TVAE's decoder."""
    return model._generator if hasattr(model, "_generator") else model.decoder


def _epoch_losses(losses: pd.DataFrame, epoch: int) -> dict[str, float]:
    """This epoch's losses: CTGAN keeps one row per epoch, TVAE one per batch (averaged here)."""
    rows = losses[losses["Epoch"] == epoch]
    return {
        column.lower().replace(" ", "_").replace("distriminator", "discriminator"): float(rows[column].mean())
        for column in losses.columns
        if "Loss" in column
    }


@contextmanager
def trained_until_converged(
    name: str,
    rule: StoppingRule,
    seed: int,
    progress: Callable[[str], None] | None = None,
    rebalance: Callable[[], int] | None = None,
    probe: DetectionProbe | None = None,
) -> Iterator[TrainingRecord]:
    """Within the block, SDV's CTGAN, TVAE and CopulaGAN fits stop by `rule`; the record fills in as they train.

    `rebalance` is called after every epoch to set the next epoch's thread count (see hybrid_data.compute).
    SDV builds its model from the names `CTGAN` and `TVAE` of `sdv.single_table.ctgan`, so those names point at
    hooked subclasses for the block (under a lock: one hooked fit at a time per process), and the fitted model
    gets its plain class back."""
    import ctgan
    import sdv.single_table.ctgan as sdv_ctgan

    watcher = _Watcher(name, rule, seed, progress, rebalance, probe)
    plain = {"CTGAN": ctgan.CTGAN, "TVAE": ctgan.TVAE}
    hooked = {
        key: type(f"Hooked{key}", (_EpochHook, cls), {"_watcher": watcher, "_plain": cls}) for key, cls in plain.items()
    }
    with _PATCH_LOCK:
        saved = {key: getattr(sdv_ctgan, key) for key in plain}
        for key, cls in hooked.items():
            setattr(sdv_ctgan, key, cls)
        try:
            yield watcher.record
        finally:
            for key, cls in saved.items():
                setattr(sdv_ctgan, key, cls)


def restore_plain_model(synthesizer) -> None:
    """Give the fitted ctgan model its library class back, so a stored synthesizer never needs this module."""
    model = getattr(synthesizer, "_model", None)
    if isinstance(model, _EpochHook):
        model.__class__ = model._plain


def curve_summary(record: TrainingRecord | None, rows: int = 30) -> list[dict]:
    """At most about `rows` epochs of the curve, evenly spaced, always with the first, the kept and the last
    epoch: small enough for asset metadata (MLflow keeps every epoch)."""
    if record is None or not record.curve:
        return []
    step = max(1, math.ceil(len(record.curve) / rows))
    wanted = {1, record.epochs_run, record.best_epoch or 1}
    return [row for row in record.curve if row["epoch"] in wanted or row["epoch"] % step == 0]
