"""Ratio tables of calipers against numpy and the peer libraries, on the same arrays, in one run.

    python bench/ratios.py --quick               # every section at the quick sizes
    python bench/ratios.py speed --quick         # one-pass metrics vs np.sum, numpy, torchmetrics
    python bench/ratios.py sketch --quick        # binned ECE / reliability vs the peers; the sketch update by backend
    python bench/ratios.py calibrators --quick   # calibrator fits and transforms vs the peers
    python bench/ratios.py --full                # the larger sizes (10^7 binary, 10^6 x 10, 10^5 x 1000)

Every comparison goes through ``timing.compare`` (one untimed call per side, then the same
number of interleaved rounds; best and median). Like-for-like rows compute the same value
(checked: the results column) with the same thread count on both sides; the calipers side
of a peer comparison uses the ``compat=`` convention of that peer. Peers that are not
installed are reported as skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import numpy as np
from timing import Report, agreement, compare, parse_args, threads

import calipers

PEERS = ("uncertainty-calibration", "scikit-learn", "torch", "torchmetrics", "betacal", "netcal", "relplot")
SECTIONS = ("speed", "sketch", "calibrators")


def datasets(mode: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, scores, labels): binary float64 and float32, then top-label probabilities."""
    rng = np.random.default_rng(0)
    sizes = {"tiny": [10**4], "quick": [10**5, 10**6], "full": [10**5, 10**6, 10**7]}[mode]
    for n in sizes:
        p = rng.random(n)
        y = (rng.random(n) < p).astype(np.int64)
        yield f"binary {n:.0e} f64", p, y
        if n > 10**5 or mode == "tiny":
            yield f"binary {n:.0e} f32", p.astype(np.float32), y
    shapes = {"tiny": [(10**3, 10)], "quick": [(10**5, 10)], "full": [(10**6, 10), (10**5, 1000)]}[mode]
    for n, k in shapes:
        logits = rng.normal(size=(n, k)) * 2
        P = np.exp(logits - logits.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        yield f"top-label {n:.0e} x {k}", P, rng.integers(0, k, n)


def peer_functions() -> dict[str, tuple[str, Callable[..., object], Callable[..., object], Callable[..., object]]]:
    """name -> (what, peer(p, y), calipers(p, y), value(result) for the agreement check)."""
    out: dict[str, tuple[str, Callable[..., object], Callable[..., object], Callable[..., object]]] = {}
    uc_compat = "uncertainty-calibration"
    try:
        import calibration

        out["UC get_ece"] = (
            "15 equal-width bins, l1, UC conventions",
            lambda p, y: calibration.get_ece(p, y, num_bins=15, mode="top-label"),
            lambda p, y, backend="auto": calipers.ece(p, y, compat=uc_compat, backend=backend),
            float,
        )
        out["UC lower_bound_scaling_ce"] = (
            "15 equal-mass bins, debiased l2, UC conventions",
            lambda p, y: calibration.lower_bound_scaling_ce(p, y, num_bins=15, mode="top-label"),
            lambda p, y, backend="auto": calipers.ece(
                p, y, compat=uc_compat, norm="l2", binning="mass", debiased=True, backend=backend
            ),
            float,
        )
    except ImportError:
        print("uncertainty-calibration is not installed: its rows are skipped")
    try:
        from sklearn.calibration import calibration_curve

        def curve(p: np.ndarray, y: np.ndarray) -> object:
            if p.ndim == 1:
                return calibration_curve(y, p, n_bins=15)[0]
            return calibration_curve((p.argmax(axis=1) == y).astype(int), p.max(axis=1), n_bins=15)[0]

        out["sklearn calibration_curve"] = (
            "15 uniform bins, frequencies per non-empty bin",
            curve,
            lambda p, y, backend="auto": calipers.reliability(p, y, compat="sklearn", backend=backend),
            _frequencies,
        )
    except ImportError:
        print("scikit-learn is not installed: its rows are skipped")
    try:
        import torch
        from torchmetrics.functional.classification import binary_calibration_error

        out["torchmetrics binary_calibration_error"] = (
            "15 bins, l1, torchmetrics conventions (binary only)",
            lambda p, y: binary_calibration_error(torch.from_numpy(p), torch.from_numpy(y), n_bins=15),
            lambda p, y, backend="auto": calipers.ece(p, y, compat="torchmetrics", backend=backend),
            float,
        )
    except ImportError:
        print("torchmetrics is not installed: its rows are skipped")
    return out


def _frequencies(v: object) -> np.ndarray:
    """Observed frequency of the non-empty bins (sklearn's calibration_curve drops empty bins)."""
    if isinstance(v, np.ndarray):
        return v.astype(float)
    table = v  # a calipers ReliabilityTable
    return np.asarray(table.frequency, float)[np.asarray(table.count) > 0]  # type: ignore[attr-defined]


def _agree(a: object, b: object) -> str:
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        return f"shapes differ: {x.shape} vs {y.shape}"
    return f"values agree: max |diff| {np.max(np.abs(x - y)) if x.size else 0.0:.1e}"


def sketch_section(report: Report) -> None:
    """Binned ECE and reliability against the peers (calipers with the peer's compat
    convention, one thread each), and ReliabilitySketch.update by backend."""
    mode = report.mode
    cores = os.cpu_count() or 1
    live = [b for b, state in calipers.available_backends().items() if state == "ok"]
    peers = peer_functions()
    floor = report.table(
        "sketch-update",
        "`ReliabilitySketch().update` (validation, 15 bins, the 3970-cell fine grid, exact Brier and log-loss sums) "
        "against one read of the scores",
        ["data", "np.sum", *[f"update, {b}, 1 thread" for b in live], f"update, cpp, {cores} threads", "cpp / np.sum"],
    )
    for name, p, y in datasets(mode):
        # the binned ECE, reliability: calipers with the peer's convention vs the peer
        for peer, (what, peer_fn, ours_fn, value) in peers.items():
            if p.ndim == 2 and peer.startswith("torchmetrics"):
                continue
            results = _agree(value(ours_fn(p, y)), value(peer_fn(p, y)))
            with threads(1):
                t = compare({"c": lambda: ours_fn(p, y), "peer": lambda: peer_fn(p, y)}, mode)
            report.pair(
                f"{name}: {what}",
                ("calipers (C++)", t["c"]),
                (peer, t["peer"]),
                threads="1 / 1",
                like_for_like=True,
                results=results,
                headline=name == "binary 1e+06 f64" and peer == "UC get_ece",
            )
        # the same function on calipers' other backends
        fn = peers["UC get_ece"][2] if "UC get_ece" in peers else None
        for backend in (b for b in live if b != "cpp"):
            if fn is None:
                break
            results = agreement(fn(p, y), fn(p, y, backend=backend))
            with threads(1):
                t = compare({"c": lambda: fn(p, y), "o": lambda: fn(p, y, backend=backend)}, mode)
            report.pair(
                f"{name}: ece(compat='uncertainty-calibration')",
                ("calipers (C++)", t["c"]),
                (f"calipers {backend} backend", t["o"]),
                threads="1 / 1",
                like_for_like=True,
                results=results,
            )
        # the sketch update by backend (the same bytes on every backend)
        sides: dict[str, Callable[[], object]] = {
            b: (lambda b=b: calipers.ReliabilitySketch(backend=b).update(p, y)) for b in live
        }
        sides["sum"] = lambda: np.sum(p)
        with threads(1):
            t = compare(sides, mode)
        with threads(cores):
            t_many = compare({"cpp": sides["cpp"], "sum": sides["sum"]}, mode)
        same = all(
            calipers.ReliabilitySketch(backend=b).update(p, y).to_bytes()
            == calipers.ReliabilitySketch(backend="cpp").update(p, y).to_bytes()
            for b in live
        )
        for b in live:
            if b != "cpp":
                report.pair(
                    f"{name}: ReliabilitySketch().update",
                    ("calipers (C++)", t["cpp"]),
                    (f"calipers {b} backend", t[b]),
                    threads="1 / 1",
                    like_for_like=True,
                    results="identical sketch bytes" if same else "SKETCH BYTES DIFFER",
                )
        floor.add(
            name,
            t["sum"].cell(),
            *[t[b].cell() for b in live],
            t_many["cpp"].cell(),
            f"{t['cpp'].best / t['sum'].best:.1f}x (1 thread)",
        )


def main(argv: list[str] | None = None) -> None:
    """Run the sections named on the command line (all by default)."""
    args = parse_args(__doc__ or "", argv, sections={"nargs": "*", "help": f"some of {', '.join(SECTIONS)}"})
    sections = args.sections or list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown section(s) {sorted(unknown)}: choose from {', '.join(SECTIONS)}")
    report = Report(__file__, args, PEERS)
    calipers.show_config()
    if "speed" in sections:
        from speed_ratios import speed_section

        speed_section(report)
    if "sketch" in sections:
        sketch_section(report)
    if "calibrators" in sections:
        from calibrators_ratios import calibrators_section

        calibrators_section(report)
    report.finish()


if __name__ == "__main__":
    main()
