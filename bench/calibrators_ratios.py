"""Calibrator section of ``python bench/ratios.py``: fit and transform times of calipers'
backends and of the peers (scikit-learn, uncertainty-calibration, betacal, netcal), every side
on one thread, and the one-sample transform latency from Python.

A peer row is like-for-like when the peer's fitted map equals calipers' (max |transform
difference| at most 1e-9 on the fitting data); otherwise the row says how far apart the two
maps are (a solver that stops at its tolerance, a different binning).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from timing import Report, compare, fmt_seconds, threads

import calipers

LIKE_FOR_LIKE_TOL = 1e-9
SIZES = {"tiny": [10**3], "quick": [10**5], "full": [10**5, 10**6]}
LOGITS = {"tiny": [(10**3, 10)], "quick": [(10**5, 10)], "full": [(10**6, 10), (10**5, 1000)]}


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.beta(2, 2, n)
    p = 1 / (1 + np.exp(-2.5 * np.log(truth / (1 - truth))))  # an overconfident model
    return p, (rng.random(n) < truth).astype(np.int64)


def _logits(n: int, k: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, k)) * 3
    P = np.exp(Z / 2 - (Z / 2).max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    return Z, (P.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)


Fit = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], Any]]


def _peers() -> dict[str, dict[str, tuple[Fit, str]]]:
    """method -> {peer name: (fit(p, y) returning predict(p), what differs when the maps differ)}."""
    out: dict[str, dict[str, tuple[Fit, str]]] = {
        m: {} for m in ("platt", "isotonic", "histogram", "scaling-binning", "beta")
    }
    lbfgs = "solver: lbfgs stops at its tolerance, calipers solves to convergence"
    try:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        def logit(x: np.ndarray) -> np.ndarray:
            q = np.clip(x, 1e-12, 1 - 1e-12)
            return np.log(q / (1 - q))[:, None]

        def sk_platt(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], Any]:
            m = LogisticRegression(C=1e10).fit(logit(p), y)
            return lambda x: m.predict_proba(logit(x))[:, 1]

        def sk_iso(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], Any]:
            return IsotonicRegression(out_of_bounds="clip").fit(p, y).predict

        out["platt"]["sklearn LogisticRegression(C=1e10)"] = (sk_platt, lbfgs)
        out["isotonic"]["sklearn IsotonicRegression"] = (sk_iso, "")
    except ImportError:
        print("scikit-learn is not installed: its rows are skipped")
    try:
        import calibration as uc

        def uc_make(cls: Any) -> Fit:
            def fit(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], Any]:
                c = cls(p.size, 15)
                c.train_calibration(p, y)
                return c.calibrate  # type: ignore[no-any-return]

            return fit

        out["platt"]["UC PlattCalibrator"] = (uc_make(uc.PlattCalibrator), lbfgs)
        out["histogram"]["UC HistogramCalibrator"] = (uc_make(uc.HistogramCalibrator), "")
        out["scaling-binning"]["UC PlattBinnerCalibrator"] = (uc_make(uc.PlattBinnerCalibrator), lbfgs)
    except ImportError:
        print("uncertainty-calibration is not installed: its rows are skipped")
    try:
        import betacal

        def bc(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], Any]:
            return betacal.BetaCalibration(parameters="abm").fit(p, y).predict  # type: ignore[no-any-return]

        out["beta"]["betacal (abm)"] = (bc, "solver: betacal's logistic fit stops at its tolerance")
    except ImportError:
        print("betacal is not installed: its rows are skipped")
    try:
        import netcal.binning as nb
        import netcal.scaling as ns

        def nc(cls: Any, **kw: Any) -> Fit:
            def fit(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], Any]:
                m = cls(**kw)
                m.fit(p, y)
                return m.transform  # type: ignore[no-any-return]

            return fit

        out["platt"]["netcal LogisticCalibration"] = (nc(ns.LogisticCalibration), "solver: netcal's optimizer")
        out["isotonic"]["netcal IsotonicRegression"] = (nc(nb.IsotonicRegression), "")
        out["histogram"]["netcal HistogramBinning"] = (
            nc(nb.HistogramBinning, bins=15),
            "binning: netcal 15 equal-width bins, calipers 15 equal-mass bins",
        )
        out["beta"]["netcal BetaCalibration"] = (nc(ns.BetaCalibration), "solver: netcal's optimizer")
    except ImportError:
        print("netcal is not installed (pip install torch==2.13.0 netcal): its rows are skipped")
    return out


CLASSES: dict[str, tuple[str, dict[str, Any]]] = {
    "platt": ("PlattScaling", {}),
    "isotonic": ("IsotonicCalibration", {}),
    "histogram": ("HistogramBinning", {"compat": "uncertainty-calibration"}),
    "scaling-binning": ("ScalingBinning", {"compat": "uncertainty-calibration"}),
    "beta": ("BetaCalibration", {}),
}


def _maxdiff(a: Any, b: Any) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim == 2 and b.ndim == 1:
        a = a[:, 1]
    if b.ndim == 2 and a.ndim == 1:
        b = b[:, 1]
    return float(np.max(np.abs(a - b)))


def calibrators_section(report: Report) -> None:
    """Fits and transforms: calipers' C++ against its other backends and the peers."""
    mode = report.mode
    live = [b for b, state in calipers.available_backends().items() if state == "ok"]
    peers = _peers()
    warnings.simplefilter("ignore")  # the peers' convergence and deprecation warnings
    for n in SIZES[mode]:
        p, y = _binary(n)
        for method, (cls_name, kwargs) in CLASSES.items():
            cls = getattr(calipers, cls_name)
            label = f"{cls_name}{'(compat=UC)' if kwargs else ''}, n={n:,}"

            def fit(backend: str = "cpp", cls: Any = cls, kwargs: dict[str, Any] = kwargs) -> Any:
                return cls(backend=backend, **kwargs).fit(p, y)

            ours = fit().transform(p)
            for backend in (b for b in live if b != "cpp"):
                fitted_c, fitted_o = fit(), fit(backend)
                with threads(1):
                    tf = compare({"c": fit, "o": lambda: fit(backend)}, mode)
                    tt = compare({"c": lambda: fitted_c.transform(p), "o": lambda: fitted_o.transform(p)}, mode)
                diff = f"max |transform diff| {_maxdiff(fitted_o.transform(p), ours):.1e}"
                for phase, t in (("fit", tf), ("transform", tt)):
                    report.pair(
                        f"{phase} {label}",
                        ("calipers (C++)", t["c"]),
                        (f"calipers {backend} backend", t["o"]),
                        threads="1 / 1",
                        like_for_like=True,
                        results=diff,
                    )
            for peer, (peer_fit, why) in peers[method].items():
                predict = peer_fit(p, y)
                d = _maxdiff(predict(p), ours)
                same = d <= LIKE_FOR_LIKE_TOL
                fitted = fit()
                with threads(1):
                    tf = compare({"c": fit, "peer": lambda: peer_fit(p, y)}, mode)
                    tt = compare({"c": lambda: fitted.transform(p), "peer": lambda: predict(p)}, mode)
                for phase, t in (("fit", tf), ("transform", tt)):
                    report.pair(
                        f"{phase} {label}",
                        ("calipers (C++)", t["c"]),
                        (peer, t["peer"]),
                        threads="1 / 1",
                        like_for_like=same,
                        results=f"max |transform diff| {d:.1e}",
                        differs="" if same else f"{why or 'the fitted maps differ'} (max |diff| {d:.1e})",
                        headline=same and phase == "fit" and n == SIZES[mode][-1],
                    )
    for n, k in LOGITS[mode]:
        Z, y = _logits(n, k)
        label = f"TemperatureScaling, {n:,} x {k} logits"
        ours = calipers.TemperatureScaling().fit(Z, y).transform(Z)
        for backend in (b for b in live if b != "cpp"):
            with threads(1):
                t = compare(
                    {
                        "c": lambda: calipers.TemperatureScaling().fit(Z, y),
                        "o": lambda: calipers.TemperatureScaling(backend=backend).fit(Z, y),
                    },
                    mode,
                )
            d = _maxdiff(calipers.TemperatureScaling(backend=backend).fit(Z, y).transform(Z), ours)
            report.pair(
                f"fit {label}",
                ("calipers (C++)", t["c"]),
                (f"calipers {backend} backend", t["o"]),
                threads="1 / 1",
                like_for_like=True,
                results=f"max |transform diff| {d:.1e}",
            )
        try:
            import netcal.scaling as ns
        except ImportError:
            continue
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)

        def netcal_fit() -> Any:
            m = ns.TemperatureScaling()
            m.fit(P, y)
            return m

        d = _maxdiff(netcal_fit().transform(P), ours)
        with threads(1):
            t = compare({"c": lambda: calipers.TemperatureScaling().fit(Z, y), "peer": netcal_fit}, mode)
        report.pair(
            f"fit {label}",
            ("calipers (C++)", t["c"]),
            ("netcal TemperatureScaling (on probabilities)", t["peer"]),
            threads="1 / 1",
            like_for_like=d <= LIKE_FOR_LIKE_TOL,
            results=f"max |transform diff| {d:.1e}",
            differs=f"solver: netcal's optimizer stops at its tolerance (max |diff| {d:.1e})",
        )
    one_sample(report)


def one_sample(report: Report) -> None:
    """Median per-call time of transform on a length-1 float64 array (rounds of 2000 calls)."""
    table = report.table(
        "calibrators-one-sample",
        "One-sample `transform` from Python (a length-1 float64 array; rounds of 2000 calls, per call)",
        ["calibrator", "best / median per call"],
    )
    calls = 2000
    p, y = _binary(10**4)
    x = np.array([0.3])
    Z, yz = _logits(10**4, 10)
    z1 = Z[:1].copy()
    cases: list[tuple[str, Any, np.ndarray]] = [
        (name, getattr(calipers, name)().fit(p, y), x) for name, _ in CLASSES.values()
    ]
    cases.append(("TemperatureScaling (10 classes, one row of logits)", calipers.TemperatureScaling().fit(Z, yz), z1))
    for name, cal, arg in cases:

        def loop(cal: Any = cal, arg: np.ndarray = arg) -> None:
            for _ in range(calls):
                cal.transform(arg)

        t = compare({"t": loop}, report.mode)["t"]
        table.add(name, f"{fmt_seconds(t.best / calls)} / {fmt_seconds(t.median / calls)}")
