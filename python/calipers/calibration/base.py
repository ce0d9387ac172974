"""The protocol every calibrator shares: parameters (``get_params`` / ``set_params``),
the fitted-state guard, sample-weight checks, and serialization to JSON and bytes through
a registry of calibrator types (``Calibrator.from_json`` rebuilds any of them).

A fitted calibrator is immutable (``fit`` swaps in a new frozen state), so one instance
can serve many threads.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.estimator import Estimator
from .._common.grid import KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL
from .._common.validate import as_weights, check_weight_values

__all__ = ["Calibrator", "check_weights"]

_KIND_NAMES = {KIND_BINARY: "binary", KIND_TOP_LABEL: "top-label", KIND_MARGINAL: "marginal"}
_KIND_CODES = {v: k for k, v in _KIND_NAMES.items()}


def check_weights(sample_weight: Any, n: int) -> np.ndarray | None:
    """None, or the checked weights (float64 (n,), finite, >= 0, below 2^39, at least one
    positive): the package's one weight rule (:func:`calipers._common.validate.weight_error`).
    Calibrators drop zero-weight rows before fitting, so a zero weight is a dropped row."""
    w = as_weights(sample_weight, n)
    if w is None:
        return None
    check_weight_values(w)
    if not np.any(w > 0):
        raise ValueError("sample_weight must have at least one positive weight")
    return w


_F64 = np.dtype(np.float64)


def _check_one(v: float) -> float:
    if 0.0 <= v <= 1.0:
        return v
    if v != v:
        raise ValueError("scores must not contain NaN: 1 NaN value(s), first at index 0")
    if math.isinf(v):
        raise ValueError("scores must be finite: 1 infinite value(s), first at index 0")
    raise ValueError(f"scores must lie in [0, 1]: 1 value(s) outside, first at index 0 (value {v!r})")


class Calibrator(Estimator, family=True):
    """Shared protocol of calibrators: ``fit(scores, labels, sample_weight=None)``,
    ``transform(scores)``, parameters, the fitted-state guard and JSON / bytes serialization
    (:class:`calipers._common.estimator.Estimator`). ``Calibrator.from_json`` /
    ``from_bytes`` rebuild any calibrator; a loaded fitted state must hold what a fit gives:
    finite maps that never decrease (unless the calibrator allows it, as
    ``HistogramBinning(monotone=False)``), probabilities in [0, 1], one map per class in
    marginal mode."""

    _noun = "calibrator"
    _format = "calipers.calibrator"
    _type_id = _serde.TYPE_CALIBRATOR
    _fit_call = "fit(scores, labels)"

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> Calibrator:
        """Fit on calibration scores and outcomes; returns self (each subclass documents its input)."""
        raise NotImplementedError

    def transform(self, scores: Any) -> Any:
        """Calibrated scores of new input (each subclass documents its shapes)."""
        raise NotImplementedError

    def _state(self) -> Any:
        state = self._fitted
        if state is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit(scores, labels) first")
        return state
