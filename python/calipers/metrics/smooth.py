"""Smooth ECE (Błasiok and Nakkiran 2023) and the smoothed reliability curve.

With the reflected Gaussian kernel on [0, 1],
``K(t, x) = sum_k phi_s(t - x - 2k) + phi_s(t + x - 2k)``, the smoothed residual mass is
``R_s(t) = (1/n) sum_i K(t, f_i) (f_i - y_i)`` and ``smECE_s = int_0^1 |R_s(t)| dt``.
smECE_s does not increase with s, and smooth ECE is its fixed point ``smECE_s* = s*``.

How it is computed (``compat=None``): the residuals are split linearly onto a uniform grid of
2^15 cells (O(n), ``np.bincount``), folded onto a circle of length 2 (the even, period-2
extension makes the whole reflection series exact; a point at exactly 0 or 1 is its own
mirror and counts twice, as the kernel says), convolved by FFT with the periodised Gaussian
(its Fourier series, exact on the grid), and integrated by the trapezoid rule. The grid
transform of the data is done once; each bandwidth costs one inverse FFT. The fixed point
is bracketed in [1e-3, 1] and found to 1e-10 by regula falsi. The only approximation is the linear split of each point
between two grid nodes, a relative error of order (h/s)^2/12 with h = 2^-15: below 1e-7
in absolute terms for s >= 1e-3. Below s = 1e-3 (a nearly perfectly calibrated input) the
value at s = 1e-3 is returned, as relplot does.

``compat="relplot"`` reproduces relplot 1.0.3's ``smECE``: its 10-step bisection with the
predicate ``s < 0.001 or s < smECE_s``, its grid of ``max(2000, round(20/s))//2 + 1``
points, one reflection at each end, a kernel truncated at +-0.5, interpolation to
``max(200, round(10/s))`` points and the 1e-4 density floor (the convolution runs by FFT
here; relplot's ``np.convolve`` differs by rounding only). relplot's grid counts a point at
exactly 0 or 1 once, so on outputs with many exact 0s and 1s it differs from the exact
value (by up to 3e-2 on saturated softmax outputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.binstats import stream_pairs
from .._common.validate import DEFAULT_ROW_SUM_ATOL, InputRules, check, check_choice, check_int, check_number
from .._kernels import backend as _backend

__all__ = ["smooth_ece", "smooth_reliability", "SmoothReliability"]

GRID_BITS = 15
SIGMA_FLOOR = 1e-3
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _splat(points: np.ndarray, weights: np.ndarray, cells: int) -> np.ndarray:
    """Linear split of each weight between the two grid nodes around its point (nodes j/cells)."""
    x = points * cells
    left = np.minimum(x.astype(np.int64), cells - 1)
    frac = x - left
    out = np.bincount(left, weights * (1.0 - frac), minlength=cells + 1)
    out += np.bincount(left + 1, weights * frac, minlength=cells + 1)
    return out


def _fold(nodes: np.ndarray) -> np.ndarray:
    """Nodes 0..M of [0, 1] as the even, period-2 signal on 2M nodes; the end nodes are their
    own mirrors, so their weight doubles (the kernel counts x = 0 and x = 1 twice)."""
    m = len(nodes) - 1
    circle = np.empty(2 * m)
    circle[: m + 1] = nodes
    circle[m + 1 :] = nodes[m - 1 : 0 : -1]
    circle[0] *= 2.0
    circle[m] *= 2.0
    return circle


def _gaussian_spectrum(sigma: float, m: int) -> np.ndarray:
    """rfft of the period-2 Gaussian sum_k phi_sigma(x + 2k) sampled at the 2M circle nodes:
    M exp(-(pi sigma nu)^2 / 2) for nu = 0..M (its Fourier series; the aliased terms are
    below exp(-(pi sigma M)^2 / 2), nothing for sigma >= 1e-3 and M = 2^15). Frequencies
    whose factor underflows to exactly 0 (exponent below -746) are not computed: the same
    array, 5x cheaper at sigma = 0.05."""
    out = np.zeros(m + 1)
    top = min(m, int(math.sqrt(2.0 * 746.0) / (math.pi * sigma)) + 1)  # exp(-746) == 0.0 in float64
    nu = np.arange(top + 1, dtype=np.float64)
    out[: top + 1] = m * np.exp(-0.5 * (math.pi * sigma * nu) ** 2)
    return out


class _ExactSmoother:
    """The data's grid transform, kept across bandwidths."""

    def __init__(self, points: np.ndarray, residuals: np.ndarray, n: float, grid_bits: int = GRID_BITS) -> None:
        self.m = 1 << grid_bits
        self.n = n
        self.spectrum = np.fft.rfft(_fold(_splat(points, residuals, self.m)))

    def residual_curve(self, sigma: float) -> np.ndarray:
        """R_sigma at the M + 1 grid nodes of [0, 1]."""
        return np.fft.irfft(self.spectrum * _gaussian_spectrum(sigma, self.m), 2 * self.m)[: self.m + 1] / self.n

    def at(self, sigma: float) -> float:
        r = np.abs(self.residual_curve(sigma))
        return float((r.sum() - 0.5 * (r[0] + r[-1])) / self.m)

    def fixed_point(self, tol: float = 1e-10) -> tuple[float, float]:
        """(smooth ECE, sigma*): g(s) = smECE_s - s decreases strictly, so its root is
        bracketed and found by regula falsi (Illinois), which keeps the bracket. The
        Illinois step halves a stored end value to pull the secant along; the returned
        smECE is always the one computed at the returned sigma."""
        lo, hi = SIGMA_FLOOR, 1.0
        value_lo = self.at(lo)
        if value_lo <= lo:
            return value_lo, lo
        value_hi = self.at(hi)
        if value_hi >= hi:
            return value_hi, hi
        g_lo, g_hi = value_lo - lo, value_hi - hi  # secant weights (halved by Illinois)
        side = 0
        while hi - lo > tol:
            mid = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
            if not lo < mid < hi:
                mid = 0.5 * (lo + hi)
            value = self.at(mid)
            g = value - mid
            if g == 0.0 or abs(g) < 1e-14:
                return value, mid
            if g > 0.0:
                lo, g_lo = mid, g
                if side == 1:
                    g_hi *= 0.5
                side = 1
            else:
                hi, g_hi, value_hi = mid, g, value
                if side == -1:
                    g_lo *= 0.5
                side = -1
        return value_hi, hi


