"""Calibrators against the reference libraries and independent optima, on real outputs."""

from __future__ import annotations

import numpy as np
import pytest

import calipers

calibration = pytest.importorskip("calibration", reason="uncertainty-calibration is a test dependency")
UC = "uncertainty-calibration"


def _binary_sets(real_outputs):  # type: ignore[no-untyped-def]
    """1-D (score, outcome) sets from real outputs: P(y=1) for binary models, top-label otherwise."""
    for name, (P, y) in real_outputs.items():
        if P.shape[1] == 2:
            yield name + "-p1", np.ascontiguousarray(P[:, 1]), y.astype(np.int64)
        yield name + "-top", P.max(axis=1), (P.argmax(axis=1) == y).astype(np.int64)


def _halves(n, seed=0):  # type: ignore[no-untyped-def]
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: n // 2], perm[n // 2 :]


def test_isotonic_equals_sklearn(real_outputs):  # type: ignore[no-untyped-def]
    from sklearn.isotonic import IsotonicRegression

    for name, p, y in _binary_sets(real_outputs):
        if y.min() == y.max():
            continue
        fit, test = _halves(p.size)
        w = np.random.default_rng(1).uniform(0.2, 3.0, p.size)
        for weights in (None, w[fit]):
            ref = IsotonicRegression(out_of_bounds="clip").fit(p[fit], y[fit], sample_weight=weights)
            ours = calipers.IsotonicCalibration().fit(p[fit], y[fit], sample_weight=weights)
            np.testing.assert_allclose(ours.transform(p[test]), ref.predict(p[test]), rtol=0, atol=1e-9, err_msg=name)
            np.testing.assert_allclose(ours.maps_[0].x, ref.X_thresholds_, rtol=0, atol=0, err_msg=name)
            np.testing.assert_allclose(ours.maps_[0].y, ref.y_thresholds_, rtol=0, atol=1e-12, err_msg=name)


def _newton_platt(x, y, w, l2=0.0):  # type: ignore[no-untyped-def]
    """Independent float64 reference: plain Newton on the 2-parameter logistic likelihood
    (soft targets allowed), with scikit-learn's penalty l2/2 a^2 on the slope."""
    a, b = 0.0, 0.0
    for _ in range(200):
        t = a * x + b
        p = 1 / (1 + np.exp(-t))
        r, c = w * (p - y), w * p * (1 - p)
        g = np.array([np.sum(r * x) + l2 * a, np.sum(r)])
        H = np.array([[np.sum(c * x * x) + l2, np.sum(c * x)], [np.sum(c * x), np.sum(c)]])
        step = np.linalg.solve(H, g)
        a, b = a - step[0], b - step[1]
        if np.max(np.abs(step)) < 1e-14:
            break
    return a, b


def test_platt_equals_exact_newton_and_is_close_to_sklearn(real_outputs):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    checked = 0
    for name, p, y in _binary_sets(real_outputs):
        q = np.clip(p, 1e-12, 1 - 1e-12)
        x = np.log(q / (1 - q))
        pos, neg = x[y == 1], x[y == 0]
        if pos.size == 0 or neg.size == 0 or neg.max() <= pos.min() or pos.max() <= neg.min():
            with pytest.warns(RuntimeWarning, match="separable"):
                fitted = calipers.PlattScaling().fit(p, y)
            assert np.all(np.isfinite([fitted.maps_[0].a, fitted.maps_[0].b]))
            continue
        ours = calipers.PlattScaling().fit(p, y).maps_[0]
        a, b = _newton_platt(x, y.astype(float), np.ones_like(x))
        assert ours.a == pytest.approx(a, abs=1e-12, rel=1e-12), name  # measured 3.7e-15
        assert ours.b == pytest.approx(b, abs=1e-12, rel=1e-12), name
        sk = LogisticRegression(C=1e10, solver="lbfgs").fit(x[:, None], y)  # what uncertainty-calibration does
        # lbfgs at its default tolerance stops early: measured up to 2.6e-3 away
        assert abs(sk.coef_[0, 0] - ours.a) < 5e-3 and abs(sk.intercept_[0] - ours.b) < 5e-3, name
        reg = calipers.PlattScaling(C=1.0).fit(p, y).maps_[0]
        a1, b1 = _newton_platt(x, y.astype(float), np.ones_like(x), l2=1.0)
        assert reg.a == pytest.approx(a1, abs=1e-12, rel=1e-12) and reg.b == pytest.approx(b1, abs=1e-12, rel=1e-12)
        tight = LogisticRegression(C=1.0, tol=1e-12, max_iter=10000).fit(x[:, None], y)
        assert reg.a == pytest.approx(tight.coef_[0, 0], abs=6e-8) and reg.b == pytest.approx(
            tight.intercept_[0], abs=6e-8
        )  # the peer: measured 2.0e-8 (its lbfgs at tol 1e-12)
        checked += 1
    assert checked >= 5


