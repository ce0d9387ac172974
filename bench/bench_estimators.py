"""Estimators beyond the binned plug-in, against uncertainty-calibration and relplot, on the
same arrays in one run: bootstrap intervals, the auto-dispatched calibration error, smooth
ECE, and exact kNN for proximity.

    python bench/bench_estimators.py --quick   # bootstrap 10^5 and 10^6; UC's bootstrap at 10^4
    python bench/bench_estimators.py --full    # bootstrap up to 10^7; UC's bootstrap at 10^4 and 3 x 10^4
    python -m pytest bench/bench_estimators.py --benchmark-enable   # pytest-benchmark suite

Like-for-like rows: the same estimator, the same number of resamples, the same binning and
one thread on both sides (``timing.threads(1)``). uncertainty-calibration's
``get_calibration_error_uncertainties`` always draws 100 resamples (plus two full
computations) and rebuilds Python lists for each; it is measured, never extrapolated, at
10^4 (quick) and 10^4 and 3 x 10^4 (full), where its cell (a warm-up and three rounds) stays
within about a minute; its cost grows faster than linearly, so larger sizes are left out.
The bootstrap fast path (equal-width bins) has no counterpart in the peers: its rows compare
calipers' backends, and calipers' own row resampling. numpy's OpenBLAS runs its own kernel
for this CPU (``timing.use_native_openblas``; the table says which).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":
    from timing import use_native_openblas

    use_native_openblas()

import numpy as np
import pytest
from timing import Report, agreement, compare, cpp_knn_clone, fmt_seconds, parse_args, threads

import calipers

PEERS = ("uncertainty-calibration", "relplot", "threadpoolctl")
SIZES = {
    "tiny": {"fast": [10**4], "uc_boot": [10**3], "other": [10**4], "knn": (200, 1000, 32)},
    "quick": {"fast": [10**5, 10**6], "uc_boot": [10**4], "other": [10**5], "knn": (1000, 5000, 64)},
    "full": {
        "fast": [10**5, 10**6, 10**7],
        "uc_boot": [10**4, 3 * 10**4],
        "other": [10**5, 10**6],
        "knn": (1000, 5000, 64),
    },
}
#: uncertainty-calibration's get_calibration_error_uncertainties: the plug-in on the rows, then 100 resamples
UC_RESAMPLES = 100
#: its call passes alpha=0.1 as a percentage: the interval is the 0.05th to 99.95th percentile
UC_CONFIDENCE = 0.999
UC_ESTIMATOR = {"norm": "l2", "binning": "auto", "debiased": False, "mode": "marginal"}


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of a slightly miscalibrated model."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p**1.3).astype(np.int64)
    return p, y


def bootstrap_rows(report: Report, live: list[str]) -> None:
    """The fast path by backend (1000 resamples), and its cost against row resampling."""
    mode = report.mode
    cores = os.cpu_count() or 1
    table = report.table(
        "estimators-bootstrap",
        "`bootstrap_ci(calipers.ece, p, y, norm='l2', n_resamples=1000)` (fast path, C++), by thread count",
        ["n", "1 thread (best / median)", f"{cores} threads (best / median)"],
    )
    for n in SIZES[mode]["fast"]:
        p, y = data(n)

        def fast(backend: str = "auto", resamples: int = 1000, **kw: object) -> calipers.BootstrapInterval:
            return calipers.bootstrap_ci(
                calipers.ece, p, y, norm="l2", n_resamples=resamples, seed=0, method="basic", backend=backend, **kw
            )

        ref = fast()
        assert ref.fast
        with threads(1):
            t1 = compare({"c": fast}, mode)["c"]
        with threads(cores):
            tn = compare({"c": fast}, mode)["c"]
        table.add(f"{n:,}", t1.cell(), tn.cell())
        if n == 10**6:
            report.quote("bootstrap_1e6", f"{fmt_seconds(tn.best)} ({cores} threads; {fmt_seconds(t1.best)} on one)")
        for backend in (b for b in live if b != "cpp"):
            other = fast(backend)
            same = "same interval" if (other.low, other.high) == (ref.low, ref.high) else "INTERVALS DIFFER"
            with threads(1):
                t = compare({"c": fast, "o": lambda: fast(backend)}, mode)
            report.pair(
                f"bootstrap_ci fast path, 1000 resamples, width bins, n={n:,}",
                ("calipers (C++)", t["c"]),
                (f"calipers {backend} backend", t["o"]),
                threads="1 / 1",
                like_for_like=True,
                results=f"{same} (same seed)",
                headline=n == 10**6 and backend == "numba",
            )
        if n <= 10**5:  # row resampling costs ~100 full computations
            rows = fast(resamples=100, fast=False)
            with threads(1):
                t = compare({"c": lambda: fast(resamples=100), "o": lambda: fast(resamples=100, fast=False)}, mode)
            report.pair(
                f"bootstrap_ci, 100 resamples, width bins, n={n:,}",
                ("calipers fast path", t["c"]),
                ("calipers row resampling (fast=False)", t["o"]),
                threads="1 / 1",
                like_for_like=False,
                differs="algorithm: the fast path resamples per-(bin, outcome) counts, row resampling the rows "
                "(the same bootstrap distribution, different draws)",
                results=f"estimates agree: |diff| {abs(rows.estimate - ref.estimate):.1e}",
            )


def uc_bootstrap_rows(report: Report, uc: object) -> None:
    """calipers' row-resampling bootstrap of UC's estimator against UC's own bootstrap."""
    for n in SIZES[report.mode]["uc_boot"]:
        p, y = data(n)

        def ours() -> calipers.BootstrapInterval:
            return calipers.bootstrap_ci(
                calipers.ece,
                p,
                y,
                n_resamples=UC_RESAMPLES,
                confidence=UC_CONFIDENCE,
                seed=0,
                method="basic",
                compat="uncertainty-calibration",
                **UC_ESTIMATOR,
            )

        def theirs() -> object:
            return uc.get_calibration_error_uncertainties(p, y)  # type: ignore[attr-defined]

        with threads(1):
            t = compare({"c": ours, "uc": theirs}, report.mode, rounds=3 if report.mode != "tiny" else 2)
        a, b = ours(), theirs()
        plug = uc.get_calibration_error(p, y, debias=False)  # type: ignore[attr-defined]
        report.pair(
            f"bootstrap interval of UC's l2 CE (equal-mass bins, marginal), {UC_RESAMPLES} resamples, n={n:,}",
            ("calipers bootstrap_ci (rows, compat=UC)", t["c"]),
            ("UC get_calibration_error_uncertainties", t["uc"]),
            threads="1 / 1",
            like_for_like=True,
            headline=n == SIZES[report.mode]["uc_boot"][0],
            results=f"plug-in estimates agree: |diff| {abs(a.estimate - plug):.1e}; intervals "
            f"[{a.low:.4f}, {a.high:.4f}] vs [{b[0]:.4f}, {b[2]:.4f}] (different draws)",  # type: ignore[index]
        )


