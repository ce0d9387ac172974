"""Merging one CalibrationMonitor's state into another's, exactly: windows by index, groups
by key, counts by reason.

The source is a consistent copy (``from_bytes(other.to_bytes())``), so nothing else
holds it. Windows that fall out of the target's ring count as ``late``; group keys beyond
the target's ``max_groups`` are pooled as its own are. Replicates add, and the ring's
running total is rebuilt by the next reader.
"""

from __future__ import annotations

import numpy as np

from ..streaming.sketch import _add_state
from .pending import REASONS
from .state import MonitorState
from .window import OVERALL, Window

__all__ = ["merge_kind", "merge_drops", "merge_pending_and_records", "merge_windows"]


def merge_kind(dst: MonitorState, src: MonitorState) -> None:
    """Adopt the source's input kind, or refuse a different one (under the state lock)."""
    if src.kind is not None and dst.kind is not None and src.kind != dst.kind:
        raise ValueError("cannot merge monitors holding different kinds of input")
    if dst.kind is None:
        dst.kind = src.kind


def merge_drops(dst: MonitorState, src: MonitorState, slots: list[int]) -> None:
    """Add the source's drops by reason, overall and per group; ``slots[i]`` is the target
    slot of the source's slot i."""
    with dst.tallies.lock:
        for reason, n in src.tallies.dropped.items():
            dst.tallies.dropped[reason] += n
        for i, counts in src.tallies.dropped_slot.items():
            mine = dst.tallies.dropped_slot.setdefault(slots[i], np.zeros(len(REASONS), np.int64))
            mine += counts


def merge_pending_and_records(dst: MonitorState, src: MonitorState, slots: list[int]) -> None:
    """Add the source's pending counts and records (under the state lock)."""
    for i, n in src.tallies.remote_pending.items():
        s = -1 if i < 0 else slots[i]
        dst.tallies.remote_pending[s] = dst.tallies.remote_pending.get(s, 0) + n
    np.add.at(dst.tallies.records, np.array(slots, np.int64), src.tallies.records[:-1])
    dst.tallies.records[-1] += src.tallies.records[-1]


def _merge_window(dst_state: MonitorState, dst: Window, src: Window, slots: list[int]) -> None:
    """Add a source window into the target's window of the same index."""
    s = dst_state.settings
    gw = s.group_words
    _add_state(dst.overall, src.overall, s.bins, s.streams)
    dst.aux[dst.capacity] += src.aux[-1]
    if len(set(slots)) == len(slots):  # distinct targets: every row at once
        index = np.array(slots, np.int64)
        rows = dst.group_rows(gw)[index]
        _add_state(rows.reshape(-1), src.groups, s.bins, len(slots) * s.streams)
        dst.group_rows(gw)[index] = rows
        dst.aux[index] += src.aux[: len(slots)]
    else:  # keys pooled under __other__ share a target row
        for i, slot in enumerate(slots):
            _add_state(dst.group_state(slot, gw), src.group_state(i, gw), s.bins, s.streams)
            dst.aux[slot] += src.aux[i]
    if src.rep_block is not None:  # groups in slot order, then overall (pooled groups add in that order)
        owners = sorted(o for o in src.rep_rows if o != OVERALL) + [o for o in src.rep_rows if o == OVERALL]
        targets = np.array([OVERALL if o == OVERALL else slots[o] for o in owners], np.int64)
        rows = dst.rows_for(targets, s.replicates, s.units)
        assert dst.rep_block is not None
        for owner, row in zip(owners, rows.tolist()):
            dst.rep_block[row] += src.rep_block[src.rep_rows[owner]]
    dst.version += 1
    dst.evaluated = False


def merge_windows(dst: MonitorState, src: MonitorState, slots: list[int]) -> None:
    """Add every source window (under the state lock, the caller holding ``read_lock``)."""
    ring = dst.ring
    if src.ring.current is not None:
        ring.advance(src.ring.current)
    for index, win in src.ring.windows.items():
        if ring.current is not None and index <= ring.current - dst.settings.history:
            dst.tallies.count_drop("late", -1, int(win.aux[-1, 2]))
            continue
        _merge_window(dst, ring.window_at(index, len(dst.groups)), win, slots)
    ring.mark_stale()
