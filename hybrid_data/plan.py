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

    path: str | None = Field(None, description="CSV or Parquet file; a relative path is read beside the plan file")
    format: Literal["csv", "parquet", "sql"] | None = None
    query: str | None = Field(None, description="SQL SELECT for format 'sql'")
    database: str | None = Field(
        None, description="database file DuckDB attaches for format 'sql'; a relative path is read beside the plan"
    )
    encoding: str = Field("utf8", description="CSV text encoding, e.g. utf8, latin-1, cp1252")
    delimiter: str = Field(",", description="CSV field separator: one character, e.g. ',', ';', '|' or '\\t'")
    null_values: list[str] = Field(
        default_factory=list, description="CSV cells read as missing besides empty ones, e.g. ['NA', '?', 'inf']"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        fmt = self.resolved_format
        if fmt == "sql" and not self.query:
            raise ValueError("format 'sql' needs 'query' (a SELECT) and usually 'database'")
        if fmt != "sql" and not self.path:
            raise ValueError("give 'path' (a CSV or Parquet file) or 'query' with format 'sql'")
        csv_options = {"encoding": "utf8", "delimiter": ",", "null_values": []}
        changed = [k for k, default in csv_options.items() if getattr(self, k) != default]
        if fmt != "csv" and changed:
            raise ValueError(f"CSV options ({', '.join(changed)}) do not apply to format '{fmt}'; remove them")
        return self

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding '{value}'; use a codec name such as utf8, latin-1, cp1252") from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in '\r\n"':
            raise ValueError(f"delimiter {value!r} must be one character other than a quote or a line break, e.g. ';'")
        return value

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

    def allows(self, ratio: float) -> bool:
        """The real-share floor, the one place it is decided: a ratio leaves a real share of 1 - ratio, which must
        reach `min_real_share`, except the explicitly allowed pure-synthetic baseline (ratio 1)."""
        if ratio == 1.0 and self.allow_synthetic_only_baseline:
            return True
        return 1.0 - ratio >= self.min_real_share - 1e-9


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
    dp_mst = "dp_mst"  # differentially private (hybrid_data/dp_synthesizer.py); needs synthesis.dp


class DifferentialPrivacy(Strict):
    """The formal guarantee of a DP synthesizer (docs/privacy.md): (epsilon, delta)-DP for the unit below.

    Bounds of numeric columns and the categories of text columns come from here when given; any that are not
    given are measured on the real rows and charged to the budget (a share of epsilon), never taken for free."""

    epsilon: float = Field(gt=0.0, description="privacy loss budget for the whole fit, e.g. 1.0")
    delta: float = Field(1e-6, ge=0.0, lt=1.0, description="probability the epsilon bound fails; << 1/rows")
    unit: Literal["row"] = Field("row", description="privacy unit: one row of real_train (one person per row)")
    bins: int = Field(16, ge=2, le=256, description="equal-width bins per numeric column")
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="numeric column -> (low, high), public knowledge; values are clipped"
    )
    categories: dict[str, list[str]] = Field(
        default_factory=dict, description="text column -> its public list of categories"
    )
    preprocessing_share: float = Field(
        0.1, gt=0.0, lt=1.0, description="share of epsilon spent on bounds/categories the plan does not give"
    )


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
    dp: DifferentialPrivacy | None = Field(
        None, description="privacy budget of the dp_mst synthesizer, e.g. {epsilon: 1.0, delta: 1e-6}"
    )
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
    def _dp_needs_budget(self) -> Synthesis:
        if SynthesizerName.dp_mst in self.synthesizers and self.dp is None:
            raise ValueError(
                "synthesizer dp_mst is differentially private only with a budget: set synthesis.dp.epsilon "
                "(and delta), e.g. dp: {epsilon: 1.0, delta: 1e-6}"
            )
        return self

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
    "pool_singling_out_risk",
    "pool_linkability_risk",
    "pool_inference_risk",
]


class Checks(Strict):
    """Thresholds of the checks. Correctness checks (schema, real-share floor, holdout isolation, exact copies)
    always block; fidelity, privacy, tails and expectations warn unless named in `blocking`."""

    min_quality_score: float = Field(0.7, ge=0.0, le=1.0, description="SDMetrics quality score, all pairs")
    max_detection_auc: float = Field(0.95, ge=0.5, le=1.0, description="discriminator AUC, real vs synthetic")
    max_exact_copies: int = Field(0, ge=0, description="synthetic rows identical to a real training row")
    max_copy_ratio: float = Field(
        1.5,
        ge=0.0,
        description="distinct train rows copied may exceed max_exact_copies by this multiple of the chance level "
        "(distinct holdout rows the synthesizer reproduces x train/holdout size); 0 turns the allowance off",
    )
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
    privacy_sample_rows: int = Field(
        5000,
        ge=100,
        description="fewest synthetic rows searched when the privacy search samples (privacy.exhaustive_max_pairs)",
    )
    min_rows: int = Field(20, ge=1, description="real rows needed to build anything")
    min_holdout_rows: int = Field(20, ge=1, description="real_holdout rows needed to score a model on them")
    min_class_rows: int = Field(
        5, ge=1, description="rows of every class that real_train and real_holdout each need (classification)"
    )
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