def metric_rows(report: Report, uc: object, relplot: object) -> None:
    """The auto-dispatched calibration error and smooth ECE against the peers."""
    mode = report.mode
    table = report.table(
        "estimators-smooth-sketch",
        "Smooth ECE from a `ReliabilitySketch` that already holds the data (excludes building it)",
        ["n", "sketch.smooth_ece() (best / median)", "building the sketch: update (best / median)"],
    )
    for n in SIZES[mode]["other"]:
        p, y = data(n)
        if uc is not None:

            def ours() -> float:
                return calipers.ece(
                    p, y, norm="l2", debiased=True, binning="auto", mode="marginal", compat="uncertainty-calibration"
                )

            def theirs() -> float:
                return uc.get_calibration_error(p, y)  # type: ignore[attr-defined, no-any-return]

            with threads(1):
                t = compare({"c": ours, "uc": theirs}, mode)
            report.pair(
                f"calibration error, auto dispatch (debiased l2, equal-mass bins), n={n:,}",
                ("calipers.ece(compat=UC)", t["c"]),
                ("UC get_calibration_error", t["uc"]),
                threads="1 / 1",
                like_for_like=True,
                results=agreement(ours(), theirs()),
                headline=n == SIZES[mode]["other"][-1],
            )
        sketch = calipers.ReliabilitySketch().update(p, y)
        with threads(1):
            t = compare({"s": sketch.smooth_ece, "u": lambda: calipers.ReliabilitySketch().update(p, y)}, mode)
        table.add(f"{n:,}", t["s"].cell(), t["u"].cell())
        if relplot is None:
            continue
        yf = y.astype(float)
        peer = relplot.smECE(p, yf)  # type: ignore[attr-defined]
        rows = [
            ("smooth ECE, relplot's conventions", "calipers.smooth_ece(compat='relplot')", True, ""),
            (
                "smooth ECE",
                "calipers.smooth_ece (exact kernel)",
                False,
                "estimator: the exact kernel smoothing vs relplot's grid and 10-step bisection",
            ),
            (
                "smooth ECE from samples",
                "ReliabilitySketch().update(p, y).smooth_ece()",
                False,
                "estimator: from the sketch's fine grid (an approximation), building the sketch included",
            ),
        ]
        fns = [
            lambda: calipers.smooth_ece(p, y, compat="relplot"),
            lambda: calipers.smooth_ece(p, y),
            lambda: calipers.ReliabilitySketch().update(p, y).smooth_ece(),
        ]
        for (task, name, same, differs), fn in zip(rows, fns):
            with threads(1):
                t = compare({"c": fn, "r": lambda: relplot.smECE(p, yf)}, mode)  # type: ignore[attr-defined]
            report.pair(
                f"{task}, n={n:,}",
                (name, t["c"]),
                ("relplot.smECE", t["r"]),
                threads="1 / 1",
                like_for_like=same,
                differs=differs,
                results=agreement(fn(), peer) if same else f"{float(fn()):.6f} vs relplot {float(peer):.6f}",
                headline=same and n == SIZES[mode]["other"][-1],
            )


