"""Downstream debiasing benchmark, one run, printing times and ratios:

- Tweedie's correction: fit on 10^5 calibration points + transform of 10^7 predictions on the
  fast path (target: under 1 s on one core; run under ``taskset -c 0`` for one core), the
  exact path against scipy's gaussian_kde evaluated the unshrink way (central difference of
  ``logpdf``) on a size scipy finishes, and the fast path's error there;
- LCC and PPI from sketches: rows per second of ``RegressionSketch.update`` and
  ``PPISketch.update_*`` over 10^7 rows in chunks, against sklearn / ppi-python on the
  arrays in memory;
- HCalibration's fit on a CIFAR-10 half against TemperatureScaling's.

Run: ``python bench/bench_debiased.py`` (about a minute; numbers are best of 3 unless noted).
"""

from __future__ import annotations

import pathlib
import time
import warnings

import numpy as np

import calipers
from calipers.debias import DebiasingWarning, PPISketch, RegressionSketch

ROOT = pathlib.Path(__file__).resolve().parents[1]


def best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def tweedie() -> None:
    rng = np.random.default_rng(0)
    y_cal = rng.normal(size=100_000)
    p_cal = 0.8 * y_cal + rng.normal(0, 0.4, y_cal.size)
    q = 0.8 * rng.normal(size=10_000_000) + rng.normal(0, 0.4, 10_000_000)
    warnings.simplefilter("ignore", DebiasingWarning)

    def fast() -> None:
        calipers.TweedieCorrection(method="fast").fit(p_cal, y_cal).transform(q)

    t_fast = best(fast)
    print(f"Tweedie fit 1e5 + transform 1e7 (fast path, C++): {t_fast:.3f} s (target < 1 s)")
    for backend in ("numba", "numpy"):
        tc = calipers.TweedieCorrection(method="fast", backend=backend).fit(p_cal, y_cal)
        tc.transform(q[:1000])  # compile / warm up
        t = best(lambda: calipers.TweedieCorrection(method="fast", backend=backend).fit(p_cal, y_cal).transform(q), 1)
        print(f"  same on the {backend} backend: {t:.3f} s ({t / t_fast:.1f}x)")

    m = 2000
    small = q[:m]
    tc = calipers.TweedieCorrection(score="finite-difference", method="exact").fit(p_cal, y_cal)
    t_exact = best(lambda: tc.transform(small))
    from scipy.stats import gaussian_kde

    sigma = float(np.std(p_cal - y_cal))
    delta = tc.delta_

    def scipy_way() -> np.ndarray:
        kde = gaussian_kde(p_cal)
        return small - sigma**2 * (kde.logpdf(small + delta) - kde.logpdf(small - delta)) / (2 * delta)

    t_scipy = best(scipy_way, 1)
    ref = scipy_way()
    print(
        f"Tweedie exact, 1e5 calibration x {m} predictions (finite difference): calipers {t_exact:.3f} s, "
        f"scipy gaussian_kde {t_scipy:.3f} s ({t_scipy / t_exact:.1f}x); max |diff| "
        f"{np.max(np.abs(tc.transform(small) - ref)):.2e}"
    )
    fast_fd = calipers.TweedieCorrection(score="finite-difference", method="fast").fit(p_cal, y_cal)
    make = lambda: calipers.TweedieCorrection(score="finite-difference", method="fast").fit(p_cal, y_cal)
    t_fast_small = best(lambda: make().transform(small))
    err = np.max(np.abs(fast_fd.transform(small) - ref))
    print(
        f"  fast path on the same {m}: {t_fast_small:.4f} s ({t_scipy / t_fast_small:.0f}x scipy); "
        f"max |fast - scipy| {err:.2e}, stated bound {fast_fd.fast_error_bound_:.2e}"
    )


def sketches() -> None:
    rng = np.random.default_rng(1)
    n = 10_000_000
    y = rng.normal(size=n)
    p = 0.8 * y + rng.normal(0, 0.4, n)
    chunk = 1_000_000

    def lcc_stream() -> calipers.LinearCalibrationCorrection:
        sk = RegressionSketch()
        for i in range(0, n, chunk):
            sk.update(p[i : i + chunk], y[i : i + chunk])
        return calipers.LinearCalibrationCorrection().fit_sketch(sk)

    t = best(lcc_stream, 1)
    from sklearn.linear_model import LinearRegression

    t_sk = best(lambda: LinearRegression().fit(y[:, None], p), 1)
    print(
        f"LCC from a RegressionSketch, 1e7 rows in 1e6-row chunks: {t:.3f} s ({n / t / 1e6:.1f} M rows/s; "
        f"co-moments and the prediction histogram); sklearn LinearRegression on the arrays {t_sk:.3f} s"
    )
    t_lcc = best(lambda: calipers.LinearCalibrationCorrection().fit(p, y))
    print(f"  LCC fit on the arrays (moments only): {t_lcc:.3f} s ({t_sk / t_lcc:.1f}x sklearn)")

    def ppi_stream() -> calipers.debias.PPIResult:
        sk = PPISketch()
        for i in range(0, n // 10, chunk):
            sk.update_labeled(y[i : i + chunk], p[i : i + chunk])
        for i in range(n // 10, n, chunk):
            sk.update_unlabeled(p[i : i + chunk])
        return sk.result()

    t = best(ppi_stream, 1)
    print(f"PPI++ from a PPISketch, 1e6 labelled + 9e6 unlabelled rows: {t:.3f} s ({n / t / 1e6:.1f} M rows/s)")
    try:
        from ppi_py import ppi_mean_ci, ppi_mean_pointestimate
    except ImportError:
        print("  ppi-python not installed: no comparison")
        return
    lab, unl = slice(0, n // 10), slice(n // 10, n)
    t_ppi = best(
        lambda: (ppi_mean_pointestimate(y[lab], p[lab], p[unl]), ppi_mean_ci(y[lab], p[lab], p[unl], alpha=0.1)), 1
    )
    t_ours = best(lambda: calipers.ppi_mean(y[lab], p[lab], p[unl]))
    print(f"  ppi_mean on the arrays: calipers {t_ours:.3f} s, ppi-python {t_ppi:.3f} s ({t_ppi / t_ours:.1f}x)")


def hcalibration() -> None:
    d = np.load(ROOT / "tests" / "data" / "cifar10_vgg16_test_probs.npz")
    Z = np.log(d["probs_float32"].astype(np.float64))
    y = d["labels"].astype(np.int64)
    idx = np.random.default_rng(0).permutation(len(y))[:5000]
    t_ts = best(lambda: calipers.TemperatureScaling().fit(Z[idx], y[idx]))
    t = time.perf_counter()
    hc = calipers.HCalibration().fit(Z[idx], y[idx])
    t_hc = time.perf_counter() - t
    print(
        f"HCalibration fit on a CIFAR-10 half (5000 x 10, 16 temperatures): {t_hc:.2f} s for {hc.epochs_} epochs "
        f"({1000 * t_hc / hc.epochs_:.1f} ms/epoch, one run); TemperatureScaling {1000 * t_ts:.2f} ms "
        f"({t_hc / t_ts:.0f}x)"
    )


if __name__ == "__main__":
    calipers.show_config()
    tweedie()
    sketches()
    hcalibration()
