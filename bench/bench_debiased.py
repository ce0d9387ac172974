"""Downstream debiasing, one run: Tweedie's correction by backend and against scipy's
gaussian_kde evaluated the unshrink way (central difference of ``logpdf``), the fast path's
error against its stated bound, LCC against scikit-learn's LinearRegression, ``ppi_mean``
against ppi-python, the streaming sketches' throughput, and HCalibration's fit against
TemperatureScaling's. docs/debiasing.md quotes the summary table (``debias_table``) and the
bound's numbers (``debias_bound_scale``, ``debias_fast_worst``).

    python bench/bench_debiased.py --quick   # Tweedie: 10^5 calibration points, 10^6 predictions
    python bench/bench_debiased.py --full    # 10^7 predictions, 10^7-row sketches (target: Tweedie < 1 s on one core)

Every comparison runs both sides on one thread (``timing.threads(1)``), after one untimed
call each, with the same rounds.
"""

from __future__ import annotations

import os
import pathlib
import warnings

import numpy as np
from timing import (
    Report,
    Timing,
    agreement,
    compare,
    fmt_ratio,
    fmt_seconds,
    measure,
    parse_args,
    quoted_table,
    threads,
)

import calipers
from calipers.debias import DebiasingWarning, PPISketch, RegressionSketch

ROOT = pathlib.Path(__file__).resolve().parents[1]
PEERS = ("scipy", "scikit-learn", "ppi-python")
SIZES = {
    # Tweedie calibration set, predictions to correct, exact-path predictions, sketch rows, chunk, HCalibration points
    "tiny": (10**3, 10**4, 100, 10**5, 10**4, 300),
    "quick": (10**5, 10**6, 500, 10**6, 10**5, 1000),
    "full": (10**5, 10**7, 2000, 10**7, 10**6, 5000),
}
#: calibration points and queries (twice: near the data and on a line beyond it) of the bound check
BOUND_SIZES = {"tiny": (2000, 300), "quick": (20000, 3000), "full": (20000, 3000)}
#: the rows of docs/debiasing.md's summary table: task, calipers, reference
SUMMARY: list[tuple[str, str, str]] = []


def best(t: Timing) -> str:
    """The best round, formatted."""
    return fmt_seconds(t.best)


