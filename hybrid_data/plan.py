"""The blend plan: one YAML file that says what to build, validated so a wrong value names its field."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PLAN_ENV = "HYBRID_DATA_PLAN"
BUNDLED_PLAN = Path(__file__).parent / "plans" / "lending_club.yaml"
BUNDLED_DATA_DIR = Path(__file__).parent / "data"

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]


class PlanError(ValueError):
    """A plan file that cannot be used; the message says which field and what is allowed."""


class Task(StrEnum):
    binary = "binary"
    multiclass = "multiclass"
    regression = "regression"


class Strict(BaseModel):
    # Unknown keys are errors: a misspelled field must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where the real data comes from: a CSV/Parquet file, or a SQL query against a database DuckDB can attach."""

    path: str | None = None
    format: Literal["csv", "parquet", "sql"] | None = None
    query: str | None = Field(None, description="SQL SELECT for format 'sql'")
    database: str | None = Field(None, description="database file DuckDB attaches for format 'sql'")

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        fmt = self.resolved_format
        if fmt == "sql" and not self.query:
            raise ValueError("format 'sql' needs 'query' (a SELECT) and usually 'database'")
        if fmt != "sql" and not self.path:
            raise ValueError("give 'path' (a CSV or Parquet file) or 'query' with format 'sql'")
        return self

    @property
    def resolved_format(self) -> str:
        if self.format:
            return self.format
        if self.query and not self.path:
            return "sql"
        suffix = Path(self.path or "").suffix.lower()
        return "parquet" if suffix in {".parquet", ".pq"} else "csv"


class Anchoring(Strict):
    """How much real data every blend keeps (model collapse starts where real data runs out)."""

    mode: Literal["augment", "replace"] = "augment"
    min_real_share: float = Field(0.25, ge=0.0, le=1.0)
    allow_synthetic_only_baseline: bool = Field(
        True, description="keep ratio 1.0 as a train-synthetic-test-real baseline despite the floor"
    )


class Holdout(Strict):
    fraction: float = Field(0.2, gt=0.0, lt=1.0)
    key_columns: list[str] = Field(
        default_factory=list, description="columns that identify a row; empty means the whole row"
    )


class SynthesizerName(StrEnum):
    gaussian_copula = "gaussian_copula"
    ctgan = "ctgan"
    tvae = "tvae"
    copulagan = "copulagan"


class Synthesis(Strict):
    """Which generators to compare and how to fit them; see docs/synthesizers.md for every field's trade-off."""

    synthesizers: list[SynthesizerName] = Field(default_factory=lambda: [SynthesizerName.gaussian_copula])
    # truncnorm, not SDV's default beta: measured 4-11x faster to fit, and it keeps rare-category shares closer
    # to the real ones (benchmarks/bench_synthesizers.py).
    default_distribution: Literal["norm", "beta", "truncnorm", "uniform", "gamma", "gaussian_kde"] = "truncnorm"
    epochs: int = Field(300, ge=1, description="training epochs of ctgan, tvae and copulagan")
    batch_size: int = Field(500, ge=10, description="batch size of the deep synthesizers (rounded to tens)")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where deep synthesizers train: auto uses a GPU when torch sees one"
    )
    sdtypes: dict[str, Literal["numerical", "categorical", "boolean", "datetime", "id"]] = Field(default_factory=dict)
    id_columns: list[str] = Field(
        default_factory=list, description="row identifiers: never modeled, regenerated as new unique values"
    )
    pii_columns: list[str] = Field(
        default_factory=list, description="personal data: never modeled, regenerated as fakes or nulls (pii_fill)"
    )
    pii_fill: Literal["fake", "null"] = "fake"
    max_fit_rows: int | None = Field(
        100_000,
        ge=100,
        description="fit on a seeded random sample of at most this many real_train rows; null fits on all rows",
    )
    max_categories: int = Field(
        100, ge=2, description="a text column with more levels keeps its most frequent ones plus '__other__'"
    )
    boost_target_shares: dict[str, float] = Field(
        default_factory=dict,
        description="class of the target -> share of synthetic rows, e.g. {bad: 0.3}; empty means no boost",
    )
    boost_max_tries: int = Field(100, ge=1, description="reject-sampling tries per batch for ctgan/tvae boosts")
    early_stopping: bool = Field(
        True, description="stop a deep fit once its fidelity to the real rows stops improving; epochs is the ceiling"
    )
    patience: int = Field(25, ge=1, description="epochs without a fidelity gain before a deep fit stops")
    min_improvement: float = Field(
        0.002, ge=0.0, lt=1.0, description="fidelity gain (0-1 score) that counts as still learning"
    )
    min_minority_share_ratio: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="a pool whose minority share is below this fraction of the real share has lost the class",
    )
    minority_loss_blocking: bool = Field(
        False, description="a pool that lost the minority class stops its blends (default: a warning)"
    )

    @field_validator("synthesizers")
    @classmethod
    def _non_empty(cls, value: list[SynthesizerName]) -> list[SynthesizerName]:
        if not value:
            raise ValueError("name at least one synthesizer")
        return list(dict.fromkeys(value))

    @field_validator("boost_target_shares")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        for name, share in value.items():
            if not 0.0 < share < 1.0 + 1e-9:
                raise ValueError(f"share of class '{name}' is {share}; a share is in (0, 1]")
        if sum(value.values()) > 1.0 + 1e-9:
            raise ValueError(f"class shares add up to {sum(value.values()):g}; they must not exceed 1")
        return value

    @model_validator(mode="after")
    def _columns_once(self) -> Synthesis:
        both = sorted(set(self.id_columns) & set(self.pii_columns))
        if both:
            raise ValueError(f"columns {both} are in both id_columns and pii_columns; list each in one")
        return self


