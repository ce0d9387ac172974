"""Sketch update throughput: calipers' backends vs the numpy reference vs the peers.

Run: python -m pytest bench/bench_sketch.py --benchmark-enable --benchmark-group-by=param
(each test also checks its result against the numpy reference). For one ratio table:
python bench/ratios.py
"""

import numpy as np
import pytest

import calipers

BACKENDS = ["cpp", "numba", "numpy"]


def _skip_unavailable(backend):
    state = calipers.available_backends()[backend]
    if state != "ok":
        pytest.skip(f"{backend} unavailable: {state}")


@pytest.mark.parametrize("n", [10**5, 10**6, 10**7])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_update_binary(benchmark, binary_data, n, dtype, backend):
    _skip_unavailable(backend)
    p, y = binary_data[n]
    p = p.astype(dtype)
    calipers.ReliabilitySketch(backend=backend).update(p[:10], y[:10])  # compile numba first
    s = benchmark(lambda: calipers.ReliabilitySketch(backend=backend).update(p, y))
    assert s.count == n


@pytest.mark.parametrize("shape", [(10**6, 10), (10**5, 1000)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_update_top_label(benchmark, topk_data, shape, backend):
    _skip_unavailable(backend)
    P, y = topk_data[shape]
    calipers.ReliabilitySketch(backend=backend).update(P[:10], y[:10])
    s = benchmark(lambda: calipers.ReliabilitySketch(backend=backend).update(P, y))
    assert s.count == shape[0]


@pytest.mark.parametrize("n", [10**5, 10**6, 10**7])
def test_numpy_sum_floor(benchmark, binary_data, n):
    p, _ = binary_data[n]
    benchmark(np.sum, p)


@pytest.mark.parametrize("n", [10**5, 10**6])
def test_uncertainty_calibration_get_ece(benchmark, binary_data, n):
    calibration = pytest.importorskip("calibration", reason="uncertainty-calibration not installed")
    p, y = binary_data[n]
    value = benchmark.pedantic(calibration.get_ece, args=(p, y), rounds=3)
    assert value == pytest.approx(calipers.ece(p, y, compat="uncertainty-calibration"), rel=1e-9)


@pytest.mark.parametrize("n", [10**5, 10**6])
def test_sklearn_calibration_curve(benchmark, binary_data, n):
    sk = pytest.importorskip("sklearn.calibration", reason="scikit-learn not installed")
    p, y = binary_data[n]
    prob_true, _ = benchmark(sk.calibration_curve, y, p, n_bins=15)
    assert np.allclose(prob_true, calipers.reliability(p, y, compat="sklearn").frequency, rtol=1e-12)
