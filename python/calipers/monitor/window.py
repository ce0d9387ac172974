"""One tumbling window of a CalibrationMonitor and the layout of its state.

A window holds, as flat uint64 arrays in the ReliabilitySketch layout
(:func:`calipers._common.grid.stream_size`):

* ``overall``: one state over every record (all streams, on ``overall_grid``);
* ``groups``: ``capacity`` group rows back to back, slot s at
  ``[s * group_words, (s + 1) * group_words)`` (on ``grid``), so every group is one row of
  a (capacity, streams, row) array;
* ``aux``: (capacity + 1, :data:`AUX`) counters, the last row overall: predictions made,
  expected correct (fixed point, 2^-32), labelled outcomes, correct decisions;
* with bootstrap replicates, ``rep_block``: the replicates of each owner (a group slot,
  or :data:`OVERALL`) that has records, stacked as (owners, 2 bins, R, 2): per
  (bin, outcome) unit the R replicates' counts and score sums side by side, so the draws
  of one unit land in one contiguous slab. ``rep_rows`` maps owners to rows; rows are
  allocated when an owner's first replicates are drawn. :meth:`Window.reps_of` gives an
  owner's replicates the way a ReliabilitySketch holds them, (R, 2 bins, 2).

``units`` holds staged (count, sum, sum of squares) per (owner, bin, outcome) until the
replicates are drawn at the next read; ``version`` counts every change, so what the read
path computed for a window is reused until the window changes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Window", "AUX", "EXPECTED_SCALE", "OVERALL"]

AUX = 4  # per group-window counters: predictions, expected correct (2^-32), labelled, correct
EXPECTED_SCALE = 2.0**32  # expected-correct sums are fixed point, so merges are exact
OVERALL = -1  # the owner key of the overall state's replicates


class Window:
    """The state of one tumbling window: overall state, group rows, counters, replicates."""

    __slots__ = ("aux", "evaluated", "groups", "index", "overall", "rep_block", "rep_rows", "units", "version")

    def __init__(self, index: int, overall_words: int, group_words: int, capacity: int) -> None:
        self.index = index
        self.overall = np.zeros(overall_words, np.uint64)
        self.groups = np.zeros(capacity * group_words, np.uint64)
        self.aux = np.zeros((capacity + 1, AUX), np.uint64)  # last row: overall
        self.rep_block: np.ndarray | None = None  # (owners, 2 bins, R, 2)
        self.rep_rows: dict[int, int] = {}  # owner (slot or OVERALL) -> row of rep_block
        self.units: np.ndarray | None = None  # staged (capacity + 1, 3, 2 bins) unit stats, drawn at read
        self.version = 0
        self.evaluated = False

    @property
    def capacity(self) -> int:
        """Group slots this window has rows for."""
        return int(self.aux.shape[0]) - 1

    def grow(self, capacity: int, group_words: int) -> None:
        """Make rows for ``capacity`` slots (new rows are zero; the overall counters move last)."""
        old = self.capacity
        if capacity <= old:
            return
        groups = np.zeros(capacity * group_words, np.uint64)
        groups[: self.groups.size] = self.groups
        aux = np.zeros((capacity + 1, AUX), np.uint64)
        aux[:old] = self.aux[:old]
        aux[capacity] = self.aux[old]
        self.groups, self.aux = groups, aux

    def group_state(self, slot: int, group_words: int) -> np.ndarray:
        """The state of one group slot (a view; the slot must be below ``capacity``)."""
        return self.groups[slot * group_words : (slot + 1) * group_words]

    def group_rows(self, group_words: int) -> np.ndarray:
        """Every group row as a (capacity, group_words) view."""
        return self.groups.reshape(self.capacity, group_words)

    def reps_of(self, owner: int) -> np.ndarray | None:
        """The (R, 2 bins, 2) replicates of a slot or of :data:`OVERALL` (a view), or None."""
        row = self.rep_rows.get(owner)
        if row is None or self.rep_block is None:
            return None
        reps: np.ndarray = np.moveaxis(self.rep_block[row], 1, 0)
        return reps

    def rows_for(self, owners: np.ndarray, replicates: int, units: int) -> np.ndarray:
        """Rows of ``rep_block`` for each owner, allocating zero rows (in one regrowth)
        for owners without replicates yet."""
        new = [int(o) for o in dict.fromkeys(owners.tolist()) if int(o) not in self.rep_rows]
        if new:
            start = 0 if self.rep_block is None else self.rep_block.shape[0]
            block = np.zeros((start + len(new), units, replicates, 2))
            if self.rep_block is not None:
                block[:start] = self.rep_block
            self.rep_block = block
            for i, owner in enumerate(new):
                self.rep_rows[owner] = start + i
        rows = self.rep_rows
        return np.fromiter((rows[int(o)] for o in owners.tolist()), np.int64, owners.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the state: rows, counters and replicates."""
        total = self.overall.nbytes + self.groups.nbytes + self.aux.nbytes
        return total + (0 if self.rep_block is None else self.rep_block.nbytes)
