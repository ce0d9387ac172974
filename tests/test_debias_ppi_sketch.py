"""Prediction-powered inference against ppi-python on real model outputs; the streaming
states (PPISketch, RegressionSketch, moments) under hypothesis: chunked == batch, merge
associative and commutative, byte round-trips, hostile bytes; the downstream helpers."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import calipers
from calipers._common import serde
from calipers.debias import (
    CoMoments,
    Moments,
    PPISketch,
    RegressionSketch,
    ate,
    contrast,
    mean,
    ppi_mean,
    ppi_prevalence,
)

ppi_py = pytest.importorskip("ppi_py")


def _ppi_reference(Y, Yhat, U, alpha, lam):
    est = float(np.squeeze(ppi_py.ppi_mean_pointestimate(Y, Yhat, U, lam=lam)))
    lo, hi = ppi_py.ppi_mean_ci(Y, Yhat, U, alpha=alpha, lam=lam)
    return est, float(np.squeeze(lo)), float(np.squeeze(hi))


def _regression_splits():
    from sklearn.datasets import load_diabetes, make_friedman1
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge

    out = {}
    for data, (X, y) in {
        "diabetes": load_diabetes(return_X_y=True),
        "friedman": make_friedman1(n_samples=3000, noise=1.0, random_state=0),
    }.items():
        n = len(y)
        for name, model in {"ridge": Ridge(), "gb": GradientBoostingRegressor(random_state=0)}.items():
            model.fit(X[: n // 3], y[: n // 3])
            lab = slice(n // 3, n // 2)
            out[f"{data}-{name}"] = (y[lab], model.predict(X[lab]), model.predict(X[n // 2 :]))
    return out


@pytest.mark.parametrize("lam", [None, 1.0, 0.0, 0.37])
@pytest.mark.parametrize("alpha", [0.1, 0.05])
def test_ppi_mean_equals_ppi_python(lam, alpha):
    # measured: worst absolute difference 6e-14 (values ~150 on diabetes)
    for name, (Y, Yhat, U) in _regression_splits().items():
        r = ppi_mean(Y, Yhat, U, alpha=alpha, lam=lam)
        est, lo, hi = _ppi_reference(Y, Yhat, U, alpha, lam)
        scale = max(1.0, abs(est))
        assert r.estimate == pytest.approx(est, rel=1e-9, abs=1e-9 * scale), name
        assert r.low == pytest.approx(lo, rel=1e-9, abs=1e-9 * scale), name
        assert r.high == pytest.approx(hi, rel=1e-9, abs=1e-9 * scale), name
        if lam is not None:
            assert r.lam == lam
        assert 0.0 <= r.lam <= 1.0 and (r.n, r.N) == (len(Y), len(U))


def test_ppi_prevalence_equals_ppi_python(sklearn_outputs):
    for name in ("cancer-lr", "cancer-nb", "cancer-rf"):
        P, y = sklearn_outputs[name]
        s = P[:, 1]
        lab = slice(0, 90)
        for lam in (None, 1.0):
            r = ppi_prevalence(y[lab], s[lab], s[90:], alpha=0.1, lam=lam)
            est, lo, hi = _ppi_reference(y[lab].astype(float), s[lab], s[90:], 0.1, lam)
            assert (r.estimate, r.low, r.high) == pytest.approx((est, lo, hi), rel=1e-9, abs=1e-12), name


def test_ppi_beats_the_classical_interval_with_a_good_model():
    Y, Yhat, U = _regression_splits()["friedman-gb"]
    tuned, classical = ppi_mean(Y, Yhat, U), ppi_mean(Y, Yhat, U, lam=0.0)
    assert classical.estimate == pytest.approx(np.mean(Y), rel=1e-12)
    assert tuned.high - tuned.low < 0.8 * (classical.high - classical.low)


def test_ppi_errors():
    Y, Yhat, U = np.array([1.0, 2.0, 3.0]), np.array([1.1, 1.9, 3.2]), np.array([2.0, 2.5])
    with pytest.raises(ValueError, match="same length"):
        ppi_mean(Y, Yhat[:2], U)
    with pytest.raises(ValueError, match=r"Y must be finite.*index 1"):
        ppi_mean([1.0, np.nan, 3.0], Yhat, U)
    with pytest.raises(ValueError, match="empty"):
        ppi_mean(Y, Yhat, [])
    with pytest.raises(ValueError, match="alpha"):
        ppi_mean(Y, Yhat, U, alpha=1.5)
    with pytest.raises(ValueError, match="lam"):
        ppi_mean(Y, Yhat, U, lam=float("inf"))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        ppi_prevalence([0, 2, 1], [0.1, 0.5, 0.9], [0.3])
    with pytest.raises(ValueError, match=r"scores must lie in \[0, 1\]"):
        ppi_prevalence([0, 1, 1], [0.1, 1.5, 0.9], [0.3])
    # every prediction equal: lam is 0 and the estimate the mean of Y
    r = ppi_mean(Y, np.full(3, 2.0), np.full(4, 2.0))
    assert r.lam == 0.0 and r.estimate == pytest.approx(2.0)


# ---------------------------------------------------------------- the sketches

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
batches = st.lists(st.lists(st.tuples(finite, finite), min_size=1, max_size=40), min_size=1, max_size=5)


def _rel(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-9 * scale + 1e-300


def _same_moments(a: CoMoments, b: CoMoments) -> None:
    assert a.n == b.n
    assert (a.lo_x, a.hi_x, a.lo_y, a.hi_y) == (b.lo_x, b.hi_x, b.lo_y, b.hi_y)
    sx = max(1.0, abs(a.lo_x), abs(a.hi_x))
    sy = max(1.0, abs(a.lo_y), abs(a.hi_y))
    assert _rel(a.mean_x, b.mean_x, sx) and _rel(a.mean_y, b.mean_y, sy)
    for u, v, s in ((a.m2_x, b.m2_x, sx * sx), (a.m2_y, b.m2_y, sy * sy), (a.c_xy, b.c_xy, sx * sy)):
        assert _rel(u, v, s * a.n)


@given(batches)
def test_regression_sketch_chunked_equals_batch_and_merges(parts):
    arrays = [np.array(p, dtype=np.float64) for p in parts]
    whole = np.concatenate(arrays)
    batch = RegressionSketch(max_cells=16).update(whole[:, 0], whole[:, 1])
    chunked = RegressionSketch(max_cells=16)
    singles = []
    for a in arrays:
        chunked.update(a[:, 0], a[:, 1])
        singles.append(RegressionSketch(max_cells=16).update(a[:, 0], a[:, 1]))
    fwd = RegressionSketch(max_cells=16)
    for s in singles:
        fwd.merge(s)
    rev = RegressionSketch(max_cells=16)
    for s in reversed(singles):
        rev += s
    for other in (chunked, fwd, rev):
        _same_moments(other.moments, batch.moments)
        assert other.cell_width == batch.cell_width  # cells depend only on the data
        np.testing.assert_array_equal(other.cells()[1], batch.cells()[1])  # counts are exact
        np.testing.assert_allclose(other.cells()[0], batch.cells()[0], rtol=1e-9, atol=1e-9 * batch.cell_width)
    assert batch.cells()[1].sum() == whole.shape[0]
    assert RegressionSketch.from_bytes(batch.to_bytes()) == batch
    assert pickle.loads(pickle.dumps(fwd)) == fwd


@given(batches, batches)
def test_merge_is_commutative(a, b):
    def sk(parts):
        s = RegressionSketch(max_cells=32)
        for p in parts:
            arr = np.array(p)
            s.update(arr[:, 0], arr[:, 1])
        return s

    x, y = sk(a), sk(b)
    assert (x + y).moments == (y + x).moments  # the merge formulas are symmetric
    np.testing.assert_array_equal((x + y).cells()[1], (y + x).cells()[1])


@given(batches)
def test_ppi_sketch_equals_batch(parts):
    arrays = [np.array(p, dtype=np.float64) for p in parts]
    whole = np.concatenate(arrays)
    Y, Yhat = whole[:, 1], whole[:, 0]
    U = whole[:, 0] * 0.5 + 1.0
    if np.ptp(Y) == 0 or np.ptp(np.concatenate([Yhat, U])) == 0:
        return
    sk = PPISketch()
    for a in arrays:
        sk.update_labeled(a[:, 1], a[:, 0])
    half = (len(U) + 1) // 2
    sk.update_unlabeled(U[:half])
    if half < len(U):
        sk.update_unlabeled(U[half:])
    ref = ppi_mean(Y, Yhat, U)
    got = PPISketch.from_bytes(sk.to_bytes()).result()
    scale = max(1.0, np.abs(whole).max())
    assert got.lam == pytest.approx(ref.lam, abs=1e-7)
    for u, v in ((got.estimate, ref.estimate), (got.low, ref.low), (got.high, ref.high)):
        assert abs(u - v) <= 1e-6 * scale


def test_ppi_sketch_merge_and_errors():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=300)
    Yhat = Y + rng.normal(0, 0.5, 300)
    U = rng.normal(size=1000)
    a = PPISketch().update_labeled(Y[:100], Yhat[:100]).update_unlabeled(U[:600])
    b = PPISketch().update_labeled(Y[100:], Yhat[100:]).update_unlabeled(U[600:])
    ref = ppi_mean(Y, Yhat, U)
    for merged in (a + b, b + a):
        r = merged.result()
        assert (r.estimate, r.low, r.high, r.lam) == pytest.approx(
            (ref.estimate, ref.low, ref.high, ref.lam), rel=1e-12
        )
    with pytest.raises(ValueError, match="labelled and unlabelled"):
        PPISketch().update_labeled(Y, Yhat).result()
    before = a.to_bytes()
    with pytest.raises(ValueError, match="same length"):
        a.update_labeled(Y[:3], Yhat[:2])
    with pytest.raises(ValueError, match="finite"):
        a.update_unlabeled([1.0, np.inf])
    assert a.to_bytes() == before
    with pytest.raises(TypeError):
        a.merge(RegressionSketch())  # type: ignore[arg-type]


def _tamper(blob: bytes, type_id: int, edit) -> bytes:  # type: ignore[no-untyped-def]
    payload = bytearray(serde.unpack_payload(blob, type_id))
    edit(payload)
    return serde.pack_payload(type_id, bytes(payload))


def test_hostile_bytes_are_rejected():
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    sk = RegressionSketch().update(x, x + rng.normal(0, 0.3, 500))
    blob = sk.to_bytes()
    from calipers.debias.ppi import TYPE_PPI_SKETCH
    from calipers.debias.sketch import TYPE_REGRESSION_SKETCH

    with pytest.raises(ValueError, match=r"truncated|length"):
        RegressionSketch.from_bytes(blob[:-10])
    flipped = bytearray(blob)
    flipped[100] ^= 4
    with pytest.raises(ValueError, match="CRC"):
        RegressionSketch.from_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="type"):
        PPISketch.from_bytes(blob)
    with pytest.raises(TypeError):
        RegressionSketch.from_bytes("text")  # type: ignore[arg-type]
    head = CoMoments.SIZE + Moments.SIZE + 16
    m = (len(serde.unpack_payload(blob, TYPE_REGRESSION_SKETCH)) - head) // 24

    def neg_m2(p):
        struct.pack_into("<d", p, 8 + 8 * 2, -1.0)  # m2_x

    def bad_count(p):
        struct.pack_into("<Q", p, head + 8 * m, 0)  # first cell count

    def unsorted(p):
        k0, k1 = struct.unpack_from("<qq", p, head)
        struct.pack_into("<qq", p, head, k1, k0)

    def cauchy(p):
        struct.pack_into("<d", p, 8 + 8 * 4, 1e30)  # c_xy

    def residual_n(p):  # one residual more than pairs (one fewer could break Popoviciu's bound first)
        struct.pack_into("<Q", p, CoMoments.SIZE, struct.unpack_from("<Q", p, 0)[0] + 1)

    for edit, match in (
        (neg_m2, "negative M2"),
        (bad_count, "counts"),
        (unsorted, "increasing"),
        (cauchy, "co-moment exceeds"),
        (residual_n, "residual count"),
    ):
        with pytest.raises(ValueError, match=match):
            RegressionSketch.from_bytes(_tamper(blob, TYPE_REGRESSION_SKETCH, edit))
    pblob = PPISketch().update_labeled([1.0, 2.0], [1.5, 2.5]).to_bytes()

    def nan_mean(p):
        struct.pack_into("<d", p, 8, float("nan"))

    with pytest.raises(ValueError, match="finite"):
        PPISketch.from_bytes(_tamper(pblob, TYPE_PPI_SKETCH, nan_mean))
    empty = RegressionSketch().to_bytes()
    assert RegressionSketch.from_bytes(empty).count == 0


def test_sketch_errors_leave_state_unchanged():
    sk = RegressionSketch().update([1.0, 2.0, 3.0], [1.0, 2.5, 2.0])
    before = sk.to_bytes()
    for args, match in (
        (([1.0, np.nan], [1.0, 2.0]), "finite"),
        (([1.0, 2.0], [1.0]), "same length"),
        (([], []), "empty"),
    ):
        with pytest.raises(ValueError, match=match):
            sk.update(*args)
    assert sk.to_bytes() == before
    with pytest.raises(ValueError, match="max_cells"):
        sk.merge(RegressionSketch(max_cells=32))
    with pytest.raises(ValueError, match="max_cells"):
        RegressionSketch(max_cells=3)


def test_moments_merge_exactly_commutative():
    rng = np.random.default_rng(5)
    a, b = Moments.of(rng.normal(size=101)), Moments.of(rng.normal(3, 2, size=57))
    assert a.merge(b) == b.merge(a)
    assert Moments().merge(a) == a
    assert Moments.unpack(a.pack()) == a


# ---------------------------------------------------------------- downstream helpers


def test_downstream_estimators_against_plain_formulas():
    rng = np.random.default_rng(7)
    v = rng.normal(size=400)
    t = rng.integers(0, 2, 400)
    e = np.clip(rng.uniform(0.2, 0.8, 400), 0.05, 0.95)
    w = rng.uniform(0.5, 2.0, 400)
    assert mean(v, w).estimate == pytest.approx(np.average(v, weights=w), rel=1e-12)
    assert contrast(v, t).estimate == pytest.approx(v[t == 1].mean() - v[t == 0].mean(), rel=1e-12)
    assert contrast(v, np.where(t == 1, "b", "a"), levels=("b", "a")).estimate == pytest.approx(
        v[t == 0].mean() - v[t == 1].mean(), rel=1e-12
    )
    ht = np.mean(t / e * v - (1 - t) / (1 - e) * v)
    assert ate(v, t, e, estimator="horvitz-thompson").estimate == pytest.approx(ht, rel=1e-12)
    # unshrink's debiased_ate: per-arm np.average with the IPW weights (Hajek)
    hajek = np.average(v[t == 1], weights=1 / e[t == 1]) - np.average(v[t == 0], weights=1 / (1 - e[t == 0]))
    assert ate(v, t, e).estimate == pytest.approx(hajek, rel=1e-12)
    assert ate(v, t).estimate == pytest.approx(v[t == 1].mean() - v[t == 0].mean(), rel=1e-12)
    assert ate(v, t, estimator="horvitz-thompson").estimate == pytest.approx(
        v[t == 1].mean() - v[t == 0].mean(), rel=1e-12
    )


def test_bootstrap_intervals_are_seeded_and_cover():
    rng = np.random.default_rng(8)
    v = rng.normal(1.0, 1.0, 2000)
    t = rng.integers(0, 2, 2000)
    a = mean(v, bootstrap=300, seed=1)
    assert a == mean(v, bootstrap=300, seed=1)
    assert a.low < 1.0 < a.high and a.n_resamples == 300 and a.confidence == 0.95
    se = v.std() / np.sqrt(v.size)
    assert a.high - a.low == pytest.approx(2 * 1.96 * se, rel=0.15)  # measured 3% off the CLT width
    c = contrast(v, t, bootstrap=200, seed=2)
    assert c.low < c.estimate < c.high
    d = ate(v, t, np.full(2000, 0.5), bootstrap=200, seed=3)
    assert d.low < d.estimate < d.high
    lcc = calipers.LinearCalibrationCorrection().fit(v, v * 2 + rng.normal(0, 0.1, 2000))
    m = lcc.mean(v[:50], bootstrap=100, seed=0)
    assert m.naive == pytest.approx(v[:50].mean()) and m.low < m.estimate < m.high


def test_downstream_errors():
    v = np.arange(6, dtype=float)
    with pytest.raises(ValueError, match="exactly two distinct"):
        contrast(v, [0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="one of the levels"):
        contrast(v, [0, 1, 2, 0, 1, 2], levels=(0, 1))
    with pytest.raises(ValueError, match="both treated"):
        ate(v, np.ones(6))
    with pytest.raises(ValueError, match="treatment must be 0 or 1"):
        ate(v, [0, 1, 2, 0, 1, 0])
    with pytest.raises(ValueError, match=r"strictly inside \(0, 1\)"):
        ate(v, [0, 1, 1, 0, 1, 0], [0.5, 0.5, 1.0, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="estimator"):
        ate(v, [0, 1, 1, 0, 1, 0], estimator="aipw")
    with pytest.raises(ValueError, match="bootstrap"):
        mean(v, bootstrap=-1)
    with pytest.raises(ValueError, match="sample_weight"):
        mean(v, weights=np.ones(5))
    with pytest.raises(ValueError, match="finite"):
        mean([1.0, np.nan])


@given(batches, batches, batches)
def test_merge_is_associative(a, b, c):
    def sk(parts):  # type: ignore[no-untyped-def]
        s, p = RegressionSketch(max_cells=16), PPISketch()
        for part in parts:
            arr = np.array(part)
            s.update(arr[:, 0], arr[:, 1])
            p.update_labeled(arr[:, 1], arr[:, 0]).update_unlabeled(arr[:, 0])
        return s, p

    (x, px), (y, py), (z, pz) = sk(a), sk(b), sk(c)
    left, right = (x + y) + z, x + (y + z)
    _same_moments(left.moments, right.moments)
    assert left.cell_width == right.cell_width
    np.testing.assert_array_equal(left.cells()[1], right.cells()[1])  # counts: exact
    np.testing.assert_allclose(left.cells()[0], right.cells()[0], rtol=1e-9, atol=1e-9 * left.cell_width)
    _same_moments(((px + py) + pz)._lab, (px + (py + pz))._lab)
