"""Linear calibration correction (LCC; specs/debiased.md section 2.1, unshrink's
``LccDebiaser``): regress the prediction on the truth over a held-out calibration split,
``prediction = intercept + slope * target + e``, and undo that map,
``corrected = (prediction - intercept) / slope``."""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.reals import MAX_REAL, finite_result, real_values
from .._common.saved import saved_int, saved_number
from .base import Correction, DebiasingWarning
from .moments import CoMoments
from .sketch import RegressionSketch

__all__ = ["LinearCalibrationCorrection", "MIN_SLOPE", "WEAK_SLOPE", "CONSTANT_STD"]

_FAR = "the correction cannot map predictions that far from its calibration data"
# unshrink's guards are absolute (slope <= 1e-8, np.isclose(std, 0)); calipers states them
# relative to the data's scale, so they equal unshrink's for data of unit scale and give the
# same answer for data in nanometres or in dollars-times-1e9 (one check per unit, not per number).
MIN_SLOPE = 1e-8  # slope * std(targets) / std(predictions) (a correlation) <= 1e-8: an error
WEAK_SLOPE = 0.2  # unshrink: slope < 0.2 warns ("weak_slope"); predictions and targets share units
TINY_STD = 1e-140  # below this, squared deviations are subnormal or 0 in float64
CONSTANT_STD = 1e-8  # std <= 1e-8 * min(1, max|value|): unshrink's np.isclose(std, 0) from unit scale up


@dataclass(frozen=True)
class _FittedLCC:
    slope: float
    intercept: float
    residual_std: float
    r2: float
    n: int
    lo: float  # calibration predictions' range, for the out-of-range warning
    hi: float