ColumnTypeName = Literal["numeric", "categorical", "ordered", "datetime", "text", "id"]


class ColumnSpec(Strict):
    """The plan's override of one column's type decision (see hybrid_data/column_types.py and docs/real_data.md):
    what the synthesizer, the model and the checks treat the column as, whatever its storage type."""

    type: ColumnTypeName = Field(
        description="numeric, categorical (nominal), ordered (categorical with an order), datetime, text (free "
        "text: capped to its frequent values) or id (never modeled, regenerated)"
    )
    order: list[str] | None = Field(
        None, description="for type 'ordered': the levels from lowest to highest, e.g. [low, medium, high]"
    )
    format: str | None = Field(
        None, description="for type 'datetime' on text: a strptime format, e.g. '%d/%m/%Y'; ISO-8601 needs none"
    )

    @model_validator(mode="after")
    def _options_fit_type(self) -> ColumnSpec:
        if self.order is not None and self.type != "ordered":
            raise ValueError(f"'order' applies to type 'ordered' only, not '{self.type}'; remove it or set ordered")
        if self.order is not None and len(set(self.order)) != len(self.order):
            raise ValueError(f"'order' lists a level twice: {self.order}")
        if self.format is not None and self.type != "datetime":
            raise ValueError(f"'format' applies to type 'datetime' only, not '{self.type}'")
        return self


THRESHOLD_POLICIES = ("max_f1", "prevalence")
BaselineMethod = Literal["class_weight", "random_oversampling", "smote"]


class Evaluation(Strict):
    """How every cell of the scorecard is trained, repeated and judged against real-only (docs/evaluation.md)."""

    repeats: int = Field(5, ge=1, le=100, description="model fits per cell, one seed each; the blend is reused")
    bootstrap: int = Field(1000, ge=100, le=100_000, description="paired bootstrap resamples of the real holdout")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="level of every interval and of the verdicts")
    validation_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=0.5,
        description="share of real_train rows (chosen by row hash) held out of every cell's training rows for "
        "early stopping and the decision threshold",
    )
    threshold: str | float = Field(
        "max_f1",
        description="binary decision threshold: max_f1 or prevalence (chosen on the real validation slice), "
        "or a fixed probability in (0, 1)",
    )
    primary_metric: str | None = Field(
        None,
        description="the metric verdicts rest on; default pr_auc (binary), macro_f1 (multiclass), rmse (regression)",
    )
    groups: list[str] = Field(
        default_factory=list, description="columns whose groups the bias audit compares (e.g. a region)"
    )
    baselines: list[BaselineMethod] = Field(
        default_factory=lambda: ["class_weight", "random_oversampling", "smote"],
        description="classical fixes trained on real rows in the same grid (classification plans only)",
    )

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold_policy(cls, value: object) -> str | float:
        if value in THRESHOLD_POLICIES:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 < value < 1.0:
            return float(value)
        raise ValueError(
            f"'{value}' is not a threshold: use 'max_f1', 'prevalence' or a probability strictly between 0 and 1"
        )


class Privacy(Strict):
    """Which columns an attacker knows and which are sensitive, for the attack-based privacy report, and how
    privacy distances are measured (docs/privacy.md)."""

    sensitive_columns: list[str] = Field(
        default_factory=list, description="columns an attacker tries to infer; empty means the target"
    )
    auxiliary_columns: list[str] = Field(
        default_factory=list, description="columns an attacker already knows; empty means every non-sensitive one"
    )
    linkability_columns: list[list[str]] = Field(
        default_factory=list,
        description="two disjoint column lists held by two parties to link; empty splits auxiliary_columns in two",
    )
    attacks: int = Field(500, ge=10, description="attacks (targets or queries) per risk")
    singling_out_columns: int = Field(3, ge=1, description="predicates per multivariate singling-out query")
    confidence_level: float = Field(0.95, gt=0.5, lt=1.0, description="of every risk's interval")
    max_attack_risk: float = Field(
        0.1, ge=0.0, le=1.0, description="a pool check warns when a risk above the control exceeds this"
    )
    distance_include_target: bool = Field(False, description="measure DCR/NNDR with the target column too")
    blend_attacks: bool = Field(
        False,
        description="rerun the attacks on each blend's own synthetic rows where they are fewer than the pool's; "
        "off, a blend reports its pool's risks",
    )
    exhaustive_max_pairs: int = Field(
        15_000_000_000,
        ge=1_000_000,
        description="DCR/NNDR search every synthetic and holdout row while the row pairs compared stay within "
        "this (100k synthetic x 100k real rows is 1.36e10 pairs, ~4 s on 2 cores); above, seeded samples sized to "
        "it are searched and the DCR share's sampling error reported",
    )
    exhaustive_max_rows: int | None = Field(
        None,
        ge=100,
        description="older bound, kept for plans that set it: above this many synthetic rows, only "
        "checks.privacy_sample_rows of them are searched; prefer exhaustive_max_pairs, which bounds the work",
    )

    @model_validator(mode="after")
    def _columns_once(self) -> Privacy:
        both = sorted(set(self.sensitive_columns) & set(self.auxiliary_columns))
        if both:
            raise ValueError(f"columns {both} are in both sensitive_columns and auxiliary_columns; list each in one")
        if self.linkability_columns:
            if len(self.linkability_columns) != 2 or not all(self.linkability_columns):
                raise ValueError("linkability_columns takes two non-empty column lists, e.g. [[age, zip], [income]]")
            shared = sorted(set(self.linkability_columns[0]) & set(self.linkability_columns[1]))
            if shared:
                raise ValueError(f"linkability_columns share {shared}; each column belongs to one party")
        return self