# Checks that warn by default; naming one in `checks.blocking` makes a failure stop the blend's model.
WarningCheck = Literal[
    "blend_expectations",
    "blend_fidelity_quality",
    "blend_detection_auc",
    "blend_dcr_share",
    "blend_nndr",
    "blend_minority_share",
    "blend_rare_categories",
    "blend_tail_coverage",
]


class Checks(Strict):
    """Thresholds of the checks. Correctness checks (schema, real-share floor, holdout isolation, exact copies)
    always block; fidelity, privacy, tails and expectations warn unless named in `blocking`."""

    min_quality_score: float = Field(0.7, ge=0.0, le=1.0, description="SDMetrics quality score, all pairs")
    max_detection_auc: float = Field(0.95, ge=0.5, le=1.0, description="discriminator AUC, real vs synthetic")
    max_exact_copies: int = Field(0, ge=0, description="synthetic rows identical to a real training row")
    max_dcr_share: float = Field(
        0.6, ge=0.0, le=1.0, description="share of synthetic rows closer to train than to holdout; 0.5 is ideal"
    )
    min_nndr_p05: float = Field(
        0.1, ge=0.0, le=1.0, description="5th percentile of the nearest/second-nearest real distance ratio"
    )
    tail_tolerance: float = Field(0.5, ge=0.0, description="allowed relative drift of minority share and tail coverage")
    rare_category_share: float = Field(
        0.05, gt=0.0, lt=1.0, description="a category rarer than this share of real rows counts as rare"
    )
    range_margin: float = Field(
        0.1, ge=0.0, description="expectation ranges are the real min/max widened by this share of the range"
    )
    fidelity_sample_rows: int = Field(
        2000, ge=50, description="rows per side scored by SDMetrics and the discriminator"
    )
    privacy_sample_rows: int = Field(5000, ge=100, description="synthetic rows whose nearest real rows are searched")
    min_rows: int = Field(20, ge=1, description="real rows needed to build anything")
    blocking: list[WarningCheck] = Field(default_factory=list, description="warning checks to make blocking, by name")

    def severity(self, name: str) -> str:
        """'ERROR' when a failure of this warning check must stop the blend's model, else 'WARN'."""
        return "ERROR" if name in self.blocking else "WARN"


class Schedule(Strict):
    """When the real data is re-read on its own (the nightly_real_data schedule); what changed flows downstream."""

    cron: str = Field("0 2 * * *", description="five-field cron expression, e.g. '0 2 * * *' = 02:00 daily")
    timezone: str = Field("UTC", description="IANA timezone the cron is read in, e.g. 'Europe/Paris'")

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        import re

        fields = value.split()
        allowed = re.compile(r"^[0-9A-Za-z*/,\-]+$")
        if len(fields) != 5 or not all(allowed.match(f) for f in fields):
            raise ValueError(
                f"'{value}' is not a cron expression: give five fields (minute hour day month weekday), "
                "e.g. '0 2 * * *' for 02:00 every day"
            )
        return " ".join(fields)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{value}'; use an IANA name such as 'UTC' or 'Europe/Paris'") from None
        return value


