"""The nearest-neighbour DCR share agrees with SDMetrics' DCROverfittingProtection (its cross-merge search)."""

import warnings

import polars as pl

from hybrid_data.fidelity import sdmetrics_metadata
from hybrid_data.privacy import privacy_scores
from tests.conftest import BUNDLED_CSV

# Stated tolerance: SDMetrics measures L1 Gower distances, the index Euclidean ones over the same scaled features;
# on the bundled data the shares differ by under 0.02 (docs/checks.md), so 0.05 leaves room for other data.
TOLERANCE = 0.05


def test_dcr_share_agrees_with_sdmetrics():
    from sdmetrics.single_table import DCROverfittingProtection

    real = pl.read_csv(BUNDLED_CSV, infer_schema_length=100_000).sample(fraction=1.0, shuffle=True, seed=11)
    train, holdout = real[:800], real[800:1600]
    # Half memorised training rows, half fresh ones: a share well away from 0.5, so agreement means something.
    synthetic = pl.concat([train.sample(n=200, seed=1), real[1600:1800]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = DCROverfittingProtection.compute_breakdown(
            train.to_pandas(), synthetic.to_pandas(), holdout.to_pandas(), sdmetrics_metadata(train), None
        )["synthetic_data_percentages"]["closer_to_training"]
    # SDMetrics scales each side by its own ranges; mirror that for the comparison.
    ours = privacy_scores(synthetic, train, holdout, sample_rows=10_000, seed=0, common_scale=False)
    assert expected > 0.6
    assert abs(ours.dcr_share - expected) <= TOLERANCE
