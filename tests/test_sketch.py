"""ReliabilitySketch: streaming equals batch, exact merges, bounded size, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import calipers
from calipers import ReliabilitySketch, merge_all

scores_st = arrays(
    np.float64,
    st.integers(1, 300),
    elements=st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 0.5, 0.2, np.nextafter(1, 0)])),
)


@st.composite
def batches(draw):  # type: ignore[no-untyped-def]
    p = draw(scores_st)
    y = draw(arrays(np.int8, p.size, elements=st.integers(0, 1)))
    return p, y


@given(batches(), st.lists(st.integers(1, 50), min_size=1, max_size=8), st.sampled_from([1, 7, 15]))
def test_chunks_equal_one_batch(batch, cuts, bins):  # type: ignore[no-untyped-def]
    p, y = batch
    whole = ReliabilitySketch(bins).update(p, y)
    chunked = ReliabilitySketch(bins)
    edges = np.unique(np.clip(np.cumsum(cuts), 0, p.size))
    for part_p, part_y in zip(np.split(p, edges), np.split(y, edges)):
        if part_p.size:
            chunked.update(part_p, part_y)
    assert chunked.to_bytes() == whole.to_bytes()


@given(batches(), batches(), batches())
def test_merge_is_associative_and_commutative(a, b, c):  # type: ignore[no-untyped-def]
    sa, sb, sc = (ReliabilitySketch(10).update(*x) for x in (a, b, c))
    left = (sa + sb) + sc
    right = sa + (sb + sc)
    swapped = sc + (sb + sa)
    assert left.to_bytes() == right.to_bytes() == swapped.to_bytes()
    together = ReliabilitySketch(10).update(np.concatenate([a[0], b[0], c[0]]), np.concatenate([a[1], b[1], c[1]]))
    assert left.to_bytes() == together.to_bytes()
    assert merge_all([sa, sb, sc]).to_bytes() == together.to_bytes()


@given(batches())
def test_width_metrics_equal_batch_metrics(batch):  # type: ignore[no-untyped-def]
    p, y = batch
    s = ReliabilitySketch(15).update(p, y)
    for norm in ("l1", "l2", "max"):
        assert s.ece(norm=norm) == pytest.approx(calipers.ece(p, y, norm=norm), rel=1e-12, abs=1e-15)
    assert s.ece(norm="l2", debiased=True) == pytest.approx(
        calipers.ece(p, y, norm="l2", debiased=True), rel=1e-12, abs=1e-15
    )
    assert s.brier() == calipers.brier(p, y)
    assert s.log_loss() == calipers.log_loss(p, y)


def test_sketch_matches_batch_on_real_outputs(real_outputs):  # type: ignore[no-untyped-def]
    for name, (P, y) in real_outputs.items():
        for mode, classes in (("top-label", None), ("marginal", P.shape[1])):
            s = ReliabilitySketch(15, classes=classes, row_sum_atol=1e-3)
            for idx in np.array_split(np.arange(y.size), 7):
                s.update(P[idx], y[idx])
            for norm in ("l1", "l2", "max"):
                assert s.ece(norm=norm) == pytest.approx(
                    calipers.ece(P, y, norm=norm, mode=mode, row_sum_atol=1e-3), rel=1e-12
                ), name
            assert s.brier() == calipers.brier(P, y, mode=mode, row_sum_atol=1e-3)
            assert s.log_loss() == calipers.log_loss(P, y, mode=mode, row_sum_atol=1e-3)
            table = s.reliability()
            batch = calipers.reliability(P, y, mode=mode, row_sum_atol=1e-3)
            np.testing.assert_array_equal(table.count, batch.count)
            np.testing.assert_allclose(table.frequency, batch.frequency, rtol=1e-12)
            # equal-mass from the fine grid: within the stated bound of the exact value, and
            # within 3x the measured difference (tests/test_references.py, per set: at most 2.5e-7
            # on CIFAR, 2.2e-4 on digits-nb marginal)
            exact = calipers.ece(P, y, binning="mass", mode=mode, row_sum_atol=1e-3)
            assert abs(s.ece(binning="mass") - exact) <= 7e-4, name


def test_mass_bins_follow_the_grid_rule(cifar):  # type: ignore[no-untyped-def]
    """The sketch's equal-mass ECE is the exact ECE of bins made of whole grid cells (a
    differential check through the library's own cell and cut helpers; the independent one,
    from the documented geometry and exact bins by sorting, is in tests/test_references.py)."""
    from calipers._common.binning import mass_cuts_from_counts
    from calipers._kernels import numpy_backend as _kernels_numpy

    P, y = cifar
    conf, correct = P.max(axis=1), (P.argmax(axis=1) == y).astype(float)
    cells = _kernels_numpy.fine_cell(conf)
    counts = np.bincount(cells, minlength=3970)
    starts = mass_cuts_from_counts(counts, 15)
    group = np.searchsorted(starts, cells, side="right")
    n = np.bincount(group)
    gap = np.abs(np.bincount(group, conf) - np.bincount(group, correct))
    expected = gap.sum() / conf.size
    assert ReliabilitySketch(15).update(P, y).ece(binning="mass") == pytest.approx(expected, rel=1e-12)
    assert n.size <= 15 and n.min() > 0


def test_size_does_not_grow_with_samples():
    rng = np.random.default_rng(0)
    small = ReliabilitySketch(15).update(rng.random(10**3), rng.integers(0, 2, 10**3))
    big = ReliabilitySketch(15)
    for _ in range(10):
        big.update(rng.random(10**6), rng.integers(0, 2, 10**6))
    assert big.count == 10**7
    assert big.nbytes == small.nbytes
    assert len(big.to_bytes()) == len(small.to_bytes())


def test_threads_updating_one_sketch_lose_nothing(backend):  # type: ignore[no-untyped-def]
    n, threads = 10**6, 8
    rng = np.random.default_rng(1)
    data = [(rng.random(n), rng.integers(0, 2, n)) for _ in range(threads)]
    shared = ReliabilitySketch(15, backend=backend)
    if backend == "numba":
        shared.update(data[0][0][:10], data[0][1][:10])  # compile outside the race
        shared.reset()
    barrier = threading.Barrier(threads)

    def work(i: int) -> None:
        barrier.wait()
        shared.update(*data[i])

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert shared.count == n * threads
    separate = [ReliabilitySketch(15, backend=backend).update(*d) for d in data]
    assert merge_all(separate).to_bytes() == shared.to_bytes()
    one = ReliabilitySketch(15).update(np.concatenate([d[0] for d in data]), np.concatenate([d[1] for d in data]))
    assert one.to_bytes() == shared.to_bytes()


def test_incompatible_merges_name_both_settings():
    a = ReliabilitySketch(15).update([0.2], [1])
    with pytest.raises(ValueError, match=r"bins=15.*bins=10"):
        a.merge(ReliabilitySketch(10))
    with pytest.raises(ValueError, match=r"classes=None.*classes=3"):
        a.merge(ReliabilitySketch(15, classes=3))
    top = ReliabilitySketch(15).update([[0.2, 0.8]], [1])
    with pytest.raises(ValueError, match=r"'binary'.*'top-label'"):
        a.merge(top)
    with pytest.raises(ValueError, match="do not mix"):
        a.update([[0.2, 0.8]], [1])
    with pytest.raises(TypeError):
        a.merge("sketch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        merge_all([])


def test_self_merge_doubles():
    s = ReliabilitySketch(5).update([0.1, 0.9], [0, 1])
    before = s.ece()
    s += s
    assert s.count == 4 and s.ece() == before


def test_empty_sketch_metrics_are_nan_with_a_warning():
    s = ReliabilitySketch()
    for metric in (s.ece, s.brier, s.log_loss, s.brier_skill_score):
        with pytest.warns(RuntimeWarning, match="empty"):
            assert np.isnan(metric())
    assert s.reliability().n == 0


def test_metrics_of_known_values():
    s = ReliabilitySketch(10).update([0.95, 1.0], [1, 0])
    assert s.ece() == pytest.approx(0.475)
    assert s.ece(norm="max") == pytest.approx(0.475)
    assert s.brier() == pytest.approx((0.05**2 + 1.0) / 2)
    single = ReliabilitySketch(10).update([0.3], [1])
    assert single.ece() == pytest.approx(0.7)  # one sample: |c - a|
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(ReliabilitySketch().update([0.2, 0.4], [1, 1]).brier_skill_score())
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    base = np.full(1000, y.mean())
    assert calipers.brier_skill_score(base, y) == pytest.approx(0.0, abs=1e-12)
    assert calipers.ece(base, y) == pytest.approx(0.0, abs=1e-12)