class Model(Strict):
    kind: Literal["hist_gradient_boosting", "logistic_regression"] = "hist_gradient_boosting"
    params: dict[str, float | int | str | bool | None] = Field(default_factory=dict)


class ColumnSpec(Strict):
    """The plan's override of one column's type decision (see hybrid_data/column_types.py)."""


class Evaluation(Strict):
    """How every cell of the scorecard is trained, repeated and judged against real-only."""


class Privacy(Strict):
    """Which columns an attacker knows and which are sensitive, for the attack-based privacy report."""


class Collapse(Strict):
    """The model-collapse study: generations of synthesizers fitted on their predecessors' output."""


class Plan(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    source: Source
    target: str
    task: Task | None = None
    drop_columns: list[str] = Field(default_factory=list)
    ratios: list[Ratio] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    anchoring: Anchoring = Anchoring()
    holdout: Holdout = Holdout()
    seed: int = 42
    synthesis: Synthesis = Synthesis()
    model: Model = Model()
    checks: Checks = Checks()
    schedule: Schedule = Schedule()
    columns: dict[str, ColumnSpec] = Field(default_factory=dict, description="per-column type overrides")
    evaluation: Evaluation = Evaluation()
    privacy: Privacy = Privacy()
    collapse: Collapse = Collapse()
    # Where relative paths in the plan are resolved; set by load_plan, not by the user.
    base_dir: str = Field(".", exclude=True)

    @field_validator("ratios")
    @classmethod
    def _baseline_always_present(cls, value: list[float]) -> list[float]:
        # r = 0 (real only) is the baseline every blend is judged against, so it is always in.
        return sorted(set(value) | {0.0})

    @model_validator(mode="after")
    def _ratios_respect_floor(self) -> Plan:
        for ratio in self.ratios:
            if ratio == 1.0 and self.anchoring.allow_synthetic_only_baseline:
                continue
            if 1.0 - ratio < self.anchoring.min_real_share - 1e-9:
                raise ValueError(
                    f"ratio {ratio:g} leaves a real share of {1 - ratio:g}, below anchoring.min_real_share="
                    f"{self.anchoring.min_real_share:g}; lower the ratio or the floor"
                )
        return self

    @property
    def source_path(self) -> Path | None:
        if not self.source.path:
            return None
        path = Path(os.path.expanduser(self.source.path))
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def synthesizer_names(self) -> list[str]:
        return [s.value for s in self.synthesis.synthesizers]

    @property
    def ratio_keys(self) -> list[str]:
        return [ratio_key(r) for r in self.ratios]


def ratio_key(ratio: float) -> str:
    """The partition key of a ratio: '0', '0.25', '1' (stable, readable, sortable as a number)."""
    return f"{ratio:g}"


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"plan {source} is not valid:"]
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(plan)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (misspelled?)"
        lines.append(f"  - {field}: {message}")
    return "\n".join(lines)


def parse_plan(text: str, base_dir: Path, source: str = "<text>") -> Plan:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"plan {source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PlanError(f"plan {source} must be a mapping of fields, got {type(data).__name__}")
    try:
        return Plan.model_validate({**data, "base_dir": str(base_dir)})
    except ValidationError as exc:
        raise PlanError(_format_errors(source, exc)) from None


def plan_path() -> Path:
    return Path(os.environ.get(PLAN_ENV) or BUNDLED_PLAN).expanduser().resolve()


def load_plan(path: Path | str | None = None) -> Plan:
    """Load the plan at `path`, else at $HYBRID_DATA_PLAN, else the bundled plan."""
    path = Path(path).expanduser().resolve() if path else plan_path()
    if not path.exists():
        raise PlanError(f"plan file {path} does not exist; set {PLAN_ENV} or run 'hybrid-data plan init'")
    return parse_plan(path.read_text(), base_dir=path.parent, source=str(path))
