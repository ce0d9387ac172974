"""h-calibration: the loss against a numpy restatement of the official loss/hCalib.py, the
analytic gradient against finite differences, backend agreement, the official dECE, and
HCalibration as a calibrator (fit / transform / serialization / errors)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import calipers
from calipers._kernels import backend as _backend
from calipers.calibration.hcalibration import (
    HCalibration,
    h_calibration_gradient,
    h_calibration_loss,
    mixture_probs,
    official_debiased_ece,
)

# ---------------------------------------------------------------- the official loss, restated


def official_loss(P, y, veclen=200, epsilon=1e-20, weighting="unweighted", is_iter=True, lossweight=1e5):
    """WenjianHuang93/h-Calibration loss/hCalib.py (hcalibration + hcalib_subfunc) in numpy,
    float64: sort events by log(p + 1e-20), zero-pad veclen/2 each side, cross-correlate
    p(1-o) and (1-p)o with ones/(veclen+1) separately (torch conv1d), |A - B|, relu(. - eps),
    then the mean ('unweighted') or the mean of 15 closed-bin means ('aceweighted')."""
    K = P.shape[1]
    T = np.eye(K)[y]

    def sub(probsmat, targetmat):
        p, o = probsmat.reshape(-1), targetmat.reshape(-1)
        ind = np.argsort(np.log(p + 1e-20), kind="stable")
        p, o = p[ind], o[ind]
        a, b = p * (1.0 - o), (1.0 - p) * o
        pad = veclen // 2
        w = np.ones(veclen + 1) / (veclen + 1)
        A = np.correlate(np.pad(a, pad), w, mode="valid")
        B = np.correlate(np.pad(b, pad), w, mode="valid")
        Tv = np.maximum(A - B, 0) + np.maximum(B - A, 0)
        e = np.maximum(Tv - epsilon, 0.0)
        if weighting == "unweighted":
            return e.mean()
        bb = np.linspace(0, 1, 16)
        Ind = (p[None, :] >= bb[:-1, None]) & (p[None, :] <= bb[1:, None])
        return ((e[None, :] * Ind).sum(1) / (Ind.sum(1) + 1e-5)).mean()

    losses = [sub(P[y != c], T[y != c]) for c in range(K)] if is_iter else [sub(P, T)]
    return float(np.mean(losses) * lossweight)


def _subsample(P, y, n, seed=0):
    idx = np.random.default_rng(seed).permutation(len(y))[:n]
    return np.ascontiguousarray(P[idx]), y[idx]


WEIGHTINGS = [("unweighted", "unweighted"), ("ace", "aceweighted")]


@pytest.mark.parametrize("weighting,official", WEIGHTINGS)
@pytest.mark.parametrize("loo", [True, False])
def test_loss_equals_official_on_real_outputs(real_outputs, weighting, official, loo):
    # measured: worst relative difference 3e-15 over these sets
    for name, (P, y) in real_outputs.items():
        P, y = _subsample(P, y, 1500)
        for window in (200, 20):
            ours = h_calibration_loss(P, y, window=window, weighting=weighting, leave_one_class_out=loo)
            ref = official_loss(P, y, veclen=window, weighting=official, is_iter=loo)
            assert ours == pytest.approx(ref, rel=1e-9, abs=1e-9), (name, window)


def test_loss_eps_and_scale_follow_the_official(cifar):
    P, y = _subsample(*cifar, 1000)
    for eps in (0.0, 1e-3, 0.02):
        ref = official_loss(P, y, epsilon=eps, lossweight=3.0)
        assert h_calibration_loss(P, y, eps=eps, scale=3.0) == pytest.approx(ref, rel=1e-9)
    # a large eps zeroes every event error
    assert h_calibration_loss(P, y, eps=2.0) == 0.0


def test_loss_rewards_calibration(cifar):
    """Sharpening the CIFAR-10 VGG probabilities (they are over-confident already) raises
    the loss; the calibrated temperature lowers it."""
    P, y = cifar
    Z = np.log(P)
    T = calipers.TemperatureScaling().fit(Z, y).temperature_
    base = h_calibration_loss(P, y)
    sharp = h_calibration_loss(mixture_probs(Z - Z.max(1, keepdims=True), np.array([3.0]), np.ones(1))[0], y)
    tuned = h_calibration_loss(mixture_probs(Z - Z.max(1, keepdims=True), np.array([1 / T]), np.ones(1))[0], y)
    assert sharp > base > tuned


def test_gradient_matches_finite_differences(sklearn_outputs):
    """The loss is piecewise linear in p with the order fixed: central differences at
    coordinates whose perturbation keeps the order and no |D| at a kink agree to rounding."""
    P, y = sklearn_outputs["digits-lr"]
    P, y = _subsample(P, y, 120)
    kernel = _backend.resolve("auto").hcalibration_loss_grad
    for weighting in ("unweighted", "ace"):
        loss, G = h_calibration_gradient(P, y, window=20, weighting=weighting, scale=1.0)
        flat = np.sort(P.reshape(-1))
        gaps = np.diff(flat)
        step = 1e-7
        rng = np.random.default_rng(1)
        checked = 0
        for flat_i in rng.permutation(P.size)[:300]:
            i, k = divmod(int(flat_i), P.shape[1])
            p0 = P[i, k]
            pos = np.searchsorted(flat, p0)
            near = min(gaps[max(pos - 1, 0)] if pos > 0 else 1, gaps[pos] if pos < gaps.size else 1)
            if near < 10 * step or p0 < step or p0 > 1 - step:
                continue
            Pp, Pm = P.copy(), P.copy()
            Pp[i, k] += step
            Pm[i, k] -= step
            # leave the rows unnormalized: the kernel takes any probabilities in [0, 1]
            lp = kernel(Pp, y, 20, 1e-20, int(weighting == "ace"), True, 1.0, False)[0]
            lm = kernel(Pm, y, 20, 1e-20, int(weighting == "ace"), True, 1.0, False)[0]
            fd = (lp - lm) / (2 * step)
            assert fd == pytest.approx(G[i, k], rel=1e-5, abs=1e-9 * max(1.0, np.abs(G).max())), (i, k)
            checked += 1
        assert checked > 80
        assert np.abs(G).max() > 0 and loss > 0


def test_kernels_agree_across_backends(backend, real_outputs):
    ref = _backend.resolve("numpy")
    ker = _backend.resolve(backend)
    for name, (P, y) in real_outputs.items():
        P, y = _subsample(P, y, 600)
        for weighting in (0, 1):
            for loo in (True, False):
                l0, g0 = ref.hcalibration_loss_grad(P, y, 40, 1e-20, weighting, loo, 1e5, True)
                l1, g1 = ker.hcalibration_loss_grad(P, y, 40, 1e-20, weighting, loo, 1e5, True)
                assert l1 == pytest.approx(l0, rel=1e-12), name
                np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-12 * np.abs(g0).max())


def test_kernel_errors_are_the_same_on_every_backend(backend):
    ker = _backend.resolve(backend)
    P = np.full((4, 2), 0.5)
    y = np.array([0, 1, 0, 1])
    bad_p = P.copy()
    bad_p[2, 1] = 1.5
    for args, match in (
        ((bad_p, y, 2, 0.0, 0, True, 1.0, True), "flat index 5"),
        ((P, np.array([0, 2, 0, 1]), 2, 0.0, 0, True, 1.0, True), "first bad index 1"),
        ((P, y, 3, 0.0, 0, True, 1.0, True), "even"),
        ((P, np.zeros(4, np.int64), 2, 0.0, 0, True, 1.0, True), "empty"),
    ):
        with pytest.raises(ValueError, match=match):
            ker.hcalibration_loss_grad(*args)


def test_loss_input_errors():
    P = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    y = np.array([0, 1, 1])
    with pytest.raises(ValueError, match="NaN"):
        h_calibration_loss(np.where(P == 0.7, np.nan, P), y)
    with pytest.raises(ValueError, match="same length"):
        h_calibration_loss(P, y[:2])
    with pytest.raises(ValueError, match="empty"):
        h_calibration_loss(np.zeros((0, 2)), np.zeros(0, int))
    with pytest.raises(ValueError, match="2-D"):
        h_calibration_loss(P[:, 0], y)
    with pytest.raises(ValueError, match="even"):
        h_calibration_loss(P, y, window=3)
    with pytest.raises(ValueError, match="weighting"):
        h_calibration_loss(P, y, weighting="cluaceweighted")
    with pytest.raises(ValueError, match="at least 2 classes"):
        h_calibration_loss(P, np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="sum to 1"):
        h_calibration_loss(P * 1.1, y)
    with pytest.raises(ValueError, match="labels"):
        h_calibration_loss(P, np.array([0, 1, 2]))
    with pytest.raises(TypeError):
        h_calibration_loss(P, y, window=2.0)
    # leave_one_class_out=False accepts one class
    assert h_calibration_loss(P, np.array([1, 1, 1]), leave_one_class_out=False) > 0


# ---------------------------------------------------------------- the official dECE


def official_dece_reference(P, y, n_bins=15):
    """utils/utils.py _DebiasedECELoss(debiased=True, adaptive=True, power=1), restated
    with scipy's hyp1f1 as the official code writes the closed form."""
    from scipy.special import hyp1f1

    conf, correct = P.max(1), (P.argmax(1) == y).astype(float)
    order = np.argsort(conf, kind="stable")
    bounds = [int(np.round(len(conf) / n_bins * i)) for i in range(n_bins + 1)]
    bins = [order[bounds[i] : bounds[i + 1]] for i in range(n_bins)]
    sizes = np.array([len(b) for b in bins])
    probs = sizes / sizes.sum()
    model = np.array([conf[b].mean() for b in bins])
    label = np.array([correct[b].mean() for b in bins])
    ce = np.dot(probs, np.abs(model - label))
    sd = np.sqrt(label * (1 - label) / sizes)
    mu = label - model
    diffs = np.abs(label - model)
    nz = sd != 0
    diffs[nz] = sd[nz] * 2**0.5 / np.sqrt(np.pi) * hyp1f1(-0.5, 0.5, -(mu[nz] ** 2) / (2 * sd[nz] ** 2))
    return 2 * ce - diffs.mean()


