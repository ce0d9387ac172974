"""Tweedie's correction (specs/debiased.md section 2.2; unshrink's ``TweedieDebiaser``):
``corrected = prediction - sigma**2 * score(prediction)``, with sigma the std (ddof 0) of the
calibration residuals and score the derivative of the log of a Gaussian KDE (Scott's rule)
of the calibration predictions.

Two ways to compute the score
-----------------------------
Exact: a log-sum-exp over every calibration point per query (C++ ``kde_score``), O(n m).
Terms more than exp(-60) below the largest are skipped, which changes nothing at float64
precision. Every exponent is taken relative to the nearest point and the score is that
point's offset over h**2 plus the weighted mean offset of the others from it, so nothing
cancels far from the data: there the score tends to -(x - nearest point) / h**2 and stays
finite (the same value on every backend). Analytic (``score="analytic"``) or unshrink's
central difference of the log density (``score="finite-difference"``); both equal their
float64 reference (scipy's ``gaussian_kde``) to 1e-9. Where the log density is so large
that its rounding would pass 1e-6 of the central difference, the analytic score is used:
far from the data the log density is a parabola, whose central difference is its
derivative. That also happens near the data when ``delta`` spans very many bandwidths
(unshrink's default step never goes below 1e-8, so on data of scale 1e-20 it is ~1e12
bandwidths); well before that (5.8x at scale 1e-9) such a step is not a derivative of
anything: give ``delta`` at the data's scale for finite differences on tiny data.

Fast (large inputs): the calibration points are linearly binned onto a grid of step
``h / r`` (r = 1024 cells per bandwidth, fewer if the grid would pass 2**21 nodes); FFT
convolutions give the kernel sums D, their first and second moments at every node, hence
the score and its slope (``score="analytic"``) or the log density and its slope
(``score="finite-difference"``); each prediction is then a cubic Hermite interpolation
(C++ ``grid_score``, O(1)). Nodes where D falls below 1e-6 of its maximum (more than about
five bandwidths from the data; FFT rounding would dominate there) are not used:
predictions there are computed exactly. Linear binning keeps each point's zeroth and first
moments, so the error is second order in the step; the stated bound, checked by the tests
on smooth, skewed, bimodal and discrete calibration sets and on real model outputs, is::

    |fast - exact| <= fast_error_bound_ = 30 * sigma**2 / h * (step / h)**2

(about 3e-5 sigma**2/h at r = 1024; the largest measured error, a small fraction of it, is in
docs/debiasing.md, written by ``bench/bench_debiased.py``);
an isolated calibration point gives about u/4 (step/h)**2 sigma**2/h at u bandwidths from
it, and u stays below about 7.4 inside the trusted region for n up to 10^7. ``method="auto"`` takes the fast path once
``n_calibration * n_predictions`` passes 2**24.

From a sketch: :meth:`TweedieCorrection.fit_sketch` uses a :class:`RegressionSketch`:
sigma and h come from its exact moments and the KDE from its histogram (each point at its
cell's centroid; the cost is stated in :mod:`calipers.debias.sketch`).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.reals import MAX_REAL, finite_result, real_values
from .._common.saved import saved_int, saved_number, saved_numbers
from .._common.validate import check_choice
from .._kernels import backend as _backend
from .base import Correction, DebiasingWarning
from .lcc import _FAR, check_pairs, check_varies, warn_outside
from .moments import Moments
from .sketch import RegressionSketch

__all__ = ["TweedieCorrection", "FAST_CONSTANT", "AUTO_FAST_WORK"]

SCORES = ("analytic", "finite-difference")
METHODS = ("auto", "exact", "fast")
AUTO_FAST_WORK = 1 << 24  # n_calibration * n_predictions above which "auto" takes the fast path
CELLS_PER_H = 1024
MIN_CELLS_PER_H = 16
MAX_GRID = 1 << 21
KERNEL_REACH = 12.0  # kernel truncated at 12 h: exp(-72) of the peak
PAD = 6.0
RELIABLE = 1e-6
FAST_CONSTANT = 30.0
SMALL_SAMPLE = 100
FD_RESOLVED = 1e-6  # finite-difference: the analytic score where rounding passes this share


@dataclass(frozen=True)
class _FittedTweedie:
    sigma: float
    bandwidth: float
    delta: float  # the central difference's step (0 when sigma is 0)
    n: int
    lo: float
    hi: float
    points: np.ndarray  # sorted support points
    weights: np.ndarray | None  # None: unit weights (fit on arrays); counts from a sketch


@dataclass(frozen=True)
class _Grid:
    lo: float
    step: float
    values: np.ndarray
    slopes: np.ndarray
    fd_delta: float
    bound: float


def unshrink_delta(std: float) -> float:
    """unshrink's default central-difference step: max(max(std, sqrt(eps)) * 1e-3, 1e-8)."""
    return float(max(max(std, float(np.finfo(float).eps) ** 0.5) * 1e-3, 1e-8))


