"""The read path of a CalibrationMonitor: selections of windows, their sketches, the metrics
of every group at once, and the snapshot dictionaries.

A read (the caller holds ``read_lock``) first brings the replicates up to date
(:func:`sync`: staged units drawn, retired windows subtracted from the ring's total), then
copies what it needs under the state lock (the metric words of every group summed over
the selection, the counters) and computes outside it, so recording threads wait at most
for the copy:

* count, ECE, Brier and log loss of every group from the summed bins and totals
  (:mod:`.group_metrics`);
* the ECE intervals from the replicates: one window's own, the ring's running total for
  the whole ring (or the ring without a few windows), a sum over the windows otherwise;
* the smooth ECE only when asked for (milliseconds per group, measured in docs/serving.md: a
  fixed point of FFT smoothings), from each group's sketch.

A closed window's metrics are cached and reused until the window changes (its
``version``): the ``last`` window of every scrape and the alert checks cost nothing after
the first read.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from .._common.grid import grid_name
from ..streaming.sketch import ReliabilitySketch, _add_state
from .alerts import Alert, WindowRow
from .fold import RingReps, WindowReps, fold_group_rows, fold_metric_words, fold_overall
from .group_metrics import RowMetrics, ece_intervals, point_metrics
from .inputs import key_order
from .pending import REASONS
from .replicates import draw_staged
from .state import MonitorState
from .window import AUX, EXPECTED_SCALE, OVERALL, Window

__all__ = [
    "sync",
    "new_sketch",
    "sketch_of",
    "SelectionRead",
    "selection_metrics",
    "summary",
    "snapshot_groups",
    "window_rows",
    "alert_dicts",
    "drops_by_reason",
]


def sync(state: MonitorState) -> None:
    """Draw every staged replicate and settle the ring's running total (reader)."""
    s = state.settings
    if not s.replicates:
        return
    with state.lock:
        staged = state.ring.take_staged()
        retired, rebuild = state.ring.take_retired()
    state.ring.settle(retired, rebuild)
    if staged:
        assert state.ring.totals is not None
        draw_staged(staged, s.replicates, s.bins, state.rng, state.ring.totals)


def new_sketch(state: MonitorState, grid: tuple[int, int], replicates: int | None = None) -> ReliabilitySketch:
    """An empty sketch with the monitor's settings on ``grid``."""
    s = state.settings
    out = ReliabilitySketch(
        s.bins,
        s.classes,
        row_sum_atol=s.row_sum_atol,
        backend=s.backend,
        replicates=s.replicates if replicates is None else replicates,
        grid=grid_name(grid),
    )
    out._kind = state.kind
    return out


def sketch_of(state: MonitorState, windows: Sequence[Window], slot: int | None) -> ReliabilitySketch:
    """The exact merge of ``windows`` for one group slot (None: every record), with the
    replicates summed in window order (reader, under the state lock)."""
    s = state.settings
    if slot is None:
        out = new_sketch(state, s.overall_grid)
        for win in windows:
            _add_state(out._acc, win.overall, s.bins, s.streams)
            reps = win.reps_of(OVERALL)
            if reps is not None:
                out._replicates += reps
        return out
    out = new_sketch(state, s.grid)
    for win in windows:
        if slot < win.capacity:
            _add_state(out._acc, win.group_state(slot, s.group_words), s.bins, s.streams)
            reps = win.reps_of(slot)
            if reps is not None:
                out._replicates += reps
    return out


