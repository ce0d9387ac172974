"""Every kernel gives the same result on every backend (numpy is the reference)."""

from __future__ import annotations

import numpy as np
import pytest

import calipers
from calipers._common import grid as _grid
from calipers._common.validate import check
from calipers._kernels import backend as _backend

REFERENCE = _backend.resolve("numpy")


def _data(rng, n, K, dtype):  # type: ignore[no-untyped-def]
    if K is None:
        p = rng.random(n)
        # edge values: exact 0, 1, bin edges, values next to 1 and 0.5
        p[: min(n, 6)] = [0.0, 1.0, 0.2, np.nextafter(1.0, 0.0), 0.5, 1e-12][: min(n, 6)]
        y = (rng.random(n) < p).astype(np.int64)
        return p.astype(dtype), y
    logits = rng.normal(size=(n, K)) * 3
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    return P.astype(dtype), rng.integers(0, K, n)


SHAPES = [
    (1, None),
    (257, None),
    (5000, None),
    (300, 2),
    (2000, 10),
    (50, 100),
    (300_000, None),
    (140_000, 2),
]  # the last two take the multi-core C++ path


@pytest.mark.parametrize("n,K", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accumulate_is_byte_identical(backend, n, K, dtype):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(n * 7 + (K or 0))
    scores, labels = _data(rng, n, K, dtype)
    kernels = _backend.resolve(backend)
    modes = ["top-label"] if K is None else ["top-label", "marginal"]
    for mode in modes:
        c = check(scores, labels, kernels, mode=mode, row_sum_atol=1e-3)
        streams = K if mode == "marginal" else 1
        for bins in (1, 15, 37):
            acc = np.zeros(streams * _grid.stream_size(bins), np.uint64)
            ref = acc.copy()
            kernels.accumulate(acc, bins, streams, _grid.PART_ALL, c.scores, c.labels, c.kind)
            REFERENCE.accumulate(ref, bins, streams, _grid.PART_ALL, c.scores, c.labels, c.kind)
            np.testing.assert_array_equal(acc, ref)


@pytest.mark.parametrize("n,K", SHAPES)
def test_validation_counts_agree(backend, n, K):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    scores, labels = _data(rng, n, K, np.float64)
    scores = scores.copy()
    flat = scores.reshape(-1)
    flat[rng.integers(0, flat.size, 3)] = np.nan
    flat[rng.integers(0, flat.size, 2)] = np.inf
    flat[rng.integers(0, flat.size, 2)] = 1.5
    labels = labels.copy()
    labels[rng.integers(0, n, 2)] = 7 if K is None else K + 3
    kernels = _backend.resolve(backend)
    if K is None:
        assert kernels.validate_binary(scores, labels) == REFERENCE.validate_binary(scores, labels)
    else:
        for rows in (True, False):
            assert kernels.validate_probs(scores, labels, 1e-4, rows) == REFERENCE.validate_probs(
                scores, labels, 1e-4, rows
            )


def test_binned_stats_and_top_label_agree(backend):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    kernels = _backend.resolve(backend)
    P, y = _data(rng, 3000, 10, np.float64)
    conf, correct = kernels.top_label(P, y)
    rconf, rcorrect = REFERENCE.top_label(P, y)
    np.testing.assert_array_equal(conf, rconf)
    np.testing.assert_array_equal(correct, rcorrect)
    cuts = np.array([0.1, 0.25, 0.25, 0.5, 0.9])
    for right in (True, False):
        for nbins in (3, 6):
            got = kernels.binned_stats_edges(conf, correct, cuts, right, nbins)
            ref = REFERENCE.binned_stats_edges(conf, correct, cuts, right, nbins)
            np.testing.assert_array_equal(got[0], ref[0])
            np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
            np.testing.assert_allclose(got[2], ref[2], rtol=1e-12)


@pytest.mark.parametrize("binning", ["width", "mass"])
@pytest.mark.parametrize("compat", [None, "uncertainty-calibration", "sklearn"])
def test_public_metrics_agree(backend, cifar, binning, compat):  # type: ignore[no-untyped-def]
    P, y = cifar
    for mode in ("top-label", "marginal"):
        if compat == "sklearn" and mode == "marginal":
            continue
        for norm in ("l1", "l2", "max"):
            got = calipers.ece(P, y, binning=binning, norm=norm, mode=mode, compat=compat, backend=backend)
            ref = calipers.ece(P, y, binning=binning, norm=norm, mode=mode, compat=compat, backend="numpy")
            assert got == pytest.approx(ref, rel=1e-12, abs=1e-15)
    for fn in (calipers.brier, calipers.log_loss, calipers.brier_skill_score):
        assert fn(P, y, backend=backend) == fn(P, y, backend="numpy")


def test_constants_match_the_cpp_core():
    core = pytest.importorskip("calipers._core")
    assert core.GRID_CELLS == _grid.GRID_CELLS
    assert core.GRID_OCTAVES == _grid.GRID_OCTAVES
    assert core.GRID_SUB_BITS == _grid.GRID_SUB_BITS
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.random(2000), 10.0 ** -rng.uniform(0, 15, 2000), [1.0, 1e-15, 0.5]])
    ref = REFERENCE.det_log(x)
    assert np.array_equal(core.det_log(x), ref)
    np.testing.assert_allclose(ref, np.log(x), rtol=4e-16, atol=2e-16)  # absolute error < 2e-16
    p = np.concatenate([x[x <= 1], 1 - x[x <= 1], [0.0]])
    assert np.array_equal(core.fine_cell(p), REFERENCE.fine_cell(p))