class CollapseMode(StrEnum):
    """What generation g+1's synthesizer is fitted on (docs/collapse.md)."""

    replace = "replace"  # only generation g's synthetic rows
    accumulate = "accumulate"  # the real rows plus every synthetic row so far
    anchored = "anchored"  # generation g's synthetic rows plus real rows making up anchored_real_share


class Collapse(Strict):
    """The model-collapse study: generations of synthesizers fitted on their predecessors' output.

    The defaults run the bundled study with gaussian_copula in 7-8 minutes on a busy 2-core machine (benchmarks/
    bench_collapse.py); every generation fits on a sample, so the cost does not grow with the real data."""

    generations: int = Field(10, ge=1, le=50, description="synthetic generations after generation 0")
    modes: list[CollapseMode] = Field(default_factory=lambda: list(CollapseMode))
    anchored_real_share: float = Field(
        0.5, gt=0.0, lt=1.0, description="share of real rows in what each anchored generation is fitted on"
    )
    synthesizers: list[SynthesizerName] = Field(default_factory=lambda: [SynthesizerName.gaussian_copula])
    repeats: int = Field(5, ge=2, le=50, description="independent repeats (seeds) behind each curve's interval")
    max_fit_rows: int = Field(2000, ge=100, description="rows each generation's synthesizer is fitted on at most")
    rows_per_generation: int = Field(2000, ge=100, description="synthetic rows each generation samples")
    epochs: int = Field(10, ge=1, description="training epochs of ctgan, tvae and copulagan in the study")

    @field_validator("modes", "synthesizers")
    @classmethod
    def _non_empty_and_unique(cls, value: list, info) -> list:  # info: pydantic's ValidationInfo
        if not value:
            choices = CollapseMode if info.field_name == "modes" else SynthesizerName
            raise ValueError(f"name at least one of {', '.join(c.value for c in choices)}")
        return list(dict.fromkeys(value))


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
        validate_ratios(self.ratios, self.anchoring)
        return self

    def _beside_plan(self, name: str | None) -> Path | None:
        """A path from the plan, relative ones read from the plan file's folder (never the working folder)."""
        if not name:
            return None
        path = Path(os.path.expanduser(name))
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def source_path(self) -> Path | None:
        return self._beside_plan(self.source.path)

    @property
    def database_path(self) -> Path | None:
        """The SQL source's database file, resolved like source.path."""
        return self._beside_plan(self.source.database)

    @property
    def synthesizer_names(self) -> list[str]:
        return [s.value for s in self.synthesis.synthesizers]

    @property
    def ratio_keys(self) -> list[str]:
        return [ratio_key(r) for r in self.ratios]


def validate_ratios(ratios: list[float], anchoring: Anchoring) -> list[float]:
    """The ratios as floats, or a ValueError naming the first one outside [0, 1] or below the real-share floor.
    One rule for the plan's `ratios` and for ratios given on the command line (`hybrid-data backfill --ratio`)."""
    checked = []
    for raw in ratios:
        try:
            ratio = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"ratio {raw!r} is not a number; a ratio is a share of synthetic rows in [0, 1]") from None
        if not 0.0 <= ratio <= 1.0 or ratio != ratio:
            raise ValueError(f"ratio {raw} is outside [0, 1]; a ratio is the share of synthetic rows in a blend")
        if not anchoring.allows(ratio):
            raise ValueError(
                f"ratio {ratio:g} leaves a real share of {1 - ratio:g}, below anchoring.min_real_share="
                f"{anchoring.min_real_share:g}; lower the ratio or the floor"
            )
        checked.append(ratio)
    return checked


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
