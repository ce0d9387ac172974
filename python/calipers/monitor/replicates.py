"""The monitor's streaming Poisson bootstrap: staging, drawing, and the ring's running total.

Records only add to per-(owner, bin, outcome) unit statistics (count, sum, sum of
squares: :func:`stage_units`, on the record path); the R Poisson draws per touched unit
happen at the next read (:func:`draw_staged`), which gives the same distribution (Poisson
counts add) and costs O(R x units touched since the last read), not O(R) per record.

:class:`ReplicateTotals` keeps the sum of every window's replicates over the ring, per
owner, so reading the whole ring costs one gather instead of a sum over ``history``
windows. The draw counts are whole numbers and add exactly; the score sums are kept as an
unevaluated pair (value, compensation) updated with error-free transformations (TwoSum).
Each draw adds to the total exactly what the window's value gained (the increment less
the window's own rounding), and a window leaving the ring takes exactly its value away,
so the total is the exact sum of the windows' values however many windows came and went:
no rounding error accumulates, and reading it differs from summing the windows one by one
(as merging their sketches does) only by that sum's own rounding.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .._kernels.numpy_backend import equal_width_index
from ..metrics.bootstrap import poisson_draws, unit_bounds
from .window import OVERALL, Window

__all__ = ["stage_units", "draw_staged", "ReplicateTotals"]

_CHUNK = 32  # owners per vectorised step (keeps temporaries in cache)


def stage_units(win: Window, p: np.ndarray, y: np.ndarray, slots: np.ndarray, bins: int) -> None:
    """Add labelled records' (bin, outcome) unit statistics (count, sum, sum of squares) to
    the window's staged units: to their group's row and to the overall row (the last)."""
    units_per = 2 * bins
    capacity = win.capacity
    if win.units is None or win.units.shape[0] != capacity + 1:
        staged = np.zeros((capacity + 1, 3, units_per))
        if win.units is not None:
            staged[: win.units.shape[0] - 1] = win.units[:-1]
            staged[capacity] = win.units[-1]
        win.units = staged
    unit = 2 * equal_width_index(p, bins) + (y == 1)
    rows = np.where(slots >= 0, slots, capacity)
    flat = np.concatenate([rows * units_per + unit, capacity * units_per + unit[slots >= 0]])
    pp = np.concatenate([p, p[slots >= 0]])
    size = (capacity + 1) * units_per
    for j, weights in enumerate((None, pp, pp * pp)):
        win.units[:, j, :] += np.bincount(flat, weights=weights, minlength=size).reshape(capacity + 1, units_per)


def draw_staged(
    staged: Iterable[tuple[Window, np.ndarray]],
    replicates: int,
    bins: int,
    rng: np.random.Generator,
    totals: ReplicateTotals,
) -> None:
    """Draw the replicates of staged units (taken from their windows, in window order):
    R Poisson draws per non-empty unit, normal sums given them, added to the window's
    replicates and to the ring's running total (which follows the windows' values
    exactly, rounding included, so a window that leaves takes away exactly what it held)."""
    units_per = 2 * bins
    lo, hi = unit_bounds(bins)
    for win, units in staged:
        count = units[:, 0, :].reshape(-1)
        nz = np.flatnonzero(count)
        if not nz.size:
            continue
        u = nz % units_per
        total = units[:, 1, :].reshape(-1)
        sumsq = units[:, 2, :].reshape(-1)
        draws = poisson_draws(count[nz], total[nz], sumsq[nz], lo[u], hi[u], replicates, rng)  # (R, m, 2)
        owner = nz // units_per
        owner = np.where(owner == units.shape[0] - 1, OVERALL, owner)  # the last staged row is overall
        increments = np.moveaxis(draws, 0, 1)  # (m, R, 2)
        rows = win.rows_for(owner, replicates, units_per)
        block = win.rep_block
        assert block is not None
        block[rows, u, :, 0] += increments[:, :, 0]  # (row, unit) pairs are distinct
        sums, rounding = _two_sum(block[rows, u, :, 1], increments[:, :, 1])
        block[rows, u, :, 1] = sums  # fl(old + increment), as adding gives
        win.version += 1
        totals.add(owner, u, increments, rounding)


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s = fl(a + b) and the rounding error e, with a + b = s + e exactly (Knuth)."""
    s = a + b
    bp = s - a
    return s, (a - (s - bp)) + (b - bp)


