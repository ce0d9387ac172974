"""Prediction-powered inference for a mean (Angelopoulos et al. 2023) with PPI++ power
tuning (Angelopoulos, Duchi & Zrnic 2023), as the ppi-python package computes it
(``ppi_mean_pointestimate`` and ``ppi_mean_ci``, unweighted, two-sided).

With n labelled pairs (Y, Yhat) and N unlabelled predictions Yhat_u::

    estimate = mean(Y) + lam * (mean(Yhat_u) - mean(Yhat))
    se**2    = lam**2 var(Yhat_u) / N + var(Y - lam Yhat) / n        (variances ddof 0)
    [low, high] = estimate -/+ z_{1 - alpha/2} se

``lam=1`` is plain PPI, ``lam=0`` the classical mean of Y; ``lam=None`` takes PPI++'s
variance-minimizing value ``cov(Y, Yhat) / ((1 + n/N) var(Yhat and Yhat_u pooled))``
(covariance ddof 0, pooled variance ddof 1), clipped to [0, 1]; it is 0 when every
prediction is equal (then the estimate is mean(Y) whatever lam is).

Everything is a function of mergeable moments, so :class:`PPISketch` gives the same result
from streamed batches (labelled and unlabelled ones merge separately).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.reals import real_values
from .._common.validate import as_labels, finite_values, refuse_any
from .moments import CoMoments, Moments

__all__ = ["PPIResult", "ppi_mean", "ppi_prevalence", "PPISketch", "TYPE_PPI_SKETCH"]

TYPE_PPI_SKETCH = _serde.TYPE_PPI_SKETCH


@dataclass(frozen=True)
class PPIResult:
    """A prediction-powered estimate of a mean, its two-sided ``1 - alpha`` interval
    ``[low, high]``, the power-tuning ``lam`` used and the sample sizes."""

    estimate: float
    low: float
    high: float
    lam: float
    alpha: float
    n: int
    N: int

    def __iter__(self) -> Any:
        return iter((self.low, self.high))


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    return float(alpha)


def _check_lam(lam: Any) -> float | None:
    if lam is None:
        return None
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam):
        raise ValueError(f"lam must be a finite number or None, got {lam!r}")
    return float(lam)


def tuned_lambda(labelled: CoMoments, unlabelled: Moments) -> float:
    """PPI++'s power-tuning parameter from the moments (x = Yhat, y = Y), clipped to [0, 1]."""
    n, N = labelled.n, unlabelled.n
    pooled = labelled.x().merge(unlabelled)
    var_pooled = pooled.m2 / (pooled.n - 1)
    if var_pooled <= 0.0:
        return 0.0
    lam = (labelled.c_xy / n) / ((1.0 + n / N) * var_pooled)
    return min(max(lam, 0.0), 1.0)


def ppi_from_moments(labelled: CoMoments, unlabelled: Moments, alpha: float, lam: float | None) -> PPIResult:
    """The PPI estimate and interval from moments (x = Yhat, y = Y)."""
    n, N = labelled.n, unlabelled.n
    if n == 0 or N == 0:
        raise ValueError(f"PPI needs labelled and unlabelled data, got n = {n} and N = {N}")
    alpha = _check_alpha(alpha)
    lam = _check_lam(lam)
    if lam is None:
        lam = tuned_lambda(labelled, unlabelled)
    estimate = labelled.mean_y + lam * (unlabelled.mean - labelled.mean_x)
    rect_var = max(labelled.m2_y + lam * lam * labelled.m2_x - 2.0 * lam * labelled.c_xy, 0.0) / n
    se = math.sqrt(lam * lam * (unlabelled.m2 / N) / N + rect_var / n)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return PPIResult(estimate, estimate - z * se, estimate + z * se, lam, alpha, n, N)


def _labelled(Y: Any, Yhat: Any) -> tuple[np.ndarray, np.ndarray]:
    y = real_values(Y, "Y")
    yhat = real_values(Yhat, "Yhat")
    if y.shape != yhat.shape:
        raise ValueError(f"Y and Yhat must have the same length, got {y.size} and {yhat.size}")
    return y, yhat


def ppi_mean(Y: Any, Yhat: Any, Yhat_unlabeled: Any, alpha: float = 0.1, lam: float | None = None) -> PPIResult:
    """Prediction-powered estimate and ``1 - alpha`` interval of the mean of Y from n
    labelled pairs (Y, Yhat) and N unlabelled predictions (see the module docstring);
    equal to ppi-python's ``ppi_mean_pointestimate`` / ``ppi_mean_ci``."""
    y, yhat = _labelled(Y, Yhat)
    u = real_values(Yhat_unlabeled, "Yhat_unlabeled")
    return ppi_from_moments(CoMoments.of(yhat, y), Moments.of(u), alpha, lam)


