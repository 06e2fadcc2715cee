"""Fitting SDV synthesizers on real training rows and sampling synthetic pools from them, reproducibly."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hybrid_data.plan import Plan

TABLE = "real"  # SDV 2.x takes and returns a dict of tables; ours has one


class SynthesisError(ValueError):
    """A synthesizer that cannot be fitted or sampled as asked; the message says what to change."""


@dataclass
class FittedSynthesizer:
    """An SDV synthesizer with what it was fitted on, so a pool can be sampled with the right types."""

    name: str
    synthesizer: object
    schema: dict[str, pl.DataType]
    sdtypes: dict[str, str]
    fit_seconds: float = 0.0
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


def detect_metadata(frame: pl.DataFrame, plan: Plan):
    """SDV metadata from the data, corrected by the plan's overrides and guarded against PII misdetection.

    SDV detects some high-cardinality strings as PII (e.g. `address`) and would replace them with random
    text (SDV issue 2413); a column the plan did not mark as an ID or PII is modeled, so it becomes categorical.
    """
    from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes({TABLE: frame.to_pandas()}, infer_keys=None)
    notes = []
    columns = metadata.tables[TABLE].columns
    for column, info in list(columns.items()):
        override = plan.synthesis.sdtypes.get(column)
        if override:
            metadata.update_column(column, table_name=TABLE, sdtype=override)
        elif info["sdtype"] not in {"numerical", "categorical", "boolean", "datetime"}:
            notes.append(f"SDV detected '{column}' as {info['sdtype']}; modeled as categorical instead")
            metadata.update_column(column, table_name=TABLE, sdtype="categorical")
    return metadata, notes


def _make(name: str, metadata, plan: Plan):
    from sdv import single_table

    synth = plan.synthesis
    if name == "gaussian_copula":
        return single_table.GaussianCopulaSynthesizer(metadata, default_distribution=synth.default_distribution)
    deep = {"epochs": synth.epochs, "batch_size": synth.batch_size}
    classes = {
        "ctgan": single_table.CTGANSynthesizer,
        "tvae": single_table.TVAESynthesizer,
        "copulagan": single_table.CopulaGANSynthesizer,
    }
    if name not in classes:
        raise SynthesisError(f"unknown synthesizer '{name}'; choose one of gaussian_copula, {', '.join(classes)}")
    # Batch size must divide into pac groups of 10 for the GAN synthesizers.
    deep["batch_size"] = max(10, deep["batch_size"] // 10 * 10)
    return classes[name](metadata, **deep)


def fit_synthesizer(name: str, frame: pl.DataFrame, plan: Plan) -> FittedSynthesizer:
    import time

    if frame.height == 0:
        raise SynthesisError("real_train is empty: there is nothing to fit a synthesizer on")
    seed_everything(plan.seed)
    metadata, notes = detect_metadata(frame, plan)
    synthesizer = _make(name, metadata, plan)
    started = time.perf_counter()
    synthesizer.fit({TABLE: frame.to_pandas()})
    sdtypes = {c: i["sdtype"] for c, i in metadata.tables[TABLE].columns.items()}
    return FittedSynthesizer(name, synthesizer, dict(frame.schema), sdtypes, time.perf_counter() - started, notes)


def sample_pool(fitted: FittedSynthesizer, rows: int, seed: int) -> pl.DataFrame:
    """`rows` synthetic rows with the real schema; the same seed gives the same rows."""
    seed_everything(seed)
    fitted.synthesizer._set_random_state(seed)  # SDV otherwise always samples with its fixed seed 73251
    sampled = fitted.synthesizer.sample(rows)
    table = sampled[TABLE] if isinstance(sampled, dict) else sampled
    frame = pl.from_pandas(table)
    return frame.select(pl.col(name).cast(dtype, strict=False) for name, dtype in fitted.schema.items())
