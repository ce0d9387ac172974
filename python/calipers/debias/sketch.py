"""RegressionSketch: the streaming state LCC and Tweedie's correction fit from.

It holds (1) the co-moments of (prediction, target) and the moments of the residual
prediction - target, which give LCC's slope, intercept, residual std and R², and Tweedie's
sigma and Scott bandwidth, exactly (to float64 rounding); and (2) a fine histogram of the
predictions for Tweedie's kernel density estimate.

The histogram
-------------
Cell k covers ``[k w, (k + 1) w)`` with ``w = 2**e``, anchored at 0, and keeps the count and
the sum of offsets ``x - k w`` of its predictions (so the cell's centroid is exact). ``e`` is
the smallest exponent (at least -1022, and large enough that ``|x| / w < 2**52``) at which
the occupied cells number at most ``max_cells`` (default 65536): when an update or a merge
would exceed it, neighbouring cells are merged pairwise (``k -> k >> 1``, ``e -> e + 1``).
Because cell occupancy can only fall as ``e`` grows, the final ``e`` and the cells depend
only on the multiset of predictions, not on how they were split into updates or merges:
counts are exact and merge exactly associatively and commutatively; offset sums agree to
float64 rounding.

What the histogram costs against the exact KDE: Tweedie fitted from a sketch puts each
prediction at its cell's centroid (moved by less than ``w``; each cell's first moment is
kept). The score of the KDE then changes by second-order terms, about
``(w / h)**2 / h`` (h the bandwidth), so corrected predictions change by about
``sigma**2 (w / h)**2 / h`` at most (cells hold about one point each when the data allow,
and then the centroids barely move): for 10^5 standard-normal predictions the default
65536 cells have ``w = 2**-14`` (h = 0.1) and the corrected predictions move by 8e-10
sigma²/h. The tests check the difference against the exact fit, also with 64 cells.
Memory is at most ``24 * max_cells`` bytes plus 152 bytes.

Binary format (inside the ``calipers._common.serde`` payload envelope, type id 11):
co-moments (88 bytes), residual moments (48 bytes), then ``<iIQ`` (exponent, max_cells,
number of cells m), m int64 cell indices (strictly increasing), m uint64 counts (positive,
summing to the count) and m float64 offset sums (within ``[0, count w]``). Every invariant
is checked on load, also the ones that tie the parts together: the residual's moments follow
from the co-moments, and the cells add up to the predictions' mean.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.reals import real_values
from .moments import CoMoments, Moments

__all__ = ["RegressionSketch", "TYPE_REGRESSION_SKETCH", "E_MIN", "MAX_CELLS_LIMIT"]

TYPE_REGRESSION_SKETCH = _serde.TYPE_REGRESSION_SKETCH
E_MIN = -1022
MAX_CELLS_LIMIT = 1 << 24
_HIST = struct.Struct("<iIQ")
_RTOL = 1e-9


def _e_abs(lo: float, hi: float) -> int:
    """The smallest exponent keeping |x| / 2**e below 2**52 for x in [lo, hi]."""
    top = max(abs(lo), abs(hi))
    if top == 0.0:
        return E_MIN
    return max(E_MIN, math.frexp(top)[1] - 52)


def cell_index(x: np.ndarray, e: int) -> np.ndarray:
    """floor(x / 2**e) as float64 (exact: scaling by a power of two is exact, and where the
    product underflows below 1 in magnitude the floor is 0 or -1 by the sign of x)."""
    kf = np.floor(x * math.ldexp(1.0, -e))
    return np.where((x < 0) & (kf == 0), -1.0, kf)


def _group(k: np.ndarray, counts: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum counts and offsets of equal cell indices (k need not be sorted)."""
    uniq, inv = np.unique(k, return_inverse=True)
    return (
        uniq.astype(np.int64),
        np.bincount(inv, counts, minlength=uniq.size).astype(np.int64),
        np.bincount(inv, offsets, minlength=uniq.size),
    )


