"""SDMEstimator against an independent numpy implementation of ../shared/specs/sdm.md §2
written here (full neighbour sort, cumprod of matches, Alg. 1 by re-sorting per candidate),
plus the edge cases of the issue, serialization and backend agreement."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from calipers import SDMEstimator

# ------------------------------------------------------------------ the reference


def ref_distances(Q: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Squared L2 in the input's precision, dimension c into lane c mod 8, lanes summed
    ((0+1)+(2+3))+((4+5)+(6+7)): the package's documented order, recomputed here."""
    out = np.empty((len(Q), len(X)), dtype=X.dtype)
    for i, q in enumerate(Q):
        diff = (q[None, :] - X) ** 2
        lanes = [diff[:, lane::8].astype(X.dtype) for lane in range(8)]
        sums = []
        for lane in lanes:
            acc = np.zeros(len(X), X.dtype)
            for col in lane.T:
                acc += col
            sums.append(acc)
        out[i] = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]))
    return out


class Reference:
    def __init__(self, alpha, k):
        self.alpha, self.k = alpha, k

    def stats(self, H, Z):
        pred = Z.argmax(1)
        D = ref_distances(H, self.Htr)
        k = min(self.k, len(self.Htr))
        q, d0, nn = [], [], []
        for i in range(len(H)):
            order = np.lexsort((np.arange(len(self.Htr)), D[i]))[:k]  # by distance, then index
            match = (self.ytr[order] == self.ptr[order]) & (self.ptr[order] == pred[i])
            q.append(int(np.cumprod(match).sum()))
            d0.append(max(float(D[i][order[0]]), 0.0))
            nn.append(int(order[0]))
        return pred, np.array(q), np.array(d0), np.array(nn)

    def dquant(self, d0):
        out = []
        for x in d0:
            vals = [1 - np.searchsorted(c, x, "left") / len(c) if len(c) else 0.0 for c in self.dcdf]
            out.append(min(vals))
        return np.array(out)

    @staticmethod
    def sdm(z, q, d):
        a = z * d * math.log(2 + q)
        e = np.exp(a - a.max())
        return e / e.sum()

    def fit(self, Htr, Ztr, ytr, Hca, Zca, yca):
        self.Htr, self.ytr, self.ptr, self.C = Htr, ytr, Ztr.argmax(1), Ztr.shape[1]
        pred, q, d0, _ = self.stats(Hca, Zca)
        self.dcdf = [np.sort(d0[(yca == c) & (q > 0)]) for c in range(self.C)]
        d = self.dquant(d0)
        S = np.array([self.sdm(Zca[i], q[i], d[i]) for i in range(len(q))])
        qp = np.array([min(q[i], (2 + q[i]) ** S[i][pred[i]]) for i in range(len(q))])
        self.Qs = [np.sort(qp[yca == c]) for c in range(self.C)]
        nonood = np.floor(qp) > 0
        L = [[(S[i][c], qp[i]) for i in range(len(q)) if nonood[i] and yca[i] == c] for c in range(self.C)]
        self.qmin, self.psi, self.acc = math.inf, [0.0] * self.C, 0.0
        for cand in sorted(set(qp[nonood].tolist())):
            psi = []
            for c in range(self.C):
                v = sorted(s for s, qq in L[c] if qq >= cand)
                psi.append(0.0 if not v else max(v[min(int((1 - self.alpha) * len(v)), len(v) - 1)], 0.0))
            if all(p >= self.alpha for p in psi):
                self.qmin, self.psi, self.acc = cand, psi, self.alpha
                break
        return self

    def hr(self, qp, S, yhat):
        valid = np.floor(qp) > 0 and qp >= self.qmin
        passing = [c for c in range(self.C) if S[c] >= self.psi[c]]
        return bool(valid and self.acc > 0 and passing == [yhat])

    def predict(self, H, Z):
        pred, q, d0, nn = self.stats(H, Z)
        d = self.dquant(d0)
        rows = []
        for i in range(len(q)):
            S = self.sdm(Z[i], q[i], d[i])
            qp = min(q[i], (2 + q[i]) ** S[pred[i]])
            n = [min(np.searchsorted(Qs, qp, "left"), max(0, len(Qs) - 1)) if len(Qs) else 0 for Qs in self.Qs]
            eps = max(math.sqrt(math.log(2 / (1 - self.alpha)) / (2 * nc)) if nc > 0 else 1.0 for nc in n)
            dl, du = min(max(d[i] - eps, 0), 1), min(max(d[i] + eps, 0), 1)
            Sl, Su = self.sdm(Z[i], q[i], dl), self.sdm(Z[i], q[i], du)
            qpl = min(q[i], (2 + q[i]) ** Sl[pred[i]])
            rows.append(
                dict(
                    prediction=pred[i],
                    q=q[i],
                    d0=d0[i],
                    d=d[i],
                    sdm=S,
                    q_prime=qp,
                    is_ood=np.floor(qp) <= 0,
                    is_high_reliability=self.hr(qp, S, pred[i]),
                    n_effective=n,
                    d_lower=dl,
                    d_upper=du,
                    sdm_lower=Sl,
                    sdm_upper=Su,
                    q_prime_lower=qpl,
                    is_high_reliability_lower=self.hr(qpl, Sl, pred[i]),
                    nearest_index=nn[i],
                )
            )
        return {key: np.array([r[key] for r in rows]) for key in rows[0]}


