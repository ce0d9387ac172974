"""Counts a CalibrationMonitor keeps since its start, outside the windows: outcomes
recorded per group and overall, drops by reason (overall, and per group for the reasons
in :data:`REASONS`), and pending counts merged in from other monitors.

Drops are counted under their own lock (the pending table counts while holding its lock);
records and merged pending counts change under the monitor's state lock.
"""

from __future__ import annotations

import threading

import numpy as np

from .pending import REASONS

__all__ = ["Tallies"]


class Tallies:
    """Since-start counters, per group slot and overall."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the drop counters
        self.records = np.zeros(1, np.int64)  # per slot; last entry: overall (resized with slots)
        self.dropped: dict[str, int] = dict.fromkeys((*REASONS, "overflow"), 0)
        self.dropped_slot: dict[int, np.ndarray] = {}
        self.remote_pending: dict[int, int] = {}  # pending counts merged in from other monitors

    def add_slot(self) -> None:
        """Make room for one more group slot (under the state lock)."""
        records = np.zeros(self.records.size + 1, np.int64)
        records[: self.records.size - 1] = self.records[:-1]
        records[-1] = self.records[-1]
        self.records = records

    def count_records(self, slots: np.ndarray) -> None:
        """Labelled records of the given group slots (-1: no group); each counts overall once."""
        counts = np.bincount(slots[slots >= 0], minlength=self.records.size - 1)
        self.records[: counts.size] += counts
        self.records[-1] += slots.size

    def count_drop(self, reason: str, slot: int, n: int) -> None:
        """``n`` records, predictions or outcomes dropped for ``reason`` (slot -1: no group)."""
        with self.lock:
            self.dropped[reason] += n
            if slot >= 0:
                counts = self.dropped_slot.get(slot)
                if counts is None:
                    counts = self.dropped_slot[slot] = np.zeros(len(REASONS), np.int64)
                counts[REASONS.index(reason)] += n

    def count_overflow(self) -> None:
        """One group key pooled under ``__other__``."""
        with self.lock:
            self.dropped["overflow"] += 1

    def drops(self) -> tuple[dict[str, int], dict[int, np.ndarray]]:
        """Copies of the drops by reason and of the per-slot drop counts."""
        with self.lock:
            return dict(self.dropped), {s: c.copy() for s, c in self.dropped_slot.items()}

    def slot_drops(self, dropped_slot: dict[int, np.ndarray], slot: int) -> dict[str, int]:
        """One slot's drops by reason from a :meth:`drops` copy."""
        counts = dropped_slot.get(slot, np.zeros(len(REASONS), np.int64))
        return {r: int(v) for r, v in zip(REASONS, counts)}
