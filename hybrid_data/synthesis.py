"""Fitting SDV synthesizers on real training rows and sampling synthetic pools from them, reproducibly.

What a synthesizer sees is prepared first: ID and PII columns are removed (hybrid_data.identifiers), text
columns with too many levels are capped (hybrid_data.categoricals) and SDV's detected metadata is corrected by
the plan. After sampling, the same steps run backwards, so the pool has exactly the real schema.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hybrid_data.boost import BoostError, achieved_shares, class_counts, sample_boosted
from hybrid_data.categoricals import CappedColumn, cap_categoricals, restore_categoricals
from hybrid_data.column_types import Kind, decide_types, is_temporal, is_text, sdtypes_of
from hybrid_data.compute import compute_threads
from hybrid_data.deep_training import (
    CHECK_ROWS,
    DetectionProbe,
    StoppingRule,
    TrainingRecord,
    curve_summary,
    restore_plain_model,
    trained_until_converged,
)
from hybrid_data.identifiers import RegeneratedColumn, plan_regeneration, regenerate
from hybrid_data.plan import Plan
from hybrid_data.zero_inflation import ZeroSplit, restore_zero_inflated, split_zero_inflated

TABLE = "real"  # SDV 2.x takes and returns a dict of tables; ours has one
DEEP = {"ctgan", "tvae", "copulagan"}
MODELED_SDTYPES = {"numerical", "categorical", "boolean", "datetime"}
# Settings a fit does not depend on: changing them resamples or rechecks the pool, never refits.
SAMPLING_AND_CHECK_SETTINGS = {
    "synthesizers",
    "boost_target_shares",
    "boost_max_tries",
    "min_minority_share_ratio",
    "minority_loss_blocking",
}
DEEP_ONLY_SETTINGS = ("epochs", "batch_size", "device", "early_stopping", "patience", "min_improvement")
# Synthesizers whose numeric marginals smear a spike of zeros: zero-inflated columns reach them as a zero flag plus
# the positive part (hybrid_data.zero_inflation). The GANs' mode-specific normalization has a mode for the spike.
ZERO_SPLIT = {"gaussian_copula"}
DETECTION_ROWS = 5_000  # rows SDV's own type detection looks at, only to report its mistakes

Progress = Callable[[str], None]


class SynthesisError(ValueError):
    """A synthesizer that cannot be fitted or sampled as asked; the message says what to change."""


@dataclass
class FittedSynthesizer:
    """An SDV synthesizer with what it was fitted on, so a pool can be sampled with the real schema and types."""

    name: str
    synthesizer: object
    schema: dict[str, pl.DataType]
    sdtypes: dict[str, str]
    fit_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    target: str | None = None
    caps: list[CappedColumn] = field(default_factory=list)
    regenerated: list[RegeneratedColumn] = field(default_factory=list)
    zero_splits: list[ZeroSplit] = field(default_factory=list)
    domains: dict[str, frozenset[str]] = field(default_factory=dict)
    real_target: pl.Series | None = None  # turns a boost's class shares into row counts at sampling time
    device: str = "cpu"
    loss_values: object = None
    training: TrainingRecord | None = None  # deep fits: epochs run, why they stopped, the loss curve

    def curve_summary(self) -> list[dict]:
        """About 30 epochs of a deep fit's curve (losses, fidelity checks), for asset metadata; [] otherwise."""
        return curve_summary(self.training)


@dataclass
class PoolChunk:
    """Sampled rows plus what the sampling achieved and anything the user should know."""

    frame: pl.DataFrame
    requested_shares: dict[str, float]
    achieved_shares: dict[str, float]
    notes: list[str] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed every generator SDV draws from (numpy, python, torch) so fits repeat."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch comes with sdv
        pass


def chunk_seed(seed: int, offset: int) -> int:
    """The seed of the pool rows starting at `offset`: the plan's seed for the first chunk, derived after it,
    so topping a pool up never repeats the rows it already has."""
    if offset == 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:pool:{offset}".encode()).digest()[:4], "little")


def resolve_device(wanted: str) -> str:
    import torch

    available = torch.cuda.is_available()
    if wanted == "cuda" and not available:
        raise SynthesisError("synthesis.device is 'cuda' but torch sees no GPU; set device to auto or cpu")
    return "cuda" if wanted != "cpu" and available else "cpu"