def _binary(labels: Any, n: int) -> np.ndarray:
    y = as_labels(labels, "labels")
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"labels must be 1-D with one entry per score ({n}), got shape {y.shape}")
    refuse_any((y != 0) & (y != 1), "labels must be 0 or 1")
    return y.astype(np.float64)


def _unit_scores(scores: Any, name: str) -> np.ndarray:
    s = finite_values(scores, name)
    refuse_any((s < 0.0) | (s > 1.0), f"{name} must lie in [0, 1]", "outside")
    return s


def ppi_prevalence(
    labels: Any, scores: Any, scores_unlabeled: Any, alpha: float = 0.1, lam: float | None = None
) -> PPIResult:
    """Prediction-powered prevalence P(y = 1) of a binary outcome from a classifier's scores:
    :func:`ppi_mean` with Y = labels in {0, 1} and Yhat = scores in [0, 1] (a naive
    ``mean(scores_unlabeled)`` inherits the classifier's miscalibration; this does not)."""
    s = _unit_scores(scores, "scores")
    y = _binary(labels, s.size)
    u = _unit_scores(scores_unlabeled, "scores_unlabeled")
    return ppi_from_moments(CoMoments.of(s, y), Moments.of(u), alpha, lam)


class PPISketch(_serde.EqualBytes):
    """Mergeable PPI state: co-moments of the labelled (Y, Yhat) pairs and moments of the
    unlabelled predictions. ``update_labeled`` / ``update_unlabeled`` add batches
    (all-or-nothing), ``merge`` adds another sketch, ``result(alpha, lam)`` gives the
    :class:`PPIResult` :func:`ppi_mean` gives on the concatenated data (to float64 rounding).

    Binary format (serde payload envelope, type id 12): labelled co-moments (88 bytes, x =
    Yhat, y = Y), unlabelled moments (48 bytes), every invariant checked on load.
    """

    def __init__(self) -> None:
        self._lab = CoMoments()
        self._unl = Moments()

    @property
    def n(self) -> int:
        """Number of labelled pairs."""
        return self._lab.n

    @property
    def N(self) -> int:
        """Number of unlabelled predictions."""
        return self._unl.n

    def update_labeled(self, Y: Any, Yhat: Any) -> PPISketch:
        """Add labelled pairs."""
        y, yhat = _labelled(Y, Yhat)
        self._lab = self._lab.merge(CoMoments.of(yhat, y))
        return self

    def update_unlabeled(self, Yhat_unlabeled: Any) -> PPISketch:
        """Add unlabelled predictions."""
        self._unl = self._unl.merge(Moments.of(real_values(Yhat_unlabeled, "Yhat_unlabeled")))
        return self

    def merge(self, other: PPISketch) -> PPISketch:
        """Add another sketch in place (returns self)."""
        if not isinstance(other, PPISketch):
            raise TypeError(f"can only merge a PPISketch, got {type(other).__name__}")
        self._lab = self._lab.merge(other._lab)
        self._unl = self._unl.merge(other._unl)
        return self

    def __iadd__(self, other: PPISketch) -> PPISketch:
        return self.merge(other)

    def __add__(self, other: PPISketch) -> PPISketch:
        return PPISketch.from_bytes(self.to_bytes()).merge(other)

    def result(self, alpha: float = 0.1, lam: float | None = None) -> PPIResult:
        """The PPI estimate and interval of everything added so far."""
        return ppi_from_moments(self._lab, self._unl, alpha, lam)

    def to_bytes(self) -> bytes:
        """Versioned, checksummed binary form."""
        return _serde.pack_payload(TYPE_PPI_SKETCH, self._lab.pack() + self._unl.pack())

    @staticmethod
    def from_bytes(data: bytes) -> PPISketch:
        """Rebuild from :meth:`to_bytes`; ValueError naming the broken invariant."""
        p = _serde.unpack_payload(data, TYPE_PPI_SKETCH)
        if len(p) != CoMoments.SIZE + Moments.SIZE:
            raise ValueError(f"PPISketch payload has {len(p)} bytes, expected {CoMoments.SIZE + Moments.SIZE}")
        out = PPISketch()
        out._lab = CoMoments.unpack(p, 0, "PPISketch labelled moments")
        out._unl = Moments.unpack(p, CoMoments.SIZE, "PPISketch unlabelled moments")
        return out

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (PPISketch.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"PPISketch(n={self.n}, N={self.N})"
