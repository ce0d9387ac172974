"""Adding validated records to one window: the group rows and the overall state (through
the ``accumulate_rows`` kernel), the prediction and accuracy counters (with the
label-free expected accuracy of a calibrator), the records per group, and the staged
bootstrap units.

Called under the monitor's state lock with records that all fall in the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.grid import KIND_BINARY
from .buffers import CODE_JOINED, CODE_PREDICTION
from .replicates import stage_units
from .settings import Settings
from .tallies import Tallies
from .window import EXPECTED_SCALE, Window

__all__ = ["add_to_window"]


def _count_predictions(
    win: Window, p: np.ndarray, y: np.ndarray, code: np.ndarray, slots: np.ndarray, kind: int, settings: Settings
) -> None:
    """The counters of 1-D and top-label input: predictions, labelled, correct, and the
    expected correct of the calibrated confidences (fixed point, exact under merge)."""
    capacity = win.capacity
    lab = code != CODE_PREDICTION
    pred = code != CODE_JOINED
    decision = settings.accuracy_of == "decision" and kind == KIND_BINARY
    grouped = slots >= 0
    rows = np.concatenate([slots[grouped], np.full(slots.size, capacity)])
    correct = ((p >= 0.5) == (y == 1)) if decision else (y == 1)
    for col, values in ((0, pred), (2, lab), (3, lab & correct)):
        both = np.concatenate([values[grouped], values]).astype(np.float64)
        win.aux[:, col] += np.bincount(rows, weights=both, minlength=capacity + 1).astype(np.uint64)
    calibrator = settings.calibrator
    if calibrator is not None and pred.any():
        c = np.zeros(slots.size)
        c[pred] = np.clip(np.asarray(calibrator.transform(p[pred]), np.float64).reshape(-1), 0.0, 1.0)
        expected = np.where(p >= 0.5, c, 1.0 - c) if decision else c
        q = np.where(pred, (expected * EXPECTED_SCALE).astype(np.uint64), np.uint64(0))
        np.add.at(win.aux[:, 1], rows, np.concatenate([q[grouped], q]))  # exact uint64 sums


def _count_marginal(win: Window, code: np.ndarray, slots: np.ndarray) -> None:
    """The counters of marginal input: predictions and labelled outcomes."""
    capacity = win.capacity
    lab = code != CODE_PREDICTION
    targets = [(capacity, np.ones(slots.size, bool))]
    targets += [(int(s), slots == s) for s in np.unique(slots[slots >= 0])]
    for r, sel in targets:
        win.aux[r, 0] += np.uint64(np.count_nonzero(sel & (code != CODE_JOINED)))
        win.aux[r, 2] += np.uint64(np.count_nonzero(sel & lab))


def add_to_window(
    win: Window,
    p: np.ndarray,
    y: np.ndarray,
    code: np.ndarray,
    slots: np.ndarray,
    kind: int,
    settings: Settings,
    kernels: Any,
    tallies: Tallies,
) -> None:
    """Add records of one window: scores ``p`` ((n,), or (n, K) marginal), outcomes ``y``,
    codes (pair, joined pair, prediction only), group slots (-1: no group)."""
    win.version += 1
    if settings.classes:
        _count_marginal(win, code, slots)
    else:
        _count_predictions(win, p, y, code, slots, kind, settings)
    lab = code != CODE_PREDICTION
    if not lab.any():
        return
    p, y, slots = p[lab], y[lab], slots[lab]
    if settings.classes:  # marginal: class k's column against 1[y = k] into stream k
        K = settings.classes
        pp = np.ascontiguousarray(p.T).reshape(-1)
        yy = (y[None, :] == np.arange(K)[:, None]).astype(np.uint8).reshape(-1)
        stream = np.repeat(np.arange(K, dtype=np.int64), p.shape[0])
        gslots = np.tile(slots, K)
    else:
        pp, yy, stream, gslots = p, y.astype(np.uint8), np.zeros(p.size, np.int64), slots
    kernels.accumulate_rows(win.overall, settings.bins, *settings.overall_grid, stream, pp, yy)
    grouped = gslots >= 0
    if grouped.any():
        rows = gslots[grouped] * settings.streams + stream[grouped]
        kernels.accumulate_rows(
            win.groups,
            settings.bins,
            *settings.grid,
            rows,
            np.ascontiguousarray(pp[grouped]),
            np.ascontiguousarray(yy[grouped]),
        )
    tallies.count_records(slots)
    if settings.replicates:
        stage_units(win, p, y, slots, settings.bins)