def check_pairs(predictions: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Finite non-empty 1-D float64 predictions and targets of one length, within
    +-:data:`calipers._common.reals.MAX_REAL`."""
    x = real_values(predictions, "predictions")
    y = real_values(targets, "targets")
    if x.shape != y.shape:
        raise ValueError(f"predictions and targets must have the same length, got {x.size} and {y.size}")
    return x, y


def check_varies(lo: float, hi: float, std: float, name: str, why: str = "the correction needs them to vary") -> None:
    """ValueError when a calibration variable is constant: one distinct value, or a standard
    deviation at most :data:`CONSTANT_STD` x min(1, its largest magnitude). From unit scale
    up that is unshrink's ``np.isclose(std, 0)`` (std <= 1e-8, so 1e9 +- 5 is data, as there);
    below it the bound shrinks with the data, so values of order 1e-9 are not "constant"."""
    if lo == hi:
        raise ValueError(f"{name} hold one distinct value ({lo!r}): the correction needs {name} that vary")
    scale = max(abs(lo), abs(hi))
    if std < TINY_STD:  # squares of 1e-154 underflow: the moments lose every digit
        raise ValueError(
            f"{name} vary too little for float64 moments (from {lo!r} to {hi!r}, std {std!r} < {TINY_STD:g}: "
            "their squares underflow); rescale them"
        )
    bound = CONSTANT_STD * min(1.0, scale)
    if std <= bound:
        raise ValueError(
            f"{name} are nearly constant (std {std!r} <= {bound:.3g} = {CONSTANT_STD} x min(1, largest magnitude "
            f"{scale!r})): {why}"
        )


def warn_outside(x: np.ndarray, lo: float, hi: float) -> None:
    """Warn when predictions leave the calibration predictions' range."""
    outside = (x < lo) | (x > hi)
    if outside.any():
        warnings.warn(
            f"{int(outside.sum())} prediction(s) lie outside the calibration range [{lo!r}, {hi!r}] "
            f"(first at index {int(np.argmax(outside))}): the correction extrapolates there",
            DebiasingWarning,
            stacklevel=3,
        )


class LinearCalibrationCorrection(Correction):
    """LCC: ``fit(predictions, targets)`` by OLS of the prediction on the truth (closed form
    ``slope = cov(target, prediction) / var(target)``, ``intercept = mean(prediction) -
    slope * mean(target)``, the same fit as unshrink's ``LinearRegression`` in that
    direction); ``transform(p) = (p - intercept) / slope``. An ATE or a contrast of group
    means becomes the naive one divided by the slope.

    Guards (unshrink's, made independent of the units where they depended on them): constant
    targets or predictions (one distinct value, or std <= 1e-8 x min(1, largest magnitude);
    unshrink: std <= 1e-8) and a slope that is non-finite or at most 1e-8 in
    standard-deviation units (``slope * std(targets) / std(predictions)``, the correlation;
    unshrink: slope <= 1e-8) raise ValueError; for data of unit scale both equal unshrink's
    rules. A slope < 0.2 warns
    (:class:`DebiasingWarning`, "weak slope"), and so do predictions outside the calibration
    predictions' range in ``transform``. Fitted attributes: ``slope_``, ``intercept_``,
    ``residual_std_`` (std of prediction - (intercept + slope * target), ddof 0), ``r2_``
    and ``n_``. ``fit_sketch`` fits the same numbers from a :class:`RegressionSketch`.
    """

    _param_names = ()

    def __init__(self) -> None:
        self._fitted = None

    @property
    def slope_(self) -> float:
        """Slope of the prediction on the truth."""
        return float(self._state().slope)

    @property
    def intercept_(self) -> float:
        """Intercept of the prediction on the truth."""
        return float(self._state().intercept)

    @property
    def residual_std_(self) -> float:
        """Std (ddof 0) of the calibration predictions around the fitted line."""
        return float(self._state().residual_std)

    @property
    def r2_(self) -> float:
        """Coefficient of determination of the fit."""
        return float(self._state().r2)

    @property
    def n_(self) -> int:
        """Number of calibration pairs."""
        return int(self._state().n)

    def fit(self, predictions: Any, targets: Any) -> LinearCalibrationCorrection:
        """Fit on held-out predictions and their true values (all-or-nothing)."""
        x, y = check_pairs(predictions, targets)
        self._fitted = self._from_moments(CoMoments.of(x, y))
        return self

    def fit_sketch(self, sketch: RegressionSketch) -> LinearCalibrationCorrection:
        """Fit from a :class:`RegressionSketch` (its co-moments give the same numbers)."""
        if not isinstance(sketch, RegressionSketch):
            raise TypeError(f"fit_sketch expects a RegressionSketch, got {type(sketch).__name__}")
        if sketch.count == 0:
            raise ValueError("the sketch is empty: update it with (predictions, targets) first")
        self._fitted = self._from_moments(sketch.moments)
        return self

    @staticmethod
    def _from_moments(co: CoMoments) -> _FittedLCC:
        check_varies(co.lo_y, co.hi_y, math.sqrt(co.m2_y / co.n), "targets")
        check_varies(co.lo_x, co.hi_x, math.sqrt(co.m2_x / co.n), "predictions")
        slope = co.c_xy / co.m2_y
        unit_free = slope * math.sqrt(co.m2_y / co.m2_x)  # the correlation: the slope in std units
        if not math.isfinite(slope) or not unit_free > MIN_SLOPE:
            raise ValueError(
                f"LCC slope {slope!r} (correlation {unit_free:.3g}) is not above {MIN_SLOPE} in standard-"
                "deviation units: the predictions do not increase with the targets, so the linear map "
                "cannot be inverted"
            )
        if slope < WEAK_SLOPE:
            warnings.warn(
                f"weak slope: LCC slope {slope:.4g} < {WEAK_SLOPE}; dividing by it amplifies noise",
                DebiasingWarning,
                stacklevel=3,
            )
        intercept = co.mean_x - slope * co.mean_y
        residual = max(co.m2_x - slope * co.c_xy, 0.0) / co.n
        r2 = min(1.0, co.c_xy * co.c_xy / (co.m2_x * co.m2_y))
        return _FittedLCC(slope, intercept, math.sqrt(residual), r2, co.n, co.lo_x, co.hi_x)

    def transform(self, predictions: Any) -> np.ndarray:
        """``(predictions - intercept_) / slope_``; warns outside the calibration range.
        Predictions beyond +-1e100, or a result that overflows float64, raise ValueError."""
        return finite_result(self._transform_values(predictions), "corrected predictions", _FAR)

    def _transform_values(self, predictions: Any) -> np.ndarray:
        """:meth:`transform` without the check that every result is finite (the command
        line gives such a row a null and a reason instead)."""
        st: _FittedLCC = self._state()
        x = real_values(predictions, "predictions")
        warn_outside(x, st.lo, st.hi)
        with np.errstate(over="ignore"):
            out: np.ndarray = (x - st.intercept) / st.slope
        return out

    def _fitted_to_dict(self) -> dict[str, Any]:
        st: _FittedLCC = self._fitted
        return {
            "slope": st.slope,
            "intercept": st.intercept,
            "residual_std": st.residual_std,
            "r2": st.r2,
            "n": st.n,
            "prediction_min": st.lo,
            "prediction_max": st.hi,
        }

    def _fitted_from_dict(self, d: dict[str, Any]) -> _FittedLCC:
        try:
            num = functools.partial(saved_number, d, owner="LCC state")
            st = _FittedLCC(
                num("slope"),
                num("intercept"),
                num("residual_std"),
                num("r2"),
                saved_int(d, "n", "LCC state"),
                num("prediction_min"),
                num("prediction_max"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed LCC state: {exc!r}") from None
        if not all(math.isfinite(v) for v in (st.slope, st.intercept, st.residual_std, st.r2, st.lo, st.hi)):
            raise ValueError("LCC state must hold finite numbers")
        if (
            not (st.slope > 0 and math.isfinite(1.0 / st.slope))
            or st.residual_std < 0
            or not 0.0 <= st.r2 <= 1.0
            or st.n < 2
            or st.lo >= st.hi
        ):
            raise ValueError(
                "LCC state breaks an invariant (slope > 0 with a finite 1/slope, residual_std >= 0, "
                "r2 in [0, 1], n >= 2, min < max)"
            )
        if max(abs(st.lo), abs(st.hi)) > MAX_REAL:
            raise ValueError(f"LCC state: the prediction range must lie within +-{MAX_REAL:g}, as a fit's does")
        return st
