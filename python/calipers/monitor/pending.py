"""The pending-outcome table of a CalibrationMonitor: predictions waiting for their outcome.

``predicted(key, ...)`` files an entry; ``observed(key, ...)`` takes it out again. The table
is bounded twice: by ``max_pending`` (the oldest entry is evicted when a new one would not
fit) and by ``ttl`` (an entry older than ``ttl`` seconds of event time is expired, when it
is looked up or when it reaches the front of the table). Every entry that leaves the table
without its outcome is counted by reason, never dropped silently:

* ``expired``: the outcome came, or the table was swept, more than ``ttl`` after the prediction;
* ``evicted``: pushed out by ``max_pending``;
* ``duplicate``: a second ``predicted`` with a key already pending (the first is kept);
* ``unknown``: an outcome whose key is not pending (never predicted, already joined,
  expired or evicted earlier).

Memory: one entry is a dict slot plus a 4-tuple (score, group slot, time, argmax): 136
bytes measured with tracemalloc (tests/test_monitor.py), plus the key itself (65 bytes for
a 16-character string), about 200 bytes in all (``ENTRY_BYTES``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["PendingTable", "REASONS", "ENTRY_BYTES"]

# Every reason a prediction or an outcome is counted as dropped (the monitor adds "late" and "future").
REASONS = ("expired", "unknown", "duplicate", "evicted", "late", "future")
ENTRY_BYTES = 200  # per pending entry with a 16-character key, measured (see the module docstring)


class PendingTable:
    """Bounded key -> (score, slot, t, argmax) table; ``drop(reason, slot, n)`` counts losses."""

    def __init__(self, max_pending: int, ttl: float, drop: Callable[[str, int, int], None]) -> None:
        self.max_pending = max_pending
        self.ttl = ttl
        self._drop = drop
        self._entries: dict[Hashable, tuple[Any, int, float, int]] = {}
        self._per_slot: dict[int, int] = {}
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def per_slot(self) -> dict[int, int]:
        """Pending entries per group slot (-1: no group)."""
        with self.lock:
            return {s: n for s, n in self._per_slot.items() if n}

    def _count(self, slot: int, delta: int) -> None:
        self._per_slot[slot] = self._per_slot.get(slot, 0) + delta

    def _sweep(self, now: float) -> None:
        """Expire entries from the front (oldest insertions) while they are older than ttl."""
        entries = self._entries
        while entries:
            key = next(iter(entries))
            entry = entries[key]
            if now - entry[2] < self.ttl:
                return
            del entries[key]
            self._count(entry[1], -1)
            self._drop("expired", entry[1], 1)

    def put(self, key: Hashable, entry: tuple[Any, int, float, int], now: float) -> bool:
        """File a prediction; False (and a ``duplicate`` count) when the key is pending."""
        with self.lock:
            self._sweep(now)
            if key in self._entries:
                self._drop("duplicate", entry[1], 1)
                return False
            while len(self._entries) >= self.max_pending:
                old = next(iter(self._entries))
                evicted = self._entries.pop(old)
                self._count(evicted[1], -1)
                self._drop("evicted", evicted[1], 1)
            self._entries[key] = entry
            self._count(entry[1], 1)
            return True

    def take(
        self, key: Hashable, now: float, check: Callable[[tuple[Any, int, float, int]], None] | None = None
    ) -> tuple[Any, int, float, int] | None:
        """The entry of ``key`` (removed), or None with an ``unknown`` or ``expired`` count.
        ``check(entry)`` runs first: if it raises, the entry stays and nothing is counted."""
        with self.lock:
            entry = self._entries.get(key)
            if entry is not None and check is not None:
                check(entry)
            entry = self._entries.pop(key, None)
            if entry is None:
                self._sweep(now)
                self._drop("unknown", -1, 1)
                return None
            self._count(entry[1], -1)
            if now - entry[2] >= self.ttl:
                self._drop("expired", entry[1], 1)
                self._sweep(now)
                return None
            self._sweep(now)
            return entry

    def clear(self) -> None:
        """Forget every entry (after fork: the parent keeps its own)."""
        self._entries = {}
        self._per_slot = {}
        self.lock = threading.Lock()