def to_sdv_frame(frame: pl.DataFrame):
    """The pandas frame SDV fits on. Dates and datetimes go as nanoseconds without a zone: RDT reads any
    datetime64 as nanoseconds, so polars' microsecond datetimes came back 1000x too early (1970) without this."""
    temporal = [c for c, dtype in frame.schema.items() if is_temporal(dtype)]
    if temporal:
        frame = frame.with_columns(pl.col(temporal).cast(pl.Datetime("ns")).dt.replace_time_zone(None))
    return frame.to_pandas()


def detect_metadata(frame: pl.DataFrame, plan: Plan):
    """SDV metadata for the modeled columns: sdtypes from the type decision (hybrid_data.column_types: the plan's
    overrides, classification targets and integer codes as categorical), plus notes on what SDV's own detection
    would have got wrong and on zero-inflated columns.

    SDV's detection reads column names and values and takes plain features for PII (`city`, `addr_state` as
    `administrative_unit`, SDV issue 2413), which it then replaces with random text; it also took 3 of 5 s of a
    100k-row GaussianCopula fit. So the sdtypes come from the type decision, and SDV's detection runs on a sample
    only to report the columns it would have anonymized: list them in synthesis.pii_columns if they are personal.
    """
    from sdv.metadata import Metadata

    types = decide_types(frame, plan)
    sdtypes = sdtypes_of(types)
    sample = frame.sample(n=DETECTION_ROWS, seed=0) if frame.height > DETECTION_ROWS else frame
    detected = Metadata.detect_from_dataframes({TABLE: to_sdv_frame(sample)}, infer_keys=None)
    notes = []
    for column, info in detected.tables[TABLE].columns.items():
        if types[column].decided_by == "data" and info["sdtype"] not in MODELED_SDTYPES | {"ordinal", "id"}:
            notes.append(
                f"SDV detects '{column}' as {info['sdtype']} and would replace it with random values; modeled as "
                f"{sdtypes[column]} instead (list it in synthesis.pii_columns or id_columns if it is personal data)"
            )
    for column in types.values():
        if column.zero_inflated:
            notes.append(
                f"'{column.name}' is zero-inflated ({column.zero_share:.0%} zeros): a copula marginal spreads that "
                "mass; blend_tail_coverage reports its zero share (set columns."
                f"{column.name}.type: categorical in the plan if it has few values)"
            )
    columns = {c: {"sdtype": t} for c, t in sdtypes.items()}
    return Metadata.load_from_dict({"tables": {TABLE: {"columns": columns}}}), notes