def _coarsen(k: np.ndarray, c: np.ndarray, off: np.ndarray, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    if k.size == 0:
        return k, c, off, e + 1
    w = math.ldexp(1.0, e)
    k2 = np.right_shift(k, 1)  # arithmetic shift: floor(k / 2)
    off2 = off + c * (k - 2 * k2).astype(np.float64) * w
    starts = np.flatnonzero(np.concatenate(([True], k2[1:] != k2[:-1])))
    return k2[starts], np.add.reduceat(c, starts), np.add.reduceat(off2, starts), e + 1


def _check_residual(co: CoMoments, res: Moments) -> None:
    """The residual x - y of the same pairs: its mean, range and M2 follow from the co-moments
    (M2 of x - y = M2x + M2y - 2 C), up to float64 rounding."""
    scale = max(abs(co.lo_x), abs(co.hi_x), abs(co.lo_y), abs(co.hi_y))
    var = co.m2_x + co.m2_y - 2.0 * co.c_xy
    if (
        abs(res.mean - (co.mean_x - co.mean_y)) > _RTOL * scale
        or res.lo < co.lo_x - co.hi_y - _RTOL * scale
        or res.hi > co.hi_x - co.lo_y + _RTOL * scale
        or abs(res.m2 - var) > _RTOL * (co.m2_x + co.m2_y + res.m2) + 1e-300
    ):
        raise ValueError("RegressionSketch residual moments do not match its co-moments")


class RegressionSketch(_serde.EqualBytes):
    """Mergeable summary of (prediction, target) pairs: co-moments for LCC, residual moments
    and a fine prediction histogram for Tweedie's correction. See the module docstring."""

    def __init__(self, max_cells: int = 65536) -> None:
        if isinstance(max_cells, bool) or not isinstance(max_cells, (int, np.integer)):
            raise TypeError(f"max_cells must be an integer, got {type(max_cells).__name__}")
        if not 16 <= max_cells <= MAX_CELLS_LIMIT:
            raise ValueError(f"max_cells must lie in [16, {MAX_CELLS_LIMIT}], got {max_cells}")
        self.max_cells = int(max_cells)
        self._co = CoMoments()
        self._res = Moments()
        self._e = E_MIN
        self._k = np.zeros(0, np.int64)
        self._c = np.zeros(0, np.int64)
        self._off = np.zeros(0)

    # -- reading ---------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of (prediction, target) pairs summarized."""
        return self._co.n

    @property
    def moments(self) -> CoMoments:
        """Co-moments of (x = prediction, y = target)."""
        return self._co

    @property
    def residual(self) -> Moments:
        """Moments of prediction - target."""
        return self._res

    @property
    def cell_width(self) -> float:
        """Width ``2**e`` of the histogram cells."""
        return math.ldexp(1.0, self._e)

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(centroids, counts) of the occupied cells, centroids ascending."""
        w = self.cell_width
        lo = self._k.astype(np.float64) * w
        centroid = np.clip(lo + self._off / self._c, lo, lo + w)
        return centroid, self._c.astype(np.float64)

    # -- updating --------------------------------------------------------------------------

    def update(self, predictions: Any, targets: Any) -> RegressionSketch:
        """Add a batch (all-or-nothing: a bad batch raises and changes nothing)."""
        x = real_values(predictions, "predictions")
        y = real_values(targets, "targets")
        if x.shape != y.shape:
            raise ValueError(f"predictions and targets must have the same length, got {x.size} and {y.size}")
        co = CoMoments.of(x, y)
        res = Moments.of(x - y)
        xs = np.sort(x)
        e = self._batch_exponent(xs, max(self._e, _e_abs(co.lo_x, co.hi_x)))
        kf = cell_index(xs, e)
        starts = np.flatnonzero(np.concatenate(([True], kf[1:] != kf[:-1])))
        counts = np.diff(np.append(starts, xs.size)).astype(np.int64)
        offsets = np.add.reduceat(xs - kf * math.ldexp(1.0, e), starts)
        self._absorb(co, res, kf[starts].astype(np.int64), counts, offsets, e)
        return self

    def _batch_exponent(self, xs: np.ndarray, e0: int) -> int:
        """The smallest exponent >= e0 at which the sorted batch occupies <= max_cells cells."""

        def fits(e: int) -> bool:
            kf = cell_index(xs, e)
            return 1 + int(np.count_nonzero(kf[1:] != kf[:-1])) <= self.max_cells

        if fits(e0):
            return e0
        lo, step = e0, 1  # lo never fits; find a hi that does, then bisect
        while not fits(lo + step):
            lo, step = lo + step, step * 2
        hi = lo + step
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid, hi)
        return hi

    def _absorb(self, co: CoMoments, res: Moments, k: np.ndarray, c: np.ndarray, off: np.ndarray, e_other: int) -> None:
        """Merge another summary (its cells at exponent ``e_other``) into this one; nothing
        changes until every new array is built."""
        e = max(self._e, e_other, _e_abs(min(co.lo_x, self._co.lo_x), max(co.hi_x, self._co.hi_x)))
        sk, sc, so, se = self._k, self._c, self._off, self._e
        if sk.size == 0:
            se = e
        while se < e:
            sk, sc, so, se = _coarsen(sk, sc, so, se)
        while e_other < e:
            k, c, off, e_other = _coarsen(k, c, off, e_other)
        mk, mc, mo = _group(np.concatenate([sk, k]), np.concatenate([sc, c]), np.concatenate([so, off]))
        while mk.size > self.max_cells:
            mk, mc, mo, e = _coarsen(mk, mc, mo, e)
        self._co = self._co.merge(co)
        self._res = self._res.merge(res)
        self._k, self._c, self._off, self._e = mk, mc, mo, e

    def merge(self, other: RegressionSketch) -> RegressionSketch:
        """Add another sketch's data in place (returns self). Sketches with different
        ``max_cells`` do not merge (ValueError naming both)."""
        if not isinstance(other, RegressionSketch):
            raise TypeError(f"can only merge a RegressionSketch, got {type(other).__name__}")
        if other.max_cells != self.max_cells:
            raise ValueError(f"cannot merge sketches with max_cells {self.max_cells} and {other.max_cells}")
        if other.count:
            self._absorb(other._co, other._res, other._k, other._c, other._off, other._e)
        return self

    def __iadd__(self, other: RegressionSketch) -> RegressionSketch:
        return self.merge(other)

    def __add__(self, other: RegressionSketch) -> RegressionSketch:
        return self.copy().merge(other)

    def copy(self) -> RegressionSketch:
        """An independent copy."""
        return RegressionSketch.from_bytes(self.to_bytes())

    # -- serialization ---------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Versioned, checksummed binary form (layout in the module docstring)."""
        m = self._k.size
        payload = (
            self._co.pack()
            + self._res.pack()
            + _HIST.pack(self._e, self.max_cells, m)
            + self._k.astype("<i8").tobytes()
            + self._c.astype("<u8").tobytes()
            + self._off.astype("<f8").tobytes()
        )
        return _serde.pack_payload(TYPE_REGRESSION_SKETCH, payload)

    @staticmethod
    def from_bytes(data: bytes) -> RegressionSketch:
        """Rebuild a sketch from :meth:`to_bytes`; ValueError naming the broken invariant."""
        p = _serde.unpack_payload(data, TYPE_REGRESSION_SKETCH)
        head = CoMoments.SIZE + Moments.SIZE + _HIST.size
        if len(p) < head:
            raise ValueError(f"RegressionSketch payload truncated: {len(p)} bytes, the header needs {head}")
        co = CoMoments.unpack(p, 0, "RegressionSketch co-moments")
        res = Moments.unpack(p, CoMoments.SIZE, "RegressionSketch residual moments")
        e, max_cells, m = _HIST.unpack_from(p, CoMoments.SIZE + Moments.SIZE)
        if len(p) != head + 24 * m:
            raise ValueError(f"RegressionSketch payload length {len(p)} does not match its {m} cells")
        if not 16 <= max_cells <= MAX_CELLS_LIMIT or m > max_cells:
            raise ValueError(f"RegressionSketch has {m} cells for max_cells {max_cells} (limit {MAX_CELLS_LIMIT})")
        if res.n != co.n:
            raise ValueError(f"RegressionSketch residual count {res.n} differs from the pair count {co.n}")
        k = np.frombuffer(p, "<i8", m, head).astype(np.int64)
        c = np.frombuffer(p, "<u8", m, head + 8 * m).astype(np.uint64)
        off = np.frombuffer(p, "<f8", m, head + 16 * m).astype(np.float64)
        out = RegressionSketch(int(max_cells))
        if co.n == 0:
            if m or e != E_MIN:
                raise ValueError("an empty RegressionSketch must have no cells and the minimum exponent")
            return out
        if not E_MIN <= e <= 1023 or e < _e_abs(co.lo_x, co.hi_x):
            raise ValueError(f"RegressionSketch exponent {e} is out of range for its predictions")
        if m == 0 or np.any(np.diff(k) <= 0):
            raise ValueError("RegressionSketch cell indices must be non-empty and strictly increasing")
        if np.any(c == 0) or np.any(c >= 2**62) or int(c.sum(dtype=np.uint64)) != co.n:
            raise ValueError(f"RegressionSketch cell counts must be positive and sum to the count {co.n}")
        w = math.ldexp(1.0, e)
        cf = c.astype(np.float64)
        slack = _RTOL * cf * w
        if not np.all(np.isfinite(off)) or np.any(off < -slack) or np.any(off > cf * w + slack):
            raise ValueError("RegressionSketch offset sums must lie within [0, count * width] of their cells")
        ends = cell_index(np.array([co.lo_x, co.hi_x]), int(e))
        if int(ends[0]) != k[0] or int(ends[1]) != k[-1]:
            raise ValueError("RegressionSketch cells do not span the predictions' [min, max]")
        _check_residual(co, res)
        scale = max(abs(co.lo_x), abs(co.hi_x))
        total = float(np.sum(k.astype(np.float64) * w * cf + off))  # sum of the predictions, cell by cell
        if abs(total - co.n * co.mean_x) > _RTOL * co.n * scale:
            raise ValueError("RegressionSketch cells do not add up to the predictions' mean")
        out._co, out._res, out._e = co, res, int(e)
        out._k, out._c, out._off = k, c.astype(np.int64), off
        return out

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (RegressionSketch.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"RegressionSketch(count={self.count}, cells={self._k.size}, cell_width={self.cell_width!r})"
