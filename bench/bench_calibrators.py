"""Calibrator fit and transform: calipers' backends vs the numpy reference vs the peers.

Run: python -m pytest bench/bench_calibrators.py --benchmark-enable --benchmark-group-by=func
(each test also checks its result). One ratio table: python bench/ratios.py calibrators
"""

import numpy as np
import pytest

import calipers

BACKENDS = ["cpp", "numba", "numpy"]


def _live(backend):
    state = calipers.available_backends()[backend]
    if state != "ok":
        pytest.skip(f"{backend} unavailable: {state}")


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    truth = rng.beta(2, 2, 10**5)
    p = 1 / (1 + np.exp(-2.5 * np.log(truth / (1 - truth))))  # overconfident scores
    return p, (rng.random(truth.size) < truth).astype(np.int64)


@pytest.fixture(scope="module")
def logits():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(10**5, 10)) * 3
    P = np.exp(Z / 2 - (Z / 2).max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    return Z, (P.cumsum(axis=1) > rng.random((Z.shape[0], 1))).argmax(axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "method", ["PlattScaling", "BetaCalibration", "IsotonicCalibration", "HistogramBinning", "ScalingBinning"]
)
def test_fit(benchmark, binary, backend, method):
    _live(backend)
    p, y = binary
    cal = benchmark(lambda: getattr(calipers, method)(backend=backend).fit(p, y))
    out = cal.transform(np.sort(p))
    assert np.all(np.diff(out) >= -1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_temperature_fit(benchmark, logits, backend):
    _live(backend)
    Z, y = logits
    cal = benchmark(lambda: calipers.TemperatureScaling(backend=backend).fit(Z, y))
    assert cal.temperature_ == pytest.approx(2.0, rel=0.05)


def test_sklearn_isotonic_fit(benchmark, binary):
    iso = pytest.importorskip("sklearn.isotonic", reason="scikit-learn not installed")
    p, y = binary
    ref = benchmark(lambda: iso.IsotonicRegression(out_of_bounds="clip").fit(p, y))
    np.testing.assert_allclose(calipers.IsotonicCalibration().fit(p, y).transform(p), ref.predict(p), atol=1e-9)


@pytest.mark.parametrize("method", ["PlattScaling", "IsotonicCalibration", "HistogramBinning"])
def test_one_sample_transform(benchmark, binary, method):
    p, y = binary
    cal = getattr(calipers, method)().fit(p, y)
    x = np.array([0.3])
    out = benchmark(cal.transform, x)
    assert out.shape == (1,)
