"""The streaming Poisson bootstrap draws only for the units an update touches: the same
distribution as drawing every unit (untouched units get Poisson(0) = 0), at a cost that
does not grow with the bins."""

from __future__ import annotations

import numpy as np

import calipers
from calipers import ReliabilitySketch
from calipers.metrics.bootstrap import bootstrap_ci, poisson_draws, poisson_replicates, unit_bounds


def test_only_touched_units_change_and_single_samples_carry_their_score():
    s = ReliabilitySketch(bins=10, replicates=400, seed=0)
    s.update([0.33], [1])  # unit 2 * 3 + 1
    reps = s._replicates
    assert np.count_nonzero(reps[:, np.arange(20) != 7, :]) == 0
    draws, sums = reps[:, 7, 0], reps[:, 7, 1]
    np.testing.assert_array_equal(sums, draws * 0.33)  # one sample: no score noise
    assert abs(draws.mean() - 1.0) < 0.15 and abs(draws.var() - 1.0) < 0.25  # Poisson(1): measured 0.99, 1.02


def test_many_single_updates_give_poisson_totals():
    rng = np.random.default_rng(1)
    s = ReliabilitySketch(replicates=2000, seed=2)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(int)
    for i in range(300):
        s.update([p[i]], [y[i]])
    totals = s._replicates[:, :, 0].sum(axis=1)
    # Poisson(300): mean 300, sd 17.3; 2000 replicates put the mean within +-1.2 (3 sd)
    assert abs(totals.mean() - 300) < 1.2 and 0.85 < totals.var() / 300 < 1.15
    # the interval of 300 one-record updates matches the batch bootstrap of the same data
    streamed = s.ece_interval()
    batch = bootstrap_ci(calipers.ece, p, y, n_resamples=2000, seed=3)
    assert abs(streamed.low - batch.low) < 0.02 and abs(streamed.high - batch.high) < 0.02  # measured < 0.006


def test_sparse_draws_match_the_dense_model():
    rng = np.random.default_rng(4)
    count = np.array([0, 5, 0, 1, 40, 0], np.int64)
    total = np.array([0.0, 0.5, 0.0, 0.35, 32.0, 0.0])
    sumsq = np.array([0.0, 0.06, 0.0, 0.1225, 25.8, 0.0])
    units, inc = poisson_replicates((count, total, sumsq), 3, 20000, rng)
    np.testing.assert_array_equal(units, [1, 3, 4])
    lo, hi = unit_bounds(3)
    assert np.all(inc[:, :, 1] >= inc[:, :, 0] * lo[units] - 1e-12)
    assert np.all(inc[:, :, 1] <= inc[:, :, 0] * hi[units] + 1e-12)
    # counts Poisson(n_u), sums with mean n_u m_u: the dense model's moments
    np.testing.assert_allclose(inc[:, :, 0].mean(axis=0), count[units], rtol=0.03)
    np.testing.assert_allclose(inc[:, :, 0].var(axis=0), count[units], rtol=0.05)
    np.testing.assert_allclose(inc[:, :, 1].mean(axis=0), total[units], rtol=0.03)
    again = poisson_draws(count[units], total[units], sumsq[units], lo[units], hi[units], 5, np.random.default_rng(0))
    assert again.shape == (5, 3, 2)