# ------------------------------------------------------------------ data


def clusters(rng, n, C, M, sep=4.0, logit_scale=3.0, dtype=np.float64):
    y = rng.integers(0, C, n)
    centers = np.random.default_rng(99).normal(size=(C, M)) * sep
    h = (rng.normal(size=(n, M)) + centers[y]).astype(dtype)
    z = logit_scale * np.eye(C)[y] + rng.normal(size=(n, C))
    return h, z, y


def assert_same(got, ref):
    for key, expected in ref.items():
        actual = got[key]
        if expected.dtype.kind in "biu":
            np.testing.assert_array_equal(actual, expected, err_msg=key)
        else:
            np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9, err_msg=key)


CASES = [  # (C, M, n_train, n_cal, dtype, alpha, k)
    (2, 8, 300, 300, np.float64, 0.9, 2048),
    (3, 16, 400, 500, np.float32, 0.9, 2048),
    (5, 33, 500, 400, np.float64, 0.95, 64),
    (4, 7, 200, 300, np.float32, 0.8, 5),
]


@pytest.mark.parametrize("C,M,ntr,nca,dtype,alpha,k", CASES)
def test_matches_the_reference(C, M, ntr, nca, dtype, alpha, k):
    rng = np.random.default_rng(C * 100 + M)
    train, cal, test = (clusters(rng, n, C, M, dtype=dtype) for n in (ntr, nca, 200))
    est = SDMEstimator(alpha=alpha, k=k).fit(*train, *cal)
    ref = Reference(alpha, k).fit(*train, *cal)
    assert est.q_prime_min == ref.qmin
    np.testing.assert_allclose(est.thresholds, ref.psi, rtol=1e-12)
    got = est.predict(test[0], test[1])
    assert_same(got, ref.predict(test[0], test[1]))
    assert got.sdm.shape == (200, C) and got.n_effective.shape == (200, C)
    assert np.all(got.d_lower <= got.d) and np.all(got.d <= got.d_upper)
    np.testing.assert_array_equal(got.is_ood, got.floor_q_prime <= 0)
    assert np.all(got.floor_q_prime_lower <= got.floor_q_prime)  # less distance, less sharpening


def test_region_is_reliable_and_lower_is_stricter():
    rng = np.random.default_rng(5)
    train, cal, test = (clusters(rng, n, 3, 16, sep=2.5) for n in (2000, 2000, 3000))
    est = SDMEstimator(alpha=0.9).fit(*train, *cal)
    out = est.predict(test[0], test[1])
    assert math.isfinite(est.q_prime_min) and np.all(est.thresholds >= 0.9)
    hr = out.is_high_reliability
    assert hr.sum() > 50 and np.mean(out.prediction[hr] == test[2][hr]) >= 0.9
    lower = out.is_high_reliability_lower
    assert not np.any(lower & ~hr)  # lower implies the region: the DKW-lowered point is stricter
    assert 0 < lower.sum() < hr.sum()  # and both sets are live here (measured: 609 of 674)
    assert not np.any(out.is_ood & hr)


