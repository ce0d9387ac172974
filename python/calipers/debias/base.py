"""The protocol of downstream corrections (LCC, Tweedie): parameters, the fitted-state
guard, the downstream helpers (``mean``, ``contrast``, ``ate``) and serialization.

A correction maps real-valued predictions to corrected ones; unlike a
:class:`calipers.Calibrator` it takes no labels and no [0, 1] scores, so it has its own
JSON envelope (``"format": "calipers.correction"``, a registry of correction types rebuilt
by :meth:`Correction.from_json`) and its own type id in the binary envelope of
:mod:`calipers._common.serde`. ``calipers apply`` loads either kind of file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.estimator import Estimator
from .downstream import DownstreamEstimate, check_values
from .downstream import ate as _ate
from .downstream import contrast as _contrast
from .downstream import mean as _mean

__all__ = ["Correction", "DebiasingWarning", "TYPE_CORRECTION", "FORMAT"]

TYPE_CORRECTION = _serde.TYPE_CORRECTION
FORMAT = "calipers.correction"


class DebiasingWarning(UserWarning):
    """A correction was fitted or applied where its premises are weak (small calibration
    sample, weak slope, predictions outside the calibration range)."""


class Correction(Estimator, family=True):
    """Shared protocol: ``fit(predictions, targets)``, ``transform(predictions)``, the
    downstream helpers on corrected predictions, and JSON / bytes serialization
    (:class:`calipers._common.estimator.Estimator`)."""

    _noun = "correction"
    _format = FORMAT
    _type_id = TYPE_CORRECTION
    _fit_call = "fit(predictions, targets)"

    def fit(self, predictions: Any, targets: Any) -> Correction:
        """Fit on a held-out calibration split of predictions and their true values."""
        raise NotImplementedError

    def transform(self, predictions: Any) -> np.ndarray:
        """Corrected predictions, one per input prediction."""
        raise NotImplementedError

    # -- downstream helpers ----------------------------------------------------------------

    def mean(
        self, predictions: Any, weights: Any = None, *, bootstrap: int = 0, confidence: float = 0.95, seed: Any = None
    ) -> DownstreamEstimate:
        """(Weighted) mean of the corrected predictions; ``naive`` is that of the raw ones."""
        x = check_values(predictions)
        naive = _mean(x, weights).estimate
        return _mean(self.transform(x), weights, bootstrap=bootstrap, confidence=confidence, seed=seed, naive=naive)

    def contrast(
        self,
        predictions: Any,
        groups: Any,
        *,
        levels: tuple[Any, Any] | None = None,
        bootstrap: int = 0,
        confidence: float = 0.95,
        seed: Any = None,
    ) -> DownstreamEstimate:
        """Difference of two group means of the corrected predictions (see
        :func:`calipers.debias.downstream.contrast`)."""
        x = check_values(predictions)
        naive = _contrast(x, groups, levels=levels).estimate
        return _contrast(
            self.transform(x), groups, levels=levels, bootstrap=bootstrap, confidence=confidence, seed=seed, naive=naive
        )

    def ate(
        self,
        predictions: Any,
        treatment: Any,
        propensity: Any = None,
        *,
        estimator: str = "hajek",
        bootstrap: int = 0,
        confidence: float = 0.95,
        seed: Any = None,
    ) -> DownstreamEstimate:
        """Average treatment effect on the corrected predictions, Hajek or Horvitz-Thompson
        (see :func:`calipers.debias.downstream.ate`)."""
        x = check_values(predictions)
        naive = _ate(x, treatment, propensity, estimator=estimator).estimate
        return _ate(
            self.transform(x),
            treatment,
            propensity,
            estimator=estimator,
            bootstrap=bootstrap,
            confidence=confidence,
            seed=seed,
            naive=naive,
        )