def _newton_temperature(Z, y):  # type: ignore[no-untyped-def]
    """Independent reference: Newton on beta = 1/T of the convex NLL mean(logsumexp(beta z)
    - beta z_y), gradient mean(E_softmax[z] - z_y), curvature mean(Var_softmax[z])."""
    beta, zy = 1.0, Z[np.arange(y.size), y]
    for _ in range(100):
        e = np.exp(beta * (Z - Z.max(axis=1, keepdims=True)))
        q = e / e.sum(axis=1, keepdims=True)
        mean = np.sum(q * Z, axis=1)
        step = np.mean(mean - zy) / np.mean(np.sum(q * Z * Z, axis=1) - mean**2)
        if beta - step <= 0:  # a Newton step past 0: halve toward it instead
            step = beta / 2
        beta -= step
        if abs(step) < 1e-15 * beta:
            break
    return 1.0 / beta


def test_temperature_equals_scipy_optimum(cifar, sklearn_outputs):  # type: ignore[no-untyped-def]
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    sets = {"cifar": cifar, **{k: v for k, v in sklearn_outputs.items() if k.endswith("-lr")}}
    for name, (P, y) in sets.items():
        Z = np.log(np.clip(P, 1e-300, 1))

        def nll(T, Z=Z, y=y):  # type: ignore[no-untyped-def]
            return -np.mean(log_softmax(Z / T, axis=1)[np.arange(y.size), y])

        ref = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-10}).x
        ours = calipers.TemperatureScaling().fit(Z, y).temperature_
        assert ours == pytest.approx(ref, abs=1.5e-8), name  # scipy's bounded search: measured 5.2e-9 away
        assert ours == pytest.approx(_newton_temperature(Z, y), rel=1e-12), name  # exact: measured 1.8e-16
    # binary logits
    P, y = sklearn_outputs["cancer-lr"]
    z = np.log(P[:, 1] / P[:, 0])
    t = calipers.TemperatureScaling().fit(z, y)
    np.testing.assert_allclose(
        t.transform(z),
        calipers.TemperatureScaling()
        .fit(np.column_stack([np.zeros_like(z), z]), y)
        .transform(np.column_stack([np.zeros_like(z), z]))[:, 1],
        rtol=1e-12,
    )


def test_histogram_binning_equals_uncertainty_calibration(real_outputs):  # type: ignore[no-untyped-def]
    for name, (P, y) in real_outputs.items():
        fit, test = _halves(y.size, 2)
        if P.shape[1] == 2:
            ref = calibration.HistogramCalibrator(len(fit), 15)
            ref.train_calibration(P[fit, 1], y[fit])
            ours = calipers.HistogramBinning(15, compat=UC).fit(P[fit, 1], y[fit])
            np.testing.assert_allclose(ours.transform(P[test, 1]), ref.calibrate(P[test, 1]), rtol=0, atol=1e-12)
        ref = calibration.HistogramTopCalibrator(len(fit), 15)
        ref.train_calibration(P[fit], y[fit])
        ours = calipers.HistogramBinning(15, compat=UC).fit(P[fit], y[fit])
        np.testing.assert_allclose(ours.transform(P[test]), ref.calibrate(P[test]), rtol=0, atol=1e-12, err_msg=name)
        if set(np.unique(y[fit])) == set(range(P.shape[1])):
            ref = calibration.HistogramMarginalCalibrator(len(fit), 15)
            ref.train_calibration(P[fit], y[fit])
            ours = calipers.HistogramBinning(15, compat=UC, mode="marginal").fit(P[fit], y[fit])
            np.testing.assert_allclose(
                ours.transform(P[test]), ref.calibrate(P[test]), rtol=0, atol=1e-12, err_msg=name
            )


class _ExactLogisticRegression:
    """The one-feature LogisticRegression(C) uncertainty-calibration's Platt step calls,
    solved by Newton to machine precision (penalty 1/(2C) a^2, as scikit-learn's)."""

    def __init__(self, C=1.0, solver=None):  # type: ignore[no-untyped-def]
        self.C = C

    def fit(self, X, y):  # type: ignore[no-untyped-def]
        x = np.asarray(X, np.float64)[:, 0]
        a, b = _newton_platt(x, np.asarray(y, np.float64), np.ones_like(x), l2=1.0 / self.C)
        self.coef_, self.intercept_ = np.array([[a]]), np.array([b])
        return self


@pytest.fixture
def exact_reference_solver(monkeypatch):  # type: ignore[no-untyped-def]
    import calibration.utils as uc_utils

    monkeypatch.setattr(uc_utils, "LogisticRegression", _ExactLogisticRegression)


