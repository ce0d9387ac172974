"""Cross-fitted calibration of scikit-learn classifiers."""

from __future__ import annotations

import numpy as np
import pytest

import calipers

pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from calipers.sklearn import CalibratedClassifier


@pytest.mark.parametrize("method", ["platt", "beta", "isotonic", "histogram", "scaling-binning", "temperature"])
def test_binary_cross_fitted_calibration_improves_gaussian_nb(method):  # type: ignore[no-untyped-def]
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    raw = GaussianNB().fit(Xtr, ytr).predict_proba(Xte)[:, 1]
    model = CalibratedClassifier(GaussianNB(), method=method, cv=5).fit(Xtr, ytr)
    P = model.predict_proba(Xte)
    assert P.shape == (yte.size, 2)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    assert calipers.log_loss(P[:, 1], yte) < calipers.log_loss(raw, yte)  # GaussianNB is badly overconfident
    assert set(model.predict(Xte)) <= {0, 1}


def test_multiclass_uses_marginal_mode_and_renormalizes():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    model = CalibratedClassifier(GaussianNB(), method="isotonic", cv=3).fit(Xtr, ytr)
    assert model.calibrator_.mode == "marginal"
    P = model.predict_proba(Xte)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-9)
    raw = GaussianNB().fit(Xtr, ytr).predict_proba(Xte)
    assert calipers.ece(P, yte) < calipers.ece(raw, yte, row_sum_atol=1e-3)
    assert (model.predict(Xte) == yte).mean() > 0.6


def test_bad_arguments():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match="method"):
        CalibratedClassifier(GaussianNB(), method="magic").fit(X, y)
    with pytest.raises(ValueError, match="cv"):
        CalibratedClassifier(GaussianNB(), cv=1).fit(X, y)
