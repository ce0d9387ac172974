"""The KLL quantile sketch: rank bounds that always hold, conservative conformal
thresholds under any chunking and merge order, serialization."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers import QuantileSketch


def _true_rank(sorted_values: np.ndarray, x: float) -> int:
    return int(np.searchsorted(sorted_values, x, side="right"))


def test_small_streams_are_exact():
    rng = np.random.default_rng(0)
    s = rng.normal(size=150)
    sketch = QuantileSketch(k=200).update(s)
    assert sketch.error_bound == 0
    for alpha in (0.01, 0.1, 0.37):
        assert sketch.conformal_threshold(alpha) == calipers.conformal_threshold(s, alpha)
    assert calipers.conformal_threshold(sketch, 0.1) == calipers.conformal_threshold(s, 0.1)
    assert QuantileSketch().update(np.arange(8.0)).conformal_threshold(0.1) == math.inf  # k > n


def test_rank_bounds_always_hold_and_stay_small():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.exponential(size=600_000), np.round(rng.normal(size=400_000), 1)])  # ties too
    sketch = QuantileSketch(k=200, seed=2)
    for chunk in np.array_split(values, 37):
        sketch.update(chunk)
    exact = np.sort(values)
    for x in np.quantile(values, np.linspace(0, 1, 101)):
        lo, hi = sketch.rank_bounds(x)
        assert lo <= _true_rank(exact, x) <= hi
    assert sketch.count == values.size and sketch.min == values.min() and sketch.max == values.max()
    assert sketch.error_bound / values.size < 0.03  # deterministic bound, about 3/k
    assert sketch.probable_error(0.01) < sketch.error_bound / 4
    items = sum(lv.size for lv in sketch._levels)
    assert items < 1200  # O(k) memory for 10^6 values
    for q in (0.1, 0.5, 0.9, 0.99):
        assert abs(_true_rank(exact, sketch.quantile(q)) - q * values.size) <= sketch.error_bound + 1


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.5])
def test_conformal_threshold_is_conservative_but_close(alpha):
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, size=300_000)
    parts = [QuantileSketch(seed=i).update(chunk) for i, chunk in enumerate(np.array_split(values, 12))]
    merged = parts[5].copy()
    for i in (3, 0, 11, 1, 2, 4, 6, 10, 7, 9, 8):
        merged += parts[i]
    exact = calipers.conformal_threshold(values, alpha)
    got = merged.conformal_threshold(alpha)
    assert got >= exact
    k = math.ceil((values.size + 1) * (1 - alpha))
    assert _true_rank(np.sort(values), got) <= k + 2 * merged.error_bound + 1  # and not far above
    probable = merged.conformal_threshold(alpha, delta=0.01)
    assert exact <= probable <= got  # holds here; guaranteed only with probability 0.99


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 3000), min_size=1, max_size=6),
    st.integers(0, 1000),
    st.sampled_from([0.02, 0.1, 0.3]),
    st.sampled_from([8, 16, 200]),
)
def test_any_chunking_and_merge_stays_conservative(sizes, seed, alpha, k):
    rng = np.random.default_rng(seed)
    chunks = [np.round(rng.normal(size=s), 2) for s in sizes]
    parts = [QuantileSketch(k=k, seed=seed + i).update(c) for i, c in enumerate(chunks)]
    order = rng.permutation(len(parts))
    merged = parts[order[0]].copy()
    for i in order[1:]:
        merged = merged + parts[i]
    values = np.concatenate(chunks)
    assert merged.count == values.size
    assert merged.conformal_threshold(alpha) >= calipers.conformal_threshold(values, alpha)
    exact = np.sort(values)
    for x in values[:20]:
        lo, hi = merged.rank_bounds(float(x))
        assert lo <= _true_rank(exact, float(x)) <= hi


def test_serialization_and_bad_input():
    rng = np.random.default_rng(4)
    sketch = QuantileSketch(k=64, seed=0).update(rng.normal(size=50_000))
    blob = sketch.to_bytes()
    again = QuantileSketch.from_bytes(blob)
    assert again.to_bytes() == blob and pickle.loads(pickle.dumps(sketch)).to_bytes() == blob
    assert again.conformal_threshold(0.1) == sketch.conformal_threshold(0.1)
    for bad in (blob[:-1], blob[:30], blob[:-20] + blob[-19:], b"junk"):
        with pytest.raises(ValueError):
            QuantileSketch.from_bytes(bad)
    before = sketch.to_bytes()
    with pytest.raises(ValueError, match="finite"):
        sketch.update([1.0, np.inf])
    with pytest.raises(ValueError, match="empty"):
        sketch.update([])
    assert sketch.to_bytes() == before
    with pytest.raises(ValueError, match="k="):
        sketch.merge(QuantileSketch(k=200))
    with pytest.raises(ValueError, match="k must"):
        QuantileSketch(k=2)
    with pytest.warns(RuntimeWarning, match="empty"):  # k = 1 > n = 0: no finite threshold
        assert QuantileSketch().conformal_threshold(0.1) == float("inf")