def test_official_dece_matches_reference(real_outputs):
    # measured: worst absolute difference 2e-17
    for name, (P, y) in real_outputs.items():
        assert official_debiased_ece(P, y) == pytest.approx(official_dece_reference(P, y), abs=1e-12), name
    with pytest.raises(ValueError, match="at least 2 samples"):
        official_debiased_ece(real_outputs["cancer-lr"][0][:20], real_outputs["cancer-lr"][1][:20])


# ---------------------------------------------------------------- the calibrator


@pytest.fixture(scope="module")
def cifar_halves():
    from conftest import DATA

    d = np.load(DATA / "cifar10_vgg16_test_probs.npz")
    Z = np.log(d["probs_float32"].astype(np.float64))
    y = d["labels"].astype(np.int64)
    idx = np.random.default_rng(0).permutation(len(y))
    return Z[idx[:3000]], y[idx[:3000]], Z[idx[5000:]], y[idx[5000:]]


@pytest.fixture(scope="module")
def fitted(cifar_halves):
    Z, y, _, _ = cifar_halves
    return HCalibration(max_epochs=200).fit(Z, y)


def test_fit_lowers_the_loss_and_selects_by_dece(cifar_halves, fitted):
    Z, y, _, _ = cifar_halves
    raw = np.exp(Z)
    raw /= raw.sum(1, keepdims=True)
    assert h_calibration_loss(fitted.transform(Z), y) < 0.9 * h_calibration_loss(raw, y)  # measured 724 vs 864
    assert 1 <= fitted.selected_epoch_ <= fitted.epochs_ <= 200
    assert fitted.weights_.sum() == pytest.approx(1.0, abs=1e-12)
    # the kept epoch is the best by dECE among the epochs: refitting with that many epochs
    # and selection="last" gives the same parameters
    last = HCalibration(max_epochs=fitted.selected_epoch_, selection="last").fit(Z, y)
    np.testing.assert_allclose(last.inverse_temperatures_, fitted.inverse_temperatures_, rtol=1e-12)


