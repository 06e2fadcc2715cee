"""Privacy distances against brute force, the sampled search against the exhaustive one, and exact-copy and
holdout-collision checks calibrated to chance on low-entropy data."""

import numpy as np
import polars as pl
import pytest

from hybrid_data.privacy import CopyTest, GowerScaling, exact_copies_outcome, nearest, privacy_scores
from hybrid_data.quality import holdout_isolation
from hybrid_data.source import ORIGIN_COLUMN
from tests.conftest import BUNDLED_CSV


def mixed(n: int, seed: int) -> pl.DataFrame:
    """Numbers (some null), a date, categories (some null): every branch of the encoding."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(100, 30, n)
    return pl.DataFrame(
        {
            "amount": pl.Series(amount).set(pl.Series(rng.random(n) < 0.1), None),
            "count": rng.integers(0, 5, n),
            "day": pl.date_range(pl.date(2020, 1, 1), pl.date(2030, 1, 1), eager=True).sample(
                n, seed=seed, with_replacement=True
            ),
            "grade": pl.Series(rng.choice(["A", "B", "C"], n)).set(pl.Series(rng.random(n) < 0.05), None),
            "state": rng.choice(["CA", "NY", "TX", "WA"], n),
        }
    )


def brute_force(queries: pl.DataFrame, reference: pl.DataFrame, scaling: GowerScaling, power: int) -> np.ndarray:
    """Every pairwise Gower distance in float64, straight from the definition in hybrid_data/privacy.py."""
    total = np.zeros((queries.height, reference.height))
    for name, (low, span) in scaling.numeric.items():
        q = queries[name].to_physical().cast(pl.Float64).to_numpy()
        r = reference[name].to_physical().cast(pl.Float64).to_numpy()
        q_null, r_null = np.isnan(q), np.isnan(r)
        diff = np.abs(np.where(q_null, low, q)[:, None] - np.where(r_null, low, r)[None, :]) / span
        total += diff**power + (q_null[:, None] != r_null[None, :])
    for name in scaling.categorical:
        q = queries[name].fill_null("<null>").to_numpy()
        r = reference[name].fill_null("<null>").to_numpy()
        total += q[:, None] != r[None, :]
    return np.sqrt(total / scaling.n_columns) if power == 2 else total


@pytest.mark.parametrize("power", [1, 2])
@pytest.mark.parametrize("sizes", [(300, 700), (1500, 3000)])  # one group; several (queries sorted by group)
def test_exhaustive_search_equals_brute_force(power, sizes):
    queries, reference = mixed(sizes[0], 1), mixed(sizes[1], 2)
    scaling = GowerScaling.fit(pl.concat([queries, reference]))
    encoded_queries, encoded_reference = scaling.encode(queries, reference)
    found = nearest(
        encoded_queries,
        encoded_reference,
        2,
        power=power,
        threads=2,
        n_columns=scaling.n_columns if power == 2 else None,
    )
    expected = brute_force(queries, reference, scaling, power)
    # float32 sums of at most p terms, each within [0, 2]: 1e-5 is far above their rounding error.
    np.testing.assert_allclose(found.distances, np.sort(expected, axis=1)[:, :2], atol=1e-5)
    picked = expected[np.arange(sizes[0]), found.indices[:, 0]]
    np.testing.assert_allclose(picked, found.distances[:, 0], atol=1e-5)


@pytest.fixture(scope="module")
def parts() -> dict[str, pl.DataFrame]:
    real = pl.read_csv(BUNDLED_CSV, infer_schema_length=100_000).sample(fraction=1.0, shuffle=True, seed=5)
    return {"train": real[:3000], "holdout": real[3000:4000], "synthetic": real[4000:7000]}


def test_sampled_search_agrees_with_the_exhaustive_one_within_its_error(parts):
    train, holdout, synthetic = parts["train"], parts["holdout"], parts["synthetic"]
    full = privacy_scores(synthetic, train, holdout, 1000, seed=0, exclude=["Class"])
    sampled = privacy_scores(synthetic, train, holdout, 1000, seed=0, exclude=["Class"], exhaustive_max_rows=2000)
    assert full.exhaustive and full.dcr_share_se == 0.0 and full.sampled_rows == 3000
    assert not sampled.exhaustive and sampled.sampled_rows == 1000 and sampled.dcr_share_se > 0
    assert abs(sampled.dcr_share - full.dcr_share) <= 3 * sampled.dcr_share_se
    budgeted = privacy_scores(
        synthetic, train, holdout, 100, seed=0, exclude=["Class"], exhaustive_max_pairs=full.search.pairs // 4
    )
    assert not budgeted.exhaustive and budgeted.search.pairs <= full.search.pairs // 4
    assert budgeted.sampled_rows == 750 and budgeted.search.searched_holdout == 250  # both scaled by 1/4
    assert abs(budgeted.dcr_share - full.dcr_share) <= 3 * budgeted.dcr_share_se
    # Real rows from the same distribution: synthetic figures sit on the holdout-to-train yardstick.
    assert full.dcr_train_median == pytest.approx(full.yardstick_dcr_median, rel=0.15)
    assert full.nndr_median == pytest.approx(full.yardstick_nndr_median, rel=0.15)
    assert "left out: Class" in full.distance and "real_train + real_holdout" in full.distance


def test_the_share_standard_error_is_calibrated_against_the_exhaustive_share(parts):
    """Over many seeded samples (half the synthetic rows each, so the finite-population correction matters:
    without it the errors would be 1.4x too large), (sampled - exhaustive) / se behaves like a standard normal."""
    train, holdout, synthetic = parts["train"][:1500], parts["holdout"][:500], parts["synthetic"][:1500]
    z = []
    for seed in range(60):
        full = privacy_scores(synthetic, train, holdout, 10, seed=seed, exclude=["Class"])
        budget = full.search.pairs // 2
        sampled = privacy_scores(synthetic, train, holdout, 10, seed, exclude=["Class"], exhaustive_max_pairs=budget)
        assert sampled.sampled_rows == 750 and sampled.search.pairs <= budget
        z.append((sampled.dcr_share - full.dcr_share) / sampled.dcr_share_se)
    z = np.array(z)
    # Mean square 1 for a calibrated error (its own s.e. here is about sqrt(2/60) = 0.18; observed 1.02, 95% of
    # samples within 2 s.e.); 0.5 without the finite-population correction, above 1 if it were understated.
    assert 0.6 <= np.mean(z**2) <= 1.5
    assert np.mean(np.abs(z) <= 2) >= 0.85


def test_search_plan_bounds_the_pairs_not_the_rows():
    from hybrid_data.privacy import search_plan

    small = search_plan(100_000, 80_000, 20_000, max_pairs=15_000_000_000)
    assert small.exhaustive and small.pairs == 100_000 * (80_000 + 2 * 20_000) + 20_000 * 80_000
    assert small.describe().startswith("exhaustive: every synthetic row (100,000)")
    # 1M real rows, the r=0.1 blend: 89k synthetic rows against 800k train rows, and a 200k-row yardstick.
    big = search_plan(88_889, 800_000, 200_000, max_pairs=15_000_000_000, min_rows=1000)
    assert not big.exhaustive and big.pairs <= 15_000_000_000
    fraction = 15_000_000_000 / big.exhaustive_pairs
    assert (big.searched_synthetic, big.searched_holdout) == (int(88_889 * fraction), int(200_000 * fraction))
    assert big.exhaustive_pairs == 88_889 * 1_200_000 + 200_000 * 800_000
    assert "privacy.exhaustive_max_pairs (15,000,000,000)" in big.describe()
    # A tiny budget still searches the floor of rows (checks.privacy_sample_rows), or all of them if fewer.
    floor = search_plan(50_000, 80_000, 3_000, max_pairs=1_000_000, min_rows=5000)
    assert (floor.searched_synthetic, floor.searched_holdout) == (5000, 3000)
    # The older row bound still works where a plan sets it, and says so; it is off by default.
    from hybrid_data.plan import Privacy

    assert Privacy().exhaustive_max_rows is None and Privacy(exhaustive_max_rows=250_000).exhaustive_max_rows
    rows = search_plan(300_000, 1000, 500, max_pairs=15_000_000_000, min_rows=5000, max_synthetic_rows=250_000)
    assert rows.searched_synthetic == 5000 and rows.searched_holdout == 500
    assert "exceed privacy.exhaustive_max_rows (250,000)" in rows.describe()


def test_dcr_and_nndr_state_the_same_distance_and_search(parts):
    from hybrid_data.plan import Privacy
    from hybrid_data.privacy import dcr_outcome, nndr_outcome

    train, holdout, synthetic = parts["train"], parts["holdout"], parts["synthetic"]
    for budget in (Privacy().exhaustive_max_pairs, 6_000_000):  # all of 18e6 pairs; a third of them
        scores = privacy_scores(synthetic, train, holdout, 100, seed=0, exclude=["Class"], exhaustive_max_pairs=budget)
        dcr, nndr = dcr_outcome(scores, 0.6).metadata, nndr_outcome(scores, 0.1).metadata
        for key in ("distance_kind", "distance", "search", "search_exhaustive", "pairs_compared", "max_pairs"):
            assert dcr[key] == nndr[key], key
        assert dcr["distance_kind"] == "euclidean_gower" and "left out: Class" in dcr["distance"]
        assert dcr["search_exhaustive"] == (budget > 6_000_000)
        assert dcr["search"].startswith("exhaustive" if dcr["search_exhaustive"] else "sampled")
        assert dcr["pairs_compared"] <= budget and dcr["plan_key"] == "privacy.exhaustive_max_pairs"
        assert (dcr["dcr_share_sampling_se"] > 0) == (not dcr["search_exhaustive"])


def low_entropy(n: int, seed: int) -> pl.DataFrame:
    """Three skewed categorical columns: 60 combinations, a few of them common, so rows repeat by chance."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue", "grey"], n, p=[0.55, 0.25, 0.15, 0.05]),
            "size": rng.choice(["S", "M", "L"], n, p=[0.6, 0.3, 0.1]),
            "grade": rng.choice(list("ABCDE"), n, p=[0.5, 0.2, 0.15, 0.1, 0.05]),
        }
    )