# -- relplot 1.0.3's discretisation -------------------------------------------------------


def _convolve_valid(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    size = len(a) + len(k) - 1
    nfft = 1 << (size - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(a, nfft) * np.fft.rfft(k, nfft), nfft)[:size]
    return full[len(k) - 1 : len(a)]


class _RelplotSmoother:
    """relplot's per-bandwidth grid; the split of the data onto a grid of m points is kept,
    since the bisection revisits the same m (it is 1001 for every sigma >= 0.01)."""

    def __init__(self, points: np.ndarray, residuals: np.ndarray, counts: np.ndarray) -> None:
        self.points, self.residuals, self.counts = points, residuals, counts
        self.grids: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _grid(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        if m not in self.grids:  # m points, m - 1 cells
            self.grids[m] = (_splat(self.points, self.residuals, m - 1), _splat(self.points, self.counts, m - 1))
        return self.grids[m]

    @staticmethod
    def _smooth(values: np.ndarray, m: int, sigma: float, t: np.ndarray, direct: bool = False) -> np.ndarray:
        """relplot's ReflectedGaussianKernel.apply on a splatted grid; ``direct`` convolves
        as relplot does (np.convolve: exact sums of non-negative terms, O(m^2)) instead of
        by FFT (whose rounding, ~1e-16 of the largest value, can dip below 0)."""
        grid = np.linspace(0.0, 1.0, m)
        kernel = np.exp(-(grid - 0.5) * (grid - 0.5) / (2 * sigma**2)) / (_SQRT_2PI * sigma)
        extended = np.concatenate([values[::-1][:-1], values, values[::-1][1:]])
        if direct:
            smoothed = np.convolve(extended, kernel, "valid")[m // 2 : m // 2 + m]
        else:
            smoothed = _convolve_valid(extended, kernel[::-1])[m // 2 : m // 2 + m]
        idx = np.clip((t * (m - 1)).astype(np.int64), 0, m - 2)
        rest = (t - idx * (1 / (m - 1))) / (1 / (m - 1))
        return np.asarray(smoothed[idx] * (1 - rest) + smoothed[idx + 1] * rest)

    def at(self, sigma: float) -> float:
        m = max(2000, round(20 / sigma)) // 2 + 1
        t = np.linspace(0.0, 1.0, max(round(10 / sigma), 200))
        res_grid, count_grid = self._grid(m)
        dens = self._smooth(count_grid, m, sigma, t) + 0.0001
        rs = self._smooth(res_grid, m, sigma, t) / dens
        return float(np.sum(np.abs(rs) * dens) / np.sum(dens))


def _relplot_smece(points: np.ndarray, residuals: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    smoother = _RelplotSmoother(points, residuals, counts)

    def predicate(alpha: float) -> bool:
        return alpha < 0.001 or alpha < smoother.at(alpha)

    if predicate(1.0):
        sigma = 1.0
    else:
        sigma, end = 1.0, 0.0
        for _ in range(10):
            mid = (sigma + end) / 2
            if predicate(mid):
                end = mid
            else:
                sigma = mid
    return smoother.at(sigma), sigma


# -- public API ---------------------------------------------------------------------------


def smece_of_points(
    points: np.ndarray, residuals: np.ndarray, counts: np.ndarray, n: float, compat: str | None
) -> tuple[float, float]:
    """(smooth ECE, bandwidth) of weighted points: ``residuals`` = sum of (f - y) at each
    point, ``counts`` = samples at each point."""
    if compat == "relplot":
        return _relplot_smece(points, residuals, counts)
    return _ExactSmoother(points, residuals, n).fixed_point()


def _pairs(
    scores: Any,
    labels: Any,
    mode: str,
    backend: str,
    nan_policy: str,
    row_sum_atol: float,
    compat: str | None,
    sample_weight: Any = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each stream's (scores, outcomes, weights) as float64 (weights 1 without sample_weight)."""
    check_choice("compat", compat, (None, "relplot"))
    if sample_weight is not None and compat is not None:
        raise ValueError(
            f"sample_weight is not available with compat={compat!r}: that mode reproduces a library "
            "that takes no sample weights"
        )
    kernels = _backend.resolve(backend)
    rules = InputRules(mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol, sample_weight=sample_weight)
    c = check(scores, labels, kernels, check_rows=compat is None, **rules)
    out = []
    for p, y in stream_pairs(c, kernels):
        w = np.ones(len(p)) if c.weights is None else c.weights
        out.append((np.asarray(p, np.float64), np.asarray(y, np.float64), w))
    return out


def smooth_ece(
    scores: Any,
    labels: Any,
    *,
    mode: str = "top-label",
    compat: str | None = None,
    return_sigma: bool = False,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> Any:
    """Smooth ECE: the fixed point of the reflected-Gaussian smoothed calibration error
    (see the module docstring for the exact definition and numerics).

    1-D scores with 0/1 labels, or (n, K) probabilities: ``mode="top-label"`` (relplot's
    ``multiclass_logits_to_confidences`` with probabilities) or ``"marginal"`` (the mean of
    the class-wise values; not in relplot). ``compat="relplot"`` reproduces
    ``relplot.smECE``. ``return_sigma=True`` returns ``(value, sigma)``. O(n + grid).
    ``sample_weight``: each pair's residual and mass count with its weight (n becomes the
    total weight); whole weights equal repeated rows up to float rounding (the grid split
    adds w r instead of r w times).
    """
    values = []
    for p, y, w in _pairs(scores, labels, mode, backend, nan_policy, row_sum_atol, compat, sample_weight):
        total = float(np.sum(w[w > 0]))  # summed without the zeros: a zero weight is a dropped row, bit for bit
        if total <= 0:
            raise ValueError("sample_weight must have at least one positive weight")
        values.append(smece_of_points(p, w * (p - y), w, total, compat))
    value = float(np.mean([v for v, _ in values]))
    sigma = float(np.mean([s for _, s in values]))
    return (value, sigma) if return_sigma else value


@dataclass(frozen=True)
class SmoothReliability:
    """The smoothed reliability curve: at each ``t``, the kernel-weighted mean outcome
    ``frequency`` (in [0, 1]; relplot's ``mu``) and the smoothed score ``density``;
    ``sigma`` is the bandwidth (smooth ECE's fixed point unless given)."""

    t: np.ndarray
    frequency: np.ndarray
    density: np.ndarray
    sigma: float
    smooth_ece: float

    def plot(self, ax: Any = None, *, title: str | None = None) -> Any:
        """Draw the curve with matplotlib (:func:`calipers.plot.plot_smooth`); returns the axes."""
        from ..plot import plot_smooth

        return plot_smooth(self, ax=ax, title=title)


def grid_points(
    cells: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A sketch stream's non-empty fine cells as weighted points at their mean score, and
    the displacement term of the error bound: (1/n) sum_c d_c (sum of |f - y| in c), with
    d_c the largest distance from the cell's mean to its bounds and the residual mass
    bounded by pos (1 - lower) + neg upper."""
    from .._common.binstats import decode128
    from .._common.grid import UNIT_SCALE

    count = cells[:, 0].astype(np.float64)
    pos = cells[:, 1].astype(np.float64)
    sums = decode128(cells[:, 2], cells[:, 3], UNIT_SCALE)
    keep = count > 0
    n = float(count.sum())
    points = sums[keep] / count[keep]
    reach = np.maximum(points - lower[keep], upper[keep] - points)
    mass = pos[keep] * (1.0 - lower[keep]) + (count[keep] - pos[keep]) * upper[keep]
    return np.clip(points, 0.0, 1.0), sums[keep] - pos[keep], count[keep], float(np.sum(reach * mass) / n)


# sup over x of int_0^1 |d/dx K(t, x)| dt: the images of phi' tile the line once.
KERNEL_SLOPE = math.sqrt(2.0 / math.pi)


def smooth_curve(
    points: np.ndarray,
    outcomes: np.ndarray,
    counts: np.ndarray,
    n: float,
    sigma: float | None,
    mesh: int,
    compat: str | None = None,
) -> SmoothReliability:
    """The smoothed curve of weighted points (``outcomes`` = sum of y at each point,
    ``counts`` = samples there): see :func:`smooth_reliability`."""
    residuals = points * counts - outcomes
    mesh = check_int("mesh", mesh, 2, 1_000_000)
    if sigma is not None:
        check_number("sigma", sigma, 0.0, math.inf, low_open=True, high_open=True)
    t = np.linspace(0.0, 1.0, mesh)
    if compat == "relplot":
        if sigma is None:
            value, sigma = _relplot_smece(points, residuals, counts)
        else:
            sigma = float(sigma)
            value = _RelplotSmoother(points, residuals, counts).at(sigma)
        m = max(2000, round(20 / sigma)) // 2 + 1  # relplot's GaussianKernel.apply grid
        smoothed_y = _RelplotSmoother._smooth(_splat(points, outcomes, m - 1), m, sigma, t, direct=True)
        smoothed_n = _RelplotSmoother._smooth(_splat(points, counts, m - 1), m, sigma, t, direct=True)
        frequency = smoothed_y / (smoothed_n + 0.0001)  # KernelSmoother.predict: BaseKernelMixin.smooth
        return SmoothReliability(t, frequency, smoothed_n / n, float(sigma), float(value))
    smoother = _ExactSmoother(points, residuals, n)
    if sigma is None:
        value, sigma = smoother.fixed_point()
    else:
        sigma = float(sigma)
        value = smoother.at(sigma)
    grid = np.linspace(0.0, 1.0, smoother.m + 1)
    y_t = np.interp(t, grid, _ExactSmoother(points, outcomes, n).residual_curve(sigma))
    d_t = np.interp(t, grid, _ExactSmoother(points, counts, n).residual_curve(sigma))
    with np.errstate(invalid="ignore", divide="ignore"):
        frequency = np.where(d_t > 1e-12, np.clip(y_t / d_t, 0.0, 1.0), np.nan)
    return SmoothReliability(t, frequency, d_t, sigma, value)


def smooth_reliability(
    scores: Any,
    labels: Any,
    *,
    sigma: float | None = None,
    mesh: int = 200,
    mode: str = "top-label",
    compat: str | None = None,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> SmoothReliability:
    """The smoothed reliability curve for plots (1-D or top-label pairs), at the smooth-ECE
    bandwidth unless ``sigma`` is given, on ``mesh`` points of [0, 1]; ``sample_weight``
    weights each pair (its outcome and its mass).

    ``frequency(t)`` is the kernel-weighted mean outcome near t (Nadaraya-Watson):
    ``sum_i K(t, f_i) y_i / sum_i K(t, f_i)``, so it always lies in [0, 1] (the default,
    ``compat=None``, uses the exact reflected Gaussian kernel of :func:`smooth_ece`; the
    FFT's rounding, ~1e-16, is clipped; NaN where the score density is below 1e-12).
    ``density(t)`` is the kernel density of the scores. ``compat="relplot"`` reproduces
    ``relplot.prepare_rel_diagram(f, y, plot_confidence_band=False)``: its bandwidth
    (relplot's smECE), its grid and truncated, once-reflected kernel, ``mu = K*y / (K*1 +
    1e-4)`` and ``density = K*(1/n)``, equal to relplot's ``mu``, ``density`` and ``sigma``
    up to rounding (relplot's mesh has 200 points: the default ``mesh``).
    """
    if mode != "top-label":
        raise ValueError(f"smooth_reliability draws one curve: mode must be 'top-label', got {mode!r}")
    ((p, y, w),) = _pairs(scores, labels, mode, backend, nan_policy, row_sum_atol, compat, sample_weight)
    total = float(np.sum(w[w > 0]))
    if total <= 0:
        raise ValueError("sample_weight must have at least one positive weight")
    return smooth_curve(p, w * y, w, total, sigma, mesh, compat)
