"""CalibrationMonitor: calibration of a live model, per group and per time window.

This module holds the class (its constructor, properties, reads, alerts, bytes and
merges, each short); each part of the work lives in a module of its own:

* :mod:`.settings`: the options, validated, and the state layout they imply;
* :mod:`.inputs`: argument checks of the recording calls, window arithmetic of times;
* :mod:`.recording`: ``record``, ``record_many``, ``predicted``, ``observed``, ``flush``
  (a mixin of the class); :mod:`.buffers`: the per-thread buffers ``record`` appends to;
* :mod:`.groups`, :mod:`.tallies`: group keys and slots; counts kept since the start;
* :mod:`.window`, :mod:`.ring`, :mod:`.ingest`: one window's state, the ring of windows,
  adding records to a window;
* :mod:`.replicates`: the streaming bootstrap (staged, drawn at read, the ring's total);
* :mod:`.reading`, :mod:`.fold`, :mod:`.group_metrics`: the read path, every group at once;
* :mod:`.alerts`: threshold checks of closed windows;
* :mod:`.codec`, :mod:`.merging`: bytes and exact merges;
* :mod:`.lifecycle`: flush at exit, a fresh state after ``os.fork``;
* :mod:`.state`: the parts of one monitor and its locks.

``record`` costs one validated tuple append to a per-thread buffer; a buffer is flushed
into the window state in one batch when it holds ``batch`` records, when any reader asks
(``flush``, ``snapshot``, ``sketch``, ``to_bytes``, a Prometheus scrape), when a thread's
buffer would otherwise outlive the window it writes to, and at interpreter exit.
"""

from __future__ import annotations

import inspect
import json
import struct
import time
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.grid import KIND_MARGINAL
from .._common.validate import DEFAULT_ROW_SUM_ATOL
from .._kernels import backend as _backend
from ..streaming.sketch import ReliabilitySketch
from . import codec, lifecycle, merging, reading
from .alerts import THRESHOLD_METRICS, Alert
from .group_metrics import RowMetrics
from .inputs import window_indices
from .recording import RecordingMixin
from .settings import make_settings
from .state import MonitorState, new_state
from .window import Window

__all__ = ["CalibrationMonitor", "Alert", "THRESHOLD_METRICS", "TYPE_MONITOR"]

TYPE_MONITOR = codec.TYPE_MONITOR  # serde type id of a monitor blob