def tweedie(report: Report) -> None:
    """The fast path by backend, the exact path against scipy, the fast path's error."""
    mode = report.mode
    n_cal, n_q, m, *_ = SIZES[mode]
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    y_cal = rng.normal(size=n_cal)
    p_cal = 0.8 * y_cal + rng.normal(0, 0.4, n_cal)
    q = 0.8 * rng.normal(size=n_q) + rng.normal(0, 0.4, n_q)
    warnings.simplefilter("ignore", DebiasingWarning)

    def fast(backend: str = "auto") -> np.ndarray:
        return calipers.TweedieCorrection(method="fast", backend=backend).fit(p_cal, y_cal).transform(q)

    table = report.table(
        "debias-tweedie",
        f"TweedieCorrection(method='fast'): fit on {n_cal:,} + transform of {n_q:,} predictions (C++)",
        ["threads", "best / median"],
    )
    one_thread: Timing | None = None
    for nthreads in sorted({1, cores}):
        with threads(nthreads):
            t_fast = measure(fast, mode)
        table.add(nthreads, t_fast.cell())
        one_thread = t_fast if nthreads == 1 else one_thread
    assert one_thread is not None
    ref = fast()
    others = []
    for backend in (b for b, s in calipers.available_backends().items() if s == "ok" and b != "cpp"):
        with threads(1):
            t = compare({"c": fast, "o": lambda: fast(backend)}, mode)
        others.append(f"{backend} backend {best(t['o'])}")
        report.pair(
            f"Tweedie fast path: fit {n_cal:,} + transform {n_q:,}",
            ("calipers (C++)", t["c"]),
            (f"calipers {backend} backend", t["o"]),
            threads="1 / 1",
            like_for_like=True,
            results=f"max |diff| {np.max(np.abs(fast(backend) - ref)):.1e}",
        )
    SUMMARY.append((f"Tweedie: fit on {n_cal:,} + correct {n_q:,} (fast path, C++)", best(one_thread),
                    "; ".join(others)))  # fmt: skip

    from scipy.stats import gaussian_kde

    small = q[:m]
    tc = calipers.TweedieCorrection(score="finite-difference", method="exact").fit(p_cal, y_cal)
    sigma = float(np.std(p_cal - y_cal))
    delta = tc.delta_

    def scipy_way() -> np.ndarray:
        kde = gaussian_kde(p_cal)
        return small - sigma**2 * (kde.logpdf(small + delta) - kde.logpdf(small - delta)) / (2 * delta)

    def exact() -> np.ndarray:
        return calipers.TweedieCorrection(score="finite-difference", method="exact").fit(p_cal, y_cal).transform(small)

    def fast_small() -> np.ndarray:
        return calipers.TweedieCorrection(score="finite-difference", method="fast").fit(p_cal, y_cal).transform(small)

    expected = scipy_way()
    with threads(1):
        t = compare({"c": exact, "s": scipy_way, "f": fast_small}, mode)
    exact_diff = np.max(np.abs(exact() - expected))
    ratio = report.pair(
        f"Tweedie exact (finite difference), {n_cal:,} calibration x {m:,} predictions",
        ("calipers exact path", t["c"]),
        ("scipy gaussian_kde, central difference of logpdf", t["s"]),
        threads="1 / 1",
        like_for_like=True,
        results=f"max |diff| {exact_diff:.1e}",
        headline=True,
    )
    SUMMARY.append((f"Tweedie exact, {n_cal:,} x {m:,} (finite difference)", best(t["c"]),
                    f"scipy `gaussian_kde` the unshrink way {best(t['s'])} ({fmt_ratio(ratio)} the time); "
                    f"max difference {exact_diff:.1e}"))  # fmt: skip
    bound = calipers.TweedieCorrection(score="finite-difference", method="fast").fit(p_cal, y_cal).fast_error_bound_
    fast_diff = np.max(np.abs(fast_small() - expected))
    ratio = report.pair(
        f"Tweedie, {n_cal:,} calibration x {m:,} predictions",
        ("calipers fast path (fit included)", t["f"]),
        ("scipy gaussian_kde, central difference of logpdf", t["s"]),
        threads="1 / 1",
        like_for_like=False,
        differs="an approximation: the fast path's binned KDE against the exact sum",
        results=f"max |diff| {fast_diff:.1e} (stated bound {bound:.1e})",
    )
    SUMMARY.append((f"Tweedie fast path on the same {m:,} (fit included)", best(t["f"]),
                    f"scipy takes {fmt_ratio(ratio)} the time; max difference {fast_diff:.1e} (stated bound "
                    f"{bound:.1e})"))  # fmt: skip


