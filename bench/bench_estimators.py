"""Estimators beyond the binned plug-in, against uncertainty-calibration and relplot, on the
same arrays in one run: bootstrap intervals, the auto-dispatched calibration error, smooth
ECE, and exact kNN for proximity.

    python bench/bench_estimators.py            # 10^5 and 10^6 binary scores
    python bench/bench_estimators.py --quick    # 10^4 and 10^5
    python -m pytest bench/bench_estimators.py --benchmark-enable   # pytest-benchmark suite

Ratios are "how many times longer the peer takes than calipers". Peers that are not
installed are reported as skipped. uncertainty-calibration's bootstrap runs 101 full
recomputations in Python; at 10^6 it is extrapolated from one timed call of
get_calibration_error (said so in the table) unless --full.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from ratios import best  # the same best-of-N timing as the other ratio tables

import calipers


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p**1.3).astype(np.int64)
    return p, y


def row(name, ours, peer, note=""):
    ratio = "-" if peer is None else f"{peer / ours:,.1f}x"
    peer_s = "skipped" if peer is None else f"{peer * 1e3:,.1f} ms"
    print(f"| {name} | {ours * 1e3:,.2f} ms | {peer_s} | {ratio} | {note} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true", help="time uncertainty-calibration's bootstrap at 10^6 too")
    args = ap.parse_args()
    sizes = (10**4, 10**5) if args.quick else (10**5, 10**6)
    try:
        import calibration as uc
    except ImportError:
        uc = None
        print("uncertainty-calibration is not installed: its columns are skipped")
    try:
        import relplot
    except ImportError:
        relplot = None
        print("relplot is not installed: its columns are skipped")
    print("| task | calipers | peer | peer / calipers | notes |")
    print("|---|---|---|---|---|")
    for backend in ("numba", "numpy"):  # compile numba outside the timings
        if calipers.available_backends()[backend] == "ok":
            calipers.bootstrap_ci(calipers.ece, *data(100), n_resamples=2, seed=0, backend=backend)
            calipers.knn(np.ones((2, 2)), np.ones((3, 2)), 1, backend=backend)
    for n in sizes:
        p, y = data(n)
        # bootstrap intervals
        fast = best(
            lambda: calipers.bootstrap_ci(calipers.ece, p, y, norm="l2", n_resamples=1000, seed=0, method="basic")
        )
        for backend in ("numba", "numpy"):
            if calipers.available_backends()[backend] != "ok":
                continue
            other = best(
                lambda: calipers.bootstrap_ci(
                    calipers.ece, p, y, norm="l2", n_resamples=1000, seed=0, method="basic", backend=backend
                )
            )
            row(f"bootstrap_ci 1000 resamples, n={n:,}: cpp vs {backend} backend", fast, other)
        rows = best(
            lambda: calipers.bootstrap_ci(
                calipers.ece,
                p,
                y,
                norm="l2",
                n_resamples=100,
                seed=0,
                method="basic",
                binning="mass",
                compat="uncertainty-calibration",
            ),
            budget=0.1,
            max_repeats=1,
        )
        peer = note = None
        if uc is not None:
            if n <= 10**5 or args.full:
                peer = best(lambda: uc.get_calibration_error_uncertainties(p, y), budget=0.1, max_repeats=1)
                note = "UC: 101 recomputations"
            else:
                peer = 101 * best(lambda: uc.get_calibration_error(p, y, debias=False), budget=0.1, max_repeats=1)
                note = "UC extrapolated: 101 x one get_calibration_error"
        row(
            f"CI of the l2 CE, n={n:,}: bootstrap_ci fast path (1000 resamples, width bins) vs "
            "UC get_calibration_error_uncertainties (100, mass bins)",
            fast,
            peer,
            note or "",
        )
        row(
            f"CI, n={n:,}: bootstrap_ci row resampling (100, mass bins, UC compat) vs the same UC call",
            rows,
            peer,
            note or "",
        )
        # the auto-dispatched calibration error
        ours = best(
            lambda: calipers.ece(
                p, y, norm="l2", debiased=True, binning="auto", mode="marginal", compat="uncertainty-calibration"
            )
        )
        peer = None if uc is None else best(lambda: uc.get_calibration_error(p, y), budget=0.1, max_repeats=1)
        row(f"get_calibration_error (auto dispatch, debiased l2), n={n:,}", ours, peer)
        # smooth ECE
        exact = best(lambda: calipers.smooth_ece(p, y))
        compat = best(lambda: calipers.smooth_ece(p, y, compat="relplot"))
        peer = None if relplot is None else best(lambda: relplot.smECE(p, y.astype(float)), budget=0.1, max_repeats=2)
        row(f"smooth ECE exact vs relplot.smECE, n={n:,}", exact, peer)
        row(f"smooth ECE compat='relplot' vs relplot.smECE, n={n:,}", compat, peer)
        sketch = calipers.ReliabilitySketch().update(p, y)
        from_sketch = best(lambda: sketch.smooth_ece())
        row(f"smooth ECE from a sketch vs relplot.smECE on the samples, n={n:,}", from_sketch, peer)
    # exact kNN for proximity: C++ vs the numpy mirror vs a BLAS matrix product
    rng = np.random.default_rng(1)
    pool = rng.normal(size=(5000, 64)).astype(np.float32)
    query = pool[:1000].copy()
    cpp = best(lambda: calipers.knn(query, pool, 10))
    numpy = best(lambda: calipers.knn(query, pool, 10, backend="numpy"), budget=0.1, max_repeats=1)
    row("exact kNN 1000 x 5000 x 64, k=10: cpp vs numpy mirror (same bits)", cpp, numpy)

    def blas():
        d = (query**2).sum(1)[:, None] + (pool**2).sum(1)[None, :] - 2 * query @ pool.T
        return np.argpartition(d, 10, axis=1)[:, :10]

    row("exact kNN: cpp vs numpy BLAS ||q||^2 + ||x||^2 - 2 q.x (float32, not bit-exact)", cpp, best(blas))


# ---------------------------------------------------------------- pytest-benchmark suite
@pytest.fixture(scope="module")
def arrays():
    return data(10**5)


def test_bootstrap_fast_path(benchmark, arrays):
    p, y = arrays
    result = benchmark(lambda: calipers.bootstrap_ci(calipers.ece, p, y, n_resamples=1000, seed=0))
    assert result.fast and result.low < result.estimate < result.high


def test_smooth_ece(benchmark, arrays):
    p, y = arrays
    assert 0 < benchmark(lambda: calipers.smooth_ece(p, y)) < 1


def test_relplot_smece(benchmark, arrays):
    relplot = pytest.importorskip("relplot", reason="relplot is not installed")
    p, y = arrays
    assert benchmark(lambda: relplot.smECE(p, y.astype(float))) == pytest.approx(
        calipers.smooth_ece(p, y, compat="relplot"), abs=1e-9
    )


if __name__ == "__main__":
    main()