class CalibrationMonitor(RecordingMixin):
    """Calibration of a model in production: per group, per time window, with delayed outcomes.

    Parameters
    ----------
    bins : equal-width bins of every state (ECE is the equal-width ECE of
        :func:`calipers.ece`, exact).
    classes : None for (score, outcome) pairs (and top-label (n, K) input to
        ``record_many``); K for marginal (class-wise) statistics of K-class probabilities.
    window : seconds per tumbling window (windows start at multiples of it).
    history : windows kept in the ring (``window x history`` seconds of history).
    max_groups : distinct group keys kept; records of further keys are pooled under the
        group ``"__other__"`` and counted as ``overflow``.
    replicates : R > 0 keeps a streaming Poisson bootstrap (binary and top-label input):
        ECE intervals for every group and window. Costs R x 2 bins x 16 bytes per active
        group-window (and R x 2 bins x 24 bytes per group for the ring's running total)
        and well under a microsecond per record.
    grid, overall_grid : the ReliabilitySketch grid of the group rows (default None: 512
        bytes at 15 bins) and of the overall state (default "fine"); see
        :class:`calipers.ReliabilitySketch` for what each costs in accuracy.
    max_pending, ttl : bounds of the pending-outcome table (entries, seconds).
    thresholds : e.g. ``{"ece": 0.05}``; metrics in :data:`THRESHOLD_METRICS`. A closed
        window whose interval (with replicates; else its value) lies above a threshold
        raises an :class:`Alert` (``alerts()``, the ``calipers_alert`` gauge, ``on_alert``).
    alert_min_count : windows with fewer labelled records are not checked.
    confidence : level of the bootstrap intervals.
    calibrator : a fitted 1-D calibrator: each window then reports the accuracy expected
        from the calibrated confidences of its predictions alone (CBPE), next to the
        accuracy realised by the outcomes that arrived. ``True``: the recorded scores are
        already calibrated (a service that returns calibrated probabilities).
    accuracy_of : "decision" (scores are P(y = 1); the model predicts 1 when score >= 0.5;
        accuracy = share of right decisions, expected = mean of c or 1 - c for the decision
        taken) or "outcome" (the outcome says whether the model was right, as for LLM
        correctness or top-label confidences: accuracy = mean outcome, expected = mean c).
        Top-label input always uses "outcome".
    batch : records per thread buffered before a flush.
    seed : seed of the replicates' random stream.
    clock : the time source (seconds since the epoch), ``time.time`` by default.

    Notes
    -----
    Reads (``snapshot``, a scrape) compute every group's metrics at once from the stacked
    window state and run outside the lock that recording threads take; the metrics of a
    closed window are cached until it changes. After ``os.fork`` the child's monitors
    start empty; combine workers with ``to_bytes()`` / ``merge``.
    """

    def __init__(
        self,
        bins: int = 15,
        classes: int | None = None,
        window: float = 60.0,
        history: int = 60,
        max_groups: int = 1000,
        replicates: int = 0,
        *,
        grid: str | tuple[int, int] | None = None,
        overall_grid: str | tuple[int, int] | None = "fine",
        max_pending: int = 100_000,
        ttl: float = 3600.0,
        thresholds: dict[str, float] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        alert_min_count: int = 30,
        confidence: float = 0.95,
        calibrator: Any = None,
        accuracy_of: str = "decision",
        batch: int = 1024,
        seed: Any = None,
        clock: Callable[[], float] = time.time,
        row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto",
    ) -> None:
        self._settings = make_settings(
            bins,
            classes,
            window,
            history,
            max_groups,
            replicates,
            grid,
            overall_grid,
            max_pending,
            ttl,
            thresholds,
            alert_min_count,
            confidence,
            calibrator,
            accuracy_of,
            batch,
            seed,
            row_sum_atol,
            backend,
            on_alert=on_alert,
            clock=clock,
        )
        self._kernels = _backend.resolve(backend)
        self._on_alert = on_alert
        self._clock = clock
        self._batch = self._settings.batch
        self._init_state(self._settings.seed)
        if self._settings.classes:
            self.record = self._record_marginal  # type: ignore[method-assign]
        lifecycle.track(self)

    def _init_state(self, seed: Any) -> None:
        s = self._settings
        self._state: MonitorState = new_state(
            s, self._kernels, KIND_MARGINAL if s.classes else None, self._on_alert, seed
        )
        # what record() touches, one attribute away
        self._slots = self._state.groups.slots
        self._local = self._state.buffers.local

    def _after_fork(self) -> None:
        self._init_state(None)  # a random stream independent of the parent's and the siblings'

    # ------------------------------------------------------------------ properties

    @property
    def bins(self) -> int:
        """Equal-width bins of every state."""
        return self._settings.bins

    @property
    def classes(self) -> int | None:
        """None for (score, outcome) pairs, K for marginal statistics."""
        return self._settings.classes

    @property
    def window(self) -> float:
        """Seconds per tumbling window."""
        return self._settings.window

    @property
    def history(self) -> int:
        """Windows kept in the ring."""
        return self._settings.history

    @property
    def replicates(self) -> int:
        """Bootstrap replicates kept per state (0: none)."""
        return self._settings.replicates

    @property
    def groups(self) -> list[Hashable]:
        """Group keys seen, in sorted order (strings after integers)."""
        with self._state.lock:
            return self._state.groups.sorted_keys()

    @property
    def pending(self) -> int:
        """Predictions waiting for their outcome (merged monitors' counts included)."""
        return sum(self._pending_per_slot().values())

    def window_index(self, t: float) -> int:
        """The window holding time ``t``: the w with ``w * window <= t < (w + 1) * window``."""
        return int(window_indices(np.array([float(t)]), self._settings.window)[0])

    # the parts tests and benchmarks look at
    @property
    def _windows(self) -> dict[int, Window]:
        return self._state.ring.windows

    @property
    def _registry(self) -> list[Any]:
        return self._state.buffers.registry

    def _pending_per_slot(self) -> dict[int, int]:
        per = self._state.pending.per_slot()
        for slot, n in self._state.tallies.remote_pending.items():
            per[slot] = per.get(slot, 0) + n
        return per

    # ------------------------------------------------------------------ reading

    def sketch(self, last: int | None = None, group: Hashable = None, *, closed: bool = False) -> ReliabilitySketch:
        """The exact merge of the last ``last`` windows (None: the whole ring) of one group
        (None: every record), as a :class:`calipers.ReliabilitySketch` (with its bootstrap
        replicates). The overall sketch is on ``overall_grid``, a group's on ``grid``.
        ``closed=True`` counts back from the last closed window instead of the open one."""
        self.flush()
        state = self._state
        with state.read_lock, state.lock:
            windows = state.ring.select(last, closed)
            if group is None:
                return reading.sketch_of(state, windows, None)
            if group not in state.groups.keys:
                raise KeyError(f"no group {group!r} in this monitor")
            return reading.sketch_of(state, windows, state.groups.keys.index(group))

    def _read(
        self, last: int | None, closed: bool, smooth: bool, windows: list[Window] | None = None
    ) -> tuple[reading.SelectionRead, RowMetrics]:
        """Copy a selection (``windows``, or the last ``last`` windows) under the state
        lock, then compute every row's metrics outside it."""
        state = self._state
        with state.read_lock:
            with state.lock:
                chosen = state.ring.select(last, closed) if windows is None else windows
                read = reading.SelectionRead(state, chosen, smooth)
            return read, reading.selection_metrics(state, read)

    def snapshot(self, last: int | None = None, *, closed: bool = False, smooth: bool = True) -> dict[str, Any]:
        """Per group and overall over the last ``last`` windows (None: the ring): count,
        ECE (``ece_low``/``ece_high``: its bootstrap interval with replicates), smooth ECE,
        Brier, log loss, predictions, accuracy (and the expected accuracy with a
        calibrator), pending and dropped counts; plus ``count`` (outcomes recorded since
        the start), the drops by reason and the firing alerts. JSON-serializable.
        ``closed=True`` counts back from the last closed window instead of the open one.
        ``smooth=False`` leaves out the smooth ECE (milliseconds per group, see docs/serving.md)."""
        self.flush()
        self.evaluate()
        state, window = self._state, self._settings.window
        read, m = self._read(last, closed, smooth)
        dropped, dropped_slot = state.tallies.drops()
        pending = self._pending_per_slot()
        windows = read.windows
        overall = reading.summary(state, m, len(read.keys), smooth)
        overall["pending"] = sum(pending.values())
        overall["dropped"] = reading.drops_by_reason(dropped)
        return {
            "count": int(read.records[-1]),
            "pending": sum(pending.values()),
            "dropped": dropped,
            "window": window,
            "windows": len(windows),
            "from": windows[0].index * window if windows else None,
            "to": (windows[-1].index + 1) * window if windows else None,
            "overall": overall,
            "groups": reading.snapshot_groups(state, m, read.keys, read.records, pending, dropped_slot, smooth),
            "alerts": reading.alert_dicts(self.alerts()),
        }

    @property
    def records_total(self) -> int:
        """Outcomes recorded since the start (merges included), dropped ones excluded."""
        self.flush()
        return int(self._state.tallies.records[-1])

    def records_by_group(self) -> dict[Hashable, int]:
        """Outcomes recorded since the start, per group key."""
        self.flush()
        state = self._state
        with state.lock:
            return {k: int(state.tallies.records[i]) for i, k in enumerate(state.groups.keys)}

    def dropped(self) -> dict[str, int]:
        """Drops by reason since the start (plus ``overflow``: group keys pooled)."""
        self.flush()
        return self._state.tallies.drops()[0]

    def pending_by_group(self) -> dict[Hashable, int]:
        """Pending predictions per group key (None: no group)."""
        per = self._pending_per_slot()
        state = self._state
        with state.lock:
            return {(None if s < 0 else state.groups.keys[s]): n for s, n in per.items()}

    # ------------------------------------------------------------------ alerts

    def evaluate(self) -> list[Alert]:
        """Check every closed window not checked yet against the thresholds; returns (and
        passes to ``on_alert``) the alerts that fire. Readers call this."""
        state = self._state
        if not state.alerts.thresholds:
            return []
        self.flush()
        smooth = "smooth_ece" in state.alerts.thresholds
        fired: list[Alert] = []
        with state.read_lock:
            with state.lock:
                todo = state.ring.closed_unevaluated()
            for win in todo:
                read, m = self._read(None, False, smooth, [win])
                rows = reading.window_rows(state, win, m, read.keys)
                fired += state.alerts.check(win.index * self._settings.window, rows, bool(self.replicates))
        state.alerts.notify(fired)
        return fired

    def alerts(self) -> list[Alert]:
        """Firing alerts: per group and metric, the last closed window checked."""
        self.evaluate()
        return self._state.alerts.firing()

    def alert_states(self) -> dict[tuple[Hashable, str], Alert]:
        """The last check of every (group, metric), firing or not (None: overall)."""
        self.evaluate()
        return dict(self._state.alerts.states)

    # ------------------------------------------------------------------ bytes and merging

    def to_bytes(self) -> bytes:
        """Versioned, checksummed state: settings, group keys (sorted), per window the
        overall state, the group rows, counters and replicates; records and drops by
        reason; pending counts (the pending entries themselves stay in this process)."""
        self.flush()
        state = self._state
        with state.read_lock, state.lock:
            return codec.encode(state, self._pending_per_slot())

    @classmethod
    def from_bytes(cls, data: bytes, **kwargs: Any) -> CalibrationMonitor:
        """Rebuild a monitor from :meth:`to_bytes` (``kwargs``: the run-time options that
        are not serialized: thresholds, on_alert, calibrator, clock, ...). Without
        ``clock`` the monitor's clock stays at the time it was saved (its ring is read as
        it was, not aged by the time since); pass ``clock=time.time`` to go on recording.
        Raises ValueError on truncated, corrupted or foreign bytes. The options are checked
        before the bytes are read: an option that is not a run-time one (``window``, ``bins``
        ... come from the bytes) raises TypeError, a bad value the constructor's error."""
        _check_runtime_options(kwargs)
        payload = _serde.unpack_payload(data, TYPE_MONITOR)
        try:
            h, pos = codec.read_header(payload)
            out = cls(
                h["bins"],
                h["classes"],
                h["window"],
                h["history"],
                h["max_groups"],
                h["replicates"],
                grid=tuple(h["grid"]) if h["grid"] != [0, 0] else None,
                overall_grid=tuple(h["overall_grid"]) if h["overall_grid"] != [0, 0] else None,
                row_sum_atol=h["row_sum_atol"],
                **kwargs,
            )
            codec.install(out._state, h, payload, pos, out._add_slot)
            if "clock" not in kwargs:
                current = out._state.ring.current
                frozen = 0.0 if current is None else (current + 0.5) * out._settings.window
                out._clock = lambda: frozen
        except (struct.error, KeyError, TypeError, json.JSONDecodeError, AttributeError, OverflowError) as exc:
            raise ValueError(f"calipers monitor blob is malformed: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"calipers monitor blob is malformed: {exc}") from exc
        return out

    def merge(self, other: CalibrationMonitor | bytes) -> CalibrationMonitor:
        """Add another monitor (or its bytes: a replica, a forked worker) into this one,
        exactly: windows by index, groups by key, counts by reason. Windows that fall out
        of this monitor's ring count as ``late``. All-or-nothing: a merge that fails
        changes nothing. Returns self."""
        if isinstance(other, (bytes, bytearray, memoryview)):
            other = CalibrationMonitor.from_bytes(bytes(other))
        if not isinstance(other, CalibrationMonitor):
            raise TypeError(f"can only merge a CalibrationMonitor or its bytes, got {type(other).__name__}")
        if other is self:
            raise ValueError("cannot merge a monitor into itself")
        mine, theirs = self._settings.serialized(), other._settings.serialized()
        mine.pop("max_groups"), theirs.pop("max_groups")
        if mine != theirs:
            diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
            raise ValueError(f"cannot merge monitors with different settings: {diff}")
        src = CalibrationMonitor.from_bytes(other.to_bytes())._state  # a consistent copy, flushed
        self.flush()
        state = self._state
        with state.read_lock, state.lock:
            merging.merge_into(state, src)  # all-or-nothing
        return self

    def __repr__(self) -> str:
        s = self._settings
        return (
            f"CalibrationMonitor(bins={s.bins}, classes={s.classes}, window={s.window}, "
            f"history={s.history}, groups={len(self._state.groups)}, windows={len(self._state.ring.windows)})"
        )

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (CalibrationMonitor.from_bytes, (self.to_bytes(),))

    @property
    def nbytes(self) -> int:
        """Bytes held by the window states (rows, counters and replicates) and by the
        replicates' running total over the ring."""
        state = self._state
        with state.read_lock, state.lock:
            total = sum(win.nbytes for win in state.ring.windows.values())
            return total + (0 if state.ring.totals is None else state.ring.totals.nbytes)


_SAVED = ("bins", "classes", "window", "history", "max_groups", "replicates", "grid", "overall_grid", "row_sum_atol")


def _check_runtime_options(options: dict[str, Any]) -> None:
    """from_bytes's keyword options: run-time ones only (TypeError naming the others), each
    value checked as the constructor checks it (with the default saved settings)."""
    params = inspect.signature(CalibrationMonitor.__init__).parameters
    runtime = [name for name in params if name != "self" and name not in _SAVED]
    unknown = sorted(set(options) - set(runtime))
    if unknown:
        saved = [name for name in unknown if name in _SAVED]
        why = f"{saved} come from the bytes; " if saved else ""
        raise TypeError(
            f"from_bytes() got option(s) {unknown} it does not take: {why}the run-time options are {runtime}"
        )
    values = {name: params[name].default for name in (*_SAVED, *runtime)}
    make_settings(**{**values, **options})