def knn_rows(report: Report) -> None:
    """Exact kNN: C++ against the numpy mirror (same bits) and against a float32 BLAS product."""
    mode = report.mode
    cores = os.cpu_count() or 1
    m, n, d = SIZES[mode]["knn"]
    rng = np.random.default_rng(1)
    pool = rng.normal(size=(n, d)).astype(np.float32)
    query = pool[:m].copy()
    k = 10
    ours, mirror = calipers.knn(query, pool, k), calipers.knn(query, pool, k, backend="numpy")
    same = all(np.array_equal(a, b) for a, b in zip(ours, mirror))
    with threads(1):
        t = compare(
            {"c": lambda: calipers.knn(query, pool, k), "np": lambda: calipers.knn(query, pool, k, backend="numpy")},
            mode,
        )
    report.pair(
        f"exact kNN {m} x {n} x {d} float32, k={k}",
        ("calipers.knn (C++)", t["c"]),
        ("calipers.knn numpy backend (the same summation order)", t["np"]),
        threads="1 / 1",
        like_for_like=True,
        results="identical indices and distances" if same else "OUTPUTS DIFFER",
    )

    def blas() -> np.ndarray:
        dist = (query**2).sum(1)[:, None] + (pool**2).sum(1)[None, :] - 2 * query @ pool.T
        return np.argpartition(dist, k, axis=1)[:, :k]

    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(ours[0], blas())])
    for nthreads in sorted({1, cores}):
        with threads(nthreads):
            t = compare({"c": lambda: calipers.knn(query, pool, k), "blas": blas}, mode)
        report.pair(
            f"exact kNN {m} x {n} x {d} float32, k={k}",
            (f"calipers.knn (C++, {cpp_knn_clone()})", t["c"]),
            ("numpy BLAS ||q||^2 + ||x||^2 - 2 q.x, argpartition", t["blas"]),
            threads=f"{nthreads} / {nthreads}",
            like_for_like=False,
            differs="arithmetic: a float32 BLAS product (not bit-exact, neighbour sets may differ) "
            "vs exact distances in a fixed summation order",
            results=f"neighbour sets overlap {overlap:.2%}",
        )


def main(argv: list[str] | None = None) -> None:
    """Run every row at the chosen sizes."""
    args = parse_args(__doc__ or "", argv)
    report = Report(__file__, args, PEERS)
    try:
        import calibration as uc
    except ImportError:
        uc = None
        report.note("uncertainty-calibration is not installed: its rows are skipped")
    try:
        import relplot
    except ImportError:
        relplot = None
        report.note("relplot is not installed: its rows are skipped")
    live = [b for b, state in calipers.available_backends().items() if state == "ok"]
    bootstrap_rows(report, live)
    if uc is not None:
        uc_bootstrap_rows(report, uc)
    metric_rows(report, uc, relplot)
    knn_rows(report)
    report.finish()


# ---------------------------------------------------------------- pytest-benchmark suite
@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    return data(10**5)


def test_bootstrap_fast_path(benchmark, arrays):  # type: ignore[no-untyped-def]
    p, y = arrays
    result = benchmark(lambda: calipers.bootstrap_ci(calipers.ece, p, y, n_resamples=1000, seed=0))
    assert result.fast and result.low < result.estimate < result.high


def test_smooth_ece(benchmark, arrays):  # type: ignore[no-untyped-def]
    p, y = arrays
    assert 0 < benchmark(lambda: calipers.smooth_ece(p, y)) < 1


def test_relplot_smece(benchmark, arrays):  # type: ignore[no-untyped-def]
    relplot = pytest.importorskip("relplot", reason="relplot is not installed")
    p, y = arrays
    assert benchmark(lambda: relplot.smECE(p, y.astype(float))) == pytest.approx(
        calipers.smooth_ece(p, y, compat="relplot"), abs=1e-9
    )


if __name__ == "__main__":
    main()
