"""ReliabilitySketch(grid=...): every grid is an exact coarsening of the fine one, the
stated accuracy bounds hold, serialization stays versioned, and the accumulate_rows kernel
agrees on every backend (and with accumulate on the fine grid)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers import ReliabilitySketch
from calipers._common import grid as _grid
from calipers._kernels import backend as _backend

GRIDS = ["fine", "compact", None, (5, 1), (1, 0)]
BACKENDS = [b for b in ("cpp", "numba", "numpy") if _backend.available().get(b) == "ok"]


def _data(seed: int, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.beta(0.4, 0.4, n - 6), [0.0, 1.0, 0.5, 1e-12, 1 - 1e-12, 0.2]])
    y = (rng.random(n) < p**1.4).astype(np.int64)
    return p, y


@pytest.mark.parametrize("grid", GRIDS)
def test_grid_sketch_is_the_coarsened_fine_sketch(grid):
    p, y = _data(0)
    fine = ReliabilitySketch().update(p, y)
    small = ReliabilitySketch(grid=grid).update(p[:2500], y[:2500]).update(p[2500:], y[2500:])
    assert small == fine.coarsen(grid)  # byte for byte
    assert small.grid == (grid if grid != (31, 6) else "fine")
    cells = _grid.grid_cell_count(*_grid.grid_spec(grid))
    assert small.nbytes == _grid.stream_size(15, cells) * 8
    # exact parts equal the array functions on every grid
    assert small.ece() == calipers.ece(p, y)
    assert small.brier() == calipers.brier(p, y) and small.log_loss() == calipers.log_loss(p, y)


def test_grid_sizes_stated_in_the_docstring():
    assert ReliabilitySketch().nbytes == 127_552
    assert ReliabilitySketch(grid="compact").nbytes == 4_672
    assert ReliabilitySketch(grid=None).nbytes == 512


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("seed", [1, 2])
def test_stated_accuracy_bounds_hold(grid, seed):
    p, y = _data(seed)
    n = p.size
    s = ReliabilitySketch(grid=grid).update(p, y)
    cells = s._fine_cells(s._snapshot()[0])[0]
    count = cells[:, 0].astype(np.int64)
    pos = cells[:, 1].astype(np.float64)
    # equal-mass ECE: (2/n) sum over boundaries of their cell's count
    from calipers._common.binning import mass_cuts_from_counts

    starts = mass_cuts_from_counts(count, 15)
    bound = 2.0 / n * sum(int(count[c - 1]) for c in starts if c > 0)
    exact = calipers.ece(p, y, binning="mass")
    assert abs(s.ece(binning="mass") - exact) <= bound + 1e-12
    # smooth ECE: the returned bound
    value, sbound = s.smooth_ece(return_bound=True)
    assert abs(value - calipers.smooth_ece(p, y)) <= sbound + 1e-12
    # AUROC: same-cell pairs become ties
    P, N = pos.sum(), (count - pos).sum()
    abound = 0.5 * float(np.sum(pos * (count - pos))) / (P * N)
    assert abs(s.auroc() - calipers.auroc(p, y)) <= abound + 1e-12
    # calibrator: the array fit on scores moved to their cell's mean (weights = counts)
    lower, upper = s._cell_edges()
    if grid == "fine":
        index = calipers._kernels.numpy_backend.fine_cell(p)
    elif grid is None:
        index = calipers._kernels.numpy_backend.equal_width_index(p, 15)
    else:
        index = calipers._kernels.numpy_backend.grid_cell(p, *_grid.grid_spec(grid))
    assert np.all(lower[index] <= p) and np.all(p <= upper[index])
    means = np.bincount(index, weights=p, minlength=len(lower)) / np.maximum(
        np.bincount(index, minlength=len(lower)), 1
    )
    moved = means[index]
    assert np.all(np.abs(moved - p) <= (upper - lower)[index])
    got = s.calibrator("platt").transform(np.linspace(0.01, 0.99, 7))
    ref = calipers.PlattScaling().fit(moved, y).transform(np.linspace(0.01, 0.99, 7))
    np.testing.assert_allclose(got, ref, atol=1e-6)  # measured difference ~1e-9 (solver tolerance)


def test_bounds_shrink_with_the_grid():
    p, y = _data(3)
    bounds = [
        ReliabilitySketch(grid=g).update(p, y).smooth_ece(return_bound=True)[1] for g in ("fine", "compact", None)
    ]
    assert bounds[0] < bounds[1] < bounds[2]


@pytest.mark.parametrize("grid", ["compact", None, (7, 3)])
def test_grid_blobs_round_trip_and_reject_corruption(grid):
    p, y = _data(4, 800)
    s = ReliabilitySketch(grid=grid, replicates=5, seed=0).update(p, y)
    blob = s.to_bytes()
    back = ReliabilitySketch.from_bytes(blob)
    assert back == s and back.grid == s.grid and back.replicates == 5
    assert blob[4] == 1  # still format version 1: the grid lives in the header's grid fields
    with pytest.raises(ValueError):
        ReliabilitySketch.from_bytes(blob[:-9])
    bad = bytearray(blob)
    bad[16] = 40  # 40 octaves: no such grid (the CRC would also catch it)
    with pytest.raises(ValueError):
        ReliabilitySketch.from_bytes(bytes(bad))


def test_committed_v1_blobs_still_load_as_fine():
    from pathlib import Path

    for path in sorted((Path(__file__).parent / "data").glob("reliability_sketch_v1_*.bin")):
        s = ReliabilitySketch.from_bytes(path.read_bytes())
        assert s.grid == "fine"


def test_merge_and_coarsen_rules():
    p, y = _data(5, 500)
    a = ReliabilitySketch(grid="compact").update(p, y)
    with pytest.raises(ValueError, match="incompatible"):
        a.merge(ReliabilitySketch().update(p, y))
    assert (a + ReliabilitySketch().update(p, y).coarsen("compact")).count == 1000
    with pytest.raises(ValueError, match="coarsening"):
        a.coarsen("fine")
    for bad in ("medium", (0, 3), (32, 1), (5, 7), (5,), 3, (1.0, 2)):
        with pytest.raises(ValueError, match="grid"):
            ReliabilitySketch(grid=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("classes", [None, 3])
def test_marginal_and_top_label_on_small_grids(classes):
    rng = np.random.default_rng(6)
    P = rng.dirichlet(np.ones(3), 900)
    L = rng.integers(0, 3, 900)
    fine = ReliabilitySketch(classes=classes).update(P, L)
    for grid in ("compact", None):
        s = ReliabilitySketch(classes=classes, grid=grid).update(P, L)
        assert s == fine.coarsen(grid)
        assert math.isclose(s.ece(), fine.ece(), rel_tol=0, abs_tol=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
    st.integers(0, 2**31),
    st.sampled_from([(31, 6), (16, 2), (0, 0), (3, 4), (1, 0)]),
)
def test_accumulate_rows_backends_agree_and_fine_rows_equal_accumulate(scores, seed, spec):
    rng = np.random.default_rng(seed)
    p = np.array(scores)
    y = (rng.random(p.size) < 0.5).astype(np.uint8)
    rows = rng.integers(0, 3, p.size).astype(np.int64)
    size = _grid.stream_size(4, _grid.grid_cell_count(*spec))
    states = []
    for name in BACKENDS:
        acc = np.zeros(3 * size, np.uint64)
        _backend.resolve(name).accumulate_rows(acc, 4, spec[0], spec[1], rows, p, y)
        states.append(acc)
    for other in states[1:]:
        np.testing.assert_array_equal(other, states[0])
    if spec == (31, 6):
        ref = np.zeros(_grid.stream_size(4), np.uint64)
        _backend.resolve("numpy").accumulate(ref, 4, 1, 7, p, y.astype(np.int64), 0)
        one = np.zeros(size, np.uint64)
        _backend.resolve(BACKENDS[0]).accumulate_rows(one, 4, 31, 6, np.zeros(p.size, np.int64), p, y)
        np.testing.assert_array_equal(one, ref)


@pytest.mark.parametrize("name", BACKENDS)
def test_accumulate_rows_errors_are_the_same_and_change_nothing(name):
    k = _backend.resolve(name)
    acc = np.zeros(2 * _grid.stream_size(15, 0), np.uint64)
    cases = [
        (np.array([0, 2, 5], np.int64), np.array([0.1, 0.2, 0.3]), np.array([0, 1, 1], np.uint8), "2 row index"),
        (np.array([0, 1, 1], np.int64), np.array([0.1, np.nan, 2.0]), np.array([0, 1, 1], np.uint8), "2 score"),
        (np.array([0, 1, 1], np.int64), np.array([0.1, 0.2, 0.3]), np.array([0, 3, 1], np.uint8), "1 outcome"),
    ]
    for rows, p, y, message in cases:
        with pytest.raises(ValueError, match=f"accumulate_rows: {message}.*first at index 1"):
            k.accumulate_rows(acc, 15, 0, 0, rows, p, y)
    assert not acc.any()
    with pytest.raises(TypeError):
        k.accumulate_rows(acc, 15, 0, 0, np.array([0], np.int32), np.array([0.1]), np.array([1], np.uint8))
    with pytest.raises(ValueError):
        k.accumulate_rows(acc[:-1].copy(), 15, 0, 0, np.array([0]), np.array([0.1]), np.array([1], np.uint8))
    with pytest.raises(ValueError):
        k.accumulate_rows(acc, 15, 2, 9, np.array([0]), np.array([0.1]), np.array([1], np.uint8))
