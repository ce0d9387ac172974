"""The record path of a CalibrationMonitor: ``record``, ``record_many``, ``predicted``,
``observed`` and ``flush``, as a mixin of the class.

``record`` checks a plain float score and int label inline and appends one tuple to the
calling thread's buffer (:mod:`.buffers`), no lock, no numpy; the buffer is drained into
the window state under the state lock when it holds ``batch`` records, or when its
records would open a new window (then every buffer is drained, so no record waits in an
idle thread while its window leaves the ring). ``record_many`` and the joins of
``observed`` go through the same drain with validated arrays. Bad input raises at the
call and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np

from .._common.grid import KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL
from .._common.validate import check
from . import reading
from .buffers import CODE_JOINED, ThreadBuffers, decode
from .ingest import add_to_window
from .inputs import (
    as_label,
    as_score,
    as_time,
    check_group,
    group_keys,
    outcome_check,
    prediction_of,
    times_of,
    window_of,
)
from .settings import Settings
from .state import MonitorState
from .window import Window

__all__ = ["RecordingMixin"]

_PLAIN_KEYS = frozenset((str, int, type(None)))  # key types the record path looks up as given

_KIND_NAMES = {KIND_BINARY: "binary", KIND_TOP_LABEL: "top-label", KIND_MARGINAL: "marginal"}


class RecordingMixin:
    """The record path of :class:`calipers.CalibrationMonitor` (see the module docstring)."""

    _state: MonitorState
    _settings: Settings
    _kernels: Any
    _clock: Callable[[], float]
    _batch: int
    _slots: dict[Hashable, int]
    _local: Any

    def record(self, score: Any, label: Any, *, group: Hashable = None, t: Any = None) -> None:
        """One prediction whose outcome is known: ``score`` in [0, 1], ``label`` 0 or 1.

        Costs a buffered append (the state is updated in batches, exactly). Bad input
        raises here and records nothing. ``t`` (seconds since the epoch) defaults to now.
        Marginal monitors (``classes=K``) take a probability vector and a class index.
        """
        if type(score) is not float or not 0.0 <= score <= 1.0:
            score = self._score_of(score)
        if type(label) is not int or (label != 0 and label != 1):
            label = as_label(label)
        slot = self._slots.get(group) if type(group) in _PLAIN_KEYS else None
        if slot is None:
            slot = self._new_slot(group)
        try:
            buf = self._local.buf
        except AttributeError:
            buf = self._new_buffer(claim=True)
        buf.append((score, label, slot, self._clock() if t is None else as_time(t)))
        if len(buf) >= self._batch:
            self._drain((buf,))

    def _score_of(self, score: Any) -> float:
        """The slow path of ``record``'s score check: conversion and the error."""
        if self._settings.classes:
            raise TypeError(
                "a marginal monitor (classes=K) records through record_many or record(probabilities, label)"
            )
        score = as_score(score)
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
        s, kernels = self._settings, self._kernels
        mode = "marginal" if s.classes else "top-label"
        c = check(scores, labels, kernels, mode=mode, row_sum_atol=s.row_sum_atol)
        if s.classes and c.classes != s.classes:
            raise ValueError(f"this monitor has classes={s.classes}: scores must have shape (n, {s.classes})")
        n = c.n
        grouped = group_keys(groups, n)
        times = times_of(t, n, self._clock)
        if grouped is not None:
            with self._state.lock:  # refuse a label collision before anything changes
                self._state.groups.check_labels(grouped[0], "groups: the key")
        if c.kind == KIND_TOP_LABEL:
            p, y = kernels.top_label(c.scores, c.labels)
        else:
            p, y = c.scores, c.labels
        self._claim_kind(c.kind)
        if grouped is None:
            slots = np.full(n, -1, np.int64)
        else:
            slots = self._slots_of(grouped[0])[grouped[1]]
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
        s = self._settings
        score, argmax = prediction_of(score, s.classes, self._kernels, s.row_sum_atol)
        t = self._clock() if t is None else as_time(t)
        slot = self._slots.get(group) if type(group) in _PLAIN_KEYS else None
        if slot is None:
            slot = self._new_slot(group)
        if not self._state.pending.put(key, (score, slot, t, argmax), t):
            return False
        if not s.classes:
            self._push((score, -1 if argmax < 0 else -2, slot, t))
        return True

    def observed(self, key: Hashable, label: Any, *, t: Any = None) -> bool:
        """The outcome of the prediction filed under ``key``: joined and recorded at the
        prediction's time. False (counted as ``unknown`` or ``expired``) when there is no
        pending prediction to join."""
        classes = self._settings.classes
        against = outcome_check(label, classes)
        now = self._clock() if t is None else as_time(t)
        entry = self._state.pending.take(key, now, against)
        if entry is None:
            return False
        score, slot, t_pred, argmax = entry
        self._claim_kind(KIND_MARGINAL if classes else KIND_BINARY if argmax < 0 else KIND_TOP_LABEL)
        if classes:
            arrays = (
                np.array([score], np.float64),
                np.array([label], np.int64),
                np.array([CODE_JOINED], np.int8),
                np.array([slot], np.int64),
                np.array([t_pred]),
                KIND_MARGINAL,
            )
            self._drain((), arrays=arrays)
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
        return self._state.buffers.new(self._state.lock)

    def _new_slot(self, group: Any) -> int:
        """The slot of a key not found by the record path's plain lookup: the key by the
        shared rule (:func:`check_group`, the same whatever this monitor holds), then its
        slot, created on first use (a key whose label collides is refused)."""
        key = check_group(group)
        slot = self._slots.get(key)
        if slot is not None:
            return slot
        state = self._state
        with state.lock:
            state.groups.check_labels([key])
            return self._place(key)

    def _place(self, key: Hashable) -> int:
        """The slot of a checked key (under the state lock), created or pooled on first use."""
        state = self._state
        slot, created, pooled = state.groups.place(key)
        if created:
            state.tallies.add_slot()
        if pooled:
            state.tallies.count_overflow()  # counted once per key pooled
        return slot

    def _slots_of(self, keys: list[Hashable]) -> np.ndarray:
        """The slots of checked keys (None: -1), all created at once: a key whose label
        collides refuses them all."""
        slots = [self._slots.get(k) for k in keys]
        if any(s is None for s in slots):
            with self._state.lock:
                self._state.groups.check_labels(keys, "groups: the key")
                slots = [self._place(k) for k in keys]
        return np.array(slots, np.int64)

    def _add_slot(self, key: Hashable) -> int:
        """A slot for a key known to be new (loading bytes)."""
        slot = self._state.groups.add(key)
        self._state.tallies.add_slot()
        return slot

    def _claim_kind(self, kind: int) -> None:
        """Fix the kind of input at the first call (1-D and top-label pairs do not mix)."""
        state = self._state
        with state.kind_lock:
            if state.kind is None:
                state.kind = kind
        if state.kind != kind:
            raise ValueError(
                f"this monitor holds {_KIND_NAMES[state.kind]} pairs; cannot add {_KIND_NAMES[kind]} input "
                "(1-D scores and (n, K) top-label scores do not mix)"
            )

    # ------------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Move every buffered record into the window state and draw the replicates of
        what was staged (readers call this first)."""
        with self._state.read_lock:
            self._drain(None)
            reading.sync(self._state)

    def _drain(self, buffers: Iterable[list[tuple[Any, ...]]] | None, arrays: tuple[Any, ...] | None = None) -> None:
        """Take the records of ``buffers`` (None: every buffer) and add them, plus
        ``arrays`` (a validated batch), under the state lock."""
        state = self._state
        with state.lock:
            everything = buffers is None or state.ring.would_open(buffers)
            if everything:
                buffers = state.buffers.all()
            assert buffers is not None
            items = ThreadBuffers.take(buffers)
            if everything:  # buffers of finished threads are drained: forget them
                state.buffers.forget_finished()
            if items:
                for batch in decode(items):
                    self._route(*batch)
            if arrays is not None:
                self._route(*arrays)
            state.ring.advance(window_of(float(self._clock()), self._settings.window))

    def _route(
        self, p: np.ndarray, y: np.ndarray, code: np.ndarray, slots: np.ndarray, t: np.ndarray, kind: int
    ) -> None:
        """Add validated records to their windows (under the state lock)."""
        state = self._state
        state.ring.route(
            p, y, code, slots, t, kind, self._clock, len(state.groups), self._add, state.tallies.count_drop
        )

    def _add(self, win: Window, p: np.ndarray, y: np.ndarray, code: np.ndarray, slots: np.ndarray, kind: int) -> None:
        state = self._state
        add_to_window(win, p, y, code, slots, kind, self._settings, self._kernels, state.tallies)