def test_scaling_binning_equals_platt_binner_with_its_fit_solved(real_outputs, exact_reference_solver):  # type: ignore[no-untyped-def]
    """README: compat="uncertainty-calibration" reproduces PlattBinnerCalibrator and its Top
    and Marginal variants to 1e-9, the reference's procedure run with its Platt fit solved
    exactly (measured: at most 4.2e-12; top-label 4.2e-12, marginal 1.5e-12)."""
    checked = 0
    for name, p, y in _binary_sets(real_outputs):
        if not _platt_mle_exists(p, y):
            continue  # no Platt MLE: nothing to solve exactly
        ref = calibration.PlattBinnerCalibrator(p.size, 15)
        ref.train_calibration(p, y)
        ours = calipers.ScalingBinning(15, compat=UC).fit(p, y)
        np.testing.assert_allclose(ours.transform(p), ref.calibrate(p), rtol=0, atol=1e-9, err_msg=name)
        checked += 1
    for name in ("cifar10-vgg16", "digits-lr", "digits-nb", "cancer-lr"):
        P, y = real_outputs[name]
        if _platt_mle_exists(P.max(axis=1), (P.argmax(axis=1) == y).astype(int)):
            ref = calibration.PlattBinnerTopCalibrator(y.size, 15)
            ref.train_calibration(P, y)
            got = calipers.ScalingBinning(15, compat=UC).fit(P, y).transform(P)
            np.testing.assert_allclose(got, ref.calibrate(P), rtol=0, atol=1e-9, err_msg=name)
            checked += 1
        live = [k for k in range(P.shape[1]) if _platt_mle_exists(P[:, k], (y == k).astype(int))]
        if len(live) == P.shape[1]:  # every class has a Platt MLE (not digits-lr: class 2 is separable)
            ref = calibration.PlattBinnerMarginalCalibrator(y.size, 15)
            with np.errstate(all="ignore"):
                ref.train_calibration(P, y)
            got = calipers.ScalingBinning(15, compat=UC, mode="marginal").fit(P, y).transform(P)
            np.testing.assert_allclose(got, ref.calibrate(P), rtol=0, atol=1e-9, err_msg=name)
            checked += 1
    assert checked >= 10


def test_scaling_binning_against_the_reference_as_shipped(real_outputs):  # type: ignore[no-untyped-def]
    """With the reference's own lbfgs (default tolerance 1e-4) its Platt fit stops early: the
    outputs differ by up to 2.9e-4 (measured), the whole of the difference."""
    agree, total = 0, 0
    for name, p, y in _binary_sets(real_outputs):
        if not _platt_mle_exists(p, y):
            continue  # no Platt MLE: solvers legitimately disagree
        ref = calibration.PlattBinnerCalibrator(p.size, 15)
        ref.train_calibration(p, y)
        ours = calipers.ScalingBinning(15, compat=UC).fit(p, y)
        diff = np.abs(ours.transform(p) - ref.calibrate(p))
        assert diff.max() <= 1e-3, (name, diff.max())  # measured 2.9e-4
        agree += int((diff <= 1e-9).sum())
        total += diff.size
    assert total > 0 and agree < total  # the early stop is visible


def test_beta_equals_betacal(real_outputs):  # type: ignore[no-untyped-def]
    betacal = pytest.importorskip("betacal", reason="betacal not installed")
    from sklearn.linear_model import LogisticRegression

    checked = 0
    for name, p, y in _binary_sets(real_outputs):
        if y.min() == y.max():
            continue
        # betacal's own procedure with its logistic solver run to convergence
        import betacal.beta_calibration as bc

        orig = bc.LogisticRegression
        bc.LogisticRegression = lambda C: LogisticRegression(C=C, tol=1e-12, max_iter=100000)
        try:
            ref = betacal.BetaCalibration(parameters="abm").fit(p, y)
        finally:
            bc.LogisticRegression = orig
        ours = calipers.BetaCalibration().fit(p, y)
        np.testing.assert_allclose(ours.transform(p), ref.predict(p), rtol=0, atol=5e-9, err_msg=name)
        # measured 1.5e-9 (betacal's lbfgs at tol 1e-12); with its default tolerance it stops
        # early: up to 4e-2 off on digits-rf-top
        checked += 1
    assert checked >= 5


def _platt_mle_exists(p, y):  # type: ignore[no-untyped-def]
    q = np.clip(p, 1e-12, 1 - 1e-12)
    x = np.log(q / (1 - q))
    pos, neg = x[y == 1], x[y == 0]
    return pos.size > 0 and neg.size > 0 and neg.max() > pos.min() and pos.max() > neg.min()
