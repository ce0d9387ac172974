"""The one-pass metrics against numpy and torchmetrics, and the sketch update split by part
(issue 14): the ``speed`` section of ``python bench/ratios.py``.

    python bench/ratios.py speed --quick    # 10^6 binary, 10^5 x 10, 10^4 x 1000
    python bench/ratios.py speed --full     # 10^7 binary, 10^6 x 10, 10^5 x 1000

Like-for-like rows run every side on one thread (``timing.threads(1)``: calipers' pool,
BLAS/OpenMP, torch) or every side on the machine's threads; the rows where calipers uses
more threads than numpy (which has none for these reductions) say so.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from timing import Report, Table, agreement, compare, threads

import calipers
from calipers._common.grid import PART_COARSE, PART_FINE, PART_SQUARES, PART_TOTALS, stream_size
from calipers._kernels import backend as _backend

SIZES = {"tiny": 10**4, "quick": 10**6, "full": 10**7}
TOP = {
    "tiny": ((10**3, 10), (10**2, 1000)),
    "quick": ((10**5, 10), (10**4, 1000)),
    "full": ((10**6, 10), (10**5, 1000)),
}


def numpy_bincount_ece(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """The four-line numpy ECE: counts, score sums and label sums by np.bincount."""
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(b, minlength=bins)
    gap = np.abs(np.bincount(b, p, bins) - np.bincount(b, y, bins))
    return float(gap.sum() / count.sum())


def numpy_top_label_ece(P: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """numpy top-label ECE: max, argmax, then the bincounts."""
    conf = P.max(axis=1)
    correct = P.argmax(axis=1) == y
    return numpy_bincount_ece(conf, correct, bins)


def _torch() -> Any:
    try:
        import torch
        from torchmetrics.functional.classification import multiclass_calibration_error

        return torch, multiclass_calibration_error
    except ImportError:
        return None, None


def _top_label(rng: np.random.Generator, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    logits = rng.normal(size=(m, k)) * 2
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    return P, rng.integers(0, k, m)


def speed_section(report: Report) -> None:
    """Binary ECE vs numpy, the sketch update by part, top-label vs numpy and torchmetrics."""
    mode = report.mode
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(14)
    n = SIZES[mode]
    p = rng.random(n)
    y = (rng.random(n) < p).astype(np.int64)
    size = f"{n:.0e} binary float64, int64 labels"
    value = agreement(calipers.ece(p, y), numpy_bincount_ece(p, y))
    floor = report.table(
        "speed-floor",
        f"One-shot ECE against one read of the scores (`np.sum`), {size}",
        ["calipers threads", "np.sum (best / median)", "calipers.ece (best / median)", "ece / np.sum (best)"],
    )
    for nthreads in sorted({1, cores}):
        with threads(nthreads):
            t = compare(
                {
                    "ece": lambda: calipers.ece(p, y),
                    "numpy": lambda: numpy_bincount_ece(p, y),
                    "sum": lambda: np.sum(p),
                },
                mode,
            )
        if nthreads == 1:
            report.pair(
                f"binned ECE (15 bins), {size}",
                ("calipers.ece (C++)", t["ece"]),
                ("numpy bincount ECE", t["numpy"]),
                threads="1 / 1",
                like_for_like=True,
                results=value,
                headline=True,
            )
        else:
            report.pair(
                f"binned ECE (15 bins), {size}",
                (f"calipers.ece (C++, {nthreads} threads)", t["ece"]),
                ("numpy bincount ECE", t["numpy"]),
                threads=f"{nthreads} / 1",
                like_for_like=False,
                differs=f"threads: calipers {nthreads}, numpy's bincount has 1",
                results=value,
            )
        floor.add(nthreads, t["sum"].cell(), t["ece"].cell(), f"{t['ece'].best / t['sum'].best:.2f}x")

    update_parts(report, p, y, cores)

    torch, tm_ece = _torch()
    top_floor = report.table(
        "speed-top-floor",
        "Top-label one-shot ECE against one read of the matrix (`np.sum(P)`), float64",
        [
            "input",
            "calipers threads",
            "np.sum(P) (best / median)",
            "calipers.ece (best / median)",
            "ece / np.sum (best)",
        ],
    )
    for m, k in TOP[mode]:
        P, labels = _top_label(rng, m, k)
        size = f"top-label {m:.0e} x {k} float64"
        value = agreement(calipers.ece(P, labels), numpy_top_label_ece(P, labels))
        for nthreads in sorted({1, cores}):
            with threads(nthreads):
                floor_t = compare({"c": lambda: calipers.ece(P, labels), "sum": lambda: np.sum(P)}, mode)
            ratio = floor_t["c"].best / floor_t["sum"].best
            top_floor.add(f"{m:.0e} x {k}", nthreads, floor_t["sum"].cell(), floor_t["c"].cell(), f"{ratio:.2f}x")
        with threads(1):
            t = compare({"c": lambda: calipers.ece(P, labels), "np": lambda: numpy_top_label_ece(P, labels)}, mode)
        report.pair(
            f"binned ECE, {size}",
            ("calipers.ece (C++)", t["c"]),
            ("numpy max + argmax + bincounts", t["np"]),
            threads="1 / 1",
            like_for_like=True,
            results=value,
            headline=(k == 10),
        )
        if torch is None:
            report.note(f"{size}: torchmetrics is not installed, its rows are skipped")
            continue
        tp, ty = torch.from_numpy(P), torch.from_numpy(labels)
        value = agreement(
            calipers.ece(P, labels, compat="torchmetrics"), float(tm_ece(tp, ty, num_classes=k, n_bins=15))
        )
        for nthreads in sorted({1, cores}):
            with threads(nthreads):
                t = compare(
                    {
                        "c": lambda: calipers.ece(P, labels, compat="torchmetrics"),
                        "tm": lambda: tm_ece(tp, ty, num_classes=k, n_bins=15),
                    },
                    mode,
                )
            report.pair(
                f"top-label ECE, {size}, torchmetrics conventions",
                ("calipers.ece(compat='torchmetrics')", t["c"]),
                ("torchmetrics multiclass_calibration_error", t["tm"]),
                threads=f"{nthreads} / {nthreads}",
                like_for_like=True,
                results=value,
                headline=(nthreads == 1 and k == 10),
            )


def update_parts(report: Report, p: np.ndarray, y: np.ndarray, cores: int) -> None:
    """ns per sample of ReliabilitySketch(15).update and of its parts (differences of
    accumulate_checked runs with more parts switched on)."""
    n = p.size
    core = _backend.resolve("cpp")
    acc = np.zeros(stream_size(15), np.uint64)

    def accumulate(parts: int) -> Any:
        return lambda: core.accumulate_checked(acc, 15, 1, parts, p, y, 0, None, -1.0)

    sides = {
        "update": lambda: calipers.ReliabilitySketch(15).update(p, y),
        "valid": lambda: core.validate_binary(p, y),
        "coarse": accumulate(PART_COARSE),
        "fine": accumulate(PART_COARSE | PART_FINE),
        "all": accumulate(PART_COARSE | PART_FINE | PART_TOTALS),
        "sq": lambda: core.binned_sums(p, y, None, 1, 0, PART_COARSE | PART_SQUARES, -1.0),
        "log": lambda: core.binned_sums(p, y, None, 1, 0, PART_COARSE | PART_TOTALS, -1.0),
    }
    cols: dict[int, dict[str, float]] = {}
    for nthreads in sorted({1, cores}):
        with threads(nthreads):
            t = compare(sides, report.mode)
        b = {k: v.best / n * 1e9 for k, v in t.items()}
        cols[nthreads] = {
            "update, all parts": b["update"],
            "validation alone (a separate pass, for scale)": b["valid"],
            "validation + 15 bins + fixed-point add": b["coarse"],
            "+ fine-grid cell + fixed-point add": b["fine"] - b["coarse"],
            "+ squared error and log-loss terms": b["all"] - b["fine"],
            "of which the deterministic log": b["log"] - b["sq"],
        }
    table: Table = report.table(
        "speed-update-parts",
        f"`ReliabilitySketch(15).update` of {n:.0e} binary float64 scores by part, ns per sample (best round; "
        "parts are differences of runs with more parts switched on)",
        ["part", *[f"{k} thread{'s' if k > 1 else ''}" for k in cols]],
    )
    for part in cols[1]:
        table.add(part, *[f"{cols[k][part]:.2f}" for k in cols])
