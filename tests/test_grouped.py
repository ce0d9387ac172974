"""PCE, PIECE, proximity, exact kNN and the grouped sketch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers import GroupedSketch, ReliabilitySketch, knn, pce, piece, proximity


@pytest.fixture(scope="module")
def digits_model():
    """Real outputs with real embeddings: LR on digits pixels (held-out half)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    P = LogisticRegression(max_iter=3000).fit(Xtr, ytr).predict_proba(Xte)
    return P, yte.astype(np.int64), Xte, Xtr


def test_pce_special_cases(cifar):
    P, y = cifar
    conf, correct = P.max(1), (P.argmax(1) == y)
    assert pce(P, y, np.zeros(len(y))) == pytest.approx(abs(conf.mean() - correct.mean()), abs=1e-15)
    rng = np.random.default_rng(0)
    p = rng.random(3000)
    yb = (rng.random(3000) < p).astype(int)
    assert pce(p, yb, ["all"] * 3000) == pytest.approx(abs(p.mean() - yb.mean()), abs=1e-15)
    marginal = np.mean(np.abs(P.mean(0) - np.bincount(y, minlength=10) / len(y)))
    assert pce(P, y, np.zeros(len(y)), mode="marginal") == pytest.approx(marginal, abs=1e-15)
    bins = np.searchsorted(np.arange(1, 15) / 15, conf, side="right")
    assert pce(P, y, bins) == pytest.approx(calipers.ece(P, y), abs=1e-12)  # ECE is a PCE
    assert pce(P, y, bins, norm="l2") == pytest.approx(calipers.ece(P, y, norm="l2") ** 2, abs=1e-12)
    parts = [np.zeros(len(y)), bins]
    assert pce(P, y, parts) == pytest.approx((pce(P, y, parts[0]) + pce(P, y, bins)) / 2, abs=1e-15)
    assert pce(P, y, parts, weights=[0.25, 0.75]) == pytest.approx(
        0.25 * pce(P, y, parts[0]) + 0.75 * pce(P, y, bins), abs=1e-15
    )
    with pytest.raises(ValueError, match="groups"):
        pce(P, y, np.zeros(5))
    with pytest.raises(ValueError, match="weights"):
        pce(P, y, parts, weights=[1.0])


def test_refining_a_partition_never_lowers_pce(cifar):
    P, y = cifar
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 4, len(y))
    fine = coarse * 10 + rng.integers(0, 10, len(y))
    for norm in ("l1", "l2"):
        assert pce(P, y, fine, norm=norm) >= pce(P, y, coarse, norm=norm) - 1e-15


def test_piece_on_real_outputs_and_embeddings(digits_model):
    P, y, Xte, _ = digits_model
    prox = proximity(Xte, k=10)
    ece = calipers.ece(P, y)
    assert piece(P, y, prox) >= ece - 1e-15
    assert piece(P, y, prox, prox_bins=1) == pytest.approx(ece, abs=1e-15)
    assert piece(P, y, prox, conf_bins=10, prox_bins=5) >= calipers.ece(P, y, bins=10) - 1e-15
    # fixed edges from another set make values comparable; the same edges give the same value
    edges = calipers.metrics.partition.quantile_edges(prox, 10)
    assert piece(P, y, prox, prox_edges=edges) == piece(P, y, prox)
    with pytest.raises(ValueError, match="one value per row"):
        piece(P, y, prox[:-1])


