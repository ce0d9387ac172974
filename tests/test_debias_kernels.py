"""The Tweedie kernels (kde_score, linear_binning, grid_score) agree on every backend with the
numpy reference and raise the same errors; Tweedie's correction gives the same corrected
predictions whichever backend computes it; the public names are exported."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from calipers._kernels import backend as _backend
from calipers.debias import DebiasingWarning, TweedieCorrection

REFERENCE = _backend.resolve("numpy")


def _points(rng, n):  # type: ignore[no-untyped-def]
    x = np.sort(np.concatenate([rng.normal(size=n), rng.lognormal(size=n // 4) + 3]))
    return x, rng.integers(1, 5, x.size).astype(np.float64)


@pytest.mark.parametrize("n", [1, 2, 300, 5000])
def test_kde_score_agrees(backend, n):
    rng = np.random.default_rng(n)
    x, w = _points(rng, n)
    q = np.concatenate([rng.normal(0, 3, 700), [x[0], x[-1], x[0] - 50.0, x[-1] + 1e3]])
    ker = _backend.resolve(backend)
    for weights in (None, w):
        a = ker.kde_score(x, weights, q, 0.3)
        b = REFERENCE.kde_score(x, weights, q, 0.3)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-10, atol=1e-12 * np.abs(b[1]).max())


def test_linear_binning_and_grid_score_agree(backend):
    rng = np.random.default_rng(4)
    x, w = _points(rng, 4000)
    ker = _backend.resolve(backend)
    lo, step = float(x[0]) - 1.0, 0.01
    cells = int((x[-1] - lo) / step) + 3
    for weights in (None, w):
        a = ker.linear_binning(x, weights, lo, step, cells)
        b = REFERENCE.linear_binning(x, weights, lo, step, cells)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        assert a.sum() == pytest.approx(x.size if weights is None else w.sum(), rel=1e-12)
    g = np.linspace(lo, lo + (cells - 1) * step, cells)
    values, slopes = np.sin(g), np.cos(g)
    values[cells // 2] = np.nan  # a node the fast path does not trust
    q = np.concatenate([rng.uniform(lo - 1, g[-1] + 1, 3000), [lo, g[-1]]])
    for fd in (0.0, 1e-3):
        a = ker.grid_score(q, lo, step, values, slopes, fd)
        b = REFERENCE.grid_score(q, lo, step, values, slopes, fd)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    inside = (q > lo + 0.01) & (q < g[-1] - 0.01) & (np.abs(q - g[cells // 2]) > 2 * step)
    # the cubic Hermite interpolant of sin from exact slopes: error <= step^4 / 384
    np.testing.assert_allclose(ker.grid_score(q, lo, step, values, slopes, 0.0)[inside], np.sin(q[inside]), atol=1e-10)


def test_kernel_errors_agree(backend):
    ker = _backend.resolve(backend)
    x = np.array([0.0, 1.0, 2.0])
    for call, match in (
        (lambda: ker.kde_score(np.array([1.0, 0.0]), None, x, 1.0), "sorted ascending"),
        (lambda: ker.kde_score(x, None, np.array([0.0, np.nan]), 1.0), "queries must be finite"),
        (lambda: ker.kde_score(x, np.array([1.0, 0.0, 1.0]), x, 1.0), "weights must be positive"),
        (lambda: ker.kde_score(x, None, x, 0.0), "bandwidth"),
        (lambda: ker.kde_score(np.zeros(0), None, x, 1.0), "at least one"),
        (lambda: ker.linear_binning(x, None, 0.5, 0.1, 10), "outside the grid"),
        (lambda: ker.linear_binning(x, None, 0.0, 0.0, 10), "step"),
        (lambda: ker.grid_score(x, 0.0, 1.0, np.zeros(3), np.zeros(4), 0.0), "same length"),
        (lambda: ker.grid_score(x, 0.0, 1.0, np.zeros(3), np.zeros(3), -1.0), "fd_delta"),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_tweedie_is_the_same_on_every_backend(backend):
    rng = np.random.default_rng(9)
    y = rng.normal(size=3000)
    p = 0.7 * y + rng.normal(0, 0.3, y.size)
    q = rng.normal(0, 1, 6000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DebiasingWarning)
        for score in ("analytic", "finite-difference"):
            for method in ("exact", "fast"):
                ours = TweedieCorrection(score=score, method=method, backend=backend).fit(p, y).transform(q)
                ref = TweedieCorrection(score=score, method=method, backend="numpy").fit(p, y).transform(q)
                np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


def test_public_names():
    import calipers.debias

    for name in (
        "LinearCalibrationCorrection",
        "TweedieCorrection",
        "ppi_mean",
        "ppi_prevalence",
        "h_calibration_loss",
        "HCalibration",
    ):
        assert name in calipers.__all__ and hasattr(calipers, name)
    assert calipers.debias.RegressionSketch is not None
    assert calipers.HCalibration.__module__ == "calipers.calibration.hcalibration"
