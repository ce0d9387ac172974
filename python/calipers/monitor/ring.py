"""The ring of tumbling windows: which windows exist, which is current, which a read selects,
and where each record goes.

Windows are ``window`` seconds long and aligned to multiples of it since the epoch; the
ring keeps the windows with index in ``(current - history, current]``. A record whose
window has left the ring is dropped as ``late``, one more than a window ahead of the clock
as ``future`` (a bad timestamp cannot wipe the ring).

With replicates the ring also keeps their running total (:class:`ReplicateTotals`). A
window leaving the ring is *retired*: the recording thread only moves it to a list, and
the next reader subtracts its replicates from the total, so the record path never pays
for it. If nobody reads for a whole ring, the list is dropped and the total marked stale;
the next reader rebuilds it from the windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .inputs import window_indices, window_of
from .replicates import ReplicateTotals
from .settings import Settings
from .window import Window

__all__ = ["WindowRing"]

AddRecords = Callable[[Window, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], None]
CountDrop = Callable[[str, int, int], None]


class WindowRing:
    """Windows by index, the current index, and the replicates' running total."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.windows: dict[int, Window] = {}
        self.current: int | None = None
        self.totals = ReplicateTotals(settings.replicates, settings.units) if settings.replicates else None
        self.retired: list[Window] = []
        self.stale = False  # the running total must be rebuilt from the windows

    def advance(self, index: int) -> None:
        """Make ``index`` current if it is later; windows that leave the ring are retired."""
        if self.current is not None and index <= self.current:
            return
        self.current = index
        for w in [w for w in self.windows if w <= index - self.settings.history]:
            win = self.windows.pop(w)
            if self.totals is not None and not self.stale and win.rep_block is not None:
                self.retired.append(win)
        if len(self.retired) > self.settings.history:  # no reader for a whole ring: rebuild later
            self.retired.clear()
            self.stale = True

    def mark_stale(self) -> None:
        """The running total no longer matches the windows (they were loaded or merged
        into): the next reader rebuilds it."""
        if self.totals is not None:
            self.retired.clear()
            self.stale = True

    def window_at(self, index: int, capacity: int) -> Window:
        """The window ``index`` (created empty), with rows for ``capacity`` slots."""
        s = self.settings
        win = self.windows.get(index)
        if win is None:
            win = self.windows[index] = Window(index, s.overall_words, s.group_words, capacity)
        win.grow(capacity, s.group_words)
        return win

    def select(self, last: int | None, closed: bool = False) -> list[Window]:
        """The windows of the last ``last`` (None: all) ending with the current one, or
        with the last closed one (``closed=True``), in index order."""
        if last is not None and (isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 1):
            raise ValueError(f"last must be None or a positive number of windows, got {last!r}")
        if self.current is None:
            return []
        end = self.current - 1 if closed else self.current
        first = end - (self.settings.history if last is None else min(int(last), self.settings.history))
        return [self.windows[w] for w in sorted(self.windows) if first < w <= end]

    def closed_unevaluated(self) -> list[Window]:
        """Closed windows not checked against the thresholds yet, marked checked."""
        todo = [w for i, w in sorted(self.windows.items()) if self.current is not None and i < self.current]
        todo = [w for w in todo if not w.evaluated]
        for w in todo:
            w.evaluated = True
        return todo

    def would_open(self, buffers: Iterable[list[tuple[Any, ...]]]) -> bool:
        """Would these buffered records open a new window? Then every buffer is drained with
        them, so no record waits in another thread's buffer while its window leaves the ring."""
        latest = self.current
        if latest is None:
            return True
        edge = (latest + 1) * self.settings.window
        return any(buf and buf[-1][3] >= edge for buf in buffers)

    def take_staged(self) -> list[tuple[Window, np.ndarray]]:
        """Every window's staged bootstrap units, taken (in window creation order)."""
        out = []
        for win in self.windows.values():
            if win.units is not None:
                out.append((win, win.units))
                win.units = None
        return out

    def take_retired(self) -> tuple[list[Window], list[Window] | None]:
        """(windows whose replicates leave the total, windows to rebuild it from if stale)."""
        retired, self.retired = self.retired, []
        if not self.stale:
            return retired, None
        self.stale = False
        return [], [self.windows[w] for w in sorted(self.windows)]

    def settle(self, retired: list[Window], rebuild: list[Window] | None) -> None:
        """Bring the running total up to date (by a reader, outside the state lock)."""
        if self.totals is None:
            return
        if rebuild is not None:
            self.totals = ReplicateTotals(self.settings.replicates, self.settings.units)
            for win in rebuild:
                self.totals.add_window(win)
        for win in retired:
            self.totals.add_window(win, -1.0)

    def route(
        self,
        p: np.ndarray,
        y: np.ndarray,
        code: np.ndarray,
        slots: np.ndarray,
        t: np.ndarray,
        kind: int,
        clock: Callable[[], float],
        capacity: int,
        add: AddRecords,
        drop: CountDrop,
    ) -> None:
        """Send validated records to their windows (under the state lock): advance the
        ring to the clock (or to the latest record within a window ahead of it), count
        ``future`` and ``late`` records by group, and ``add`` the rest window by window."""
        window = self.settings.window
        now = float(clock())
        w = window_indices(t, window)
        future = t > now + window
        latest = int(w[~future].max()) if (~future).any() else None
        self.advance(max(window_of(float(clock()), window), latest if latest is not None else -(2**62)))
        assert self.current is not None
        late = ~future & (w <= self.current - self.settings.history)
        for reason, mask in (("future", future), ("late", late)):
            if mask.any():
                for slot, n in zip(*np.unique(slots[mask], return_counts=True)):
                    drop(reason, int(slot), int(n))
        keep = ~(future | late)
        if not keep.any():
            return
        if not keep.all():
            p, y, code, slots, w = p[keep], y[keep], code[keep], slots[keep], w[keep]
        for index in np.unique(w):
            sel = w == index
            win = self.window_at(int(index), capacity)
            if sel.all():
                add(win, p, y, code, slots, kind)
            else:
                add(win, p[sel], y[sel], code[sel], slots[sel], kind)