def _smooth_values(
    state: MonitorState, count: np.ndarray, rows: np.ndarray | None, overall: np.ndarray | None
) -> np.ndarray:
    """Smooth ECE of every non-empty row, from the sketch of its summed state."""
    s = state.settings
    out = np.full(count.size, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in np.flatnonzero(count > 0):
            if i == count.size - 1:
                sketch = new_sketch(state, s.overall_grid, replicates=0)
                assert overall is not None
                sketch._acc = overall
            else:
                sketch = new_sketch(state, s.grid, replicates=0)
                assert rows is not None
                sketch._acc = rows[i].copy()
            out[i] = float(sketch.smooth_ece())
    return out


class SelectionRead:
    """What one read copies under the state lock: the windows, the summed metric words
    and counters of every row (unless a closed window's cached metrics serve), the group
    keys, the record counts, and the windows retired since the last read."""

    def __init__(self, state: MonitorState, windows: list[Window], smooth: bool) -> None:
        s, ring = state.settings, state.ring
        self.windows = windows
        self.keys: list[Hashable] = list(state.groups.keys)
        self.records = state.tallies.records.copy()
        self.retired, self.rebuild = ring.take_retired()
        self.ring_windows = dict(ring.windows)
        self.smooth = smooth
        self.cached: RowMetrics | None = None
        self.cache_key: tuple[int, int, bool] | None = None
        n = len(self.keys)
        if len(windows) == 1 and ring.current is not None and windows[0].index < ring.current:
            win = windows[0]  # a closed window: its metrics change only when it does
            self.cache_key = (win.version, n, smooth)
            hit = state.cache.get(win.index)
            if hit is not None and hit[0] in (self.cache_key, (win.version, n, True)):
                self.cached = hit[1]
        self.aux = np.zeros((n + 1, AUX), np.uint64)
        self.words: np.ndarray | None = None
        self.rows: np.ndarray | None = None
        self.overall: np.ndarray | None = None
        if self.cached is not None:
            return
        for win in windows:
            cap = win.capacity
            self.aux[:cap] += win.aux[:cap]
            self.aux[n] += win.aux[cap]
        groups, overall = fold_metric_words(windows, n, s.bins, s.streams, s.group_words)
        self.words = np.concatenate([groups, overall[None]], axis=0)
        if smooth:
            self.rows = fold_group_rows(windows, n, s.bins, s.streams, s.group_words)
            self.overall = fold_overall(windows, s.overall_words, s.bins, s.streams)


def _rep_source(state: MonitorState, read: SelectionRead) -> WindowReps | RingReps:
    """Where a selection's replicates come from: its own windows when they are few, else
    the ring's running total less the ring's windows outside the selection."""
    s = state.settings
    selected = {w.index for w in read.windows}
    missing = [read.ring_windows[i] for i in sorted(set(read.ring_windows) - selected)]
    totals = state.ring.totals
    if totals is None or len(read.windows) <= 2 or len(missing) + 1 >= len(read.windows):
        return WindowReps(read.windows, s.replicates, s.units)
    return RingReps(totals, missing)


def selection_metrics(state: MonitorState, read: SelectionRead) -> RowMetrics:
    """Metrics of every row of a selection (reader, outside the state lock, after
    :class:`SelectionRead`); a closed window's are cached until it changes."""
    state.ring.settle(read.retired, read.rebuild)
    if read.cached is not None:
        return read.cached
    assert read.words is not None
    s = state.settings
    count, ece, brier, log_loss = point_metrics(read.words, s.bins)
    low = high = None
    if s.replicates:
        rows = np.flatnonzero(count > 0)
        owners = np.where(rows == count.size - 1, OVERALL, rows)
        low, high = np.full(count.size, np.nan), np.full(count.size, np.nan)
        low[rows], high[rows] = ece_intervals(owners, _rep_source(state, read).gather, s.confidence)
    smooth = _smooth_values(state, count, read.rows, read.overall) if read.smooth else None
    out = RowMetrics(count, ece, brier, log_loss, low, high, read.aux, smooth)
    if read.cache_key is not None:
        state.cache[read.windows[0].index] = (read.cache_key, out)
        for old in [i for i in state.cache if i not in read.ring_windows]:
            del state.cache[old]
    return out


def summary(state: MonitorState, m: RowMetrics, i: int, smooth: bool) -> dict[str, Any]:
    """The snapshot entry of row ``i`` (JSON-serializable; None for undefined values)."""
    s = state.settings
    count = int(m.count[i])
    out: dict[str, Any] = {"count": count}
    if count:
        out["ece"] = float(m.ece[i])
        if m.low is not None and m.high is not None:
            out["ece_low"], out["ece_high"] = float(m.low[i]), float(m.high[i])
        if smooth:
            assert m.smooth is not None
            out["smooth_ece"] = float(m.smooth[i])
        out["brier"] = float(m.brier[i])
        out["log_loss"] = float(m.log_loss[i])
    else:
        out.update({"ece": None, "brier": None, "log_loss": None})
        if smooth:
            out["smooth_ece"] = None
    predictions, expected, labelled, correct = (int(v) for v in m.aux[i])
    out["predictions"] = predictions
    if not s.classes:
        out["accuracy"] = correct / labelled if labelled else None
        if s.calibrator is not None:
            out["expected_accuracy"] = expected / EXPECTED_SCALE / predictions if predictions else None
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def snapshot_groups(
    state: MonitorState,
    m: RowMetrics,
    keys: list[Hashable],
    records: np.ndarray,
    pending: dict[int, int],
    dropped_slot: dict[int, np.ndarray],
    smooth: bool,
) -> dict[str, Any]:
    """The ``groups`` part of a snapshot: one entry per group key, in key order."""
    groups: dict[str, Any] = {}
    for slot, key in sorted(enumerate(keys), key=lambda kv: key_order(kv[1])):
        g = summary(state, m, slot, smooth)
        g["pending"] = pending.get(slot, 0)
        g["dropped"] = state.tallies.slot_drops(dropped_slot, slot)
        g["records_total"] = int(records[slot])
        groups[str(key)] = g
    return groups


def window_rows(state: MonitorState, win: Window, m: RowMetrics, keys: list[Hashable]) -> list[WindowRow]:
    """The alert check rows of one closed window: overall, then each group with rows in
    the window, in key order."""
    n = m.count.size - 1
    rows = []
    order = [(n, None)] + sorted(enumerate(keys), key=lambda kv: key_order(kv[1]))
    for i, key in order:
        if key is not None and i >= win.capacity:
            continue
        values = {
            "ece": float(m.ece[i]),
            "brier": float(m.brier[i]),
            "log_loss": float(m.log_loss[i]),
            "smooth_ece": float(m.smooth[i]) if m.smooth is not None else math.nan,
        }
        low = float(m.low[i]) if m.low is not None else math.nan
        high = float(m.high[i]) if m.high is not None else math.nan
        rows.append(WindowRow(key, int(m.count[i]), values, low, high))
    return rows


def alert_dicts(alerts: list[Alert]) -> list[dict[str, Any]]:
    """Firing alerts as JSON-serializable dicts (group keys as strings)."""
    return [a.__dict__ | {"group": str(a.group) if a.group is not None else None} for a in alerts]


def drops_by_reason(dropped: dict[str, int]) -> dict[str, int]:
    """The overall drop counts of a snapshot entry (the reasons of :data:`REASONS`)."""
    return {r: dropped[r] for r in REASONS}
