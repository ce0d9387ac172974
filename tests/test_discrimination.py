"""AUROC, Brier decomposition and conformal thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import calipers
from calipers import ReliabilitySketch


def test_auroc_equals_sklearn_on_real_outputs(real_outputs):  # type: ignore[no-untyped-def]
    from sklearn.metrics import roc_auc_score

    for name, (P, y) in real_outputs.items():
        conf, correct = P.max(axis=1), (P.argmax(axis=1) == y).astype(int)
        if 0 < correct.sum() < correct.size:
            assert calipers.auroc(P, y) == pytest.approx(roc_auc_score(correct, conf), abs=1e-12), name
        if P.shape[1] == 2:
            assert calipers.auroc(P[:, 1], y) == pytest.approx(roc_auc_score(y, P[:, 1]), abs=1e-12), name
        else:
            ovr = np.mean([roc_auc_score((y == k).astype(int), P[:, k]) for k in range(P.shape[1])])
            assert calipers.auroc(P, y, mode="marginal") == pytest.approx(ovr, abs=1e-12), name


def test_auroc_ties_and_degenerate_cases():
    assert calipers.auroc([0.5, 0.5], [0, 1]) == 0.5
    assert calipers.auroc([0.1, 0.9], [0, 1]) == 1.0
    assert calipers.auroc([0.9, 0.1], [0, 1]) == 0.0
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert math.isnan(calipers.auroc([0.2, 0.3], [1, 1]))


def test_sketch_auroc_is_the_cell_rounded_exact_value(cifar):  # type: ignore[no-untyped-def]
    from calipers._kernels import numpy_backend as _kernels_numpy

    P, y = cifar
    conf, correct = P.max(axis=1), (P.argmax(axis=1) == y).astype(int)
    sketch = ReliabilitySketch().update(P, y)
    cells = _kernels_numpy.fine_cell(conf).astype(float)
    assert sketch.auroc() == pytest.approx(calipers.auroc(cells / cells.max(), correct), abs=1e-12)
    assert abs(sketch.auroc() - calipers.auroc(P, y)) < 2e-3


def test_brier_decomposition_identities(real_outputs):  # type: ignore[no-untyped-def]
    for name, (P, y) in real_outputs.items():
        for mode in ("top-label", "marginal"):
            d = calipers.brier_decomposition(P, y, mode=mode, row_sum_atol=1e-3)
            assert d.brier == pytest.approx(calipers.brier(P, y, mode=mode, row_sum_atol=1e-3), rel=1e-12)
            # the reliability term is the squared l2 ECE: top-label directly, marginal as the
            # class mean of each class's squared error (the l2 combination squares to it)
            assert d.reliability == pytest.approx(
                calipers.ece(P, y, norm="l2", mode=mode, row_sum_atol=1e-3) ** 2, rel=1e-12
            ), name  # measured 4.1e-16 relative
            if mode == "marginal":
                per_class = [calipers.ece(P[:, k], (y == k).astype(int), norm="l2") ** 2 for k in range(P.shape[1])]
                assert d.reliability == pytest.approx(np.mean(per_class), rel=1e-12), name
                assert d.uncertainty == pytest.approx(
                    np.mean([np.mean(y == k) * (1 - np.mean(y == k)) for k in range(P.shape[1])]), rel=1e-12
                ), name
            assert d.reliability >= 0 and d.resolution >= 0 and 0 <= d.uncertainty <= 0.25
            s = ReliabilitySketch(classes=P.shape[1] if mode == "marginal" else None, row_sum_atol=1e-3).update(P, y)
            ds = s.brier_decomposition()
            for field in ("reliability", "resolution", "uncertainty", "brier"):
                assert getattr(ds, field) == pytest.approx(getattr(d, field), rel=1e-12, abs=1e-15), (name, field)
    # constant forecasts within bins: the decomposition is exact
    p = np.repeat([0.05, 0.35, 0.75], [40, 30, 30])
    y = np.concatenate([np.zeros(38), np.ones(2), np.zeros(20), np.ones(10), np.zeros(5), np.ones(25)]).astype(int)
    d = calipers.brier_decomposition(p, y, bins=10)
    assert d.within_bin == pytest.approx(0.0, abs=1e-12)
    assert d.reliability - d.resolution + d.uncertainty == pytest.approx(calipers.brier(p, y), rel=1e-12)


def test_conformal_threshold_equals_order_statistics():
    rng = np.random.default_rng(0)
    for n in (1, 9, 19, 99, 1000):
        s = rng.normal(size=n)
        for alpha in (0.05, 0.1, 0.2, 0.5):
            k = math.ceil(round((n + 1) * (1 - alpha), 9))
            expected = math.inf if k > n else np.sort(s)[k - 1]
            assert calipers.conformal_threshold(s, alpha) == expected, (n, alpha)
    assert calipers.conformal_threshold(np.arange(9.0), 0.1) == 8.0  # k = ceil(10 * 0.9) = 9 <= n
    assert calipers.conformal_threshold(np.arange(8.0), 0.1) == math.inf  # k = 9 > n: never the maximum
    for bad, pattern in (([], "empty"), ([1.0, np.nan], "finite"), ([[1.0]], "1-D")):
        with pytest.raises(ValueError, match=pattern):
            calipers.conformal_threshold(bad, 0.1)
    with pytest.raises(ValueError, match="alpha"):
        calipers.conformal_threshold([1.0], 1.5)
