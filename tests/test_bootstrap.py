"""bootstrap_ci (row resampling and the binned fast path) and the sketch's streaming
Poisson bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

import calipers
from calipers import ReliabilitySketch, bootstrap_ci


def _close(a, b, width_share=0.2):
    width = max(a.high - a.low, b.high - b.low)
    assert abs(a.low - b.low) < width_share * width and abs(a.high - b.high) < width_share * width, (a, b)


def test_row_resampling_is_the_textbook_bootstrap():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    got = bootstrap_ci(calipers.brier, p, y, n_resamples=200, seed=7)
    draws = np.random.default_rng(7)
    manual = np.array([calipers.brier(p[i], y[i]) for i in (draws.integers(0, 500, 500) for _ in range(200))])
    np.testing.assert_array_equal(got.replicates, manual)
    lo, hi = np.quantile(manual, [0.025, 0.975])
    assert (got.low, got.high) == (lo, hi) and not got.fast
    basic = bootstrap_ci(calipers.brier, p, y, n_resamples=200, seed=7, method="basic")
    assert basic.low == pytest.approx(2 * basic.estimate - hi) and basic.high == pytest.approx(2 * basic.estimate - lo)
    low, high = got  # unpacks like a pair
    assert low < got.estimate < high


def test_any_callable_and_keyword_arguments(cifar):
    P, y = cifar
    got = bootstrap_ci(lambda a, b: float(np.mean(a.argmax(1) == b)), P, y, n_resamples=100, seed=0)
    assert got.low < got.estimate < got.high
    mass = bootstrap_ci(calipers.ece, P, y, n_resamples=50, seed=0, binning="mass")
    assert not mass.fast and mass.low < mass.high


@pytest.mark.parametrize("norm,debiased", [("l1", False), ("l2", False), ("l2", True), ("max", False)])
def test_fast_path_agrees_with_row_resampling(cifar, norm, debiased):
    P, y = cifar
    kw = dict(norm=norm, debiased=debiased)
    fast = bootstrap_ci(calipers.ece, P, y, n_resamples=2000, seed=1, **kw)
    rows = bootstrap_ci(calipers.ece, P, y, n_resamples=400, seed=2, fast=False, **kw)
    assert fast.fast and not rows.fast
    assert fast.estimate == rows.estimate == calipers.ece(P, y, **kw)
    _close(fast, rows, 0.25 if norm == "max" else 0.15)


def test_fast_path_on_binary_scores(sklearn_outputs):
    P, y = sklearn_outputs["cancer-lr"]
    fast = bootstrap_ci(calipers.ece, P[:, 1], y, n_resamples=3000, seed=1, bins=10)
    rows = bootstrap_ci(calipers.ece, P[:, 1], y, n_resamples=600, seed=2, fast=False, bins=10)
    _close(fast, rows)


def test_arguments_are_checked():
    p, y = np.array([0.2, 0.7]), np.array([0, 1])
    for bad in (dict(n_resamples=0), dict(confidence=1.0), dict(method="bca")):
        with pytest.raises(ValueError):
            bootstrap_ci(calipers.ece, p, y, **bad)
    for wrong_type in (dict(n_resamples=True), dict(n_resamples=2.0), dict(confidence="0.9"), dict(method=3)):
        with pytest.raises(TypeError):
            bootstrap_ci(calipers.ece, p, y, **wrong_type)
    with pytest.raises(ValueError, match="rows"):
        bootstrap_ci(lambda a, b: 0.0, p, y[:1])
    with pytest.raises(ValueError):
        bootstrap_ci(calipers.ece, np.array([0.2, np.nan]), y)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["percentile", "basic"])
def test_coverage_of_a_known_miscalibration(method):
    """A forecaster p ~ U(0, 1) whose outcomes follow q(p) = p^2: the true 15-bin ECE is
    sum_b (1/15) |mean over the bin of p - p^2|. 95% intervals must cover it 93-97% of
    the time over 400 independent data sets."""
    edges = np.linspace(0, 1, 16)
    a, b = edges[:-1], edges[1:]
    mean_gap = ((b**2 - a**2) / 2 - (b**3 - a**3) / 3) / (b - a)
    truth = float(np.sum(np.abs(mean_gap)) / 15)
    rng = np.random.default_rng(12345)
    hits = 0
    for rep in range(400):
        p = rng.random(4000)
        y = (rng.random(4000) < p**2).astype(int)
        ci = bootstrap_ci(calipers.ece, p, y, n_resamples=1000, seed=rep, method=method)
        hits += ci.low <= truth <= ci.high
    assert 0.93 * 400 <= hits <= 0.97 * 400, hits


def test_streaming_poisson_bootstrap_matches_the_batch(cifar):
    P, y = cifar
    sketch = ReliabilitySketch(replicates=3000, seed=3)
    for idx in np.array_split(np.arange(len(y)), 9):
        sketch.update(P[idx], y[idx])
    assert sketch.ece() == calipers.ece(P, y)  # the exact state is untouched by replicates
    batch = bootstrap_ci(calipers.ece, P, y, n_resamples=3000, seed=4)
    for norm, debiased in (("l1", False), ("l2", True)):
        streamed = sketch.ece_interval(norm=norm, debiased=debiased)
        _close(streamed, bootstrap_ci(calipers.ece, P, y, n_resamples=3000, seed=4, norm=norm, debiased=debiased))
    basic = sketch.ece_interval(method="basic", confidence=0.9)
    assert basic.confidence == 0.9 and basic.low < batch.estimate < basic.high


def test_replicates_merge_serialize_and_stay_all_or_nothing(cifar):
    P, y = cifar
    a = ReliabilitySketch(replicates=50, seed=1).update(P[:4000], y[:4000])
    b = ReliabilitySketch(replicates=50, seed=2).update(P[4000:], y[4000:])
    merged = a + b
    np.testing.assert_array_equal(merged._replicates, a._replicates + b._replicates)
    np.testing.assert_array_equal((b + a)._replicates, merged._replicates)
    assert merged.count == 10_000 and merged.replicates == 50
    blob = merged.to_bytes()
    again = ReliabilitySketch.from_bytes(blob)
    assert again == merged and again.ece_interval().low == merged.ece_interval().low
    import pickle

    assert pickle.loads(pickle.dumps(merged)) == merged
    before = merged._replicates.copy()
    with pytest.raises(ValueError):
        merged.update(P[:10] * 2, y[:10])
    np.testing.assert_array_equal(merged._replicates, before)
    with pytest.raises(ValueError, match="replicates"):
        merged.merge(ReliabilitySketch())
    with pytest.raises(ValueError, match="replicates"):
        ReliabilitySketch(classes=10, replicates=10)
    with pytest.raises(ValueError, match="no bootstrap replicates"):
        ReliabilitySketch().update(P, y).ece_interval()
    # a corrupted replicate block is caught even with a recomputed CRC
    import struct
    import zlib

    words = np.frombuffer(blob[40:-4], "<u8").copy()
    words[-1] = np.array([-5.0]).view(np.uint64)[0]  # a negative score sum
    body = blob[:40] + words.tobytes()
    with pytest.raises(ValueError, match="replicate"):
        ReliabilitySketch.from_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(ValueError):
        ReliabilitySketch.from_bytes(blob[:-12])
    copy = merged.copy()
    copy.update(P[:100], y[:100])
    np.testing.assert_array_equal(merged._replicates, before)  # copies are independent
