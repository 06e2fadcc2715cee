"""A corpus of small, messy, seeded tables, each one a case real data brought that broke a run: nulls in text,
more than 255 levels, ISO datetimes with `Z`, Boolean and 0/1 targets, integer codes, a regression target,
80+ columns, hostile column names, low-entropy categoricals, a planted leak, constant columns, a tiny class.

Each `Case` says what `plan init` must propose for it (drops, pinned types, task), so the end-to-end tests can
assert the proposal as well as the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

WORDS = ["late", "payment", "account", "balance", "card", "fee", "branch", "review", "customer", "phone", "call"]


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    task: str
    build: Callable[[np.random.Generator], pl.DataFrame]
    drops: dict[str, str] = field(default_factory=dict)  # column -> a word its drop reason must contain
    pinned: dict[str, str] = field(default_factory=dict)  # column -> type plan init must pin
    fmt: str = "csv"
    note: str | None = None  # a word plan init's notes must contain
    blocked_by: tuple[str, ...] = ()  # known blockers owned elsewhere: the run may stop at these blocking checks


def _logit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _sentence(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(4, 9))))


def text_nulls(rng: np.random.Generator, n: int = 1500) -> pl.DataFrame:
    income = rng.lognormal(10, 0.5, n)
    purpose = rng.choice(["car", "home", "debt", "medical", "other"], n)
    bad = rng.random(n) < _logit(-2.5 + (purpose == "debt") * 1.2 - (income - income.mean()) / income.std())
    return pl.DataFrame(
        {
            "income": income.round(2),  # cents: whole-unit incomes collide by chance (see the privacy note)
            "purpose": [None if rng.random() < 0.2 else p for p in purpose],
            "employer": [None if rng.random() < 0.3 else f"emp_{rng.integers(0, 30)}" for _ in range(n)],
            "notes": [None if rng.random() < 0.25 else _sentence(rng) + f" #{i}" for i in range(n)],
            "outcome": np.where(bad, "bad", "good"),
        }
    )


def high_cardinality(rng: np.random.Generator, n: int = 2500) -> pl.DataFrame:
    merchants = np.array([f"merchant_{i:04d}" for i in range(700)])
    weights = 1 / np.arange(1, 701) ** 0.6
    merchant = rng.choice(merchants, n, p=weights / weights.sum())
    risky = np.isin(merchant, merchants[::7])
    amount = rng.gamma(2.0, 40.0, n)
    fraud = rng.random(n) < _logit(-3.0 + risky * 1.5 + (amount > 150) * 0.8)
    return pl.DataFrame(
        {
            "merchant": merchant,
            "amount": amount.round(2),
            "channel": rng.choice(["web", "pos"], n),
            "fraud": np.where(fraud, "yes", "no"),
        }
    )


def iso_datetimes(rng: np.random.Generator, n: int = 1500) -> pl.DataFrame:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    opened = [start + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 365, n)]
    night = np.array([t.hour < 6 for t in opened])
    churn = rng.random(n) < _logit(-2.0 + night * 1.5)
    stamp = [None if rng.random() < 0.05 else t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in opened]
    return pl.DataFrame(
        {
            "opened_at": stamp,
            "birth_date": [str((start - timedelta(days=int(d))).date()) for d in rng.integers(7000, 25000, n)],
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "monthly_fee": rng.normal(30, 8, n).round(2),
            "churned": np.where(churn, "churn", "stay"),
        }
    )


def boolean_target(rng: np.random.Generator, n: int = 2000) -> pl.DataFrame:
    x = rng.normal(size=(n, 3))
    positive = rng.random(n) < _logit(-3.6 + 1.2 * x[:, 0])
    return pl.DataFrame(
        {"f1": x[:, 0], "f2": x[:, 1], "f3": x[:, 2], "segment": rng.choice(["a", "b", "c"], n), "is_fraud": positive}
    )


def binary_int_target(rng: np.random.Generator, n: int = 2400) -> pl.DataFrame:
    x = rng.normal(size=(n, 2))
    positive = rng.random(n) < _logit(-3.8 + 1.3 * x[:, 0])
    return pl.DataFrame(
        {"score": x[:, 0].round(3), "tenure": rng.integers(0, 40, n), "usage": x[:, 1], "default": positive.astype(int)}
    )


def integer_codes(rng: np.random.Generator, n: int = 2000) -> pl.DataFrame:
    codes = np.array(sorted(rng.choice(np.arange(100, 1000), 40, replace=False)))
    region = rng.choice(codes, n)
    effect = dict(zip(codes, rng.normal(0, 1.0, codes.size), strict=True))
    y = rng.random(n) < _logit(-1.5 + np.array([effect[c] for c in region]))
    return pl.DataFrame(
        {
            "region": region,
            "branch_code": rng.choice([3, 8, 15, 21, 42], n),
            "balance": rng.normal(1000, 300, n),
            "visits": rng.poisson(2.0, n),
            "target": np.where(y, "left", "stayed"),
        }
    )


def regression(rng: np.random.Generator, n: int = 1800) -> pl.DataFrame:
    size = rng.gamma(3.0, 30.0, n)
    rooms = rng.integers(1, 7, n)
    extras = np.where(rng.random(n) < 0.65, 0.0, rng.lognormal(8, 1.0, n))  # zero-inflated
    price = 1500 * size + 9000 * rooms + 0.8 * extras + rng.normal(0, 20000, n)
    return pl.DataFrame(
        {
            "size_m2": size.round(1),
            "rooms": rooms,
            "extras": extras.round(0),
            "city": rng.choice(["n", "s", "e"], n),
            "price": price.round(0).astype(int),
        }
    )


def wide(rng: np.random.Generator, n: int = 1200) -> pl.DataFrame:
    columns: dict[str, object] = {}
    signal = np.zeros(n)
    for i in range(70):
        values = rng.normal(size=n)
        signal += values * (0.3 if i < 5 else 0.0)
        columns[f"num_{i:02d}"] = np.where(rng.random(n) < 0.03, np.nan, values.round(4))
    for i in range(14):
        columns[f"cat_{i:02d}"] = rng.choice(["p", "q", "r", "s"], n)
    columns["label"] = np.where(rng.random(n) < _logit(-1.5 + signal), "pos", "neg")
    return pl.DataFrame(columns).fill_nan(None)


def hostile_names(rng: np.random.Generator, n: int = 1500) -> pl.DataFrame:
    x = rng.normal(size=n)
    return pl.DataFrame(
        {
            "order id": rng.permutation(n) + 10_000,
            'He said "hi"': x.round(3),
            "naïve café ☕": rng.choice(["oui", "non"], n),
            "select": rng.normal(size=n),
            "from": rng.choice(["x", "y", "z"], n),
            "it's # 1: yes": rng.integers(0, 100, n),
            "class label": np.where(rng.random(n) < _logit(-1.0 + x), "A", "B"),
        }
    )


def low_entropy(rng: np.random.Generator, n: int = 2000) -> pl.DataFrame:
    a, b = rng.choice(["x", "y"], n), rng.choice(["p", "q", "r"], n)
    y = rng.random(n) < _logit(-1.0 + (a == "x") * 1.0 + (b == "r") * 0.8)
    return pl.DataFrame(
        {
            "a": a,
            "b": b,
            "c": rng.choice(["u", "v"], n),
            "d": rng.choice(["k", "l", "m"], n),
            "bought": np.where(y, "yes", "no"),
        }
    )


def planted_leak(rng: np.random.Generator, n: int = 2000) -> pl.DataFrame:
    x = rng.normal(size=n)
    default = rng.random(n) < _logit(-2.0 + x)
    return pl.DataFrame(
        {
            "loan_id": rng.permutation(n) + 1,
            "income": rng.lognormal(10, 0.4, n).round(0),
            "score": x.round(3),
            "recovery_amount": np.where(default, rng.gamma(2, 500, n), 0.0).round(2),  # only after a default
            "collection_agent": [f"agent_{rng.integers(0, 9)}" if d else None for d in default],  # null unless bad
            "defaulted": np.where(default, "yes", "no"),
        }
    )


def constant_columns(rng: np.random.Generator, n: int = 1200) -> pl.DataFrame:
    x = rng.normal(size=n)
    return pl.DataFrame(
        {
            "country": ["US"] * n,
            "schema_version": [1] * n,
            "empty": pl.Series([None] * n, dtype=pl.String),
            "x": x,
            "kind": rng.choice(["r", "s"], n),
            "y": np.where(rng.random(n) < _logit(x), "one", "two"),
        }
    )


def tiny_class(rng: np.random.Generator, n: int = 2000) -> pl.DataFrame:
    x = rng.normal(size=(n, 2))
    cls = np.where(x[:, 0] > 0.3, "high", "low")
    tiny = rng.choice(n, 40, replace=False)
    cls[tiny] = "rare"
    x[tiny, 1] += 2.5
    return pl.DataFrame({"u": x[:, 0], "v": x[:, 1], "w": rng.choice(["m", "n"], n), "tier": cls})


CASES = [
    Case("text_nulls", "outcome", "binary", text_nulls, drops={"notes": "free text"}),
    Case("high_cardinality", "fraud", "binary", high_cardinality),
    # Parquet keeps ISO-8601 text as text (a CSV reader may parse it): ingest parses it, plan init pins it.
    Case(
        "iso_datetimes",
        "churned",
        "binary",
        iso_datetimes,
        pinned={"opened_at": "datetime", "birth_date": "datetime"},
        fmt="parquet",
    ),
    Case("boolean_target", "is_fraud", "binary", boolean_target),
    Case("binary_int_target", "default", "binary", binary_int_target),
    Case(
        "integer_codes",
        "target",
        "binary",
        integer_codes,
        pinned={"region": "categorical", "branch_code": "categorical"},
    ),
    Case("regression", "price", "regression", regression),
    Case("wide", "label", "binary", wide),
    Case("hostile_names", "class label", "binary", hostile_names, drops={"order id": "identifier"}),
    Case(
        "low_entropy",
        "bought",
        "binary",
        low_entropy,
        note="repeat",
        # Chance collisions of synthetic rows with real rows (72 possible rows) block the blend until those checks
        # compare with the real train/holdout collision rate (the privacy helper's yardstick, issue 17). Which
        # check blocks first depends on the holdout's size: plan init now holds out 0.45 of the 72 distinct rows
        # (so the split can be scored), where train copies rather than holdout copies block.
        blocked_by=("blend_excludes_holdout", "blend_no_exact_copies"),
    ),
    Case(
        "planted_leak",
        "defaulted",
        "binary",
        planted_leak,
        drops={"loan_id": "identifier", "recovery_amount": "leak", "collection_agent": "leak"},
        fmt="parquet",
    ),
    Case(
        "constant_columns",
        "y",
        "binary",
        constant_columns,
        drops={"country": "constant", "schema_version": "constant", "empty": "empty"},
    ),
    Case("tiny_class", "tier", "multiclass", tiny_class),
]


def write_case(case: Case, folder: Path, seed: int = 0) -> Path:
    """The case's table, built with its own seed and written as CSV or Parquet under `folder`."""
    frame = case.build(np.random.default_rng([seed, CASES.index(case)]))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case.name}.{case.fmt}"
    if case.fmt == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path
