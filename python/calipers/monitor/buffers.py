"""Per-thread record buffers of a CalibrationMonitor and the decoding of what they hold.

``record``, ``predicted`` and ``observed`` append one tuple ``(score, code, slot, t)`` to
the calling thread's buffer (no lock, no numpy). The buffers belong to the monitor (its
registry), not to the threads, so a thread that ends loses nothing; once drained, the
buffers of finished threads are forgotten, so a server that starts a thread per request
keeps bounded memory.

Codes in a buffered tuple: 0/1 a (score, outcome) pair, 2/3 a joined pair (outcome + 2),
12/13 a joined top-label pair (correctness + 12), -1 a prediction, -2 a top-label
prediction. :func:`decode` turns them into batches of arrays with a per-record kind
(:data:`CODE_PAIR`, :data:`CODE_JOINED`, :data:`CODE_PREDICTION`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._common.grid import KIND_BINARY, KIND_TOP_LABEL

__all__ = ["ThreadBuffers", "Batch", "decode", "CODE_PAIR", "CODE_JOINED", "CODE_PREDICTION"]

CODE_PAIR, CODE_JOINED, CODE_PREDICTION = 0, 1, 2

Buffer = list[tuple[Any, ...]]
# scores, outcomes, codes, group slots, times, kind of input
Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]


def _alive(ref: weakref.ref[threading.Thread]) -> bool:
    thread = ref()
    return thread is not None and thread.is_alive()


class ThreadBuffers:
    """The registry of every thread's buffer (``local.buf`` is the calling thread's)."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.registry: list[tuple[weakref.ref[threading.Thread], Buffer]] = []

    def new(self, lock: threading.Lock) -> Buffer:
        """A buffer for the calling thread, registered under the monitor's state ``lock``."""
        buf: Buffer = []
        self.local.buf = buf
        with lock:
            self.registry.append((weakref.ref(threading.current_thread()), buf))
        return buf

    def all(self) -> list[Buffer]:
        """Every registered buffer (under the state lock)."""
        return [buf for _, buf in self.registry]

    @staticmethod
    def take(buffers: Iterable[Buffer]) -> list[tuple[Any, ...]]:
        """Empty ``buffers`` (under the state lock) and return their records in order."""
        items: list[tuple[Any, ...]] = []
        for buf in buffers:
            n = len(buf)
            if n:
                items.extend(buf[:n])
                del buf[:n]
        return items

    def forget_finished(self) -> None:
        """Drop the drained buffers of threads that have ended (under the state lock)."""
        self.registry = [(ref, buf) for ref, buf in self.registry if _alive(ref) or buf]


def decode(items: list[tuple[Any, ...]]) -> list[Batch]:
    """Buffered tuples as batches of arrays, one per kind of input (binary, top-label)."""
    cols = tuple(zip(*items))
    p = np.array(cols[0], np.float64) if not isinstance(cols[0][0], tuple) else np.array(cols[0])
    code_raw = np.array(cols[1], np.int64)
    slots = np.array(cols[2], np.int64)
    times = np.array(cols[3], np.float64)
    top = (code_raw >= 12) | (code_raw == -2)
    y = np.where(code_raw >= 12, code_raw - 12, np.where(code_raw >= 2, code_raw - 2, np.maximum(code_raw, 0)))
    code = np.where(code_raw < 0, CODE_PREDICTION, np.where(code_raw >= 2, CODE_JOINED, CODE_PAIR)).astype(np.int8)
    kinds = np.where(top, KIND_TOP_LABEL, KIND_BINARY)
    batches: list[Batch] = []
    for kind in np.unique(kinds):
        sel = kinds == kind
        if sel.all():
            batches.append((p.astype(np.float64), y, code, slots.astype(np.int64), times.astype(np.float64), int(kind)))
        else:
            batches.append(
                (
                    p[sel].astype(np.float64),
                    y[sel],
                    code[sel],
                    slots[sel].astype(np.int64),
                    times[sel].astype(np.float64),
                    int(kind),
                )
            )
    return batches
