"""scikit-learn integration (needs scikit-learn).

* :class:`CalibratedClassifier`: cross-fitted calibration of any classifier, like
  ``CalibratedClassifierCV(ensemble=False)``: the classifier's out-of-fold probabilities
  (k-fold, stratified) train one calipers calibrator, and the classifier is then refitted on
  all the data. Out-of-fold scores keep the calibrator from learning the classifier's
  overconfidence on its own training data.
* Scorers for ``GridSearchCV(scoring=...)``, ``cross_validate(scoring=...)`` and friends:
  :data:`ece_scorer`, :data:`smooth_ece_scorer`, :data:`brier_skill_scorer`, or any metric
  through :func:`make_calibration_scorer`. scikit-learn maximizes scores, so a loss
  (ECE, smooth ECE) is returned negated, as its ``neg_log_loss`` is; the Brier skill score is
  already "greater is better". A scorer calls the estimator's ``predict_proba``: binary
  problems score P(classes_[1]) against y == classes_[1]; multiclass problems the top-label
  confidence against correctness, with y mapped through ``classes_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common.optional import require
from ._common.validate import plain
from .calibration import (
    BetaCalibration,
    Calibrator,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    ScalingBinning,
    TemperatureScaling,
)
from .metrics import brier_skill_score, ece, smooth_ece

require("sklearn", "calipers.sklearn")
from sklearn.base import BaseEstimator, ClassifierMixin, clone  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

__all__ = [
    "CalibratedClassifier",
    "CalibrationScorer",
    "make_calibration_scorer",
    "ece_scorer",
    "smooth_ece_scorer",
    "brier_skill_scorer",
]

METHODS: dict[str, type[Calibrator]] = {
    "platt": PlattScaling,
    "beta": BetaCalibration,
    "isotonic": IsotonicCalibration,
    "histogram": HistogramBinning,
    "scaling-binning": ScalingBinning,
    "temperature": TemperatureScaling,
}


class CalibratedClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Wrap ``estimator`` with a calipers calibrator fitted on out-of-fold predictions.

    Parameters
    ----------
    estimator : a classifier with ``fit`` and ``predict_proba``.
    method : "platt", "beta", "isotonic", "histogram", "scaling-binning" or "temperature"
        (temperature scales the log-probabilities).
    cv : number of stratified folds (>= 2).
    calibrator_params : keyword arguments for the calibrator.
    random_state : seed of the fold shuffling.

    Binary problems calibrate P(class 1) and return [1 - q, q]; multiclass problems use
    the calibrator's marginal (one-vs-rest) mode with renormalized rows.
    """

    def __init__(
        self,
        estimator: Any,
        method: str = "isotonic",
        cv: int = 5,
        calibrator_params: dict[str, Any] | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.calibrator_params = calibrator_params
        self.random_state = random_state

    def _make_calibrator(self, n_classes: int) -> Calibrator:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {self.method!r}")
        params = dict(self.calibrator_params or {})
        if self.method != "temperature" and n_classes > 2:
            params.setdefault("mode", "marginal")
        return METHODS[self.method](**params)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CalibratedClassifier:
        """Cross-fit: each fold's model predicts its held-out part, one calibrator is fitted on
        those out-of-fold probabilities, then the model is refitted on all rows."""
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ValueError(f"cv must be an integer >= 2, got {plain(self.cv)}")
        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError("CalibratedClassifier needs at least 2 classes in y")
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        oof = np.zeros((y.size, self.classes_.size))
        for train, test in folds.split(np.zeros(y.size), codes):
            model = clone(self.estimator)
            if sample_weight is None:
                model.fit(_rows(X, train), codes[train])
            else:
                model.fit(_rows(X, train), codes[train], sample_weight=np.asarray(sample_weight)[train])
            oof[test] = _full_proba(model, _rows(X, test), self.classes_.size)
        self.calibrator_ = self._make_calibrator(self.classes_.size)
        self.calibrator_.fit(
            *self._calibration_input(oof),
            codes,
            sample_weight=None if sample_weight is None else np.asarray(sample_weight, float),
        )
        self.estimator_ = clone(self.estimator)
        if sample_weight is None:
            self.estimator_.fit(X, codes)
        else:
            self.estimator_.fit(X, codes, sample_weight=sample_weight)
        return self

    def _calibration_input(self, P: np.ndarray) -> tuple[np.ndarray]:
        if self.method == "temperature":
            return (np.log(np.clip(P, 1e-300, 1.0)),)
        if P.shape[1] == 2:
            return (np.ascontiguousarray(P[:, 1]),)
        return (P / P.sum(axis=1, keepdims=True),)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities (n, n_classes)."""
        P = _full_proba(self.estimator_, X, self.classes_.size)
        out = self.calibrator_.transform(*self._calibration_input(P))
        if out.ndim == 1:
            return np.column_stack([1.0 - out, out])
        return np.asarray(out)

    def predict(self, X: Any) -> np.ndarray:
        """The class with the largest calibrated probability."""
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


def _rows(X: Any, idx: np.ndarray) -> Any:
    return X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]


def _full_proba(model: Any, X: Any, n_classes: int) -> np.ndarray:
    """predict_proba with a column for every class, even those absent from a fold."""
    P = model.predict_proba(X)
    if P.shape[1] == n_classes:
        return np.asarray(P)
    out = np.zeros((P.shape[0], n_classes))
    out[:, model.classes_] = P
    return out


class CalibrationScorer:
    """A scikit-learn scorer ``scorer(estimator, X, y, sample_weight=None)`` computing a
    calipers metric on ``estimator.predict_proba(X)``; ``sign`` -1 for a loss (lower is
    better), +1 for a skill (higher is better), as scikit-learn's scorers carry ``_sign``.

    Use the ready-made :data:`ece_scorer`, :data:`smooth_ece_scorer` and
    :data:`brier_skill_scorer`, or :func:`make_calibration_scorer`."""

    def __init__(self, metric: Any, sign: int, name: str, kwargs: dict[str, Any] | None = None) -> None:
        if sign not in (-1, 1):
            raise ValueError(f"sign must be -1 or 1, got {sign!r}")
        self._metric = metric
        self._sign = sign
        self._name = name
        self._kwargs = dict(kwargs or {})

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self._kwargs.items())
        return f"make_calibration_scorer({self._name}, greater_is_better={self._sign > 0}{args})"

    def __call__(self, estimator: Any, X: Any, y_true: Any, sample_weight: Any = None) -> float:
        P = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        classes = np.asarray(getattr(estimator, "classes_", np.arange(P.shape[1])))
        y = np.asarray(y_true)
        codes = np.searchsorted(classes, y)
        if np.any(codes >= classes.size) or np.any(classes[np.minimum(codes, classes.size - 1)] != y):
            unknown = y[(codes >= classes.size) | (classes[np.minimum(codes, classes.size - 1)] != y)]
            raise ValueError(f"y holds labels the estimator did not see in fit, e.g. {unknown[0]!r}")
        if P.shape[1] == 2:  # binary: P(classes_[1]) against y == classes_[1]
            value = self._metric(np.ascontiguousarray(P[:, 1]), codes == 1, sample_weight=sample_weight, **self._kwargs)
        else:
            value = self._metric(P, codes, sample_weight=sample_weight, **self._kwargs)
        return float(self._sign * value)


def make_calibration_scorer(metric: Any, *, greater_is_better: bool = False, **kwargs: Any) -> CalibrationScorer:
    """A scorer for any calipers metric taking ``(scores, labels, sample_weight=...)``; the
    keyword arguments go to the metric (e.g. ``bins=10``, ``norm="l2"``, ``row_sum_atol=``)."""
    name = getattr(metric, "__name__", repr(metric))
    return CalibrationScorer(metric, 1 if greater_is_better else -1, name, kwargs)


ece_scorer = make_calibration_scorer(ece)
"""Negated ECE (15 equal-width bins, top-label for multiclass): for ``scoring=``."""

smooth_ece_scorer = make_calibration_scorer(smooth_ece)
"""Negated smooth ECE: for ``scoring=``."""

brier_skill_scorer = make_calibration_scorer(brier_skill_score, greater_is_better=True)
"""Brier skill score (greater is better): for ``scoring=``."""