def fast_bound(report: Report) -> None:
    """The fast path's largest error against ``fast_error_bound_`` on the kinds of
    calibration sets tests/test_debias_corrections.py checks it on."""
    from sklearn.datasets import make_friedman1
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    n, nq = BOUND_SIZES[report.mode]
    rng = np.random.default_rng(0)
    sets = {
        "normal": rng.normal(size=n),
        "bimodal with a gap": np.concatenate([rng.normal(-5, 0.5, n // 2), rng.normal(5, 0.5, n // 2)]),
        "lognormal": rng.lognormal(size=n),
        "uniform": rng.uniform(size=n),
        "near-discrete": rng.integers(0, 20, n) + rng.normal(0, 1e-3, n),
        "normal + 3 isolated points": np.concatenate([rng.normal(size=n), [8.0, 12.0, 20.0]]),
    }
    pairs = {k: (v, v + rng.normal(0, 0.5 * v.std(), v.size)) for k, v in sets.items()}
    X, y = make_friedman1(n_samples=3000, noise=1.0, random_state=0)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, test_size=0.6, random_state=0)
    Xcal, _, ycal, _ = train_test_split(Xrest, yrest, test_size=0.5, random_state=1)
    model = GradientBoostingRegressor(random_state=0).fit(Xtr, ytr)
    pairs["Friedman #1, gradient boosting (model outputs)"] = (model.predict(Xcal), ycal)
    table = report.table(
        "debias-fast-bound",
        f"Tweedie fast path against the exact path: the largest sigma^2 |fast - exact| score over {2 * nq:,} "
        "queries (half near the data, half on a line across it reaching 10 bandwidths beyond), as a share of "
        "fast_error_bound_",
        ["calibration set", "points", "score", "bound / (sigma^2 / h)", "largest error / bound"],
    )
    worst, where, scales = 0.0, "", []
    for name, (pc, yc) in pairs.items():
        for score in ("analytic", "finite-difference"):
            tw = calipers.TweedieCorrection(score=score).fit(pc, yc)
            h = tw.bandwidth_
            q = np.concatenate(
                [rng.choice(pc, nq) + rng.normal(0, h, nq), np.linspace(pc.min() - 10 * h, pc.max() + 10 * h, nq)]
            )
            err = tw.sigma_**2 * np.max(np.abs(tw.score_values(q, method="fast") - tw.score_values(q, method="exact")))
            share = err / tw.fast_error_bound_
            scale = tw.fast_error_bound_ / (tw.sigma_**2 / h)
            scales.append(scale)
            table.add(name, f"{pc.size:,}", score, f"{scale:.2e}", f"{share:.4f}")
            if share > worst:
                worst, where = share, f"{name}, {score} score"
    report.quote("debias_bound_scale", f"{min(scales):.1e}")
    report.quote("debias_fast_worst", f"{worst:.3f} of the bound ({where})")


def sketches(report: Report) -> None:
    """LCC and PPI: the sketches' throughput, and the array functions against the peers."""
    mode = report.mode
    *_, n, chunk, _ = SIZES[mode]
    rng = np.random.default_rng(1)
    y = rng.normal(size=n)
    p = 0.8 * y + rng.normal(0, 0.4, n)
    from sklearn.linear_model import LinearRegression

    def lcc_stream() -> calipers.LinearCalibrationCorrection:
        sk = RegressionSketch()
        for i in range(0, n, chunk):
            sk.update(p[i : i + chunk], y[i : i + chunk])
        return calipers.LinearCalibrationCorrection().fit_sketch(sk)

    def ppi_stream() -> object:
        sk = PPISketch()
        for i in range(0, n // 10, chunk):
            sk.update_labeled(y[i : i + chunk], p[i : i + chunk])
        for i in range(n // 10, n, chunk):
            sk.update_unlabeled(p[i : i + chunk])
        return sk.result()

    table = report.table(
        "debias-sketches",
        f"Streaming sketches, {n:,} rows in {chunk:,}-row chunks (C++, 1 thread)",
        ["task", "best / median", "rows/s (best)"],
    )
    with threads(1):
        t_sk = compare({"lcc": lcc_stream, "ppi": ppi_stream}, mode)
    table.add("LCC from a RegressionSketch (co-moments and the prediction histogram)", t_sk["lcc"].cell(),
              f"{n / t_sk['lcc'].best / 1e6:.1f} M")  # fmt: skip
    table.add(f"PPI++ from a PPISketch ({n // 10:,} labelled + {n - n // 10:,} unlabelled)", t_sk["ppi"].cell(),
              f"{n / t_sk['ppi'].best / 1e6:.1f} M")  # fmt: skip

    def sk_fit() -> float:
        return float(LinearRegression().fit(y[:, None], p).coef_[0])

    def lcc_fit() -> float:
        return calipers.LinearCalibrationCorrection().fit(p, y).slope_

    with threads(1):
        t = compare({"c": lcc_fit, "s": sk_fit, "stream": lcc_stream}, mode)
    ratio = report.pair(
        f"LCC slope on {n:,} pairs in memory",
        ("LinearCalibrationCorrection().fit", t["c"]),
        ("sklearn LinearRegression().fit", t["s"]),
        threads="1 / 1",
        like_for_like=True,
        results=agreement(lcc_fit(), sk_fit()),
        headline=True,
    )
    report.pair(
        f"LCC slope on {n:,} pairs",
        (f"RegressionSketch in {chunk:,}-row chunks + fit_sketch", t["stream"]),
        ("sklearn LinearRegression().fit (in memory)", t["s"]),
        threads="1 / 1",
        like_for_like=False,
        differs="streamed through a sketch (also builds the prediction histogram) vs one in-memory fit",
        results=agreement(lcc_stream().slope_, sk_fit()),
    )
    SUMMARY.append((f"LCC from a `RegressionSketch`, {n:,} rows in {chunk:,}-row chunks",
                    f"{best(t_sk['lcc'])} ({n / t_sk['lcc'].best / 1e6:.1f} M rows/s)",
                    f"sklearn `LinearRegression` on the arrays {best(t['s'])}"))  # fmt: skip
    SUMMARY.append(("LCC fit on the arrays", best(t["c"]), f"sklearn {best(t['s'])} ({fmt_ratio(ratio)} the time)"))
    SUMMARY.append((f"PPI++ from a `PPISketch`, {n // 10:,} labelled + {n - n // 10:,} unlabelled",
                    best(t_sk["ppi"]), ""))  # fmt: skip
    try:
        from ppi_py import ppi_mean_ci, ppi_mean_pointestimate
    except ImportError:
        report.note("ppi-python is not installed: its row is skipped")
        return
    lab, unl = slice(0, n // 10), slice(n // 10, n)

    def theirs() -> tuple[float, float, float]:
        est = ppi_mean_pointestimate(y[lab], p[lab], p[unl])
        lo, hi = ppi_mean_ci(y[lab], p[lab], p[unl], alpha=0.1)
        return float(np.ravel(est)[0]), float(np.ravel(lo)[0]), float(np.ravel(hi)[0])

    def ours() -> tuple[float, float, float]:
        r = calipers.ppi_mean(y[lab], p[lab], p[unl], alpha=0.1)
        return r.estimate, r.low, r.high

    with threads(1):
        t = compare({"c": ours, "p": theirs}, mode)
    diff = max(abs(a - b) for a, b in zip(ours(), theirs()))
    ratio = report.pair(
        f"PPI++ mean and 90% interval, {n // 10:,} labelled + {n - n // 10:,} unlabelled",
        ("calipers.ppi_mean", t["c"]),
        ("ppi-python ppi_mean_pointestimate + ppi_mean_ci", t["p"]),
        threads="1 / 1",
        like_for_like=True,
        results=f"estimate and interval agree: max |diff| {diff:.1e}",
        headline=True,
    )
    theirs_cell = f"ppi-python {best(t['p'])} ({fmt_ratio(ratio)} the time)"
    SUMMARY.append(("`ppi_mean` on the same arrays", best(t["c"]), theirs_cell))


def hcalibration(report: Report) -> None:
    """HCalibration's fit on part of the CIFAR-10 test outputs, against TemperatureScaling's."""
    m = SIZES[report.mode][-1]
    d = np.load(ROOT / "tests" / "data" / "cifar10_vgg16_test_probs.npz")
    Z = np.log(d["probs_float32"].astype(np.float64))
    y = d["labels"].astype(np.int64)
    idx = np.random.default_rng(0).permutation(len(y))[:m]
    sides = {
        "h": lambda: calipers.HCalibration().fit(Z[idx], y[idx]),
        "t": lambda: calipers.TemperatureScaling().fit(Z[idx], y[idx]),
    }
    with threads(1):
        t = compare(sides, report.mode, rounds=2 if report.mode != "tiny" else None)
    epochs = calipers.HCalibration().fit(Z[idx], y[idx]).epochs_
    table = report.table(
        "debias-hcalibration",
        f"HCalibration fit on {m:,} CIFAR-10 test outputs (VGG16, 10 classes, 16 temperatures), 1 thread",
        ["calibrator", "best / median", "epochs", "per epoch (best)"],
    )
    table.add("HCalibration", t["h"].cell(), epochs, f"{t['h'].best / epochs * 1e3:.1f} ms")
    table.add("TemperatureScaling (for scale)", t["t"].cell(), "-", "-")
    SUMMARY.append((f"`HCalibration` fit, {m:,} CIFAR-10 outputs x 10 classes",
                    f"{best(t['h'])}, {epochs} epochs ({fmt_seconds(t['h'].best / epochs)} per epoch)",
                    f"`TemperatureScaling` {best(t['t'])}"))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Every section at the chosen sizes."""
    args = parse_args(__doc__ or "", argv)
    report = Report(__file__, args, PEERS)
    SUMMARY.clear()
    tweedie(report)
    fast_bound(report)
    sketches(report)
    hcalibration(report)
    report.quote("debias_table", quoted_table(["task (one thread)", "calipers (best round)", "reference (best round)"],
                                              SUMMARY))  # fmt: skip
    report.finish()


if __name__ == "__main__":
    main()
