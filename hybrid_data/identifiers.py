"""ID and PII columns: never shown to a synthesizer, regenerated in the pool so it keeps the real schema.

A synthesizer that models a row ID memorizes it, and one that models an e-mail column can reproduce real
addresses. The plan lists such columns; they are dropped before fitting and refilled after sampling: IDs with
new unique values that no real row has, PII with fakes (Faker, chosen from the column name) or nulls. A fake
that happens to equal a real value is replaced, so no real ID or PII value ever reaches the pool.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from hybrid_data.categoricals import is_text

# Faker providers chosen by a word in the column name; anything else gets an opaque token.
FAKER_BY_NAME = (
    ("email", "email"),
    ("mail", "email"),
    ("phone", "phone_number"),
    ("first", "first_name"),
    ("last", "last_name"),
    ("name", "name"),
    ("address", "street_address"),
    ("street", "street_address"),
    ("city", "city"),
    ("zip", "postcode"),
    ("postcode", "postcode"),
    ("ssn", "ssn"),
    ("ip", "ipv4"),
    ("iban", "iban"),
    ("card", "credit_card_number"),
)


@dataclass(frozen=True)
class RegeneratedColumn:
    """How one unmodeled column is refilled: `kind` is 'id' or 'pii'; integer IDs continue after `start`."""

    column: str
    kind: str
    dtype: pl.DataType
    fill: str  # 'unique', 'fake' or 'null'
    start: int = 0


def plan_regeneration(frame: pl.DataFrame, ids: list[str], pii: list[str], pii_fill: str) -> list[RegeneratedColumn]:
    """Decide, from the real dtypes, how each ID and PII column will be refilled."""
    out = []
    for column in ids:
        dtype = frame.schema[column]
        if dtype.is_integer():
            top = frame[column].max()
            out.append(RegeneratedColumn(column, "id", dtype, "unique", int(top) + 1 if top is not None else 0))
        elif is_text(dtype):
            out.append(RegeneratedColumn(column, "id", dtype, "unique"))
        else:
            out.append(RegeneratedColumn(column, "id", dtype, "null"))
    for column in pii:
        dtype = frame.schema[column]
        fill = "fake" if pii_fill == "fake" and is_text(dtype) else "null"
        out.append(RegeneratedColumn(column, "pii", dtype, fill))
    return out


def regenerate(
    columns: list[RegeneratedColumn], rows: int, offset: int, seed: int, real: pl.DataFrame | None = None
) -> list[pl.Series]:
    """Values for `rows` pool rows starting at pool row `offset`; none equals a value of the same real column."""
    out = []
    for spec in columns:
        if spec.fill == "null":
            values = pl.Series(spec.column, [None] * rows, dtype=spec.dtype)
        elif spec.fill == "unique" and spec.dtype.is_integer():
            values = pl.Series(spec.column, np.arange(spec.start + offset, spec.start + offset + rows))
        elif spec.fill == "unique":
            values = pl.Series(spec.column, [f"syn-{offset + i:09d}" for i in range(rows)])
        else:
            values = pl.Series(spec.column, _fakes(spec.column, rows, _column_seed(seed, spec.column, offset)))
        if real is not None and spec.column in real.columns and spec.fill != "null":
            values = _avoid_real(values, real[spec.column], offset)
        out.append(values.cast(spec.dtype, strict=False))
    return out


def _column_seed(seed: int, column: str, offset: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{column}:{offset}".encode()).digest()[:4], "little")


def _fakes(column: str, rows: int, seed: int) -> list[str]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    lowered = column.lower()
    method = next((m for word, m in FAKER_BY_NAME if word in lowered), None)
    if method is None:
        return [f"{column}-{fake.hexify('^^^^^^^^^^')}" for _ in range(rows)]
    make = getattr(fake, method)
    return [str(make()) for _ in range(rows)]


def _avoid_real(values: pl.Series, real: pl.Series, offset: int) -> pl.Series:
    """Replace any generated value that equals a real one with a token no real row has."""
    clash = values.cast(pl.String).is_in(real.cast(pl.String).drop_nulls().implode()).to_numpy()
    if not clash.any():
        return values
    if values.dtype.is_integer():
        # Integer IDs start above the real maximum, so a clash means the real column grew; shift past it.
        top = int(real.max()) + 1
        return pl.Series(values.name, np.arange(top + offset, top + offset + values.len()))
    out = values.cast(pl.String).to_numpy().astype(object)
    out[clash] = [f"syn-{values.name}-{offset + i:09d}" for i in np.flatnonzero(clash)]
    return pl.Series(values.name, out, dtype=pl.String)