def test_support_labels_unlabelled_and_ood():
    rng = np.random.default_rng(6)
    train, cal, test = (clusters(rng, n, 3, 8) for n in (600, 600, 100))
    h, z, y = train
    y = y.copy()
    y[::7] = -1
    y[3::11] = -99
    est = SDMEstimator().fit(h, z, y, *cal)
    ref = Reference(0.9, 2048).fit(h, z, y, *cal)
    assert_same(est.predict(test[0], test[1]), ref.predict(test[0], test[1]))
    # a query sitting on an OOD-labelled support point has q = 0: out of distribution
    on_ood = est.predict(h[3:4], z[3:4])
    assert on_ood.q[0] == 0 and on_ood.is_ood[0] and not on_ood.is_high_reliability[0]
    with pytest.raises(ValueError, match="-99"):
        SDMEstimator().fit(h, z, np.where(y == -1, -5, y), *cal)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        SDMEstimator().fit(h, z, y, cal[0], cal[1], np.where(cal[2] == 0, -1, cal[2]))


def test_all_ood_input_and_no_region():
    rng = np.random.default_rng(7)
    train, cal, _ = (clusters(rng, n, 3, 8) for n in (500, 500, 1))
    h, z, y = train
    ood_labels = np.full_like(y, -99)
    est = SDMEstimator().fit(h, z, ood_labels, *cal)  # nothing ever matches: q = 0 everywhere
    out = est.predict(cal[0][:50], cal[1][:50])
    assert np.all(out.q == 0) and np.all(out.is_ood) and not out.is_high_reliability.any()
    assert est.q_prime_min == math.inf and np.all(est.thresholds == 0)
    assert np.all(out.d == 0)  # no class has a q > 0 calibration point
    np.testing.assert_allclose(out.sdm, 1 / 3)


def test_a_class_without_q_positive_points_admits_nothing():
    rng = np.random.default_rng(8)
    train, cal, test = (clusters(rng, n, 3, 8) for n in (500, 500, 100))
    h, z, y = train
    y = np.where(y == 2, -1, y)  # class 2 has no usable support: its calibration points get q = 0
    est = SDMEstimator().fit(h, z, y, *cal)
    out = est.predict(test[0], test[1])
    assert np.all(out.d == 0) and not out.is_high_reliability.any() and est.q_prime_min == math.inf


def test_no_candidate_reaches_alpha():
    rng = np.random.default_rng(9)
    train, cal, test = (clusters(rng, n, 3, 8, sep=0.3, logit_scale=0.5) for n in (400, 400, 50))
    est = SDMEstimator(alpha=0.99).fit(*train, *cal)
    assert est.q_prime_min == math.inf and np.all(est.thresholds == 0)
    out = est.predict(test[0], test[1])
    assert not out.is_high_reliability.any() and not out.is_high_reliability_lower.any()


def test_k_above_support_size_duplicates_and_many_classes():
    rng = np.random.default_rng(10)
    h, z, y = clusters(rng, 120, 100, 12, sep=6.0, logit_scale=6.0)
    h = np.vstack([h, h[:20]])  # exact duplicates
    z, y = np.vstack([z, z[:20]]), np.concatenate([y, y[:20]])
    cal = clusters(rng, 300, 100, 12, sep=6.0, logit_scale=6.0)
    est = SDMEstimator(k=2048).fit(h, z, y, *cal)
    ref = Reference(0.9, 2048).fit(h, z, y, *cal)
    test = (np.vstack([h[:5], cal[0][:30]]), np.vstack([z[:5], cal[1][:30]]))
    got = est.predict(*test)
    assert_same(got, ref.predict(*test))
    assert np.all(got.nearest_index[:5] == np.arange(5))  # a duplicate pair: the smaller index
    assert got.q.max() <= len(h)


@pytest.mark.parametrize("backend", ["cpp", "numba", "numpy"])
def test_backends_give_identical_predictions(backend):
    from calipers import available_backends

    if available_backends()[backend] != "ok":
        pytest.skip(f"{backend} unavailable")
    rng = np.random.default_rng(11)
    train, cal, test = (clusters(rng, n, 4, 20, dtype=np.float32) for n in (500, 500, 80))
    a = SDMEstimator(backend=backend).fit(*train, *cal).predict(test[0], test[1])
    b = SDMEstimator(backend="numpy").fit(*train, *cal).predict(test[0], test[1])
    for key, value in a.to_dict().items():
        np.testing.assert_array_equal(value, b[key], err_msg=key)


