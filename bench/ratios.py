"""Print the benchmark ratio tables of calipers in one run (same arrays for everyone).

    python bench/ratios.py                 # one-pass metrics, sketch updates and calibrators
    python bench/ratios.py speed           # ece vs np.sum and numpy, the sketch update by part,
                                           # top-label vs numpy and torchmetrics (bench/speed_ratios.py)
    python bench/ratios.py sketch          # 1e5, 1e6, 1e7 binary; 1e6 x 10 and 1e5 x 1000 top-label
    python bench/ratios.py calibrators     # fits and transforms, 1e5 and 1e6 binary, logits
    python bench/ratios.py --quick ...     # smaller sizes

Timings are the best of several repeats (single shots are unreliable on a 2-core VM). Peers that
are not installed are reported as skipped.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import calipers


def best(fn, budget=3.0, max_repeats=7):
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget and len(times) >= 1:
            break
    return min(times)


def peers():
    out = {}
    try:
        import calibration

        # top-label for (n, K), like the calipers sketch it is compared with
        out["uc_get_ece"] = lambda p, y: calibration.get_ece(p, y, num_bins=15, mode="top-label")
        out["uc_lower_bound_scaling_ce"] = lambda p, y: calibration.lower_bound_scaling_ce(
            p, y, num_bins=15, mode="top-label"
        )
    except ImportError:
        print("uncertainty-calibration not installed: its columns are skipped")
    try:
        from sklearn.calibration import calibration_curve

        def curve(p, y):
            if p.ndim == 1:
                return calibration_curve(y, p, n_bins=15)
            return calibration_curve((p.argmax(axis=1) == y).astype(int), p.max(axis=1), n_bins=15)

        out["sklearn_calibration_curve"] = curve
    except ImportError:
        print("scikit-learn not installed: its column is skipped")
    return out


def datasets(quick: bool):
    rng = np.random.default_rng(0)
    sizes = [10**5, 10**6] if quick else [10**5, 10**6, 10**7]
    for n in sizes:
        p = rng.random(n)
        y = (rng.random(n) < p).astype(np.int64)
        yield f"binary {n:.0e} f64", p, y
        yield f"binary {n:.0e} f32", p.astype(np.float32), y
    for n, k in [(10**5, 10)] if quick else [(10**6, 10), (10**5, 1000)]:
        logits = rng.normal(size=(n, k)) * 2
        P = np.exp(logits - logits.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        yield f"top-label {n:.0e}x{k}", P, rng.integers(0, k, n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sections", nargs="*", help="speed, sketch and/or calibrators (default: all)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.sections = args.sections or ["speed", "sketch", "calibrators"]
    unknown = set(args.sections) - {"speed", "sketch", "calibrators"}
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}: choose speed, sketch and/or calibrators")
    if "speed" in args.sections:
        from speed_ratios import speed_section

        speed_section(args.quick)
    if "sketch" in args.sections:
        sketch_section(args.quick)
    if "calibrators" in args.sections:
        from calibrators_ratios import calibrators_section

        calibrators_section(args.quick)


def sketch_section(quick: bool) -> None:
    live = [b for b, state in calipers.available_backends().items() if state == "ok"]
    print("live backends:", ", ".join(live))
    peer_fns = peers()
    rows = []
    for name, p, y in datasets(quick):
        t = {}
        for backend in live:
            calipers.ReliabilitySketch(backend=backend).update(p[:10], y[:10])  # compile/warm up
            t[f"update_{backend}"] = best(lambda: calipers.ReliabilitySketch(backend=backend).update(p, y))
        t["ece_cpp_compat_uc"] = best(lambda: calipers.ece(p, y, compat="uncertainty-calibration"))
        t["np_sum"] = best(lambda: np.sum(p), max_repeats=20)
        for peer, fn in peer_fns.items():
            t[peer] = best(lambda: fn(p, y), budget=1.0, max_repeats=3)
        rows.append((name, t))
        print(f"\n== {name}")
        for key, value in t.items():
            print(f"  {key:28s} {value * 1e3:10.2f} ms")
        cpp = t.get("update_cpp")
        if cpp:
            print("  ratios (higher = calipers C++ faster):")
            for other in ("update_numba", "update_numpy", *peer_fns):
                if other in t:
                    print(f"    {other:26s} / cpp update = {t[other] / cpp:8.1f}x")
            print(f"    cpp update / np.sum          = {cpp / t['np_sum']:8.1f}x (1 = one pass over the scores)")
    print("\nsummary (cpp update vs):")
    print(
        f"{'data':22s} {'numba':>8s} {'numpy ref':>10s} {'UC get_ece':>11s} {'UC lb_ce':>9s} "
        f"{'sk curve':>9s} {'/np.sum':>8s}"
    )
    for name, t in rows:
        cpp = t.get("update_cpp")
        if not cpp:
            continue

        def r(k):
            return f"{t[k] / cpp:.1f}x" if k in t else "-"

        print(
            f"{name:22s} {r('update_numba'):>8s} {r('update_numpy'):>10s} {r('uc_get_ece'):>11s} "
            f"{r('uc_lower_bound_scaling_ce'):>9s} {r('sklearn_calibration_curve'):>9s} {cpp / t['np_sum']:>7.1f}x"
        )


if __name__ == "__main__":
    main()