def test_quantile_edges_match_kbinsdiscretizer():
    from sklearn.preprocessing import KBinsDiscretizer

    rng = np.random.default_rng(2)
    values = np.round(rng.exponential(size=2000), 2)  # ties collapse bins
    values[:600] = 0.5
    with pytest.warns(UserWarning, match="too small"):  # scikit-learn says so too
        kb = KBinsDiscretizer(n_bins=10, encode="ordinal", strategy="quantile", quantile_method="linear").fit(
            values[:, None]
        )
    edges = calipers.metrics.partition.quantile_edges(values, 10)
    np.testing.assert_array_equal(edges, kb.bin_edges_[0])
    ours = np.searchsorted(edges[1:-1], values, side="right")
    np.testing.assert_array_equal(ours, kb.transform(values[:, None])[:, 0].astype(int))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_knn_backends_agree_exactly(backend, dtype):
    rng = np.random.default_rng(3)
    pool = rng.normal(size=(700, 19)).astype(dtype)
    pool[5] = pool[9]  # an exact tie
    query = np.vstack([rng.normal(size=(60, 19)).astype(dtype), pool[[5, 9, 20]]])
    got = knn(query, pool, 12, backend=backend)
    ref = knn(query, pool, 12, backend="numpy")
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert list(got[0][-3][:2]) == [5, 9] and list(got[0][-2][:2]) == [5, 9]  # ties to the smaller index
    brute = ((query[:, None, :].astype(np.float64) - pool[None].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(got[1], np.sort(brute, axis=1)[:, :12], rtol=1e-12 if dtype == np.float64 else 1e-5)
    selfless = knn(pool, pool, 3, exclude_self=True, backend=backend)
    assert not np.any(selfless[0] == np.arange(len(pool))[:, None])
    assert selfless[0][9][0] == 5 and selfless[0][5][0] == 9  # duplicates still count each other


def test_knn_and_proximity_arguments():
    x = np.random.default_rng(4).normal(size=(20, 3))
    with pytest.raises(ValueError, match="exceeds"):
        knn(x, x, 21)
    with pytest.raises(ValueError, match="exceeds"):
        knn(x, x, 20, exclude_self=True)
    with pytest.raises(ValueError, match="finite"):
        knn(np.array([[np.nan, 0, 0]]), x, 1)
    with pytest.raises(ValueError, match="dims"):
        knn(x[:, :2], x, 1)
    with pytest.raises(ValueError, match="zero row"):
        proximity(np.vstack([x, np.zeros(3)]), k=2)
    with pytest.raises(ValueError, match="agg"):
        proximity(x, k=2, agg="median")


def test_proximity_formulas():
    rng = np.random.default_rng(5)
    pool = rng.normal(size=(300, 8))
    query = rng.normal(size=(40, 8))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    d2 = ((unit(query)[:, None] - unit(pool)[None]) ** 2).sum(-1)
    nearest = np.sort(d2, axis=1)[:, :10]
    np.testing.assert_allclose(proximity(query, pool, 10), np.exp(-nearest).mean(1), rtol=1e-12)  # repo
    paper = proximity(query, pool, 10, metric="euclidean", agg="exp_of_mean")
    np.testing.assert_allclose(paper, np.exp(-np.sqrt(nearest).mean(1)), rtol=1e-12)
    cosine = proximity(query, pool, 10, metric="cosine", normalize=False)
    cos = 1 - unit(query) @ unit(pool).T
    np.testing.assert_allclose(cosine, np.exp(-np.sort(cos, axis=1)[:, :10]).mean(1), rtol=1e-9)
    raw = proximity(query, pool, 10, normalize=False)
    raw_d2 = np.sort(((query[:, None] - pool[None]) ** 2).sum(-1), axis=1)[:, :10]
    np.testing.assert_allclose(raw, np.exp(-raw_d2).mean(1), rtol=1e-12)
    assert np.all((proximity(pool, k=5) >= np.exp(-4) - 1e-12) & (proximity(pool, k=5) <= 1))


def test_grouped_sketch_matches_arrays(cifar):
    P, y = cifar
    groups = np.array(["a", "b", "c"])[np.arange(len(y)) % 3]
    g = GroupedSketch().update(P, y, groups)
    assert g.pce() == pytest.approx(pce(P, y, groups), abs=1e-15)
    assert g.overall() == ReliabilitySketch().update(P, y)
    assert g["b"] == ReliabilitySketch().update(P[1::3], y[1::3])
    assert list(g) == ["a", "b", "c"] and len(g) == 3 and g.count == len(y)
    marginal = GroupedSketch(classes=10).update(P, y, groups)
    assert marginal.pce() == pytest.approx(pce(P, y, groups, mode="marginal"), abs=1e-15)
    assert set(g.metrics()) == {"a", "b", "c"}


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(0, 10_000))
def test_grouped_sketch_chunks_and_merges_equal_one_batch(cuts, seed):
    rng = np.random.default_rng(seed)
    n = 400
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    keys = rng.integers(0, 4, n)
    whole = GroupedSketch().update(p, y, keys)
    bounds = np.sort(rng.integers(1, n, cuts))
    parts = [
        GroupedSketch().update(p[a:b], y[a:b], keys[a:b]) for a, b in zip(np.r_[0, bounds], np.r_[bounds, n]) if b > a
    ]
    merged = parts[0].copy()
    for part in parts[1:]:
        merged += part
    assert merged == whole
    reversed_merge = parts[-1].copy()
    for part in parts[-2::-1]:
        reversed_merge = reversed_merge + part
    assert reversed_merge == whole
    chunked = GroupedSketch()
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, n]):
        if b > a:
            chunked.update(p[a:b], y[a:b], keys[a:b])
    assert chunked == whole


def test_grouped_sketch_serialization_and_bad_input(cifar):
    P, y = cifar
    g = GroupedSketch().update(P, y, y)
    blob = g.to_bytes()
    assert GroupedSketch.from_bytes(blob) == g and pickle.loads(pickle.dumps(g)) == g
    for bad in (blob[:-1], blob[:60], b"CLPR" + blob[4:40] + b"\x00" + blob[41:], b"garbage"):
        with pytest.raises(ValueError):
            GroupedSketch.from_bytes(bad)
    before = g.to_bytes()
    with pytest.raises(ValueError):
        g.update(P[:10] * 2, y[:10], y[:10])  # rows do not sum to 1
    with pytest.raises(ValueError, match="groups"):
        g.update(P[:10], y[:10], y[:9])
    with pytest.raises(TypeError, match="strings or integers"):
        g.update(P[:10], y[:10], np.arange(10) * 0.5)
    with pytest.raises(ValueError, match="kind"):
        g.update(P[:10, 0], (y[:10] == 0).astype(int), y[:10])
    assert g.to_bytes() == before  # nothing changed