def test_fine_grid_is_monotone_and_resolves_the_ends():
    p = np.sort(np.concatenate([np.linspace(0, 1, 100001), 1 - np.logspace(-12, 0, 1000), np.logspace(-12, 0, 1000)]))
    p = p[(p >= 0) & (p <= 1)]
    cells = REFERENCE.fine_cell(p)
    assert np.all(np.diff(cells) >= 0)
    assert cells.min() == 0 and cells.max() == _grid.GRID_CELLS - 1
    assert REFERENCE.fine_cell(np.array([0.999]))[0] != REFERENCE.fine_cell(np.array([0.9999]))[0]
    assert REFERENCE.fine_cell(np.array([0.001]))[0] != REFERENCE.fine_cell(np.array([0.0001]))[0]
    lower = _grid.fine_cell_lower_edges()
    upper = _grid.fine_cell_upper_edges()
    assert np.all(lower[cells] <= p) and np.all(p <= upper[cells])


def test_unavailable_backend_names():
    with pytest.raises(ValueError, match="backend must be one of"):
        _backend.resolve("gpu")


def test_env_override(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CALIPERS_BACKEND", "numpy")
    assert _backend.name_of(_backend.resolve("auto")) == "numpy"
    assert "numpy" in calipers.show_config()


def test_missing_extension_falls_back_and_explains(monkeypatch):  # type: ignore[no-untyped-def]
    """What a compiler-less install (pip install . -Cwheel.cmake=false) sees."""
    monkeypatch.setattr(_backend, "_cache", {k: v for k, v in _backend._cache.items() if k != "cpp"})
    monkeypatch.setattr(_backend, "_errors", {**_backend._errors, "cpp": "ModuleNotFoundError: calipers._core"})
    monkeypatch.delenv("CALIPERS_BACKEND", raising=False)
    monkeypatch.setattr(_backend, "_fallback_warned", [])
    with pytest.warns(RuntimeWarning, match=r"C\+\+ extension is not available .*CALIPERS_BACKEND="):
        assert _backend.name_of(_backend.resolve("auto")) in ("numba", "numpy")
    assert _backend.name_of(_backend.resolve("auto")) in ("numba", "numpy")  # once per process
    with pytest.raises(ImportError, match=r"C\+\+ extension calipers\._core is not built"):
        _backend.resolve("cpp")
    assert calipers.ece([0.2, 0.9], [0, 1]) == pytest.approx(0.15)
    assert "cpp" in calipers.show_config() and "ModuleNotFoundError" in calipers.show_config()
