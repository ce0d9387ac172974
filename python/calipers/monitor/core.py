"""CalibrationMonitor: calibration of a live model, per group and per time window.

``record`` costs one validated tuple append to a per-thread buffer (no lock, no numpy);
a buffer is flushed into the window state in one batch when it holds ``batch`` records,
when any reader asks (``flush``, ``snapshot``, ``sketch``, ``to_bytes``, a Prometheus
scrape), when a thread's buffer would otherwise outlive the window it writes to, and at
interpreter exit. Buffers belong to the monitor, not to the thread, so a thread that ends
loses nothing; buffers of finished threads are dropped once drained.

State per tumbling window (``window`` seconds, aligned to multiples of it since the epoch,
so replicas agree; the last ``history`` windows are kept in a ring):

* overall: one ReliabilitySketch state over every record, on ``overall_grid`` (the fine grid
  by default: 127 KB per window);
* per group: one row per group on ``grid`` (no grid by default: (bins x 4 + 4) x 8 bytes per
  class, 512 bytes at 15 bins; ``"compact"`` adds 4 KB) and 32 bytes of counters;
* with ``replicates=R``: R x 2 bins x 16 bytes for the overall state and for each group
  that has records in the window (R = 200, 15 bins: 96 KB), allocated on first use.

A record whose time falls in a window that has left the ring is dropped as ``late``, one
more than a window ahead of the clock as ``future``; every drop is counted by reason.

After ``os.fork`` the child's monitors start empty (the records stay with the parent, so
merging parent and children never counts one twice), with fresh locks, no pending entries
and an independent random stream for the replicates. Combine workers with
``to_bytes()`` / ``merge``.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import struct
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.grid import FIELDS, KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL, grid_cell_count, grid_name, grid_spec
from .._common.grid import stream_size as _stream_size
from .._common.validate import DEFAULT_ROW_SUM_ATOL, check, check_bins, check_choice
from .._kernels import backend as _backend
from .._kernels.numpy_backend import equal_width_index
from ..metrics.bootstrap import poisson_draws, unit_bounds
from ..streaming.sketch import ReliabilitySketch, _add_state
from .pending import REASONS, PendingTable

__all__ = ["CalibrationMonitor", "Alert", "THRESHOLD_METRICS", "TYPE_MONITOR"]

TYPE_MONITOR = _serde.TYPE_MONITOR  # serde type id of a monitor blob
THRESHOLD_METRICS = ("ece", "smooth_ece", "brier", "log_loss")
_EXPECTED_SCALE = 2.0**32  # expected-correct sums are fixed point, so merges are exact
_AUX = 4  # per group-window counters: predictions, expected correct (2^-32), labelled, correct
_CODE_PAIR, _CODE_JOINED, _CODE_PREDICTION = 0, 1, 2
_OTHER = "__other__"  # groups beyond max_groups are pooled under this key
_KIND_NAMES = {KIND_BINARY: "binary", KIND_TOP_LABEL: "top-label", KIND_MARGINAL: "marginal"}


@dataclass(frozen=True)
class Alert:
    """A threshold check of one closed window: ``firing`` when the interval (the value,
    without replicates) lies above ``threshold``."""

    group: Any
    metric: str
    window_start: float
    value: float
    low: float
    high: float
    threshold: float
    count: int
    firing: bool


class _Window:
    """One tumbling window: the overall state, the group rows, counters, replicates."""

    __slots__ = ("aux", "evaluated", "groups", "index", "overall", "overall_reps", "reps", "units")

    def __init__(self, index: int, overall_words: int, group_words: int, capacity: int) -> None:
        self.index = index
        self.overall = np.zeros(overall_words, np.uint64)
        self.groups = np.zeros(capacity * group_words, np.uint64)
        self.aux = np.zeros((capacity + 1, _AUX), np.uint64)  # last row: overall
        self.overall_reps: np.ndarray | None = None
        self.reps: dict[int, np.ndarray] = {}
        self.units: np.ndarray | None = None  # staged (rows, 3, 2 bins) unit stats, drawn at read
        self.evaluated = False

    def grow(self, capacity: int, group_words: int) -> None:
        old = self.aux.shape[0] - 1
        if capacity <= old:
            return
        groups = np.zeros(capacity * group_words, np.uint64)
        groups[: self.groups.size] = self.groups
        aux = np.zeros((capacity + 1, _AUX), np.uint64)
        aux[:old] = self.aux[:old]
        aux[capacity] = self.aux[old]
        self.groups, self.aux = groups, aux


_monitors: weakref.WeakSet[CalibrationMonitor] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for m in list(_monitors):
        m._after_fork()


def _flush_at_exit() -> None:
    for m in list(_monitors):
        try:
            m.flush()
        except Exception:  # pragma: no cover - nothing to report to at exit
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_at_exit)


def _as_score(score: Any) -> float:
    if isinstance(score, (bool, np.bool_, int, float, np.integer, np.floating)):
        return float(score)
    raise TypeError(f"score must be a number, got {type(score).__name__}")


def _as_label(label: Any) -> int:
    if isinstance(label, (str, bytes)) or not isinstance(label, (bool, np.bool_, int, float, np.integer, np.floating)):
        raise TypeError(f"label must be 0 or 1, got {type(label).__name__}")
    if label == 0 or label == 1:
        return int(label)
    raise ValueError(f"label must be 0 or 1, got {label!r}")


def _as_time(t: Any) -> float:
    if isinstance(t, (str, bytes)) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise TypeError(f"t must be a number of seconds, got {type(t).__name__}")
    value = float(t)
    if not math.isfinite(value):
        raise ValueError(f"t must be finite, got {t!r}")
    return value


class CalibrationMonitor:
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
        group-window and a few microseconds per record at R = 200.
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
        self._bins = check_bins(bins)
        # the template validates classes, replicates, row_sum_atol and backend the way sketches do
        self._template = ReliabilitySketch(
            bins, classes, row_sum_atol=row_sum_atol, backend=backend, replicates=replicates, grid=grid
        )
        self._grid = grid_spec(grid)
        self._overall_grid = grid_spec(overall_grid)
        if not (isinstance(window, (int, float)) and not isinstance(window, bool) and 0 < window < math.inf):
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        for name, value, low in (
            ("history", history, 1),
            ("max_groups", max_groups, 1),
            ("max_pending", max_pending, 1),
            ("batch", batch, 1),
            ("alert_min_count", alert_min_count, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl > 0):
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if not (isinstance(confidence, float) and 0.0 < confidence < 1.0):
            raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
        self._thresholds = dict(thresholds or {})
        for metric, limit in self._thresholds.items():
            check_choice("thresholds key", metric, THRESHOLD_METRICS)
            if not (isinstance(limit, (int, float)) and math.isfinite(limit)):
                raise ValueError(f"thresholds[{metric!r}] must be a finite number, got {limit!r}")
        if on_alert is not None and not callable(on_alert):
            raise TypeError("on_alert must be callable")
        check_choice("accuracy_of", accuracy_of, ("decision", "outcome"))
        if calibrator is True:
            calibrator = _Identity()
        if calibrator is not None and not callable(getattr(calibrator, "transform", None)):
            raise TypeError("calibrator must be a fitted calipers calibrator (with transform)")
        if not callable(clock):
            raise TypeError("clock must be a function returning seconds")
        self._classes = self._template.classes
        self._streams = self._classes or 1
        self._replicates = self._template.replicates
        self._window = float(window)
        self._history = int(history)
        self._max_groups = int(max_groups)
        self._alert_min_count = int(alert_min_count)
        self._confidence = confidence
        self._on_alert = on_alert
        self._calibrator = calibrator
        self._accuracy_of = accuracy_of
        self._batch = int(batch)
        self._seed = seed
        self._clock = clock
        self._row_sum_atol = float(row_sum_atol)
        self._backend_name = backend
        self._kernels = _backend.resolve(backend)
        self._group_row = _stream_size(self._bins, grid_cell_count(*self._grid))
        self._group_words = self._group_row * self._streams
        self._overall_words = _stream_size(self._bins, grid_cell_count(*self._overall_grid)) * self._streams
        self._max_pending, self._ttl = int(max_pending), float(ttl)
        self._init_state()
        if self._classes:
            self.record = self._record_marginal  # type: ignore[method-assign]
        _monitors.add(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()  # state, slots and buffer registry
        self._drop_lock = threading.Lock()  # drop counters (also counted under the pending table's lock)
        self._remote_pending: dict[int, int] = {}  # pending counts merged in from other monitors
        self._local = threading.local()
        self._registry: list[tuple[weakref.ref[threading.Thread], list[tuple[Any, ...]]]] = []
        self._slots: dict[Hashable, int] = {None: -1}
        self._keys: list[Hashable] = []
        self._windows: dict[int, _Window] = {}
        self._current: int | None = None
        self._kind: int | None = KIND_MARGINAL if self._classes else None
        self._records = np.zeros(1, np.int64)  # per slot; last entry: overall (resized with slots)
        self._dropped: dict[str, int] = dict.fromkeys((*REASONS, "overflow"), 0)
        self._dropped_slot: dict[int, np.ndarray] = {}
        self._alerts: dict[tuple[Any, str], Alert] = {}
        self._rng = np.random.default_rng(self._seed)
        self._pending = PendingTable(self._max_pending, self._ttl, self._count_drop)

    def _after_fork(self) -> None:
        self._init_state()
        self._rng = np.random.default_rng()  # independent of the parent and of siblings

    # ------------------------------------------------------------------ properties

    @property
    def bins(self) -> int:
        """Equal-width bins of every state."""
        return self._bins

    @property
    def classes(self) -> int | None:
        """None for (score, outcome) pairs, K for marginal statistics."""
        return self._classes

    @property
    def window(self) -> float:
        """Seconds per tumbling window."""
        return self._window

    @property
    def history(self) -> int:
        """Windows kept in the ring."""
        return self._history

    @property
    def replicates(self) -> int:
        """Bootstrap replicates kept per state (0: none)."""
        return self._replicates

    @property
    def groups(self) -> list[Hashable]:
        """Group keys seen, in sorted order (strings after integers)."""
        with self._lock:
            return sorted(self._keys, key=_key_order)

    @property
    def pending(self) -> int:
        """Predictions waiting for their outcome (merged monitors' counts included)."""
        return sum(self._pending_per_slot().values())

    def window_index(self, t: float) -> int:
        """The window holding time ``t``: the w with ``w * window <= t < (w + 1) * window``."""
        return int(_window_indices(np.array([float(t)]), self._window)[0])

    # ------------------------------------------------------------------ recording

    def record(self, score: Any, label: Any, *, group: Hashable = None, t: Any = None) -> None:
        """One prediction whose outcome is known: ``score`` in [0, 1], ``label`` 0 or 1.

        Costs a buffered append (the state is updated in batches, exactly). Bad input
        raises here and records nothing. ``t`` (seconds since the epoch) defaults to now.
        Marginal monitors (``classes=K``) take a probability vector and a class index.
        """
        if type(score) is not float or not 0.0 <= score <= 1.0:
            score = self._score_of(score)
        if type(label) is not int or (label != 0 and label != 1):
            label = _as_label(label)
        slot = self._slots.get(group)
        if slot is None:
            slot = self._new_slot(group)
        try:
            buf = self._local.buf
        except AttributeError:
            buf = self._new_buffer(claim=True)
        buf.append((score, label, slot, self._clock() if t is None else _as_time(t)))
        if len(buf) >= self._batch:
            self._drain((buf,))

    def _score_of(self, score: Any) -> float:
        """The slow path of ``record``'s score check: conversion and the error."""
        if self._classes:
            raise TypeError(
                "a marginal monitor (classes=K) records through record_many or record(probabilities, label)"
            )
        score = _as_score(score)
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score must lie in [0, 1], got {score!r}")
        return float(score)

    def _record_marginal(self, score: Any, label: Any, *, group: Hashable = None, t: Any = None) -> None:
        """``record`` of a marginal monitor: one probability vector and its class label."""
        self.record_many([score], [label], groups=None if group is None else [group], t=None if t is None else [t])

    def record_many(self, scores: Any, labels: Any, groups: Any = None, t: Any = None) -> None:
        """A batch of predictions with known outcomes, all-or-nothing.

        ``scores`` (n,) with 0/1 ``labels``, or (n, K) probabilities with class labels
        (top-label pairs; marginal for ``classes=K``); ``groups`` None or n keys; ``t``
        None (now), one time, or n times.
        """
        kernels = self._kernels
        mode = "marginal" if self._classes else "top-label"
        c = check(scores, labels, kernels, mode=mode, row_sum_atol=self._row_sum_atol)  # type: ignore[arg-type]
        if self._classes and c.classes != self._classes:
            raise ValueError(f"this monitor has classes={self._classes}: scores must have shape (n, {self._classes})")
        n = c.n
        if groups is None:
            keys: list[Hashable] = [None] * n
        else:
            if isinstance(groups, (str, bytes)):
                raise TypeError("groups must be a sequence of keys, one per row")
            keys = list(groups.tolist() if isinstance(groups, np.ndarray) else groups)
            if len(keys) != n:
                raise ValueError(f"groups must have one key per row ({n}), got {len(keys)}")
            for i, k in enumerate(keys):
                if k is not None and (isinstance(k, bool) or not isinstance(k, (str, int))):
                    raise TypeError(f"group keys must be strings or integers, got {type(k).__name__} at index {i}")
        if t is None:
            times = np.full(n, float(self._clock()))
        elif np.ndim(t) == 0:
            times = np.full(n, _as_time(t))
        else:
            times = np.asarray(t)
            if times.dtype.kind not in "iuf" or times.shape != (n,):
                raise ValueError(f"t must be None, one time or {n} finite times, got shape {times.shape}")
            times = times.astype(np.float64)
            bad = ~np.isfinite(times)
            if bad.any():
                raise ValueError(
                    f"t must be finite: {int(bad.sum())} value(s) are not, first at index {int(np.argmax(bad))}"
                )
        if c.kind == KIND_TOP_LABEL:
            p, y = kernels.top_label(c.scores, c.labels)
        else:
            p, y = c.scores, c.labels
        self._claim_kind(c.kind)
        slots = np.array([self._slot_of(k) for k in keys], np.int64)
        self._drain(
            (), arrays=(np.asarray(p, np.float64), np.asarray(y, np.int64), np.zeros(n, np.int8), slots, times, c.kind)
        )

    def predicted(self, key: Hashable, score: Any, *, group: Hashable = None, t: Any = None) -> bool:
        """File a prediction whose outcome comes later through :meth:`observed`.

        ``score`` in [0, 1] (or a probability vector: top-label, the outcome is then
        whether ``observed``'s label is its argmax). Returns False, counting a
        ``duplicate``, when ``key`` is already pending. The prediction counts at once
        towards the label-free estimate of its window.
        """
        hash(key)
        argmax = -1
        if np.ndim(score) == 1 and not self._classes:
            probs = check([score], [0], self._kernels, mode="top-label", row_sum_atol=self._row_sum_atol).scores[0]
            argmax, score = int(np.argmax(probs)), float(probs.max())
        elif self._classes:
            c = check([score], [0], self._kernels, mode="marginal", row_sum_atol=self._row_sum_atol)
            if c.classes != self._classes:
                raise ValueError(f"this monitor has classes={self._classes}: score must have {self._classes} entries")
            score = tuple(float(v) for v in c.scores[0])
        else:
            score = _as_score(score)
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"score must lie in [0, 1], got {score!r}")
        t = self._clock() if t is None else _as_time(t)
        slot = self._slots.get(group)
        if slot is None:
            slot = self._new_slot(group)
        if not self._pending.put(key, (score, slot, t, argmax), t):
            return False
        if not self._classes:
            self._push((score, -1 if argmax < 0 else -2, slot, t))
        return True

    def observed(self, key: Hashable, label: Any, *, t: Any = None) -> bool:
        """The outcome of the prediction filed under ``key``: joined and recorded at the
        prediction's time. False (counted as ``unknown`` or ``expired``) when there is no
        pending prediction to join."""
        if self._classes:
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < self._classes:
                raise ValueError(f"label must be a class index in [0, {self._classes}), got {label!r}")
            check = None
        else:
            if isinstance(label, (str, bytes)) or not isinstance(label, (bool, np.bool_, int, np.integer, float)):
                raise TypeError(f"label must be an integer, got {type(label).__name__}")

            def check(entry: tuple[Any, int, float, int]) -> None:
                if entry[3] < 0:
                    _as_label(label)  # a 1-D prediction: 0 or 1
                elif label != int(label) or label < 0:
                    raise ValueError(f"label must be a class index >= 0, got {label!r}")

        now = self._clock() if t is None else _as_time(t)
        entry = self._pending.take(key, now, check)
        if entry is None:
            return False
        score, slot, t_pred, argmax = entry
        self._claim_kind(KIND_MARGINAL if self._classes else KIND_BINARY if argmax < 0 else KIND_TOP_LABEL)
        if self._classes:
            self._drain(
                (),
                arrays=(
                    np.array([score], np.float64),
                    np.array([label], np.int64),
                    np.array([_CODE_JOINED], np.int8),
                    np.array([slot], np.int64),
                    np.array([t_pred]),
                    KIND_MARGINAL,
                ),
            )
            return True
        label = int(label == argmax) + 10 if argmax >= 0 else int(label)  # top-label: the outcome is correctness
        self._push((score, label + 2, slot, t_pred))
        return True

    def _push(self, item: tuple[Any, ...]) -> None:
        try:
            buf = self._local.buf
        except AttributeError:
            buf = self._new_buffer()
        buf.append(item)
        if len(buf) >= self._batch:
            self._drain((buf,))

    def _new_buffer(self, claim: bool = False) -> list[tuple[Any, ...]]:
        """This thread's buffer, registered with the monitor (``claim``: record()'s first
        call on this thread fixes the input kind to 1-D pairs)."""
        if claim:
            self._claim_kind(KIND_BINARY)
        buf: list[tuple[Any, ...]] = []
        self._local.buf = buf
        with self._lock:
            self._registry.append((weakref.ref(threading.current_thread()), buf))
        return buf

    def _new_slot(self, group: Hashable) -> int:
        if isinstance(group, bool) or not isinstance(group, (str, int)):
            raise TypeError(f"group must be None, a string or an integer, got {type(group).__name__}")
        with self._lock:
            slot = self._slots.get(group)
            if slot is not None:
                return slot
            if len(self._keys) >= self._max_groups:
                slot = self._slots.get(_OTHER)
                if slot is None:
                    slot = self._add_slot(_OTHER)
                with self._drop_lock:
                    self._dropped["overflow"] += 1  # counted once per key pooled
                self._slots[group] = slot
                return slot
            return self._add_slot(group)

    def _slot_of(self, key: Hashable) -> int:
        """The slot of a group key (-1: no group), created on first use."""
        slot = self._slots.get(key)
        return self._new_slot(key) if slot is None else slot

    def _add_slot(self, key: Hashable) -> int:
        slot = len(self._keys)
        self._keys.append(key)
        self._slots[key] = slot
        records = np.zeros(slot + 2, np.int64)
        records[:slot] = self._records[:-1]
        records[-1] = self._records[-1]
        self._records = records
        return slot

    def _count_drop(self, reason: str, slot: int, n: int) -> None:
        with self._drop_lock:
            self._dropped[reason] += n
            if slot >= 0:
                counts = self._dropped_slot.get(slot)
                if counts is None:
                    counts = self._dropped_slot[slot] = np.zeros(len(REASONS), np.int64)
                counts[REASONS.index(reason)] += n

    def _pending_per_slot(self) -> dict[int, int]:
        per = self._pending.per_slot()
        for slot, n in self._remote_pending.items():
            per[slot] = per.get(slot, 0) + n
        return per

    # ------------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Move every buffered record into the window state (readers call this first)."""
        self._drain(None)
        with self._lock:
            self._materialize()

    def _drain(self, buffers: Iterable[list[tuple[Any, ...]]] | None, arrays: tuple[Any, ...] | None = None) -> None:
        """Take the records of ``buffers`` (None: every buffer) and add them, plus
        ``arrays`` (a validated batch), under the state lock."""
        with self._lock:
            if buffers is None or self._advances(buffers):
                buffers = [buf for _, buf in self._registry]
                everything = True
            else:
                everything = False
            items: list[tuple[Any, ...]] = []
            for buf in buffers:
                n = len(buf)
                if n:
                    items.extend(buf[:n])
                    del buf[:n]
            if everything:  # buffers of finished threads are drained: forget them
                self._registry = [(ref, buf) for ref, buf in self._registry if _alive(ref) or buf]
            if items:
                self._ingest_items(items)
            if arrays is not None:
                self._ingest(*arrays)
            self._advance(self._clock_index())

    def _advances(self, buffers: Iterable[list[tuple[Any, ...]]]) -> bool:
        """Would these records open a new window? Then every buffer is drained with them,
        so no record waits in another thread's buffer while its window leaves the ring."""
        latest = self._current
        if latest is None:
            return True
        edge = (latest + 1) * self._window
        return any(buf and buf[-1][3] >= edge for buf in buffers)

    def _clock_index(self) -> int:
        t = float(self._clock())
        w = math.floor(t / self._window)
        if w * self._window > t:
            w -= 1
        elif (w + 1) * self._window <= t:
            w += 1
        return int(w)

    def _claim_kind(self, kind: int) -> None:
        """Fix the kind of input at the first call (1-D and top-label pairs do not mix)."""
        with self._drop_lock:
            if self._kind is None:
                self._kind = kind
        if self._kind != kind:
            raise ValueError(
                f"this monitor holds {_KIND_NAMES[self._kind]} pairs; cannot add {_KIND_NAMES[kind]} input "
                "(1-D scores and (n, K) top-label scores do not mix)"
            )

    def _ingest_items(self, items: list[tuple[Any, ...]]) -> None:
        cols = tuple(zip(*items))
        p = np.array(cols[0], np.float64) if not isinstance(cols[0][0], tuple) else np.array(cols[0])
        code_raw = np.array(cols[1], np.int64)
        slots = np.array(cols[2], np.int64)
        times = np.array(cols[3], np.float64)
        # codes: 0/1 pair (the label), 2/3 joined pair (label + 2), 12/13 joined top-label pair,
        # -1 prediction, -2 top-label prediction
        top = (code_raw >= 12) | (code_raw == -2)
        y = np.where(code_raw >= 12, code_raw - 12, np.where(code_raw >= 2, code_raw - 2, np.maximum(code_raw, 0)))
        code = np.where(code_raw < 0, _CODE_PREDICTION, np.where(code_raw >= 2, _CODE_JOINED, _CODE_PAIR)).astype(
            np.int8
        )
        kinds = np.where(top, KIND_TOP_LABEL, KIND_BINARY)
        for kind in np.unique(kinds):
            sel = kinds == kind
            if sel.all():
                self._ingest(p.astype(np.float64), y, code, slots.astype(np.int64), times.astype(np.float64), int(kind))
            else:
                self._ingest(
                    p[sel].astype(np.float64),
                    y[sel],
                    code[sel],
                    slots[sel].astype(np.int64),
                    times[sel].astype(np.float64),
                    int(kind),
                )

    def _advance(self, index: int) -> None:
        if self._current is not None and index <= self._current:
            return
        self._current = index
        for w in [w for w in self._windows if w <= index - self._history]:
            del self._windows[w]

    def _window_at(self, index: int) -> _Window:
        win = self._windows.get(index)
        if win is None:
            win = self._windows[index] = _Window(index, self._overall_words, self._group_words, len(self._keys))
        win.grow(len(self._keys), self._group_words)
        return win

    def _ingest(
        self, p: np.ndarray, y: np.ndarray, code: np.ndarray, slots: np.ndarray, t: np.ndarray, kind: int
    ) -> None:
        """Add validated records (under the state lock): scores p ((n,) or (n, K) marginal),
        outcomes y, codes (pair / joined pair / prediction only), group slots, times."""
        now = float(self._clock())
        w = _window_indices(t, self._window)
        future = t > now + self._window
        latest = int(w[~future].max()) if (~future).any() else None
        self._advance(max(self._clock_index(), latest if latest is not None else -(2**62)))
        assert self._current is not None
        late = ~future & (w <= self._current - self._history)
        for reason, mask in (("future", future), ("late", late)):
            if mask.any():
                for slot, n in zip(*np.unique(slots[mask], return_counts=True)):
                    self._count_drop(reason, int(slot), int(n))
        keep = ~(future | late)
        if not keep.any():
            return
        if not keep.all():
            p, y, code, slots, w = p[keep], y[keep], code[keep], slots[keep], w[keep]
        for index in np.unique(w):
            sel = w == index
            if sel.all():
                self._add_window(self._window_at(int(index)), p, y, code, slots, kind)
            else:
                self._add_window(self._window_at(int(index)), p[sel], y[sel], code[sel], slots[sel], kind)

    def _add_window(
        self, win: _Window, p: np.ndarray, y: np.ndarray, code: np.ndarray, slots: np.ndarray, kind: int
    ) -> None:
        k = self._kernels
        streams = self._streams
        lab = code != _CODE_PREDICTION
        capacity = win.aux.shape[0] - 1
        # label-free estimate and accuracy counters (binary and top-label input)
        if not self._classes:
            pred = code != _CODE_JOINED
            decision = self._accuracy_of == "decision" and kind == KIND_BINARY
            grouped = slots >= 0
            rows = np.concatenate([slots[grouped], np.full(slots.size, capacity)])
            correct = ((p >= 0.5) == (y == 1)) if decision else (y == 1)
            for col, values in ((0, pred), (2, lab), (3, lab & correct)):
                both = np.concatenate([values[grouped], values]).astype(np.float64)
                win.aux[:, col] += np.bincount(rows, weights=both, minlength=capacity + 1).astype(np.uint64)
            if self._calibrator is not None and pred.any():
                c = np.zeros(slots.size)
                c[pred] = np.clip(np.asarray(self._calibrator.transform(p[pred]), np.float64).reshape(-1), 0.0, 1.0)
                expected = np.where(p >= 0.5, c, 1.0 - c) if decision else c
                q = np.where(pred, (expected * _EXPECTED_SCALE).astype(np.uint64), np.uint64(0))
                np.add.at(win.aux[:, 1], rows, np.concatenate([q[grouped], q]))  # exact uint64 sums
        else:
            targets = [(capacity, np.ones(slots.size, bool))]
            targets += [(int(s), slots == s) for s in np.unique(slots[slots >= 0])]
            for r, sel in targets:
                win.aux[r, 0] += np.uint64(np.count_nonzero(sel & (code != _CODE_JOINED)))
                win.aux[r, 2] += np.uint64(np.count_nonzero(sel & lab))
        if not lab.any():
            return
        p, y, slots = p[lab], y[lab], slots[lab]
        if self._classes:  # marginal: class k's column against 1[y = k] into stream k
            K = self._classes
            pp = np.ascontiguousarray(p.T).reshape(-1)
            yy = (y[None, :] == np.arange(K)[:, None]).astype(np.uint8).reshape(-1)
            stream = np.repeat(np.arange(K, dtype=np.int64), p.shape[0])
            gslots = np.tile(slots, K)
        else:
            pp, yy, stream, gslots = p, y.astype(np.uint8), np.zeros(p.size, np.int64), slots
        k.accumulate_rows(win.overall, self._bins, *self._overall_grid, stream, pp, yy)
        grouped = gslots >= 0
        if grouped.any():
            rows = gslots[grouped] * streams + stream[grouped]
            k.accumulate_rows(
                win.groups,
                self._bins,
                *self._grid,
                rows,
                np.ascontiguousarray(pp[grouped]),
                np.ascontiguousarray(yy[grouped]),
            )
        counts = np.bincount(slots[slots >= 0], minlength=self._records.size - 1)
        self._records[: counts.size] += counts
        self._records[-1] += slots.size  # overall counts every record once
        if self._replicates:
            self._stage_units(win, p, y, slots)

    def _stage_units(self, win: _Window, p: np.ndarray, y: np.ndarray, slots: np.ndarray) -> None:
        """Add the records' (bin, outcome) unit statistics (count, sum, sum of squares) to the
        window's staged units; the replicates are drawn from them when someone reads."""
        units_per = 2 * self._bins
        capacity = win.aux.shape[0] - 1
        if win.units is None or win.units.shape[0] != capacity + 1:
            staged = np.zeros((capacity + 1, 3, units_per))
            if win.units is not None:
                staged[: win.units.shape[0] - 1] = win.units[:-1]
                staged[capacity] = win.units[-1]
            win.units = staged
        unit = 2 * equal_width_index(p, self._bins) + (y == 1)
        rows = np.where(slots >= 0, slots, capacity)
        flat = np.concatenate([rows * units_per + unit, capacity * units_per + unit[slots >= 0]])
        pp = np.concatenate([p, p[slots >= 0]])
        size = (capacity + 1) * units_per
        for j, weights in enumerate((None, pp, pp * pp)):
            win.units[:, j, :] += np.bincount(flat, weights=weights, minlength=size).reshape(capacity + 1, units_per)

    def _materialize(self) -> None:
        """Draw the replicates of every staged unit (under the state lock): R Poisson draws
        per non-empty (group, bin, outcome) unit since the last read, normal sums given them.
        Drawing at read time instead of per batch gives the same distribution (Poisson
        counts add) and costs O(R x units touched between reads), not O(R) per record."""
        if not self._replicates:
            return
        units_per = 2 * self._bins
        lo, hi = unit_bounds(self._bins)
        R = self._replicates
        for win in self._windows.values():
            if win.units is None:
                continue
            count = win.units[:, 0, :].reshape(-1)
            nz = np.flatnonzero(count)
            if nz.size:
                u = nz % units_per
                total = win.units[:, 1, :].reshape(-1)
                sumsq = win.units[:, 2, :].reshape(-1)
                draws = poisson_draws(count[nz], total[nz], sumsq[nz], lo[u], hi[u], R, self._rng)
                owner = nz // units_per
                capacity = win.units.shape[0] - 1
                starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
                for a, b in zip(starts, np.r_[starts[1:], owner.size]):
                    slot = int(owner[a])
                    if slot == capacity:
                        if win.overall_reps is None:
                            win.overall_reps = np.zeros((R, units_per, 2))
                        win.overall_reps[:, u[a:b], :] += draws[:, a:b, :]
                        continue
                    reps = win.reps.get(slot)
                    if reps is None:
                        reps = win.reps[slot] = np.zeros((R, units_per, 2))
                    reps[:, u[a:b], :] += draws[:, a:b, :]
            win.units = None

    # ------------------------------------------------------------------ reading

    def _select(self, last: int | None, closed: bool = False) -> list[_Window]:
        """The windows of the last ``last`` (None: all) ending with the current one, or
        with the last closed one (``closed=True``)."""
        if last is not None and (isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 1):
            raise ValueError(f"last must be None or a positive number of windows, got {last!r}")
        if self._current is None:
            return []
        end = self._current - 1 if closed else self._current
        first = end - (self._history if last is None else min(int(last), self._history))
        return [self._windows[w] for w in sorted(self._windows) if first < w <= end]

    def _new_sketch(self, grid: tuple[int, int]) -> ReliabilitySketch:
        s = ReliabilitySketch(
            self._bins,
            self._classes,
            row_sum_atol=self._row_sum_atol,
            backend=self._backend_name,
            replicates=self._replicates,
            grid=grid_name(grid),
        )
        s._kind = self._kind
        return s

    def sketch(self, last: int | None = None, group: Hashable = None, *, closed: bool = False) -> ReliabilitySketch:
        """The exact merge of the last ``last`` windows (None: the whole ring) of one group
        (None: every record), as a :class:`calipers.ReliabilitySketch` (with its bootstrap
        replicates). The overall sketch is on ``overall_grid``, a group's on ``grid``.
        ``closed=True`` counts back from the last closed window instead of the open one."""
        self.flush()
        with self._lock:
            windows = self._select(last, closed)
            if group is None:
                out = self._new_sketch(self._overall_grid)
                for win in windows:
                    _add_state(out._acc, win.overall, self._bins, self._streams)
                    if win.overall_reps is not None:
                        out._replicates += win.overall_reps
                return out
            if group not in self._keys:
                raise KeyError(f"no group {group!r} in this monitor")
            slot = self._keys.index(group)
            out = self._new_sketch(self._grid)
            for win in windows:
                if slot < win.aux.shape[0] - 1:
                    part = win.groups[slot * self._group_words : (slot + 1) * self._group_words]
                    _add_state(out._acc, part, self._bins, self._streams)
                    if slot in win.reps:
                        out._replicates += win.reps[slot]
            return out

    def _aux(self, windows: list[_Window]) -> tuple[np.ndarray, np.ndarray]:
        """Summed counters per slot and overall over ``windows``."""
        n = len(self._keys)
        per = np.zeros((n, _AUX), np.uint64)
        overall = np.zeros(_AUX, np.uint64)
        for win in windows:
            cap = win.aux.shape[0] - 1
            per[:cap] += win.aux[:cap]
            overall += win.aux[cap]
        return per, overall

    def _summary(self, sketch: ReliabilitySketch, aux: np.ndarray, smooth: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"count": sketch.count}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if sketch.count:
                out["ece"] = sketch.ece()
                if self._replicates:
                    iv = sketch.ece_interval(confidence=self._confidence)
                    out["ece_low"], out["ece_high"] = iv.low, iv.high
                if smooth:
                    out["smooth_ece"] = sketch.smooth_ece()
                out["brier"] = sketch.brier()
                out["log_loss"] = sketch.log_loss()
            else:
                out.update({"ece": None, "brier": None, "log_loss": None})
                if smooth:
                    out["smooth_ece"] = None
        predictions, expected, labelled, correct = (int(v) for v in aux)
        out["predictions"] = predictions
        if not self._classes:
            out["accuracy"] = correct / labelled if labelled else None
            if self._calibrator is not None:
                out["expected_accuracy"] = expected / _EXPECTED_SCALE / predictions if predictions else None
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    def snapshot(self, last: int | None = None, *, closed: bool = False, smooth: bool = True) -> dict[str, Any]:
        """Per group and overall over the last ``last`` windows (None: the ring): count,
        ECE (``ece_low``/``ece_high``: its bootstrap interval with replicates), smooth ECE,
        Brier, log loss, predictions, accuracy (and the expected accuracy with a
        calibrator), pending and dropped counts; plus ``count`` (outcomes recorded since
        the start), the drops by reason and the firing alerts. JSON-serializable.
        ``closed=True`` counts back from the last closed window instead of the open one."""
        self.flush()
        self.evaluate()
        with self._lock:
            windows = self._select(last, closed)
            keys = list(self._keys)
            per_aux, overall_aux = self._aux(windows)
            records = self._records.copy()
            span = (windows[0].index * self._window, (windows[-1].index + 1) * self._window) if windows else None
        with self._drop_lock:
            dropped = dict(self._dropped)
            dropped_slot = {s: c.copy() for s, c in self._dropped_slot.items()}
        pending = self._pending_per_slot()
        overall = self._summary(self.sketch(last, closed=closed), overall_aux, smooth)
        overall["pending"] = sum(pending.values())
        overall["dropped"] = {r: dropped[r] for r in REASONS}
        groups: dict[str, Any] = {}
        for slot, key in sorted(enumerate(keys), key=lambda kv: _key_order(kv[1])):
            g = self._summary(self.sketch(last, key, closed=closed), per_aux[slot], smooth)
            g["pending"] = pending.get(slot, 0)
            counts = dropped_slot.get(slot, np.zeros(len(REASONS), np.int64))
            g["dropped"] = {r: int(v) for r, v in zip(REASONS, counts)}
            g["records_total"] = int(records[slot])
            groups[str(key)] = g
        return {
            "count": int(records[-1]),
            "pending": sum(pending.values()),
            "dropped": dropped,
            "window": self._window,
            "windows": len(windows),
            "from": span[0] if span else None,
            "to": span[1] if span else None,
            "overall": overall,
            "groups": groups,
            "alerts": [a.__dict__ | {"group": str(a.group) if a.group is not None else None} for a in self.alerts()],
        }

    @property
    def records_total(self) -> int:
        """Outcomes recorded since the start (merges included), dropped ones excluded."""
        self.flush()
        return int(self._records[-1])

    def records_by_group(self) -> dict[Hashable, int]:
        """Outcomes recorded since the start, per group key."""
        self.flush()
        with self._lock:
            return {k: int(self._records[i]) for i, k in enumerate(self._keys)}

    def dropped(self) -> dict[str, int]:
        """Drops by reason since the start (plus ``overflow``: group keys pooled)."""
        self.flush()
        with self._drop_lock:
            return dict(self._dropped)

    def pending_by_group(self) -> dict[Hashable, int]:
        """Pending predictions per group key (None: no group)."""
        per = self._pending_per_slot()
        with self._lock:
            return {(None if s < 0 else self._keys[s]): n for s, n in per.items()}

    # ------------------------------------------------------------------ alerts

    def evaluate(self) -> list[Alert]:
        """Check every closed window not checked yet against the thresholds; returns (and
        passes to ``on_alert``) the alerts that fire. Readers call this."""
        if not self._thresholds:
            return []
        self.flush()
        with self._lock:
            todo = [
                w
                for i, w in sorted(self._windows.items())
                if self._current is not None and i < self._current and not w.evaluated
            ]
            for w in todo:
                w.evaluated = True
        fired = []
        for win in todo:
            for key in [None, *self.groups]:
                sketch = self._window_sketch(win, key)
                if sketch is None or sketch.count < self._alert_min_count:
                    continue
                for metric, threshold in self._thresholds.items():
                    alert = self._check(sketch, key, metric, float(threshold), win.index * self._window)
                    self._alerts[(key, metric)] = alert
                    if alert.firing:
                        fired.append(alert)
        for alert in fired:
            if self._on_alert is not None:
                self._on_alert(alert)
        return fired

    def _window_sketch(self, win: _Window, key: Hashable) -> ReliabilitySketch | None:
        with self._lock:
            if key is None:
                s = self._new_sketch(self._overall_grid)
                s._acc = win.overall.copy()
                if win.overall_reps is not None:
                    s._replicates = win.overall_reps.copy()
                return s
            slot = self._keys.index(key)
            if slot >= win.aux.shape[0] - 1:
                return None
            s = self._new_sketch(self._grid)
            s._acc = win.groups[slot * self._group_words : (slot + 1) * self._group_words].copy()
            if slot in win.reps:
                s._replicates = win.reps[slot].copy()
            return s

    def _check(self, sketch: ReliabilitySketch, key: Hashable, metric: str, threshold: float, start: float) -> Alert:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if metric == "ece" and self._replicates:
                iv = sketch.ece_interval(confidence=self._confidence)
                value, low, high = iv.estimate, iv.low, iv.high
            else:
                value = float(getattr(sketch, metric)())
                low = high = value
        return Alert(key, metric, start, value, low, high, threshold, sketch.count, bool(low > threshold))

    def alerts(self) -> list[Alert]:
        """Firing alerts: per group and metric, the last closed window checked."""
        self.evaluate()
        return [a for a in self._alerts.values() if a.firing]

    def alert_states(self) -> dict[tuple[Hashable, str], Alert]:
        """The last check of every (group, metric), firing or not (None: overall)."""
        self.evaluate()
        return dict(self._alerts)

    # ------------------------------------------------------------------ merging

    def _settings(self) -> dict[str, Any]:
        return {
            "bins": self._bins,
            "classes": self._classes,
            "window": self._window,
            "history": self._history,
            "max_groups": self._max_groups,
            "replicates": self._replicates,
            "grid": list(self._grid),
            "overall_grid": list(self._overall_grid),
            "row_sum_atol": self._row_sum_atol,
        }

    def to_bytes(self) -> bytes:
        """Versioned, checksummed state: settings, group keys (sorted), per window the
        overall state, the group rows, counters and replicates; records and drops by
        reason; pending counts (the pending entries themselves stay in this process)."""
        self.flush()
        with self._lock:
            order = sorted(range(len(self._keys)), key=lambda s: _key_order(self._keys[s]))
            keys = [self._keys[s] for s in order]
            pending = self._pending_per_slot()
            with self._drop_lock:
                dropped = dict(self._dropped)
                dropped_slot = {s: c.copy() for s, c in self._dropped_slot.items()}
            header = self._settings() | {
                "kind": self._kind,
                "current": self._current,
                "keys": keys,
                "records": [int(self._records[s]) for s in order] + [int(self._records[-1])],
                "dropped": dropped,
                "dropped_groups": [dropped_slot.get(s, np.zeros(len(REASONS), np.int64)).tolist() for s in order],
                "pending": [pending.get(s, 0) for s in order] + [pending.get(-1, 0)],
                "windows": [],
            }
            blocks: list[bytes] = []
            for index in sorted(self._windows):
                win = self._windows[index]
                cap = win.aux.shape[0] - 1
                groups = np.zeros((len(keys), self._group_words), np.uint64)
                aux = np.zeros((len(keys) + 1, _AUX), np.uint64)
                aux[-1] = win.aux[cap]
                reps = []
                for i, s in enumerate(order):
                    if s < cap:
                        groups[i] = win.groups[s * self._group_words : (s + 1) * self._group_words]
                        aux[i] = win.aux[s]
                        if s in win.reps:
                            reps.append(i)
                header["windows"].append([index, reps, win.overall_reps is not None])
                blocks += [
                    win.overall.astype("<u8").tobytes(),
                    groups.astype("<u8").tobytes(),
                    aux.astype("<u8").tobytes(),
                ]
                if win.overall_reps is not None:
                    blocks.append(win.overall_reps.astype("<f8").tobytes())
                blocks += [win.reps[order[i]].astype("<f8").tobytes() for i in reps]
        head = json.dumps(header, separators=(",", ":")).encode()
        return _serde.pack_payload(TYPE_MONITOR, struct.pack("<I", len(head)) + head + b"".join(blocks))

    @classmethod
    def from_bytes(cls, data: bytes, **kwargs: Any) -> CalibrationMonitor:
        """Rebuild a monitor from :meth:`to_bytes` (``kwargs``: the run-time options that
        are not serialized: thresholds, on_alert, calibrator, clock, ...). Without
        ``clock`` the monitor's clock stays at the time it was saved (its ring is read as
        it was, not aged by the time since); pass ``clock=time.time`` to go on recording.
        Raises ValueError on truncated, corrupted or foreign bytes."""
        payload = _serde.unpack_payload(data, TYPE_MONITOR)
        try:
            (hlen,) = struct.unpack_from("<I", payload)
            h = json.loads(payload[4 : 4 + hlen])
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
            keys = h["keys"]
            if any(not isinstance(k, (str, int)) or isinstance(k, bool) for k in keys) or len(set(keys)) != len(keys):
                raise ValueError("group keys must be distinct strings or integers")
            if h["kind"] not in ((KIND_MARGINAL,) if out._classes else (None, KIND_BINARY, KIND_TOP_LABEL)):
                raise ValueError(f"kind {h['kind']!r} does not match classes={out._classes}")
            for key in keys:
                out._add_slot(key)
            out._kind = h["kind"]
            if h["current"] is not None and (
                not _is_count(abs(h["current"])) or not math.isfinite((abs(h["current"]) + 1.0) * out._window)
            ):
                raise ValueError(f"current window {h['current']!r} is not a window index of this monitor")
            out._current = h["current"]
            if "clock" not in kwargs:
                frozen = 0.0 if out._current is None else (out._current + 0.5) * out._window
                out._clock = lambda: frozen
            n = len(keys)
            records = _counts(h["records"], n + 1, "records")
            if int(records[:-1].sum()) > int(records[-1]):
                raise ValueError("records of the groups add up to more than the total")
            out._records = records
            if set(h["dropped"]) != set(out._dropped) or any(
                not isinstance(v, int) or v < 0 for v in h["dropped"].values()
            ):
                raise ValueError("drop counts are malformed")
            out._dropped = {r: int(h["dropped"][r]) for r in out._dropped}
            rows = h["dropped_groups"]
            if not isinstance(rows, list) or len(rows) != n:
                raise ValueError("drop counts do not match the group keys")
            dg = np.array([_counts(row, len(REASONS), "drop counts") for row in rows], np.int64).reshape(
                n, len(REASONS)
            )
            out._dropped_slot = {i: dg[i].copy() for i in range(n) if dg[i].any()}
            pend = _counts(h["pending"], n + 1, "pending counts")
            out._remote_pending = {i: int(v) for i, v in enumerate(pend[:-1]) if v}
            if pend[-1]:
                out._remote_pending[-1] = int(pend[-1])
            pos = 4 + hlen
            R, units = out._replicates, 2 * out._bins

            def take(count: int, dtype: str) -> np.ndarray:
                nonlocal pos
                size = count * 8
                if pos + size > len(payload):
                    raise ValueError("payload truncated")
                arr = np.frombuffer(payload, dtype=dtype, count=count, offset=pos)
                pos += size
                return arr

            last_index = None
            for entry in h["windows"]:
                index, reps, has_overall = int(entry[0]), list(entry[1]), bool(entry[2])
                if last_index is not None and index <= last_index:
                    raise ValueError("windows are not in increasing order")
                last_index = index
                win = _Window(index, out._overall_words, out._group_words, n)
                win.overall = take(out._overall_words, "<u8").astype(np.uint64)
                win.groups = take(n * out._group_words, "<u8").astype(np.uint64)
                win.aux = take((n + 1) * _AUX, "<u8").astype(np.uint64).reshape(n + 1, _AUX)
                if (has_overall or reps) and not R:
                    raise ValueError("replicates in a monitor without replicates")
                if has_overall:
                    win.overall_reps = take(R * units * 2, "<f8").astype(np.float64).reshape(R, units, 2)
                for i in reps:
                    if not isinstance(i, int) or not 0 <= i < n:
                        raise ValueError("replicate owner out of range")
                    win.reps[i] = take(R * units * 2, "<f8").astype(np.float64).reshape(R, units, 2)
                _check_window(out, win)
                out._windows[index] = win
            if pos != len(payload):
                raise ValueError("payload sizes do not add up: padded")
        except (struct.error, KeyError, TypeError, json.JSONDecodeError, AttributeError, OverflowError) as exc:
            raise ValueError(f"calipers monitor blob is malformed: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"calipers monitor blob is malformed: {exc}") from exc
        return out

    def merge(self, other: CalibrationMonitor | bytes) -> CalibrationMonitor:
        """Add another monitor (or its bytes: a replica, a forked worker) into this one,
        exactly: windows by index, groups by key, counts by reason. Windows that fall out
        of this monitor's ring count as ``late``. Returns self."""
        if isinstance(other, (bytes, bytearray, memoryview)):
            other = CalibrationMonitor.from_bytes(bytes(other))
        if not isinstance(other, CalibrationMonitor):
            raise TypeError(f"can only merge a CalibrationMonitor or its bytes, got {type(other).__name__}")
        if other is self:
            raise ValueError("cannot merge a monitor into itself")
        mine, theirs = self._settings(), other._settings()
        mine.pop("max_groups"), theirs.pop("max_groups")
        if mine != theirs:
            diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
            raise ValueError(f"cannot merge monitors with different settings: {diff}")
        blob = CalibrationMonitor.from_bytes(other.to_bytes())  # a consistent copy, flushed
        self.flush()
        with self._lock:
            if blob._kind is not None and self._kind is not None and blob._kind != self._kind:
                raise ValueError("cannot merge monitors holding different kinds of input")
            if self._kind is None:
                self._kind = blob._kind
        slots: list[int] = [self._slot_of(k) for k in blob._keys]
        with self._drop_lock:
            for r, v in blob._dropped.items():
                self._dropped[r] += v
            for i, counts in blob._dropped_slot.items():
                mine_counts = self._dropped_slot.setdefault(slots[i], np.zeros(len(REASONS), np.int64))
                mine_counts += counts
        with self._lock:
            for i, n in blob._remote_pending.items():
                s = -1 if i < 0 else slots[i]
                self._remote_pending[s] = self._remote_pending.get(s, 0) + n
            np.add.at(self._records, np.array(slots, np.int64), blob._records[:-1])
            self._records[-1] += blob._records[-1]
            if blob._current is not None:
                self._advance(blob._current)
            for index, src in blob._windows.items():
                if self._current is not None and index <= self._current - self._history:
                    self._count_drop("late", -1, int(src.aux[-1, 2]))
                    continue
                dst = self._window_at(index)
                _add_state(dst.overall, src.overall, self._bins, self._streams)
                cap = dst.aux.shape[0] - 1
                dst.aux[cap] += src.aux[-1]
                for i, s in enumerate(slots):
                    a, b = s * self._group_words, (s + 1) * self._group_words
                    part = src.groups[i * self._group_words : (i + 1) * self._group_words]
                    _add_state(dst.groups[a:b], part, self._bins, self._streams)
                    dst.aux[s] += src.aux[i]
                    if i in src.reps:
                        if s in dst.reps:
                            dst.reps[s] += src.reps[i]
                        else:
                            dst.reps[s] = src.reps[i].copy()
                if src.overall_reps is not None:
                    dst.overall_reps = (
                        src.overall_reps.copy() if dst.overall_reps is None else dst.overall_reps + src.overall_reps
                    )
                dst.evaluated = False
        return self

    def __repr__(self) -> str:
        return (
            f"CalibrationMonitor(bins={self._bins}, classes={self._classes}, window={self._window}, "
            f"history={self._history}, groups={len(self._keys)}, windows={len(self._windows)})"
        )

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (CalibrationMonitor.from_bytes, (self.to_bytes(),))

    @property
    def nbytes(self) -> int:
        """Bytes held by the window states (rows, counters and replicates)."""
        with self._lock:
            total = 0
            for win in self._windows.values():
                total += win.overall.nbytes + win.groups.nbytes + win.aux.nbytes
                total += 0 if win.overall_reps is None else win.overall_reps.nbytes
                total += sum(r.nbytes for r in win.reps.values())
            return total


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63


def _counts(values: Any, size: int, what: str) -> np.ndarray:
    """A list of ``size`` non-negative integers (floats are not counts) as int64."""
    if not isinstance(values, list) or len(values) != size or not all(_is_count(v) for v in values):
        raise ValueError(f"{what} must be {size} non-negative integers")
    return np.array(values, np.int64)


def _check_window(m: CalibrationMonitor, win: _Window) -> None:
    """Each state of a window must load as a consistent sketch (counts, sums, grids)."""
    from .._common.serde import FLAG_EMPTY
    from ..streaming.sketch import _check_consistent

    for state, grid, count in [(win.overall, m._overall_grid, int(win.aux[-1, 2]))] + [
        (win.groups[i * m._group_words : (i + 1) * m._group_words], m._grid, int(win.aux[i, 2]))
        for i in range(win.aux.shape[0] - 1)
    ]:
        rows = state.reshape(m._streams, -1)
        n = int(rows[0, : m._bins * FIELDS : FIELDS].sum())
        if n != count:
            raise ValueError(f"window {win.index}: a state holds {n} records, its counter {count}")
        kind = m._kind if m._kind is not None else KIND_BINARY
        _check_consistent(state, m._bins, m._streams, kind, FLAG_EMPTY if n == 0 else 0, grid)


class _Identity:
    """``calibrator=True``: the recorded scores are calibrated already."""

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """The scores themselves."""
        return scores


def _alive(ref: weakref.ref[threading.Thread]) -> bool:
    thread = ref()
    return thread is not None and thread.is_alive()


def _key_order(key: Hashable) -> tuple[bool, Any]:
    return (isinstance(key, str), key)


def _window_indices(t: np.ndarray, window: float) -> np.ndarray:
    """w with w * window <= t < (w + 1) * window, exactly in float64 products."""
    w = np.floor(t / window)
    w = np.where(w * window > t, w - 1, w)
    w = np.where((w + 1) * window <= t, w + 1, w)
    return w.astype(np.int64)
