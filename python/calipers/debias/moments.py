"""Mergeable moments: the streaming state of LCC and prediction-powered inference.

:class:`CoMoments` holds a count, the means, the centered second moments and co-moment of
two variables (x, y) and their ranges; :class:`Moments` the same for one variable. Batches
are summarized in two passes (mean, then centered sums) and merged with Chan et al.'s
pairwise update::

    n = na + nb,  mean = (na ma + nb mb) / n,  d = mb - ma
    M2 = M2a + M2b + d^2 na nb / n,  C = Ca + Cb + dx dy na nb / n

Merging is exactly commutative (every formula is symmetric in a and b) and associative up to
float64 rounding (relative 1e-15 per merge). Both pack to a fixed little-endian layout that
the sketches embed; :func:`CoMoments.unpack` checks every invariant (counts, finite values,
M2 between 0 and Popoviciu's n (max - min)^2 / 4, the Cauchy-Schwarz bound on C, means
inside the ranges).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

__all__ = ["CoMoments", "Moments"]

_CO = struct.Struct("<Q10d")
_UNI = struct.Struct("<Q5d")
_RTOL = 1e-9  # slack for rounding in the loaded invariants


def _range_ok(mean: float, lo: float, hi: float) -> bool:
    slack = _RTOL * max(abs(lo), abs(hi), 1e-300)
    return lo - slack <= mean <= hi + slack


@dataclass(frozen=True)
class Moments:
    """Count, mean, centered sum of squares (``m2``), minimum and maximum of one variable."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf

    @staticmethod
    def of(x: np.ndarray) -> Moments:
        """Two-pass moments of a non-empty finite float64 array."""
        mean = float(np.mean(x))
        d = x - mean
        return Moments(int(x.size), mean, float(np.sum(d * d)), float(np.min(x)), float(np.max(x))).pinned()

    def pinned(self) -> Moments:
        """A constant sample's moments exactly: its mean is its value and M2 is 0 (the
        rounding of a sum of n copies of v, divided by n, need not give v back)."""
        if self.n and self.lo == self.hi:
            return Moments(self.n, self.lo, 0.0, self.lo, self.hi)
        return self

    def merge(self, other: Moments) -> Moments:
        """The moments of both samples (symmetric in self and other)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        d = other.mean - self.mean
        return Moments(
            n,
            (self.n * self.mean + other.n * other.mean) / n,
            self.m2 + other.m2 + d * d * (self.n * other.n / n),
            min(self.lo, other.lo),
            max(self.hi, other.hi),
        ).pinned()

    @property
    def var(self) -> float:
        """Variance with ddof 0 (NaN when empty)."""
        return self.m2 / self.n if self.n else math.nan

    def pack(self) -> bytes:
        """Fixed 48-byte little-endian layout."""
        return _UNI.pack(self.n, self.mean, self.m2, self.lo, self.hi, 0.0)

    @staticmethod
    def unpack(data: bytes, offset: int = 0, what: str = "moments") -> Moments:
        """Read and check the layout written by :meth:`pack`."""
        n, mean, m2, lo, hi, _ = _UNI.unpack_from(data, offset)
        out = Moments(int(n), mean, m2, lo, hi)
        out._check(what)
        return out

    def _check(self, what: str) -> None:
        if self.n == 0:
            if (self.mean, self.m2, self.lo, self.hi) != (0.0, 0.0, math.inf, -math.inf):
                raise ValueError(f"{what}: an empty state must hold zeros and an empty range")
            return
        if self.n >= 2**62:
            raise ValueError(f"{what}: count {self.n} is out of range")
        if not all(math.isfinite(v) for v in (self.mean, self.m2, self.lo, self.hi)):
            raise ValueError(f"{what}: moments must be finite")
        if self.m2 < 0 or self.lo > self.hi or not _range_ok(self.mean, self.lo, self.hi):
            raise ValueError(f"{what}: inconsistent moments (negative M2 or a mean outside [min, max])")
        if self.lo == self.hi and self.m2 != 0.0:
            raise ValueError(f"{what}: a constant sample must have M2 = 0")
        if self.n == 1 and self.lo != self.hi:
            raise ValueError(f"{what}: one value has min = max")
        spread = self.hi - self.lo
        if self.m2 > self.n * spread * spread / 4.0 * (1 + _RTOL):  # Popoviciu: var <= (max - min)^2 / 4
            raise ValueError(f"{what}: M2 exceeds n (max - min)^2 / 4")

    SIZE = _UNI.size


@dataclass(frozen=True)
class CoMoments:
    """Count, means, centered sums of squares and cross products, and ranges of (x, y)."""

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    c_xy: float = 0.0
    lo_x: float = math.inf
    hi_x: float = -math.inf
    lo_y: float = math.inf
    hi_y: float = -math.inf

    @staticmethod
    def of(x: np.ndarray, y: np.ndarray) -> CoMoments:
        """Two-pass co-moments of two non-empty finite float64 arrays of one length."""
        mx, my = float(np.mean(x)), float(np.mean(y))
        dx, dy = x - mx, y - my
        return CoMoments(
            int(x.size),
            mx,
            my,
            float(np.sum(dx * dx)),
            float(np.sum(dy * dy)),
            float(np.sum(dx * dy)),
            float(np.min(x)),
            float(np.max(x)),
            float(np.min(y)),
            float(np.max(y)),
        ).pinned()

    def pinned(self) -> CoMoments:
        """A constant variable's moments exactly (see :meth:`Moments.pinned`); its
        co-moment is then 0."""
        x, y = self.x().pinned(), self.y().pinned()
        if (x, y) == (self.x(), self.y()):
            return self
        c = 0.0 if self.n and (x.lo == x.hi or y.lo == y.hi) else self.c_xy
        return CoMoments(self.n, x.mean, y.mean, x.m2, y.m2, c, x.lo, x.hi, y.lo, y.hi)

    def merge(self, other: CoMoments) -> CoMoments:
        """The co-moments of both samples (symmetric in self and other)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        f = self.n * other.n / n
        dx, dy = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        return CoMoments(
            n,
            (self.n * self.mean_x + other.n * other.mean_x) / n,
            (self.n * self.mean_y + other.n * other.mean_y) / n,
            self.m2_x + other.m2_x + dx * dx * f,
            self.m2_y + other.m2_y + dy * dy * f,
            self.c_xy + other.c_xy + dx * dy * f,
            min(self.lo_x, other.lo_x),
            max(self.hi_x, other.hi_x),
            min(self.lo_y, other.lo_y),
            max(self.hi_y, other.hi_y),
        ).pinned()

    def x(self) -> Moments:
        """The moments of x alone."""
        return Moments(self.n, self.mean_x, self.m2_x, self.lo_x, self.hi_x)

    def y(self) -> Moments:
        """The moments of y alone."""
        return Moments(self.n, self.mean_y, self.m2_y, self.lo_y, self.hi_y)

    def pack(self) -> bytes:
        """Fixed 88-byte little-endian layout."""
        return _CO.pack(
            self.n,
            self.mean_x,
            self.mean_y,
            self.m2_x,
            self.m2_y,
            self.c_xy,
            self.lo_x,
            self.hi_x,
            self.lo_y,
            self.hi_y,
            0.0,
        )

    @staticmethod
    def unpack(data: bytes, offset: int = 0, what: str = "co-moments") -> CoMoments:
        """Read and check the layout written by :meth:`pack`."""
        fields = _CO.unpack_from(data, offset)
        out = CoMoments(int(fields[0]), *fields[1:10])
        out.x()._check(what + " (x)")
        out.y()._check(what + " (y)")
        if out.n and not math.isfinite(out.c_xy):
            raise ValueError(f"{what}: the co-moment must be finite")
        if out.n == 0 and out.c_xy != 0.0:
            raise ValueError(f"{what}: an empty state must hold zeros")
        # |sum dx dy| <= n (max x - min x)(max y - min y): a bound that survives underflow
        # (Cauchy-Schwarz's sqrt(M2x M2y) does not when M2 underflows to 0)
        bound = out.n * (out.hi_x - out.lo_x) * (out.hi_y - out.lo_y) if out.n else 0.0
        if abs(out.c_xy) > bound * (1 + _RTOL) + 1e-300:
            raise ValueError(f"{what}: the co-moment exceeds n * range(x) * range(y)")
        if min(out.m2_x, out.m2_y) > 1e-250 and abs(out.c_xy) > math.sqrt(out.m2_x) * math.sqrt(out.m2_y) * (1 + _RTOL):
            raise ValueError(f"{what}: the co-moment exceeds sqrt(M2x M2y) (Cauchy-Schwarz)")
        return out

    SIZE = _CO.size
