"""Merging one CalibrationMonitor's state into another's, exactly: windows by index, groups
by key, counts by reason.

The source is a consistent copy (``from_bytes(other.to_bytes())``), so nothing else
holds it. Windows that fall out of the target's ring count as ``late``; group keys beyond
the target's ``max_groups`` are pooled as its own are. Replicates add, and the ring's
running total is rebuilt by the next reader.

:func:`merge_into` is all-or-nothing: the group slots are planned without creating them,
each touched window is merged into a copy, and only when every window has merged are the
copies swapped in, the slots created and the counts added.
"""

from __future__ import annotations

import numpy as np

from ..streaming.sketch import _add_state
from .pending import REASONS
from .settings import Settings
from .state import MonitorState
from .window import OVERALL, Window

__all__ = ["merge_into", "merge_drops", "merge_pending_and_records", "merged_windows"]


def merge_into(dst: MonitorState, src: MonitorState) -> None:
    """Add ``src`` into ``dst``, all-or-nothing (the caller holds ``read_lock`` and the state
    lock of ``dst``; ``src`` is a private copy)."""
    if src.kind is not None and dst.kind is not None and src.kind != dst.kind:
        raise ValueError("cannot merge monitors holding different kinds of input")
    slots, new, pooled = dst.groups.plan(list(src.groups.keys))
    capacity = len(dst.groups) + len(new)
    current, windows, late = merged_windows(dst, src, slots, capacity)  # copies: nothing changed yet
    # nothing below can fail
    dst.groups.commit(new, pooled)
    for _ in new:
        dst.tallies.add_slot()
    for _ in pooled:
        dst.tallies.count_overflow()
    if dst.kind is None:
        dst.kind = src.kind
    if current is not None:
        dst.ring.advance(current)
    dst.ring.windows.update(windows)
    if late:
        dst.tallies.count_drop("late", -1, late)
    merge_drops(dst, src, slots)
    merge_pending_and_records(dst, src, slots)
    dst.ring.mark_stale()


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


def _copy_window(win: Window | None, index: int, capacity: int, settings: Settings) -> Window:
    """A private copy of a target window (or a new empty one) with rows for ``capacity`` slots."""
    s = settings
    out = Window(index, s.overall_words, s.group_words, 0)
    if win is not None:
        out.overall = win.overall.copy()
        out.groups = win.groups.copy()
        out.aux = win.aux.copy()
        out.rep_block = None if win.rep_block is None else win.rep_block.copy()
        out.rep_rows = dict(win.rep_rows)
        out.units = None if win.units is None else win.units.copy()
        out.version = win.version
    out.grow(capacity, s.group_words)
    return out


def _merge_window(dst_state: MonitorState, dst: Window, src: Window, slots: list[int]) -> None:
    """Add a source window into the target's window of the same index."""
    s = dst_state.settings
    gw = s.group_words
    _add_state(dst.overall, src.overall, s.bins, s.streams)
    dst.aux[dst.capacity] += src.aux[-1]
    if not slots:  # the source has no groups (records without one are the default)
        pass
    elif len(set(slots)) == len(slots):  # distinct targets: every row at once
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


def merged_windows(
    dst: MonitorState, src: MonitorState, slots: list[int], capacity: int
) -> tuple[int | None, dict[int, Window], int]:
    """Every source window added into a copy of the target's window of the same index,
    changing nothing of the target: (the ring's current index after the merge, the merged
    copies by index, the records of source windows that fall out of the ring: ``late``)."""
    ring = dst.ring
    current = ring.current
    if src.ring.current is not None and (current is None or src.ring.current > current):
        current = src.ring.current
    out: dict[int, Window] = {}
    late = 0
    for index, win in src.ring.windows.items():
        if current is not None and index <= current - dst.settings.history:
            late += int(win.aux[-1, 2])
            continue
        copy = _copy_window(ring.windows.get(index), index, capacity, dst.settings)
        _merge_window(dst, copy, win, slots)
        out[index] = copy
    return current, out, late