def split_distinct(frame: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Distinct rows split at random 80/20, as staging and the hashed split do."""
    distinct = frame.unique().sample(fraction=1.0, shuffle=True, seed=seed)
    cut = int(distinct.height * 0.8)
    return distinct[:cut], distinct[cut:]


def test_chance_collisions_pass_and_copies_fail_on_low_entropy_data():
    train, holdout = split_distinct(low_entropy(5000, 1), seed=1)
    independent = low_entropy(2000, 2)  # the same kind of rows, drawn without looking at train
    outcome = exact_copies_outcome(independent, train, 0, holdout, 1.5)
    assert outcome.metadata["exact_copies"] > 1000  # most rows equal a training row by chance ...
    assert outcome.passed  # ... at the rate they equal holdout rows, which the generator never saw
    assert outcome.metadata["p_rates"] > 0.01 and outcome.metadata["chance_ceiling"] > 1000
    assert outcome.metadata["rate_ratio"].startswith(("0.", "1."))  # the ratio, its interval, what it divides
    assert "checks.max_copy_ratio" in outcome.metadata["plan_keys"]
    copier = train.sample(n=2000, with_replacement=True, seed=3)  # memorises training rows, never a holdout row
    failed = exact_copies_outcome(copier, train, 0, holdout, 1.5)
    assert not failed.passed and failed.metadata["yardstick_distinct_holdout_rows_hit"] == 0
    assert failed.metadata["p_rates"] < 0.0005 and "rate on real_holdout" in failed.metadata["finding"]


def test_one_copied_row_fails_where_rows_never_collide_by_chance(parts):
    train, holdout, synthetic = parts["train"], parts["holdout"], parts["synthetic"]
    assert exact_copies_outcome(synthetic, train, 0, holdout).passed
    outcome = exact_copies_outcome(pl.concat([synthetic, train[:1]]), train, 0, holdout)
    assert not outcome.passed and outcome.metadata["exact_copies"] == 1
    # 1 train row vs 0 holdout rows says nothing by itself (p = 0.75); no two real rows are even one column apart.
    assert outcome.metadata["p_rates"] == pytest.approx(0.75)
    assert outcome.metadata["near_duplicate_rate"] == 0 and outcome.metadata["p_chance"] == 0


def test_few_chance_copies_without_holdout_hits_pass():
    """The case that blocked a blend in one of three runs: 2 copies and 0 holdout hits on data whose real rows
    are often one column apart. The old rule (no holdout hit, so any copy fails) blocked it; chance explains it."""
    rng = np.random.default_rng(7)
    real = pl.DataFrame(
        {
            "income": rng.integers(20, 60, 4000) * 1000,
            "grade": rng.choice(list("ABC"), 4000),
            "flag": rng.random(4000) < 0.3,
        }
    )
    train, holdout = split_distinct(real, seed=1)
    synthetic = pl.concat([train[:2], holdout.with_columns(pl.col("income") + 500)])  # 2 copies, 0 holdout rows
    outcome = exact_copies_outcome(synthetic, train, 0, holdout, 1.5)
    assert outcome.metadata["distinct_train_rows_copied"] == 2
    assert outcome.metadata["yardstick_distinct_holdout_rows_hit"] == 0
    assert outcome.passed and outcome.metadata["near_duplicate_rate"] > 0.01


def test_copy_test_matches_the_binomial_and_poisson_by_hand():
    from scipy.stats import binom, poisson

    test = CopyTest("real_train", "real_holdout", 30, 800, 2, 200, 1000, 1e-6, 0, 1.5)
    assert test.p_rates == pytest.approx(binom.sf(29, 32, 0.8))  # P(X >= 30), X ~ Binomial(32, 0.8)
    assert test.p_chance == pytest.approx(poisson.sf(29, 1000 * 800 * 1e-6))
    ratio, low, high = test.rate_ratio()
    assert ratio == pytest.approx((30 / 800) / (2 / 200)) and low < ratio < high
    assert CopyTest("real_train", "real_holdout", 3, 800, 0, 200, 1000, 0.0, 3, 1.5).passed  # within the allowance
    assert not CopyTest("real_train", "real_holdout", 1, 800, 5, 200, 1000, 0.1, 0, 0.0).passed  # ratio 0: absolute


def _blend(real: pl.DataFrame, synthetic: pl.DataFrame) -> pl.DataFrame:
    return pl.concat(
        [
            real.with_columns(pl.lit("real").alias(ORIGIN_COLUMN)),
            synthetic.with_columns(pl.lit("synthetic").alias(ORIGIN_COLUMN)),
        ]
    )


def test_holdout_isolation_tells_a_leak_from_chance_on_low_entropy_data():
    train, holdout = split_distinct(low_entropy(5000, 1), seed=1)
    independent = low_entropy(2000, 2)
    chance = holdout_isolation(_blend(train, independent), holdout, train)
    assert chance.metadata["synthetic_rows_equal_to_holdout"] > 0 and chance.passed
    assert chance.metadata["real_rows_from_holdout"] == 0
    leaked = holdout_isolation(_blend(pl.concat([train, holdout[:1]]), independent), holdout, train)
    assert not leaked.passed and leaked.metadata["real_rows_from_holdout"] == 1


def test_near_duplicate_rate_counts_pairs_one_column_apart():
    """The hashed count against its definition: pairs of rows equal on every column but one."""
    from hybrid_data.privacy import near_duplicate_rate

    def by_definition(real: pl.DataFrame) -> float:
        pairs = 0
        for column in real.columns:
            groups = real.group_by([c for c in real.columns if c != column]).len()["len"]
            pairs += int((groups * (groups - 1) // 2).sum())
        return pairs / (real.height * (real.height - 1) / 2)

    for frame in (
        low_entropy(3000, 4).unique(),
        mixed(2000, 3).unique(),
        mixed(300, 5).select("count", "grade").unique(),
    ):
        assert near_duplicate_rate(frame) == pytest.approx(by_definition(frame))
    assert near_duplicate_rate(pl.DataFrame({"a": [1, 1, 2, None], "b": ["x", "y", "x", "x"]})) == pytest.approx(4 / 6)