class ReplicateTotals:
    """Running sum of the replicates of every window in the ring, per owner (group slot
    or :data:`OVERALL`), laid out as the windows' (owners, 2 bins, R, 2): draw counts in
    ``block[..., 0]``; score sums as ``block[..., 1] + err`` (value and compensation)."""

    def __init__(self, replicates: int, units: int) -> None:
        self.replicates = replicates
        self.units = units
        self.rows: dict[int, int] = {}
        self.block = np.zeros((0, units, replicates, 2))
        self.err = np.zeros((0, units, replicates))

    @property
    def nbytes(self) -> int:
        """Bytes of the running total."""
        return int(self.block.nbytes + self.err.nbytes)

    def _rows_for(self, owners: np.ndarray) -> np.ndarray:
        new = [int(o) for o in dict.fromkeys(owners.tolist()) if int(o) not in self.rows]
        if new:
            start = self.block.shape[0]
            block = np.zeros((start + len(new), self.units, self.replicates, 2))
            block[:start] = self.block
            err = np.zeros((start + len(new), self.units, self.replicates))
            err[:start] = self.err
            self.block, self.err = block, err
            for i, owner in enumerate(new):
                self.rows[owner] = start + i
        return np.fromiter((self.rows[int(o)] for o in owners.tolist()), np.int64, owners.size)

    def add(self, owners: np.ndarray, units: np.ndarray, increments: np.ndarray, rounding: np.ndarray) -> None:
        """Add (m, R, 2) increments at distinct (owner, unit) pairs, less the (m, R)
        ``rounding`` the window lost adding them (its value grew by increment - rounding)."""
        rows = self._rows_for(owners)
        self.block[rows, units, :, 0] += increments[:, :, 0]
        s, e = _two_sum(self.block[rows, units, :, 1], increments[:, :, 1])
        s, e2 = _two_sum(s, -rounding)
        self.block[rows, units, :, 1] = s
        self.err[rows, units, :] += e + e2

    def add_window(self, win: Window, sign: float = 1.0) -> None:
        """Add (``sign`` 1) or subtract (-1: the window leaves the ring) a window's replicates."""
        if win.rep_block is None or not win.rep_rows:
            return
        owners = np.fromiter(win.rep_rows.keys(), np.int64, len(win.rep_rows))
        src_rows = np.fromiter(win.rep_rows.values(), np.int64, len(win.rep_rows))
        rows = self._rows_for(owners)
        for a in range(0, rows.size, _CHUNK):
            dst, src = rows[a : a + _CHUNK], src_rows[a : a + _CHUNK]
            part = win.rep_block[src]
            counts = self.block[dst, :, :, 0] + sign * part[..., 0]
            s, e = _two_sum(self.block[dst, :, :, 1], sign * part[..., 1])
            empty = counts == 0.0  # a unit without draws has a zero sum, exactly
            self.block[dst, :, :, 0] = counts
            self.block[dst, :, :, 1] = np.where(empty, 0.0, s)
            self.err[dst] = np.where(empty, 0.0, self.err[dst] + e)

    def gather(self, owners: np.ndarray, minus: np.ndarray | None = None) -> np.ndarray:
        """(k, 2 bins, R, 2) totals of the owners (zeros for owners without replicates),
        less ``minus`` (the same shape: windows left out), each sum rounded once."""
        out = np.zeros((owners.size, self.units, self.replicates, 2))
        rows = np.fromiter((self.rows.get(int(o), -1) for o in owners.tolist()), np.int64, owners.size)
        have = rows >= 0
        if have.any():
            r = rows[have]
            out[have, :, :, 0] = self.block[r, :, :, 0]
            if minus is None:
                out[have, :, :, 1] = self.block[r, :, :, 1] + self.err[r]
            else:
                s, e = _two_sum(self.block[r, :, :, 1], -minus[have, :, :, 1])
                out[have, :, :, 1] = s + (e + self.err[r])
        if minus is not None:
            out[..., 0] -= minus[..., 0]
            out[..., 1] = np.where(out[..., 0] == 0.0, 0.0, out[..., 1])  # no draws left: a zero sum
        return out