def _make(name: str, metadata, plan: Plan, device: str):
    from sdv import single_table

    synth = plan.synthesis
    if name == "gaussian_copula":
        # SDV encodes a category as a uniform draw inside its frequency's interval of [0, 1], so the column is
        # uniform by construction: a uniform marginal is exact, where a fitted truncnorm or beta shifts rare
        # categories' shares (measured in benchmarks/bench_synthesizers.py).
        categorical = {c: "uniform" for c, i in metadata.tables[TABLE].columns.items() if i["sdtype"] == "categorical"}
        return single_table.GaussianCopulaSynthesizer(
            metadata, default_distribution=synth.default_distribution, numerical_distributions=categorical
        )
    classes = {
        "ctgan": single_table.CTGANSynthesizer,
        "tvae": single_table.TVAESynthesizer,
        "copulagan": single_table.CopulaGANSynthesizer,
    }
    if name not in classes:
        raise SynthesisError(f"unknown synthesizer '{name}'; choose one of gaussian_copula, {', '.join(classes)}")
    # Batch size must divide into pac groups of 10 for the GAN synthesizers.
    batch_size = max(10, synth.batch_size // 10 * 10)
    settings = {"epochs": synth.epochs, "batch_size": batch_size, "enable_gpu": device == "cuda"}
    if name == "copulagan":
        # CopulaGAN first maps every number through a fitted marginal, SDV's default beta: 55 s for the bundled
        # 17 number columns against 5-7 s with truncnorm (same busy machine, load 38).
        settings["default_distribution"] = synth.default_distribution
    return classes[name](metadata, **settings)


def _check_columns(frame: pl.DataFrame, plan: Plan) -> tuple[list[str], list[str]]:
    """The ID columns (the plan's, and those the type decision reads as identifiers) and the PII columns: never
    modeled, regenerated after sampling."""
    synth = plan.synthesis
    named = {
        "synthesis.id_columns": synth.id_columns,
        "synthesis.pii_columns": synth.pii_columns,
        "synthesis.sdtypes": list(synth.sdtypes),
    }
    for where, columns in named.items():
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SynthesisError(
                f"{where} names {missing}, which real_train does not have (columns: {', '.join(frame.columns)}); "
                "fix the plan"
            )
    if plan.target in synth.id_columns or plan.target in synth.pii_columns:
        raise SynthesisError(f"the target '{plan.target}' cannot be an ID or PII column; remove it from the plan")
    if plan.target in plan.columns and plan.columns[plan.target].type == "id":
        raise SynthesisError(f"the target '{plan.target}' cannot be an ID; remove columns.{plan.target} from the plan")
    decided = [c for c, t in decide_types(frame, plan).items() if t.kind is Kind.id and c not in synth.pii_columns]
    ids = list(dict.fromkeys([*synth.id_columns, *decided]))
    return ids, list(synth.pii_columns)


def fit_settings(name: str, plan: Plan) -> dict:
    """The plan settings a fit of `name` depends on: its fingerprint, so adding another synthesizer, a ratio or a
    boost (a sampling setting) never refits, while changing epochs refits only the deep synthesizers."""
    settings = plan.synthesis.model_dump(mode="json", exclude=SAMPLING_AND_CHECK_SETTINGS)
    if name in DEEP - {"copulagan"}:  # CopulaGAN's marginals are fitted with default_distribution too
        settings.pop("default_distribution")
    else:
        for deep_only in DEEP_ONLY_SETTINGS:
            settings.pop(deep_only)
    return {"synthesizer": name, "target": plan.target, "seed": plan.seed, **settings}


def stopping_rule(plan: Plan) -> StoppingRule:
    synth = plan.synthesis
    return StoppingRule(synth.epochs, synth.early_stopping, synth.patience, synth.min_improvement)


def detection_probe(synthesizer, modeled: pl.DataFrame, seed: int) -> DetectionProbe:
    """Real rows and the decoder that turns a deep model's generated columns into such rows, for the detection
    half of early stopping. SDV 2.0 has no public call for this during a fit: its `_sample` path is
    `_data_processor.reverse_transform`, after CopulaGAN's own Gaussian normalizer, both set before the model
    trains (decoded rows without the real columns fail detection_auc's select, so a change shows at once)."""
    rows = modeled.sample(n=min(CHECK_ROWS, modeled.height), seed=seed)

    def decode(generated):
        normalizer = getattr(synthesizer, "_gaussian_normalizer_hyper_transformer", None)  # CopulaGAN only
        if normalizer is not None:
            generated = normalizer.reverse_transform(generated)
        return synthesizer._data_processor.reverse_transform(generated)

    return DetectionProbe(pl.from_pandas(to_sdv_frame(rows)), decode)


@contextmanager
def _threaded_joblib() -> Iterator[None]:
    """Run joblib work inside a fit on threads, not on loky worker processes.

    ctgan's DataTransformer transforms columns with `Parallel(n_jobs=-1)`, which starts loky worker processes
    (each importing sklearn and rdt) that stay alive, idle, for 300 s. A Dagster step is a multiprocessing child:
    at its end Python joins every live non-daemon child instead of running loky's atexit shutdown, so each deep
    fit step waited 180-220 s after its success before the next step could start (bundled plan with CTGAN, TVAE
    and CopulaGAN: three such waits). On threads there is nothing to join, and no worker start either: a 10-epoch
    CTGAN fit on 2,000 rows took 29.6 s against 74.6 s with loky on the same (busy) machine."""
    import joblib

    with joblib.parallel_config(backend="threading"):
        yield


def fit_synthesizer(name: str, frame: pl.DataFrame, plan: Plan, progress: Progress | None = None) -> FittedSynthesizer:
    """Fit one synthesizer on the real training rows; `progress` receives epoch and loss lines of deep fits."""
    if frame.height == 0:
        raise SynthesisError("real_train is empty: there is nothing to fit a synthesizer on")
    if name == "dp_mst":  # differentially private: none of the data-dependent preparation below may run first
        from hybrid_data.dp_synthesizer import fit_dp_synthesizer

        return fit_dp_synthesizer(frame, plan)
    synth = plan.synthesis
    ids, pii = _check_columns(frame, plan)
    regenerated = plan_regeneration(frame, ids, pii, synth.pii_fill)
    modeled = frame.drop([*ids, *pii])
    if modeled.width == 0:
        raise SynthesisError("every column is an ID or PII column: there is nothing left to model")
    exclude = {plan.target, *(c for c, t in synth.sdtypes.items() if t != "categorical")}
    modeled, caps, notes = cap_categoricals(modeled, synth.max_categories, exclude=exclude)
    if synth.boost_target_shares:
        if plan.target not in modeled.columns:
            raise SynthesisError(f"boost needs the target '{plan.target}' in real_train")
        try:
            class_counts(frame[plan.target], synth.boost_target_shares, 100)
        except BoostError as exc:
            raise SynthesisError(str(exc)) from None
    zero_splits = []
    if name in ZERO_SPLIT:
        inflated = [c.name for c in decide_types(modeled, plan).values() if c.zero_inflated and c.name != plan.target]
        modeled, zero_splits = split_zero_inflated(modeled, inflated, plan.seed)
        notes += [
            f"'{s.column}' is zero-inflated ({s.zero_share:.0%} zeros): modeled as a zero flag plus its non-zero values"
            for s in zero_splits
        ]
    if synth.max_fit_rows and modeled.height > synth.max_fit_rows:
        # Marginals and correlations are settled long before 1M rows; fitting on all of them cost 6x the time
        # here and scored no better (benchmarks/bench_synthesizers.py). Capped columns' tails, regenerated
        # columns and boosts still use every row.
        notes.append(
            f"fitted on a random {synth.max_fit_rows:,} of {modeled.height:,} real_train rows (synthesis.max_fit_rows)"
        )
        modeled = modeled.sample(n=synth.max_fit_rows, seed=plan.seed)
    device = resolve_device(synth.device) if name in DEEP else "cpu"
    seed_everything(plan.seed)
    metadata, detected = detect_metadata(modeled, plan)
    notes += detected
    synthesizer = _make(name, metadata, plan, device)
    started = time.perf_counter()
    training = None
    with compute_threads() as slot, _threaded_joblib():
        if name in DEEP:
            probe = detection_probe(synthesizer, modeled, plan.seed)
            rule = stopping_rule(plan)
            with trained_until_converged(name, rule, plan.seed, progress, slot.rebalance, probe) as training:
                synthesizer.fit({TABLE: to_sdv_frame(modeled)})
            restore_plain_model(synthesizer)
        else:
            synthesizer.fit({TABLE: to_sdv_frame(modeled)})
    sdtypes = {c: i["sdtype"] for c, i in metadata.tables[TABLE].columns.items() if c in frame.columns}
    domains = {
        c: frozenset(frame[c].cast(pl.String).drop_nulls().unique().to_list())
        for c, dtype in modeled.schema.items()
        if is_text(dtype) and sdtypes.get(c) == "categorical"
    }
    losses = synthesizer.get_loss_values() if name in DEEP else None
    return FittedSynthesizer(
        name,
        synthesizer,
        dict(frame.schema),
        sdtypes,
        time.perf_counter() - started,
        notes,
        target=plan.target,
        caps=caps,
        regenerated=regenerated,
        zero_splits=zero_splits,
        domains=domains,
        real_target=frame[plan.target] if plan.target in frame.columns else None,
        device=device,
        loss_values=losses,
        training=training,
    )


POOL_BLOCK_ROWS = 250_000  # rows sampled under one seed; a larger request is cut into blocks of this size


def sample_pool(
    fitted: FittedSynthesizer,
    rows: int,
    seed: int,
    offset: int = 0,
    real: pl.DataFrame | None = None,
    boost_target_shares: dict[str, float] | None = None,
    boost_max_tries: int = 100,
    block_rows: int = POOL_BLOCK_ROWS,
) -> PoolChunk:
    """`rows` synthetic rows with the real schema, for pool rows `offset` onwards; the same seed and offset give
    the same rows. `real` (the training rows) lets regenerated ID/PII values avoid every real value; a boost
    (class -> share of the target) samples each class conditionally. A boost is a sampling setting, so changing
    it resamples the pool but never refits the synthesizer.

    A request is cut into blocks of `block_rows`, each sampled under the seed of the pool row it starts at, so
    the rows do not depend on how blocks are scheduled: a Gaussian copula's blocks are sampled side by side in
    forked processes when the machine has cores free (SDV samples on one core; 2.4M rows took 40 s)."""
    if rows < 0:
        raise SynthesisError(f"cannot sample {rows} rows")
    if boost_target_shares and fitted.real_target is None:
        raise SynthesisError("a boost needs the target column, which this synthesizer was not fitted with")
    blocks = [(offset + start, min(block_rows, rows - start)) for start in range(0, rows, block_rows)]
    requested: dict[str, float] = {}
    notes: list[str] = []
    with compute_threads() as slot:
        if boost_target_shares and rows > 0:
            try:
                counts = [class_counts(fitted.real_target, boost_target_shares, size) for _, size in blocks]
            except BoostError as exc:
                raise SynthesisError(str(exc)) from None
        else:
            counts = [None] * len(blocks)
        jobs = [(chunk_seed(seed, start), size, count) for (start, size), count in zip(blocks, counts, strict=True)]
        workers = 1 if fitted.name in DEEP else min(slot.threads(), len(jobs))
        sampled = _sample_blocks(fitted, jobs, boost_max_tries, workers)
    frames = []
    for (start, _), (this_seed, _, _), (table, block_requested, block_notes) in zip(blocks, jobs, sampled, strict=True):
        requested = requested or block_requested
        notes += [note for note in block_notes if note not in notes]
        frame = restore_zero_inflated(pl.from_pandas(table), getattr(fitted, "zero_splits", []))  # older models: none
        frame = restore_categoricals(frame, fitted.caps, this_seed)
        frames.append(frame.with_columns(regenerate(fitted.regenerated, frame.height, start, this_seed, real)))
    frame = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    notes += _foreign_values(frame, fitted.domains)
    frame = _with_schema(frame, fitted.schema)
    achieved = achieved_shares(frame[fitted.target]) if fitted.target in frame.columns and frame.height else {}
    return PoolChunk(frame, requested, achieved, notes)


_forked: FittedSynthesizer | None = None  # the synthesizer a forked block worker samples from (set before forking)


def _sample_blocks(fitted: FittedSynthesizer, jobs: list, max_tries: int, workers: int) -> list:
    """SDV's part of every block, in order: in this process, or in `workers` forked processes that inherit the
    fitted synthesizer (pickling one is SDV's business, and forking avoids re-importing SDV in each worker)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _forked
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_sample_block(fitted, job, max_tries) for job in jobs]

    _forked = fitted
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_sample_forked_block, jobs, [max_tries] * len(jobs)))
    finally:
        _forked = None


def _sample_forked_block(job, max_tries: int):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # the workers already take the cores the rule gave this step
        return _sample_block(_forked, job, max_tries)


def _sample_block(fitted: FittedSynthesizer, job, max_tries: int):
    """One block's rows from SDV under the block's seed: (pandas table, requested shares, notes)."""
    this_seed, rows, counts = job
    seed_everything(this_seed)
    fitted.synthesizer._set_random_state(this_seed)  # SDV otherwise always samples with its fixed seed 73251
    _seed_transformers(fitted.synthesizer, this_seed)
    if counts is not None:
        boosted = sample_boosted(fitted.synthesizer, fitted.target, counts, max_tries)
        # Conditional sampling returns rows grouped by class; shuffle so every head(n) is balanced.
        table = boosted.frame.sample(frac=1.0, random_state=this_seed % 2**32).reset_index(drop=True)
        return table, boosted.requested, boosted.notes
    sampled = fitted.synthesizer.sample(rows)
    return (sampled[TABLE] if isinstance(sampled, dict) else sampled), {}, []


def _seed_transformers(synthesizer, seed: int) -> None:
    """Seed the generators RDT's transformers draw from when turning model output back into data (which values
    of a column with nulls come out null). They are seeded once at fit time and advance with every sample, so
    without this a block's nulls depended on what the same object sampled before, and every top-up of a stored
    model repeated the first chunk's null positions."""
    processor = getattr(synthesizer, "_data_processor", None)
    transformers = getattr(getattr(processor, "_hyper_transformer", None), "field_transformers", None) or {}
    for number, transformer in enumerate(transformers.values()):
        if transformer is not None and isinstance(getattr(transformer, "random_states", None), dict):
            transformer.random_states["reverse_transform"] = np.random.RandomState([seed % 2**32, number])


def _with_schema(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    columns = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
        else:
            columns.append(pl.col(name).cast(dtype, strict=False))
    return frame.select(columns) if frame.width else pl.DataFrame(schema=schema)


def _foreign_values(frame: pl.DataFrame, domains: dict[str, frozenset[str]]) -> list[str]:
    """Catch SDV replacing a categorical with made-up text (its PII anonymization): values no real row has."""
    notes = []
    for column, domain in domains.items():
        if column not in frame.columns or frame.height == 0:
            continue
        values = frame[column].cast(pl.String).drop_nulls()
        foreign = values.filter(~values.is_in(list(domain)))
        if foreign.len():
            notes.append(
                f"'{column}': {foreign.len() / max(values.len(), 1):.1%} of sampled values never occur in the real "
                f"data (e.g. {foreign[0]!r}); SDV may have treated it as PII. Set synthesis.sdtypes for it"
            )
    return notes
