"""Fidelity checks: SDMetrics' all-pairs quality score and the discriminator AUC, on rows that pass and on a
shifted column that must fail."""

import polars as pl
import pytest

from hybrid_data.fidelity import detection_auc, detection_outcome, quality_outcome, quality_score
from tests.conftest import BUNDLED_CSV


@pytest.fixture(scope="module")
def halves():
    real = pl.read_csv(BUNDLED_CSV, infer_schema_length=100_000).sample(n=1600, shuffle=True, seed=5)
    return real[:800], real[800:]


def test_quality_scores_every_pair_and_drops_for_a_shifted_column(halves):
    train, synthetic = halves
    score = quality_score(train, synthetic, "Class", rows=800, seed=0)
    assert score.pairs_scored == 23 * 22 // 2  # every pair, not only the strongly correlated ones
    assert score.target_pairs_min is not None
    shifted = synthetic.with_columns(
        pl.col("int_rate") + 2 * pl.col("int_rate").std(), pl.col("funded_amnt") * 3, pl.col("annual_inc") * 3
    )
    broken = quality_score(train, shifted, "Class", rows=800, seed=0)
    # Shifts and scalings leave correlations alone, so the drop shows in the column shapes.
    assert broken.column_shapes < score.column_shapes - 0.05
    assert quality_outcome(score, 0.91).passed and not quality_outcome(broken, 0.91).passed


def test_discriminator_auc_near_half_for_real_rows_and_high_for_a_shifted_column(halves):
    train, synthetic = halves
    auc = detection_auc(train, synthetic, rows=800, seed=0)
    assert auc < 0.65
    assert detection_outcome(auc, 0.95, 800).passed
    shifted = synthetic.with_columns(pl.col("int_rate") + 2 * pl.col("int_rate").std())
    broken = detection_auc(train, shifted, rows=800, seed=0)
    assert broken > 0.95
    assert not detection_outcome(broken, 0.95, 800).passed


DETECTION_IN_A_FRESH_PROCESS = """
import sys
import polars as pl
from hybrid_data.fidelity import detection_auc

real = pl.read_csv(sys.argv[2], infer_schema_length=100_000).sample(n=1600, shuffle=True, seed=5)
# Something else in this process saw the same categories first, in another order, and still holds them.
seen_first = [
    real[c].drop_nulls().unique().sort().shuffle(seed=int(sys.argv[1])).cast(pl.Categorical)
    for c, t in real.schema.items()
    if t == pl.String
]
print(repr(detection_auc(real[:800], real[800:], rows=800, seed=0)))
"""


def test_detection_auc_is_the_same_in_every_process():
    """Issue 15.5: category codes came from polars' process-wide mapping, so identical data gave 0.9462 / 0.9496 /
    0.9501 in different processes. Two fresh processes, different hash seeds and categories seen in different
    orders beforehand, must give the identical AUC."""
    import os
    import subprocess
    import sys

    # Both at once: each process spends most of its time importing.
    running = [
        subprocess.Popen(
            [sys.executable, "-c", DETECTION_IN_A_FRESH_PROCESS, seed, str(BUNDLED_CSV)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    values = []
    for process in running:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        values.append(float(out.strip().splitlines()[-1]))
    assert values[0] == values[1]