def test_fit_is_deterministic_and_seeded(cifar_halves):
    Z, y = cifar_halves[0][:1000], cifar_halves[1][:1000]
    first = HCalibration(max_epochs=30).fit(Z, y)
    assert HCalibration(max_epochs=30).fit(Z, y) == first
    other = HCalibration(max_epochs=30, seed=7).fit(Z, y)
    assert not np.allclose(other.inverse_temperatures_, first.inverse_temperatures_)


def test_mixture_gradient_chain_rule():
    """d/dtheta of sum(R * Q) (R a fixed matrix standing for dL/dQ): analytic vs central
    differences (smooth, so the match is to ~1e-8 relative)."""
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(50, 4)) * 3
    z = Z - Z.max(1, keepdims=True) - np.log(np.exp(Z - Z.max(1, keepdims=True)).sum(1, keepdims=True))
    R = rng.normal(size=(50, 4))
    hc = HCalibration(temperatures=3)

    class Fixed:
        @staticmethod
        def hcalibration_loss_grad(Q, y, *args):
            return float(np.sum(R * Q)), R

    theta = np.array([0.3, -1.2, 2.0, 0.5, -0.25, 1.5])
    _, g = hc._gradient(theta, z, np.zeros(50, np.int64), None or _args(), Fixed)

    def f(th):
        beta, v = np.abs(th[:3]), np.abs(th[3:])
        return float(np.sum(R * mixture_probs(z, beta, v / v.sum())[0]))

    for j in range(6):
        e = np.zeros(6)
        e[j] = 1e-6
        fd = (f(theta + e) - f(theta - e)) / 2e-6
        assert fd == pytest.approx(g[j], rel=1e-6, abs=1e-9)


