"""Core checks on plain frames: for each, real-like synthetic rows that pass and a deliberately broken variant."""

import polars as pl
import pytest

from hybrid_data.ingest_checks import enough_rows, no_all_null_column, target_usable, unique_key
from hybrid_data.plan import Checks, PlanError, parse_plan
from hybrid_data.privacy import exact_copies_outcome, privacy_scores
from hybrid_data.quality import holdout_isolation
from hybrid_data.source import ORIGIN_COLUMN
from hybrid_data.tails import minority_share, rare_categories, tail_coverage
from tests.conftest import BUNDLED_CSV


@pytest.fixture(scope="module")
def parts() -> dict[str, pl.DataFrame]:
    """Disjoint slices of the bundled data: 'synthetic' rows from the real distribution pass every check."""
    real = pl.read_csv(BUNDLED_CSV, infer_schema_length=100_000).sample(fraction=1.0, shuffle=True, seed=3)
    return {"train": real[:4000], "holdout": real[4000:5500], "synthetic": real[5500:9500]}


def blend_of(real: pl.DataFrame, synthetic: pl.DataFrame) -> pl.DataFrame:
    return pl.concat(
        [
            real.with_columns(pl.lit("real").alias(ORIGIN_COLUMN)),
            synthetic.with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN)),
        ],
        how="vertical_relaxed",
    )


def test_exact_copies_pass_and_fail(parts):
    assert exact_copies_outcome(parts["synthetic"], parts["train"], 0).passed
    copied = pl.concat([parts["synthetic"][:100], parts["train"][:7]])
    outcome = exact_copies_outcome(copied, parts["train"], 0)
    assert not outcome.passed and outcome.metadata["exact_copies"] == 7
    assert exact_copies_outcome(copied, parts["train"], 10).passed


def test_privacy_scores_separate_fresh_rows_from_memorised_ones(parts):
    fresh = privacy_scores(parts["synthetic"], parts["train"], parts["holdout"], 2000, seed=0)
    assert fresh.exact_copies == 0
    assert abs(fresh.dcr_share - 0.5) < 0.05  # i.i.d. rows: no closer to train than to holdout
    assert fresh.nndr_p05 > 0.1
    memorised = pl.concat([parts["synthetic"][:500], parts["train"][:1500]])
    leaky = privacy_scores(memorised, parts["train"], parts["holdout"], 2000, seed=0)
    assert leaky.exact_copies == 1500
    # The share is measured against a holdout-sized train sample (1500 of 4000 rows), which holds only some of
    # the copied rows: 0.25 * 0.5 + 0.75 * (0.375 + 0.625 * 0.5) = 0.64 expected.
    assert leaky.dcr_share > 0.6
    assert leaky.nndr_p05 == 0.0


def test_holdout_leak_is_caught(parts):
    blend = blend_of(parts["train"], parts["synthetic"])
    assert holdout_isolation(blend, parts["holdout"]).passed
    leaked = blend_of(parts["train"], pl.concat([parts["synthetic"], parts["holdout"][:1]]))
    outcome = holdout_isolation(leaked, parts["holdout"])
    assert not outcome.passed and outcome.metadata["leaked_rows"] == 1


def test_minority_share_both_directions(parts):
    train, synthetic = parts["train"], parts["synthetic"]
    assert minority_share(blend_of(train[:1000], synthetic), train, "Class", 0.5).passed
    removed = synthetic.filter(pl.col("Class") == "good")
    outcome = minority_share(blend_of(train[:0], removed), train, "Class", 0.5)
    assert not outcome.passed and outcome.metadata["minority_share_blend"] == 0.0
    bad = synthetic.filter(pl.col("Class") == "bad")
    inflated = pl.concat([synthetic, bad, bad, bad])
    outcome = minority_share(blend_of(train[:0], inflated), train, "Class", 0.5)
    assert not outcome.passed and outcome.metadata["minority_share_blend"] > outcome.metadata["minority_share_real"]


