"""Calibrator section of bench/ratios.py: fit and transform times in one run."""

from __future__ import annotations

import statistics
import timeit
import warnings

import numpy as np
from ratios import best

import calipers


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


def _peers() -> dict[str, dict[str, object]]:
    """method -> {peer name: fit(p, y) returning a predict(p) callable}."""
    out: dict[str, dict[str, object]] = {m: {} for m in ("platt", "isotonic", "histogram", "scaling-binning", "beta")}
    try:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        def sk_platt(p, y):
            q = np.clip(p, 1e-12, 1 - 1e-12)
            m = LogisticRegression(C=1e10).fit(np.log(q / (1 - q))[:, None], y)
            return lambda x: m.predict_proba(
                np.log(np.clip(x, 1e-12, 1 - 1e-12) / (1 - np.clip(x, 1e-12, 1 - 1e-12)))[:, None]
            )[:, 1]

        def sk_iso(p, y):
            m = IsotonicRegression(out_of_bounds="clip").fit(p, y)
            return m.predict

        out["platt"]["sklearn LogisticRegression"] = sk_platt
        out["isotonic"]["sklearn IsotonicRegression"] = sk_iso
    except ImportError:
        print("scikit-learn not installed: skipped")
    try:
        import calibration as uc

        def uc_make(cls):
            def fit(p, y):
                c = cls(p.size, 15)
                c.train_calibration(p, y)
                return c.calibrate

            return fit

        out["platt"]["uncertainty-calibration"] = uc_make(uc.PlattCalibrator)
        out["histogram"]["uncertainty-calibration"] = uc_make(uc.HistogramCalibrator)
        out["scaling-binning"]["uncertainty-calibration"] = uc_make(uc.PlattBinnerCalibrator)
    except ImportError:
        print("uncertainty-calibration not installed: skipped")
    try:
        import betacal

        def bc(p, y):
            m = betacal.BetaCalibration(parameters="abm").fit(p, y)
            return m.predict

        out["beta"]["betacal"] = bc
    except ImportError:
        print("betacal not installed: skipped")
    try:
        import netcal.binning as nb
        import netcal.scaling as ns

        def nc(cls, **kw):
            def fit(p, y):
                m = cls(**kw)
                m.fit(p, y)
                return m.transform

            return fit

        out["platt"]["netcal LogisticCalibration"] = nc(ns.LogisticCalibration)
        out["isotonic"]["netcal IsotonicRegression"] = nc(nb.IsotonicRegression)
        out["histogram"]["netcal HistogramBinning"] = nc(nb.HistogramBinning, bins=15)
        out["beta"]["netcal BetaCalibration"] = nc(ns.BetaCalibration)
    except ImportError:
        print("netcal not installed (pip install torch==2.13.0 netcal): skipped")
    return out


CLASSES = {
    "platt": "PlattScaling",
    "isotonic": "IsotonicCalibration",
    "histogram": "HistogramBinning",
    "scaling-binning": "ScalingBinning",
    "beta": "BetaCalibration",
}


def calibrators_section(quick: bool) -> None:
    live = [b for b, state in calipers.available_backends().items() if state == "ok"]
    peers = _peers()
    sizes = [10**5] if quick else [10**5, 10**6]
    rows = []
    for n in sizes:
        p, y = _binary(n)
        for method, cls_name in CLASSES.items():
            cls = getattr(calipers, cls_name)
            t = {}
            kwargs = {"compat": "uncertainty-calibration"} if method in ("histogram", "scaling-binning") else {}
            for backend in live:
                cls(backend=backend, **kwargs).fit(p[:100], y[:100])  # compile / warm up
                budget = 2.0 if backend != "numpy" else 0.5
                t[f"fit {backend}"] = best(lambda: cls(backend=backend, **kwargs).fit(p, y), budget=budget)
                fitted = cls(backend=backend, **kwargs).fit(p, y)
                t[f"transform {backend}"] = best(lambda: fitted.transform(p), budget=1.0)
            for peer, fit in peers[method].items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t[f"fit {peer}"] = best(lambda: fit(p, y), budget=1.0, max_repeats=3)
                    predict = fit(p, y)
                    t[f"transform {peer}"] = best(lambda: predict(p), budget=1.0, max_repeats=3)
            rows.append((f"{method} n={n:.0e}", t))
    for n, k in [(10**5, 10)] if quick else [(10**6, 10), (10**5, 1000)]:
        Z, y = _logits(n, k)
        t = {}
        for backend in live:
            calipers.TemperatureScaling(backend=backend).fit(Z[:100], y[:100])
            t[f"fit {backend}"] = best(lambda: calipers.TemperatureScaling(backend=backend).fit(Z, y), budget=2.0)
            fitted = calipers.TemperatureScaling(backend=backend).fit(Z, y)
            t[f"transform {backend}"] = best(lambda: fitted.transform(Z), budget=1.0)
        try:
            import netcal.scaling as ns

            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            t["fit netcal TemperatureScaling"] = best(
                lambda: ns.TemperatureScaling().fit(P, y), budget=1.0, max_repeats=2
            )
        except ImportError:
            pass
        rows.append((f"temperature {n:.0e}x{k}", t))
    for name, t in rows:
        print(f"\n== {name}")
        for key, value in t.items():
            print(f"  {key:40s} {value * 1e3:10.2f} ms")
        for phase in ("fit", "transform"):
            cpp = t.get(f"{phase} cpp")
            if not cpp:
                continue
            others = [k for k in t if k.startswith(phase + " ") and k != f"{phase} cpp"]
            ratios = ", ".join(f"{k[len(phase) + 1 :]} {t[k] / cpp:.1f}x" for k in others)
            print(f"  {phase}: cpp is faster than -> {ratios}")
    print("\none-sample transform from Python (median of 15 x 20000 calls, length-1 float64 array):")
    p, y = _binary(10**4)
    x = np.array([0.3])
    for cls_name in CLASSES.values():
        cal = getattr(calipers, cls_name)().fit(p, y)
        runs = [timeit.timeit(lambda: cal.transform(x), number=20000) / 20000 for _ in range(15)]
        print(f"  {cls_name:22s} {statistics.median(runs) * 1e6:6.2f} us")
    Z, yz = _logits(10**4, 10)
    temp = calipers.TemperatureScaling().fit(Z, yz)
    z1 = Z[:1].copy()
    runs = [timeit.timeit(lambda: temp.transform(z1), number=20000) / 20000 for _ in range(15)]
    print(f"  {'TemperatureScaling 10-class':22s} {statistics.median(runs) * 1e6:6.2f} us")