def _args():
    from calipers.calibration.hcalibration import _loss_args

    return _loss_args(200, 1e-20, "unweighted", True, 1e5)


def test_calibrator_protocol(cifar_halves, fitted):
    _, _, Zt, yt = cifar_halves
    Q = fitted.transform(Zt)
    assert Q.shape == Zt.shape
    np.testing.assert_allclose(Q.sum(1), 1.0, atol=1e-12)
    for restored in (
        calipers.Calibrator.from_json(fitted.to_json()),
        calipers.Calibrator.from_bytes(fitted.to_bytes()),
        pickle.loads(pickle.dumps(fitted)),
    ):
        assert isinstance(restored, HCalibration)
        np.testing.assert_array_equal(restored.transform(Zt), Q)
    assert fitted.get_params()["temperatures"] == 16
    assert calipers.HCalibration is HCalibration
    # the raw VGG outputs are over-confident: the fit brings the ECE down on held-out data
    raw = np.exp(Zt)
    raw /= raw.sum(1, keepdims=True)
    assert calipers.ece(Q, yt) < calipers.ece(raw, yt)


def test_bad_input_leaves_a_fitted_calibrator_unchanged(cifar_halves, fitted):
    Z, y, _, _ = cifar_halves
    before = fitted.to_json()
    bad = Z[:100].copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 3, column 2"):
        fitted.fit(bad, y[:100])
    with pytest.raises(ValueError, match="same length"):
        fitted.fit(Z[:100], y[:99])
    with pytest.raises(ValueError, match="empty"):
        fitted.fit(np.zeros((0, 10)), np.zeros(0, int))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        fitted.fit(Z[:100], np.full(100, 10))
    with pytest.raises(ValueError, match="at least 30"):
        fitted.fit(Z[:20], y[:20])
    with pytest.raises(ValueError, match="sample_weight"):
        fitted.fit(Z[:100], y[:100], sample_weight=np.ones(100))
    with pytest.raises(ValueError, match="finite"):
        fitted.transform(np.full((2, 10), np.inf))
    assert fitted.to_json() == before


def test_constructor_and_state_checks():
    with pytest.raises(ValueError, match="even"):
        HCalibration(window=5)
    with pytest.raises(ValueError, match="temperatures"):
        HCalibration(temperatures=0)
    with pytest.raises(ValueError, match="selection"):
        HCalibration(selection="nll")
    with pytest.raises(ValueError, match="learning_rate"):
        HCalibration(learning_rate=-1.0)
    with pytest.raises(ValueError, match="not fitted"):
        HCalibration().transform(np.zeros((1, 2)))
    good = HCalibration(temperatures=2)
    import json

    doc = json.loads(good.to_json())
    doc["fitted"] = {
        "inverse_temperatures": [1.0, 2.0],
        "weights": [0.5, 0.6],
        "epochs": 3,
        "selected_epoch": 2,
        "selected_metric": 0.1,
    }
    with pytest.raises(ValueError, match="sum to 1"):
        calipers.Calibrator.from_json(json.dumps(doc))
    doc["fitted"]["weights"] = [0.5, 0.5]
    doc["fitted"]["selected_epoch"] = 4
    with pytest.raises(ValueError, match="selected_epoch"):
        calipers.Calibrator.from_json(json.dumps(doc))
    doc["fitted"]["selected_epoch"] = 2
    assert math.isclose(calipers.Calibrator.from_json(json.dumps(doc)).weights_.sum(), 1.0)