def test_rare_categories_dropped_or_inflated_fail(parts):
    train, synthetic = parts["train"], parts["synthetic"]
    assert rare_categories(blend_of(train[:0], synthetic), train, "Class", 0.05, 0.5).passed
    shares = train["addr_state"].value_counts(normalize=True)
    rare = shares.filter(pl.col("proportion") < 0.05)["addr_state"].to_list()
    dropped = synthetic.filter(~pl.col("addr_state").is_in(rare))
    outcome = rare_categories(blend_of(train[:0], dropped), train, "Class", 0.05, 0.5)
    assert not outcome.passed and any("addr_state" in c for c in outcome.metadata["uncovered_columns"])
    rare_rows = synthetic.filter(pl.col("addr_state").is_in(rare))
    inflated = pl.concat([synthetic, rare_rows, rare_rows])
    outcome = rare_categories(blend_of(train[:0], inflated), train, "Class", 0.05, 0.5)
    assert not outcome.passed and all(c.startswith("addr_state=") for c in outcome.metadata["drifted"])


def test_tail_coverage_clipped_and_widened_fail(parts):
    train, synthetic = parts["train"], parts["synthetic"]
    assert tail_coverage(blend_of(train[:0], synthetic), train, "Class", 0.5).passed
    income = synthetic["annual_inc"]
    clipped = synthetic.with_columns(pl.col("annual_inc").clip(income.quantile(0.05), income.quantile(0.95)))
    outcome = tail_coverage(blend_of(train[:0], clipped), train, "Class", 0.5)
    assert not outcome.passed and any("annual_inc" in t for t in outcome.metadata["drifted_tails"])
    mean = synthetic["int_rate"].mean()
    widened = synthetic.with_columns((pl.col("int_rate") - mean) * 2 + mean)
    outcome = tail_coverage(blend_of(train[:0], widened), train, "Class", 0.5)
    assert not outcome.passed and any("int_rate" in t for t in outcome.metadata["drifted_tails"])


def test_small_blends_do_not_raise_false_tail_alarms(parts):
    # 200 i.i.d. rows: shares are noisy, but not significantly different from the real ones.
    small = parts["synthetic"][:200]
    assert tail_coverage(blend_of(small[:0], small), parts["train"], "Class", 0.5).passed


def test_ingest_checks_pass_and_fail(tmp_path, tiny_csv):
    plan = parse_plan(f"name: t\nsource: {{path: {tiny_csv}}}\ntarget: Class\n", tmp_path)
    real = pl.read_csv(tiny_csv)
    assert target_usable(real, plan).passed
    assert not target_usable(real.drop("Class"), plan).passed
    single = real.filter(pl.col("Class") == "good")
    assert not target_usable(single, plan).passed
    assert enough_rows(real, 20).passed and not enough_rows(real.head(5), 20).passed
    assert no_all_null_column(real).passed
    outcome = no_all_null_column(real.with_columns(pl.lit(None, dtype=pl.Float64).alias("empty")))
    assert not outcome.passed and outcome.metadata["all_null_columns"] == ["empty"]
    assert unique_key(real.with_row_index("id"), ["id"]).passed
    outcome = unique_key(pl.concat([real, real.head(3)]), [])
    assert not outcome.passed and outcome.metadata["duplicate_rows"] == 3


def test_plan_checks_blocking_names_are_validated(tmp_path):
    assert Checks(blocking=["blend_dcr_share"]).severity("blend_dcr_share") == "ERROR"
    assert Checks().severity("blend_dcr_share") == "WARN"
    with pytest.raises(PlanError, match="checks.blocking"):
        parse_plan("name: t\nsource: {path: x.csv}\ntarget: y\nchecks: {blocking: [blend_dcr_shares]}\n", tmp_path)


def test_schema_and_real_share_floor_pass_and_fail(parts):
    from hybrid_data.quality import real_share_floor, schema_matches

    train, synthetic = parts["train"], parts["synthetic"]
    blend = blend_of(train, synthetic)
    assert schema_matches(blend, train).passed
    dropped = schema_matches(blend.drop("int_rate"), train)
    assert not dropped.passed and dropped.metadata["missing_columns"] == ["int_rate"]
    retyped = schema_matches(blend.with_columns(pl.col("funded_amnt").cast(pl.Float64)), train)
    assert not retyped.passed and retyped.metadata["type_mismatches"]
    assert real_share_floor(blend, 0.5, 0.25, True).passed
    thin = blend_of(train[:100], synthetic)
    outcome = real_share_floor(thin, 0.5, 0.25, True)
    assert not outcome.passed and outcome.metadata["real_share"] < 0.25
    assert real_share_floor(blend_of(train[:0], synthetic), 1.0, 0.25, True).passed  # the allowed baseline
