"""Temperature scaling of logits: softmax(z / T) (sigmoid for 1-D binary logits), T by the
exact maximum-likelihood fit (safeguarded Newton on 1/T, in C++ when built)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validate import as_labels, as_scores, check_class_labels
from .._kernels import backend as _backend
from .base import _F64, Calibrator, check_weights

T_MIN, T_MAX = 1e-6, 1e6  # the solver's bounds on T (temperature.hpp: kBetaMax, kBetaMin)

__all__ = ["TemperatureScaling"]


@dataclass(frozen=True)
class _FittedTemperature:
    temperature: float
    binary: bool
    iterations: int


class TemperatureScaling(Calibrator):
    """Temperature scaling: softmax(z / T) of (n, K) logits (or sigmoid(z / T) of 1-D
    binary logits), T minimizing the (weighted) negative log-likelihood.

    The NLL is convex in 1/T; a safeguarded Newton method on 1/T (bracketing on the sign
    of the derivative, bisection when a step leaves the bracket) runs until the Newton
    step is below 1e-9 relative (and takes it: quadratic convergence leaves T exact to
    float64 noise); inputs of 65536 rows or more first converge on every 16th row, one
    pass over the logits per iteration, accumulated in float64. If the classes are
    separable the NLL keeps falling as T -> 0; the solver stops, with a finite T, once the
    derivative vanishes in float64 (or at T = 1e-6). If the labels carry no information
    about the logits the optimum is T = infinity; the solver stops at T = 1e6
    (uniform probabilities)."""

    _param_names = ("backend",)

    def __init__(self, *, backend: str = "auto") -> None:
        if backend not in ("auto", *_backend.BACKENDS):
            raise ValueError(f"backend must be one of 'auto', 'cpp', 'numba', 'numpy', got {backend!r}")
        self.backend = backend
        self._fitted = None

    @property
    def temperature_(self) -> float:
        """The fitted temperature T (ValueError before :meth:`fit`)."""
        return float(self._state().temperature)

    @staticmethod
    def _logits(logits: Any, name: str = "logits") -> np.ndarray:
        z = as_scores(logits, name)
        if z.ndim not in (1, 2) or (z.ndim == 2 and z.shape[1] < 2):
            raise ValueError(f"{name} must be 1-D (binary) or 2-D (n, K >= 2), got shape {z.shape}")
        if z.shape[0] == 0:
            raise ValueError(f"{name} is empty: at least one sample is needed")
        bad = ~np.isfinite(z)
        if bad.any():
            flat = int(np.argmax(bad.reshape(-1)))
            where = f"index {flat}" if z.ndim == 1 else f"row {flat // z.shape[1]}, column {flat % z.shape[1]}"
            raise ValueError(f"{name} must be finite: {int(bad.sum())} value(s) are not, first at {where}")
        return z

    @staticmethod
    def _two_column(z: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.column_stack([np.zeros(z.shape[0], z.dtype), z]))

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> TemperatureScaling:
        """``scores`` are logits: (n, K) with labels in [0, K), or 1-D with labels in {0, 1}.
        ``sample_weight`` weights each row's log-likelihood; zero-weight rows are dropped
        first, whole weights give the fit of the repeated rows (to the solver's 1e-9)."""
        kernels = _backend.resolve(self.backend)
        z = self._logits(scores, "scores")
        y = as_labels(labels)
        if y.shape != (z.shape[0],):
            raise ValueError(f"scores and labels must have the same length, got {z.shape[0]} and {y.shape}")
        K = 2 if z.ndim == 1 else z.shape[1]
        check_class_labels(y, K, labels)
        w = check_weights(sample_weight, z.shape[0])
        if w is not None and not np.all(w > 0):  # a zero weight is a dropped row, exactly
            keep = w > 0
            z, y, w = np.ascontiguousarray(z[keep]), np.ascontiguousarray(y[keep]), np.ascontiguousarray(w[keep])
        Z = self._two_column(z) if z.ndim == 1 else z
        beta, iterations, converged = kernels.temperature_fit(Z, np.ascontiguousarray(y), w)
        temperature = 1.0 / float(beta)
        if temperature >= T_MAX * (1 - 1e-9):
            warnings.warn(
                f"TemperatureScaling: the labels carry no information about the logits, so the fit stopped "
                f"at its bound T = {T_MAX:g} (probabilities uniform over the classes)",
                RuntimeWarning,
                stacklevel=2,
            )
        elif not converged or temperature <= T_MIN * (1 + 1e-9):
            warnings.warn(
                f"TemperatureScaling: the fit stopped at T = {temperature:.6g} after {int(iterations)} iterations "
                "without converging (the classes are separable by the logits: the likelihood keeps rising as "
                "T -> 0); the probabilities are near 0 and 1",
                RuntimeWarning,
                stacklevel=2,
            )
        self._fitted = _FittedTemperature(temperature, z.ndim == 1, int(iterations))
        return self

    def transform(self, scores: Any) -> Any:
        """Probabilities: (n, K) for 2-D logits, P(y = 1) of shape (n,) for 1-D logits, and a
        float for one binary logit given as a number (a Python or numpy scalar)."""
        state: _FittedTemperature = self._state()
        beta = 1.0 / state.temperature
        if state.binary and isinstance(scores, (float, int, np.floating, np.integer)):
            if isinstance(scores, (bool, np.bool_)):
                raise TypeError("a logit must be a number, got a bool")
            return float(self.transform(np.array([float(scores)]))[0])
        if (
            type(scores) is np.ndarray
            and not state.binary
            and scores.ndim == 2
            and scores.dtype == _F64
            and scores.flags.c_contiguous
            and scores.shape[0] > 0
            and scores.shape[1] >= 2
        ):
            # the kernel checks finiteness itself: no extra pass, ~1 us for one request
            return _backend.resolve(self.backend).softmax_scaled(scores, beta)
        z = self._logits(scores)
        if state.binary != (z.ndim == 1):
            raise ValueError(
                f"this calibrator was fitted on {'1-D' if state.binary else '2-D'} logits, got shape {z.shape}"
            )
        kernels = _backend.resolve(self.backend)
        if state.binary:
            return kernels.softmax_scaled(self._two_column(z), beta)[:, 1].copy()
        return kernels.softmax_scaled(z, beta)

    def _fitted_to_dict(self) -> dict[str, Any]:
        st: _FittedTemperature = self._fitted
        return {"temperature": st.temperature, "binary": st.binary, "iterations": st.iterations}

    def _fitted_from_dict(self, d: dict[str, Any]) -> _FittedTemperature:
        try:
            t, binary, iterations = d["temperature"], d["binary"], d["iterations"]
        except KeyError as exc:
            raise ValueError(f"malformed temperature state: missing {exc}") from None
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperature must be a positive finite number, got {t!r}")
        if not math.isfinite(1.0 / t):  # transform scales by 1/T: a subnormal T gave NaN probabilities
            raise ValueError(f"temperature {t!r} is too small: 1/T overflows")
        if not isinstance(binary, bool):
            raise ValueError(f"temperature state 'binary' must be true or false, got {binary!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"temperature state 'iterations' must be a non-negative integer, got {iterations!r}")
        return _FittedTemperature(float(t), binary, iterations)