class TweedieCorrection(Correction):
    """Tweedie's correction ``prediction - sigma_**2 * score(prediction)``.

    Parameters: ``score`` ("analytic": the exact derivative of the log KDE; or
    "finite-difference": unshrink's central difference with step ``delta``, default
    ``max(max(std(predictions), sqrt(eps)) * 1e-3, 1e-8)``; the paper's notebooks use
    ``delta=1e-5``), ``sigma`` (the noise scale; default the std, ddof 0, of the calibration
    residuals prediction - target), ``method`` ("auto", "exact" or "fast"; see the module
    docstring for the fast path's error bound) and ``backend``.

    Fitted attributes: ``sigma_``, ``bandwidth_`` (the KDE's kernel standard deviation h:
    Scott's rule, ``std(predictions, ddof=1) * n**(-1/5)``), ``delta_`` and ``n_``.
    Guards (unshrink's): fewer than two distinct calibration predictions, or a std that
    ``np.isclose`` calls 0, raise ValueError; sigma = 0 makes the correction the identity;
    fewer than 100 calibration points and predictions outside the calibration range warn
    (:class:`DebiasingWarning`).
    """

    _param_names = ("score", "delta", "sigma", "method", "backend")

    def __init__(
        self,
        score: str = "analytic",
        delta: float | None = None,
        sigma: float | None = None,
        *,
        method: str = "auto",
        backend: str = "auto",
    ) -> None:
        check_choice("score", score, SCORES)
        check_choice("method", method, METHODS)
        check_choice("backend", backend, ("auto", *_backend.BACKENDS))
        for name, value in (("delta", delta), ("sigma", sigma)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TypeError(f"{name} must be a number or None, got {type(value).__name__}")
        if delta is not None and not (math.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be positive and finite, got {delta!r}")
        if sigma is not None and not (math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be >= 0 and finite, got {sigma!r}")
        self.score = score
        self.delta = None if delta is None else float(delta)
        self.sigma = None if sigma is None else float(sigma)
        self.method = method
        self.backend = backend
        self._fitted = None
        self._grid: _Grid | None = None

    # -- fitted attributes -------------------------------------------------------------------

    @property
    def sigma_(self) -> float:
        """The noise scale used: the residual std (ddof 0) or the ``sigma`` given."""
        return float(self._state().sigma)

    @property
    def bandwidth_(self) -> float:
        """The KDE's kernel standard deviation h (Scott's rule)."""
        return float(self._state().bandwidth)

    @property
    def delta_(self) -> float:
        """The central-difference step (``score="finite-difference"``)."""
        return float(self._state().delta)

    @property
    def n_(self) -> int:
        """Number of calibration points."""
        return int(self._state().n)

    @property
    def fast_error_bound_(self) -> float:
        """The fast path's stated bound on |fast - exact| per corrected prediction."""
        grid = self._fast_grid()
        return math.inf if grid is None else grid.bound

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, predictions: Any, targets: Any) -> TweedieCorrection:
        """Fit on held-out predictions and their true values (all-or-nothing)."""
        x, y = check_pairs(predictions, targets)
        state = self._make_state(Moments.of(x), Moments.of(x - y), np.sort(x), None)
        self._fitted, self._grid = state, None
        return self

    def fit_sketch(self, sketch: RegressionSketch) -> TweedieCorrection:
        """Fit from a :class:`RegressionSketch`: exact moments, histogram KDE."""
        if not isinstance(sketch, RegressionSketch):
            raise TypeError(f"fit_sketch expects a RegressionSketch, got {type(sketch).__name__}")
        if sketch.count == 0:
            raise ValueError("the sketch is empty: update it with (predictions, targets) first")
        points, counts = sketch.cells()
        state = self._make_state(sketch.moments.x(), sketch.residual, points, counts)
        self._fitted, self._grid = state, None
        return self

    def _make_state(
        self, pred: Moments, resid: Moments, points: np.ndarray, weights: np.ndarray | None
    ) -> _FittedTweedie:
        if pred.lo == pred.hi:
            raise ValueError(
                f"predictions hold one distinct value ({pred.lo!r}): Tweedie's KDE needs at least two distinct"
            )
        std0 = math.sqrt(pred.var)
        check_varies(pred.lo, pred.hi, std0, "predictions", "the KDE is singular")
        sigma = math.sqrt(resid.var) if self.sigma is None else self.sigma
        h = math.sqrt(pred.m2 / (pred.n - 1)) * pred.n ** (-0.2)
        delta = self.delta if self.delta is not None else unshrink_delta(std0)
        if pred.n < SMALL_SAMPLE:
            warnings.warn(
                f"Tweedie's correction is fitted on {pred.n} < {SMALL_SAMPLE} calibration points: "
                "the KDE score is noisy",
                DebiasingWarning,
                stacklevel=3,
            )
        return _FittedTweedie(
            sigma, h, delta if sigma > 0 else 0.0, pred.n, pred.lo, pred.hi, np.ascontiguousarray(points), weights
        )

    # -- scores ----------------------------------------------------------------------------

    def _exact_score(self, st: _FittedTweedie, x: np.ndarray) -> np.ndarray:
        kernels = _backend.resolve(self.backend)
        if self.score == "analytic":
            return np.asarray(kernels.kde_score(st.points, st.weights, x, st.bandwidth)[1])
        up = np.asarray(kernels.kde_score(st.points, st.weights, x + st.delta, st.bandwidth)[0])
        down = np.asarray(kernels.kde_score(st.points, st.weights, x - st.delta, st.bandwidth)[0])
        out: np.ndarray = (up - down) / (2.0 * st.delta)
        # Far from the data log D is about -(x - nearest)^2 / 2h^2, so large that its float64
        # rounding, divided by 2 delta, swamps the difference (10% at 1e12 bandwidths). There
        # log D is a parabola to far below that rounding, whose central difference is exactly
        # its derivative: the analytic score.
        noise = 4.0 * np.finfo(float).eps * np.maximum(np.abs(up), np.abs(down)) / (2.0 * st.delta)
        lost = noise > FD_RESOLVED * np.maximum(np.abs(out), 1.0 / st.bandwidth)
        if lost.any():
            far = np.ascontiguousarray(x[lost])
            out[lost] = np.asarray(kernels.kde_score(st.points, st.weights, far, st.bandwidth)[1])
        return out

    def _fast_grid(self) -> _Grid | None:
        st: _FittedTweedie = self._state()
        if self._grid_of is not st:
            self._grid = build_grid(st, self.score, _backend.resolve(self.backend))
            self._grid_of = st
        return self._grid

    _grid_of: Any = None

    def score_values(self, predictions: Any, method: str | None = None) -> np.ndarray:
        """The score d/dx log KDE at ``predictions`` (exact or fast, as ``method`` or the
        constructor's ``method`` says); zeros when sigma is 0."""
        st: _FittedTweedie = self._state()
        x = real_values(predictions, "predictions")
        how = check_choice("method", self.method if method is None else method, METHODS)
        if st.sigma == 0.0:
            return np.zeros_like(x)
        if how == "auto":
            how = "fast" if st.points.size * x.size > AUTO_FAST_WORK else "exact"
        grid = self._fast_grid() if how == "fast" else None
        if grid is None:
            return self._exact_score(st, x)
        kernels = _backend.resolve(self.backend)
        out = np.asarray(kernels.grid_score(x, grid.lo, grid.step, grid.values, grid.slopes, grid.fd_delta))
        missing = np.isnan(out)
        if missing.any():  # far from the data: exact
            out[missing] = self._exact_score(st, np.ascontiguousarray(x[missing]))
        return out

    def transform(self, predictions: Any) -> np.ndarray:
        """``predictions - sigma_**2 * score(predictions)``; warns outside the calibration
        range. Predictions beyond +-1e100, or a result that overflows float64 (a prediction
        very far from the calibration data, in bandwidths), raise ValueError."""
        return finite_result(self._transform_values(predictions), "corrected predictions", _FAR)

    def _transform_values(self, predictions: Any) -> np.ndarray:
        """:meth:`transform` without the check that every result is finite (the command
        line gives such a row a null and a reason instead)."""
        st: _FittedTweedie = self._state()
        x = real_values(predictions, "predictions")
        warn_outside(x, st.lo, st.hi)
        if st.sigma == 0.0:
            return x.copy()
        with np.errstate(over="ignore", invalid="ignore"):  # a float product overflows to inf, ** raises
            out: np.ndarray = x - st.sigma * st.sigma * self.score_values(x)
        return out

    # -- serialization ---------------------------------------------------------------------

    def _fitted_to_dict(self) -> dict[str, Any]:
        st: _FittedTweedie = self._fitted
        return {
            "sigma": st.sigma,
            "bandwidth": st.bandwidth,
            "delta": st.delta,
            "n": st.n,
            "prediction_min": st.lo,
            "prediction_max": st.hi,
            "points": st.points.tolist(),
            "weights": None if st.weights is None else st.weights.tolist(),
        }

    def _fitted_from_dict(self, d: dict[str, Any]) -> _FittedTweedie:
        try:
            owner = "Tweedie state"
            num = functools.partial(saved_number, d, owner=owner)
            points = saved_numbers(d, "points", owner)
            weights = None if d["weights"] is None else saved_numbers(d, "weights", owner)
            st = _FittedTweedie(
                num("sigma"),
                num("bandwidth"),
                num("delta"),
                saved_int(d, "n", owner),
                num("prediction_min"),
                num("prediction_max"),
                np.ascontiguousarray(points),
                None if weights is None else np.ascontiguousarray(weights),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed Tweedie state: {exc!r}") from None
        scalars = (st.sigma, st.bandwidth, st.delta, st.lo, st.hi)
        if not all(math.isfinite(v) for v in scalars) or st.sigma < 0 or st.bandwidth <= 0 or st.delta < 0:
            raise ValueError("Tweedie state needs finite sigma >= 0, bandwidth > 0 and delta >= 0")
        if (st.sigma > 0) != (st.delta > 0):
            raise ValueError("Tweedie state: delta must be positive exactly when sigma is")
        p = st.points
        if p.ndim != 1 or p.size < 2 or not np.all(np.isfinite(p)) or np.any(np.diff(p) < 0):
            raise ValueError("Tweedie state: points must be >= 2 finite values sorted ascending")
        if st.lo >= st.hi or p[0] < st.lo or p[-1] > st.hi:
            raise ValueError("Tweedie state: points must lie in [prediction_min, prediction_max], min < max")
        if max(abs(st.lo), abs(st.hi)) > MAX_REAL or st.sigma > 2 * MAX_REAL:
            raise ValueError(
                f"Tweedie state: the prediction range must lie within +-{MAX_REAL:g} and sigma be at most "
                f"{2 * MAX_REAL:g}, as a fit's (residuals of values within +-{MAX_REAL:g})"
            )
        if st.weights is None:
            if st.n != p.size:
                raise ValueError(f"Tweedie state: n ({st.n}) must equal the number of points ({p.size})")
        else:
            w = st.weights
            if w.shape != p.shape or not np.all(np.isfinite(w)) or np.any(w <= 0) or np.any(w != np.round(w)):
                raise ValueError("Tweedie state: weights must be positive whole counts, one per point")
            if int(w.sum()) != st.n:
                raise ValueError(f"Tweedie state: the weights sum to {int(w.sum())}, not n = {st.n}")
        _check_scales(self, st)
        return st


def _check_scales(cor: TweedieCorrection, st: _FittedTweedie) -> None:
    """Scott's bandwidth std (ddof 1) * n^(-1/5) and the finite-difference step of the fitted
    predictions. Exact points give both to rounding (and their min and max are the range). A
    sketch's centroids keep only the between-cell spread: their std is at most the true one,
    which lies between (max - min) / sqrt(2 (n - 1)) (the two extremes alone) and the range's
    bound sqrt(n / (n - 1)) (max - min) / 2."""
    n, p, w = st.n, st.points, st.weights
    shrink, spread = n**-0.2, st.hi - st.lo
    floor = spread / math.sqrt(2.0 * (n - 1))  # std (ddof 1) of any sample with this min and max
    if w is None:
        std = float(np.std(p, ddof=1))
        ends_ok = p[0] == st.lo and p[-1] == st.hi
        ok = ends_ok and abs(st.bandwidth - std * shrink) <= 1e-9 * std * shrink
        std0 = float(np.std(p))
        step_lo = step_hi = unshrink_delta(std0)
    else:
        mean = float(np.sum(w * p)) / n
        std_c = math.sqrt(float(np.sum(w * (p - mean) ** 2)) / (n - 1))
        top = spread / 2.0 * math.sqrt(n / (n - 1))
        ok = max(std_c, floor) * shrink * (1 - 1e-9) <= st.bandwidth <= top * shrink * (1 + 1e-9)
        scale = math.sqrt((n - 1) / n)  # ddof 1 -> ddof 0
        step_lo, step_hi = unshrink_delta(max(std_c, floor) * scale), unshrink_delta(top * scale)
    if not ok:
        raise ValueError(f"Tweedie state: bandwidth {st.bandwidth!r} is not Scott's bandwidth of its points")
    if st.sigma > 0:
        if cor.delta is not None:
            step_lo = step_hi = float(cor.delta)
        if not step_lo * (1 - 1e-9) <= st.delta <= step_hi * (1 + 1e-9):
            raise ValueError(f"Tweedie state: delta {st.delta!r} is not the step its fit takes")


def build_grid(st: _FittedTweedie, score: str, kernels: Any) -> _Grid | None:
    """The fast path's grid (see the module docstring); None when the calibration range spans
    so many bandwidths that fewer than 16 cells per bandwidth would fit in 2**21 nodes."""
    h = st.bandwidth
    span = float(st.points[-1] - st.points[0]) + 2.0 * PAD * h
    r = min(CELLS_PER_H, int((MAX_GRID - 1) * h / span))
    if r < MIN_CELLS_PER_H:
        return None
    step = h / r
    lo = float(st.points[0]) - PAD * h
    cells = math.ceil(span / step) + 1
    counts = np.asarray(kernels.linear_binning(st.points, st.weights, lo, step, cells))
    reach = math.ceil(KERNEL_REACH * r)
    t = np.arange(-reach, reach + 1) * step  # node offset g - g_j
    kern = np.exp(-0.5 * (t / h) ** 2)
    nfft = 1 << math.ceil(math.log2(cells + 2 * reach + 1))
    spectrum = np.fft.rfft(counts, nfft)

    def conv(k: np.ndarray) -> np.ndarray:
        return np.fft.irfft(spectrum * np.fft.rfft(k, nfft), nfft)[reach : reach + cells]

    D = conv(kern)
    N = conv(-t * kern)  # sum_i K_i (x_i - g)
    Q = conv(t * t * kern)  # sum_i K_i (x_i - g)^2
    ok = D > RELIABLE * D.max()
    Dm = np.where(ok, D, 1.0)
    s = N / (h * h * Dm)
    if score == "analytic":
        values, slopes, fd = s, Q / (h**4 * Dm) - 1.0 / (h * h) - s * s, 0.0
    else:
        values, slopes, fd = np.log(Dm), s, st.delta
    values = np.ascontiguousarray(np.where(ok, values, np.nan))
    slopes = np.ascontiguousarray(np.where(ok, slopes, np.nan))
    bound = FAST_CONSTANT * (st.sigma * st.sigma) / h * (step / h) ** 2
    return _Grid(lo, step, values, slopes, fd, bound)
