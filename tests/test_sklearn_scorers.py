"""calipers.sklearn scorers inside GridSearchCV and cross_validate, with scikit-learn's sign
convention (greater is better)."""

from __future__ import annotations

import numpy as np
import pytest

import calipers

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate, train_test_split  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from calipers.sklearn import brier_skill_scorer, ece_scorer, make_calibration_scorer, smooth_ece_scorer  # noqa: E402


def _model(C: float = 1.0):  # type: ignore[no-untyped-def]
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))


def test_scorers_compute_the_metrics_with_the_sign_sklearn_expects():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    model = _model().fit(Xtr, ytr)
    p = model.predict_proba(Xte)[:, 1]
    assert ece_scorer(model, Xte, yte) == -calipers.ece(p, yte)
    assert smooth_ece_scorer(model, Xte, yte) == -calipers.smooth_ece(p, yte)
    assert brier_skill_scorer(model, Xte, yte) == calipers.brier_skill_score(p, yte)
    assert ece_scorer(model, Xte, yte) < 0 < brier_skill_scorer(model, Xte, yte)
    w = np.linspace(0.5, 2.0, yte.size)
    assert ece_scorer(model, Xte, yte, sample_weight=w) == -calipers.ece(p, yte, sample_weight=w)
    # string labels: P(classes_[1]) against y == classes_[1]
    names = np.array(["benign", "malignant"])
    m2 = _model().fit(Xtr, names[ytr])
    assert ece_scorer(m2, Xte, names[yte]) == pytest.approx(-calipers.ece(p, yte), abs=1e-15)
    with pytest.raises(ValueError, match="did not see in fit"):
        ece_scorer(m2, Xte[:3], ["benign", "x", "malignant"])


def test_multiclass_scorers_use_the_top_label():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    model = GaussianNB().fit(Xtr, ytr)
    P = model.predict_proba(Xte)
    l2 = make_calibration_scorer(calipers.ece, norm="l2", bins=10, row_sum_atol=1e-3)
    assert l2(model, Xte, yte) == -calipers.ece(P, yte, norm="l2", bins=10, row_sum_atol=1e-3)
    assert "norm='l2'" in repr(l2) and "greater_is_better=False" in repr(l2)


def test_scorers_inside_grid_search_and_cross_validate():
    X, y = load_breast_cancer(return_X_y=True)
    grid = {"logisticregression__C": [1e-3, 1.0, 1e3]}
    search = GridSearchCV(_model(), grid, scoring=ece_scorer, cv=3).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(scores < 0) and search.best_score_ == scores.max()
    # the best C is the one with the lowest mean ECE over the folds, recomputed by hand
    manual = []
    for C in grid["logisticregression__C"]:
        res = cross_validate(_model(C), X, y, cv=3, scoring={"ece": ece_scorer})
        manual.append(res["test_ece"].mean())
    np.testing.assert_allclose(scores, manual, rtol=1e-12)
    assert search.best_params_["logisticregression__C"] == grid["logisticregression__C"][int(np.argmax(manual))]
    many = cross_validate(
        _model(), X, y, cv=3, scoring={"ece": ece_scorer, "smooth": smooth_ece_scorer, "bss": brier_skill_scorer}
    )
    assert np.all(many["test_ece"] < 0) and np.all(many["test_smooth"] < 0) and np.all(many["test_bss"] > 0)
    Xd, yd = load_digits(return_X_y=True)
    multi = GridSearchCV(
        GaussianNB(), {"var_smoothing": [1e-9, 1e-3]}, scoring=make_calibration_scorer(calipers.ece, row_sum_atol=1e-3)
    ).fit(Xd, yd)
    assert multi.best_score_ < 0