def test_faiss_gives_the_same_neighbours():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(12)
    train, cal, test = (clusters(rng, n, 3, 32, dtype=np.float32) for n in (1500, 800, 300))
    exact = SDMEstimator().fit(*train, *cal)
    viafaiss = SDMEstimator(neighbours="faiss").fit(*train, *cal)
    a, b = exact.predict(test[0], test[1]), viafaiss.predict(test[0], test[1])
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.nearest_index, b.nearest_index)
    np.testing.assert_array_equal(a.is_high_reliability, b.is_high_reliability)
    np.testing.assert_allclose(a.d0, b.d0, rtol=1e-4)


def test_add_support_keeps_the_calibration():
    rng = np.random.default_rng(13)
    train, cal, test = (clusters(rng, n, 3, 8) for n in (400, 400, 60))
    est = SDMEstimator().fit(*train, *cal)
    before = (est.q_prime_min, est.thresholds)
    extra = clusters(rng, 50, 3, 8)
    est.add_support(*extra)
    assert est.support_size == 450 and (est.q_prime_min, est.thresholds.tolist()) == (before[0], before[1].tolist())
    ref = Reference(0.9, 2048).fit(*train, *cal)
    ref.Htr = np.vstack([train[0], extra[0]])
    ref.ytr = np.concatenate([train[2], extra[2]])
    ref.ptr = np.concatenate([train[1].argmax(1), extra[1].argmax(1)])
    assert_same(est.predict(test[0], test[1]), ref.predict(test[0], test[1]))
    est.add_support(test[0][:1], test[1][:1], np.array([-99]))  # "this one is OOD"
    assert est.predict(test[0][:1], test[1][:1]).q[0] == 0


def test_serialization_round_trips_and_rejects_corruption():
    rng = np.random.default_rng(14)
    train, cal, test = (clusters(rng, n, 3, 8, dtype=np.float32) for n in (300, 300, 40))
    est = SDMEstimator(alpha=0.85, k=100).fit(*train, *cal)
    blob = est.to_bytes()
    for again in (SDMEstimator.from_bytes(blob), pickle.loads(pickle.dumps(est))):
        a, b = est.predict(test[0], test[1]), again.predict(test[0], test[1])
        for key, value in a.to_dict().items():
            np.testing.assert_array_equal(value, b[key], err_msg=key)
        assert again.to_bytes() == blob
    for bad in (blob[:-1], blob[:50], blob[:30] + bytes([blob[30] ^ 1]) + blob[31:], b"nonsense"):
        with pytest.raises(ValueError):
            SDMEstimator.from_bytes(bad)


def test_bad_input():
    rng = np.random.default_rng(15)
    train, cal, _ = (clusters(rng, n, 3, 4) for n in (50, 50, 1))
    with pytest.raises(ValueError, match="alpha"):
        SDMEstimator(alpha=0.4)
    with pytest.raises(ValueError, match="not fitted"):
        SDMEstimator().predict(train[0], train[1])
    h = train[0].copy()
    h[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        SDMEstimator().fit(h, train[1], train[2], *cal)
    with pytest.raises(ValueError, match="columns"):
        SDMEstimator().fit(train[0], train[1], train[2], cal[0], cal[1][:, :2], cal[2])
    est = SDMEstimator().fit(*train, *cal)
    with pytest.raises(ValueError, match="dims"):
        est.predict(train[0][:, :3], train[1])
    with pytest.raises(TypeError):
        est.predict(train[0].astype(str), train[1])


def test_worked_example_on_a_hidden_layer():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "examples" / "sdm_hidden_layer.py"
    spec = importlib.util.spec_from_file_location("sdm_hidden_layer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main()
    assert summary["admitted to the high-reliability region (lower)"] > 0.05
    assert summary["accuracy inside the region"] >= summary["accuracy (all test points)"]
    assert summary["accuracy inside the region"] >= 0.9
