"""The one-pass metrics against numpy and torchmetrics, and the sketch update split by part
(issue 14): the ``speed`` section of ``python bench/ratios.py``.

    python bench/ratios.py speed            # 10^7 binary, 10^6 x 10, 10^5 x 1000
    python bench/ratios.py speed --quick    # 10x smaller

Every calipers row is timed with the process-wide pool at its default size and with
``calipers.set_num_threads(1)``; numpy's reductions and bincounts run on one thread; torch
runs with ``torch.get_num_threads()`` threads (printed), also set to 1 for the single-thread
comparison. Times are the best of several repeats.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import calipers
from calipers._common.grid import PART_COARSE, PART_FINE, PART_SQUARES, PART_TOTALS, stream_size
from calipers._kernels import backend as _backend


def best(fn: Any, budget: float = 2.0, max_repeats: int = 9) -> float:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget and len(times) >= 3:
            break
    return min(times)


def numpy_bincount_ece(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """The four-line numpy ECE of the issue: counts, score sums and label sums by np.bincount."""
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(b, minlength=bins)
    gap = np.abs(np.bincount(b, p, bins) - np.bincount(b, y, bins))
    return float(gap.sum() / count.sum())


def numpy_top_label_ece(P: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """numpy top-label ECE: max, argmax, then the bincounts."""
    conf = P.max(axis=1)
    correct = P.argmax(axis=1) == y
    return numpy_bincount_ece(conf, correct, bins)


def _ms(t: float) -> str:
    return f"{t * 1e3:9.2f} ms"


def _torch() -> Any:
    try:
        import torch
        from torchmetrics.functional.classification import multiclass_calibration_error

        return torch, multiclass_calibration_error
    except ImportError:
        return None, None


def speed_section(quick: bool) -> None:
    threads = calipers.get_num_threads()
    rng = np.random.default_rng(14)
    n = 10**6 if quick else 10**7
    p = rng.random(n)
    y = (rng.random(n) < p).astype(np.int64)
    print(f"\n== one-shot ECE, binary {n:.0e} float64 scores, int64 labels (calipers pool: {threads} threads)")
    calipers.ece(p[:1000], y[:1000])
    t_sum = best(lambda: np.sum(p), max_repeats=15)
    t_np = best(lambda: numpy_bincount_ece(p, y))
    t_ece = best(lambda: calipers.ece(p, y))
    calipers.set_num_threads(1)
    t_ece1 = best(lambda: calipers.ece(p, y))
    calipers.set_num_threads(threads)
    print(f"  np.sum(p) (1 thread)                     {_ms(t_sum)}")
    print(f"  numpy bincount ECE (1 thread)            {_ms(t_np)}")
    print(
        f"  calipers.ece, {threads} threads                {_ms(t_ece)}   {t_ece / t_sum:5.2f}x np.sum, "
        f"{t_np / t_ece:5.1f}x faster than numpy"
    )
    print(
        f"  calipers.ece, 1 thread                   {_ms(t_ece1)}   {t_ece1 / t_sum:5.2f}x np.sum, "
        f"{t_np / t_ece1:5.1f}x faster than numpy"
    )
    assert abs(calipers.ece(p, y) - numpy_bincount_ece(p, y)) < 1e-12

    print(f"\n== ReliabilitySketch.update per sample, binary {n:.0e} float64 (ns per sample)")
    core = _backend.resolve("cpp")
    acc = np.zeros(stream_size(15), np.uint64)

    def accumulate(parts: int) -> Any:
        return lambda: core.accumulate_checked(acc, 15, 1, parts, p, y, 0, None, -1.0)

    rows = {}
    for label, nthreads in ((f"{threads} threads", threads), ("1 thread", 1)):
        calipers.set_num_threads(nthreads)
        t_update = best(lambda: calipers.ReliabilitySketch(15).update(p, y))
        t_valid = best(lambda: core.validate_binary(p, y))
        t_coarse = best(accumulate(PART_COARSE))
        t_fine = best(accumulate(PART_COARSE | PART_FINE))
        t_all = best(accumulate(PART_COARSE | PART_FINE | PART_TOTALS))
        t_sq = best(lambda: core.binned_sums(p, y, None, 1, 0, PART_COARSE | PART_SQUARES, -1.0))
        t_log = best(lambda: core.binned_sums(p, y, None, 1, 0, PART_COARSE | PART_TOTALS, -1.0))
        rows[label] = {
            "update (all parts)": t_update,
            "validation (a separate pass, for scale)": t_valid,
            "validation + 15 bins + fixed-point add": t_coarse,
            "+ fine-grid cell + fixed-point add": t_fine - t_coarse,
            "+ squared error and log-loss terms": t_all - t_fine,
            "  of which the deterministic log": t_log - t_sq,
        }
    calipers.set_num_threads(threads)
    print(f"  {'part':44s} " + " ".join(f"{k:>12s}" for k in rows))
    for part in rows[f"{threads} threads"]:
        print(f"  {part:44s} " + " ".join(f"{rows[k][part] / n * 1e9:12.2f}" for k in rows))

    torch, tm_ece = _torch()
    for m, k in ((10**5, 10), (10**4, 1000)) if quick else ((10**6, 10), (10**5, 1000)):
        logits = rng.normal(size=(m, k)) * 2
        P = np.exp(logits - logits.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        labels = rng.integers(0, k, m)
        print(f"\n== top-label {m:.0e} x {k} float64 (one read of the matrix = np.sum(P), 1 thread)")
        t_read = best(lambda: np.sum(P))
        t_np = best(lambda: numpy_top_label_ece(P, labels))
        t_c = best(lambda: calipers.ece(P, labels))
        calipers.set_num_threads(1)
        t_c1 = best(lambda: calipers.ece(P, labels))
        calipers.set_num_threads(threads)
        assert abs(calipers.ece(P, labels) - numpy_top_label_ece(P, labels)) < 1e-12
        print(f"  one read (np.sum(P))                     {_ms(t_read)}")
        print(f"  numpy max + argmax + bincounts (1 thr.)  {_ms(t_np)}")
        print(
            f"  calipers.ece, {threads} threads                {_ms(t_c)}   {t_c / t_read:5.2f}x one read, "
            f"{t_np / t_c:5.1f}x faster than numpy"
        )
        print(
            f"  calipers.ece, 1 thread                   {_ms(t_c1)}   {t_c1 / t_read:5.2f}x one read, "
            f"{t_np / t_c1:5.1f}x faster than numpy"
        )
        if torch is None:
            print("  torchmetrics: not installed (skipped)")
            continue
        tp, ty = torch.from_numpy(P), torch.from_numpy(labels)
        torch_threads = torch.get_num_threads()
        t_tm = best(lambda: tm_ece(tp, ty, num_classes=k, n_bins=15), budget=3.0, max_repeats=3)
        torch.set_num_threads(1)
        t_tm1 = best(lambda: tm_ece(tp, ty, num_classes=k, n_bins=15), budget=3.0, max_repeats=3)
        torch.set_num_threads(torch_threads)
        print(
            f"  torchmetrics, {torch_threads} torch threads           {_ms(t_tm)}   "
            f"{t_tm / t_c:5.1f}x calipers ({threads} threads)"
        )
        print(f"  torchmetrics, 1 torch thread             {_ms(t_tm1)}   {t_tm1 / t_c1:5.1f}x calipers (1 thread)")
