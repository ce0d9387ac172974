"""ReliabilitySketch: mergeable, serializable streaming state for calibration metrics.

The state is O(bins + grid), never O(samples): per equal-width bin and per fine-grid cell
the count, the positives and the exact fixed-point sum of scores, plus exact sums of
squared errors and log-loss terms. Sums are integers (scores carry 62 fractional bits,
log-loss terms 56), so updates in any chunking, merges in any order and every backend
give byte-identical states.

Sample weights (``update(..., sample_weight=w)``) keep that: a weight is held as
round(w 2^24), every count becomes a sum of those and every sum a sum of exact 128-bit
products. A state is stored without the 24 fractional bits whenever its values allow it
(:func:`calipers._common.binstats.scale_down`), so integer weights give exactly the bytes of
repeated rows, a sketch that never saw a fractional weight is a format-1 blob, and merges of
weighted and unweighted sketches stay exact and order-free.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.binning import mass_cuts_from_counts
from .._common.binstats import BinStats, coarse_stats, decode128, decode_count, scale_down, scale_up, stream_pairs
from .._common.grid import (
    FIELDS,
    GRID_CELLS,
    GRID_OCTAVES,
    GRID_SUB_BITS,
    KIND_BINARY,
    KIND_MARGINAL,
    KIND_TOP_LABEL,
    LOG_LOSS_FLOOR,
    PART_ALL,
    UNIT_SCALE,
    WEIGHT_BITS,
    coarsen_index,
    fine_cell_lower_edges,
    fine_cell_upper_edges,
    grid_cell_count,
    grid_name,
    grid_spec,
    stream_size,
    width_edges,
)
from .._common.locking import both_locked
from .._common.validate import (
    DEFAULT_ROW_SUM_ATOL,
    Checked,
    InputRules,
    check,
    check_bins,
    check_choice,
    check_int,
    check_number,
    check_weight_total,
    prepare,
    warn_empty,
)
from .._kernels import backend as _backend
from ..metrics.binned_error import NORMS, binned_error, combine_classes
from ..metrics.scoring import brier_from_totals, bss_from_totals, log_loss_from_totals, totals_from_state
from ..metrics.table import ReliabilityTable

__all__ = ["ReliabilitySketch", "merge_all", "MAX_COUNT"]

MAX_COUNT = 2**63 - 1  # samples a sketch can hold: counts are u64 words read as int64

_KIND_NAMES = {None: None, KIND_BINARY: "binary", KIND_TOP_LABEL: "top-label", KIND_MARGINAL: "marginal"}
_KIND_CODES = {None: 0, KIND_BINARY: 1, KIND_TOP_LABEL: 2, KIND_MARGINAL: 3}
_CODE_KINDS = {v: k for k, v in _KIND_CODES.items()}


@lru_cache(maxsize=64)
def _lo_words(bins: int, streams: int, grid_cells: int = GRID_CELLS) -> np.ndarray:
    """Indices of the low words of every 128-bit sum in the flat state."""
    size = stream_size(bins, grid_cells)
    cells = np.arange(bins + grid_cells) * FIELDS + 2
    one = np.concatenate([cells, (bins + grid_cells) * FIELDS + np.array([0, 2])])
    return np.asarray((np.arange(streams)[:, None] * size + one[None, :]).ravel())


def _add_state(dst: np.ndarray, src: np.ndarray, bins: int, streams: int) -> None:
    grid_cells = (dst.size // streams - 4) // FIELDS - bins  # the layout of any grid (ReliabilitySketch(grid=))
    lo = _lo_words(bins, streams, grid_cells)
    before = dst[lo]
    dst += src  # uint64 arithmetic wraps; the carries are restored below
    dst[lo + 1] += (dst[lo] < before).astype(np.uint64)


class ReliabilitySketch(_serde.EqualBytes):
    """Streaming reliability statistics that merge exactly and serialize compactly.

    Parameters
    ----------
    bins : number of equal-width bins (edges i/bins, bins [e_i, e_{i+1}), last closed).
        Equal-width metrics from the sketch equal :func:`calipers.ece` on the same data.
    classes : None for 1-D (score, outcome) input or (n, K) top-label input; an integer K
        for marginal (class-wise) statistics of (n, K) probabilities.
    row_sum_atol : tolerance on row sums of (n, K) input.
    backend : "auto" | "cpp" | "numba" | "numpy"; the state does not depend on it.
    replicates : R > 0 keeps a streaming Poisson bootstrap of the equal-width bins (binary
        and top-label sketches): :meth:`ece_interval` then gives intervals for the stream
        without storing samples. Each update draws every (bin, outcome) unit's replicate
        count from Poisson(n_u) and its score sum from the normal with the exact
        conditional moments (see :mod:`calipers.bootstrap`); replicates add under merge
        and serialize with the sketch (R x bins x 4 doubles). They are random: merged and
        chunked streams agree with one batch within Monte-Carlo error, not bit for bit,
        while the rest of the state stays exact. ``seed`` seeds them; give each worker its
        own seed (or none), or their replicates are correlated.

    Notes
    -----
    ``update`` validates the whole batch before touching the state (all-or-nothing),
    releases the GIL in the C++ and Numba backends, and is safe to call from many
    threads (updates of one sketch are serialized by a lock; for parallel throughput use
    one sketch per thread and :meth:`merge`). The C++ backend spreads a large batch
    (2^18 values or more) over the cores; the sums are exact integers, so the state is the
    same bytes for any split. Empty batches are rejected like any bad input. The values are
    checked once, by the accumulation kernel itself (row sums and weights included).

    ``update(..., sample_weight=w)``: weights are held as round(w 2^24) (a resolution of
    2^-24 = 6e-8 of one unit of weight; whole weights are exact), each must be finite,
    >= 0 and below 2^39. Integer weights give exactly the bytes of the rows repeated, zero
    weights those of the rows dropped; :attr:`count` is then the total weight (a float once
    a fractional weight was added). A sketch holding fractional weights serializes as
    format version 2 (flag 4); one that holds none is a format-1 blob. Weights and
    ``replicates`` do not mix (the Poisson bootstrap draws counts per row).

    Equal-mass metrics come from a fine grid of 3970 cells uniform in the exponent and
    top 6 mantissa bits of min(p, 1 - p): cells are 1/64 (1.6%) of the distance to 0 or 1
    wide down to 2^-32, so 0.999 and 0.9999 never share a cell. Each equal-mass bin ends
    at the end of the cell holding rank ceil(j n / B); compared with exact equal-mass bins
    a boundary moves by at most the samples of one cell. Cells are [lower, upper) below
    1/2 and, mirrored, (lower, upper] from 1/2 up (1/2 itself closes the cell below it),
    so an equal-mass table's bins are [e_j, e_j+1) below 1/2 and (e_j, e_j+1] above: a score
    exactly on such an edge (common for float32 probabilities) counts in the bin below it.
    Metrics of an empty sketch are NaN with a RuntimeWarning.

    ``grid`` chooses that grid, and with it the size of the sketch and the accuracy of
    everything computed from cells (equal-mass ECE, smooth ECE, AUROC, :meth:`calibrator`);
    equal-width ECE, Brier, log loss and the bootstrap replicates are exact for every grid.
    Each grid is a coarsening of the fine one (:meth:`coarsen` folds exactly):

    ====================  ======  ==============  =========================================
    grid                  cells   bytes (bins=15)  cell width
    ====================  ======  ==============  =========================================
    ``"fine"`` (default)  3970    127,552         1/64 of the distance to 0 or 1, to 2^-32
    ``"compact"``         130     4,672           1/4 of the distance to 0 or 1, to 2^-17
    ``(octaves, sub)``    2 + 2 octaves 2^sub     2^-sub of the distance, to 2^-(octaves+1)
    ``None``              0       512             the equal-width bins serve (1/bins wide)
    ====================  ======  ==============  =========================================

    What a coarser grid costs, with n samples, c(x) the count of the cell holding x and
    w(x) its width (all bounds hold exactly and are tested, tests/test_sketch_grid.py):

    * equal-mass ECE: each of the B - 1 boundaries moves by at most the samples of its
      cell, so ``|ece_mass - exact| <= (2/n) sum_j c(boundary_j)``;
    * smooth ECE: ``smooth_ece(return_bound=True)`` returns the bound
      ``sqrt(2/pi)/sigma (1/n) sum_c d_c r_c`` (d_c <= w_c);
    * AUROC: pairs in one cell count as ties, so ``|auroc - exact| <= (1/2) sum_c
      pos_c neg_c / (P N)``;
    * :meth:`calibrator`: the fit equals the array fit on the scores moved to their
      cell's mean, i.e. every score moves by less than w(x).
    """

    def __init__(
        self,
        bins: int = 15,
        classes: int | None = None,
        *,
        row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto",
        replicates: int = 0,
        seed: Any = None,
        grid: str | tuple[int, int] | None = "fine",
    ) -> None:
        self._bins = check_bins(bins)
        self._grid = grid_spec(grid)
        self._cells = grid_cell_count(*self._grid)
        replicates = check_int("replicates", replicates, 0, 100_000)
        if replicates and classes is not None:
            raise ValueError(
                "replicates need a binary or top-label sketch (classes=None): the class-wise "
                "streams of a marginal sketch share their rows"
            )
        if classes is not None:
            classes = check_int("classes", classes, 2, 1 << 20)
        check_number("row_sum_atol", row_sum_atol, 0.0, 1.0)
        if backend != "auto":
            _backend.resolve(backend)  # fail early on an unavailable backend
        self._classes = classes
        self._streams = classes or 1
        self._kind: int | None = KIND_MARGINAL if classes else None
        self._row_sum_atol = float(row_sum_atol)
        self._backend = backend
        self._acc = np.zeros(self._streams * stream_size(self._bins, self._cells), np.uint64)
        self._weight_bits = 0  # 24 while the state holds fractional weights (binstats.scale_down)
        self._lock = threading.Lock()
        # (R, 2 bins, 2): per replicate and (bin, outcome) unit, the count and the score sum
        self._replicates = np.zeros((int(replicates), 2 * self._bins, 2)) if replicates else None
        self._rng = np.random.default_rng(seed)

    @property
    def replicates(self) -> int:
        """Number of bootstrap replicates kept (0: none)."""
        return 0 if self._replicates is None else len(self._replicates)

    # ------------------------------------------------------------------ state

    @property
    def bins(self) -> int:
        """Number of equal-width bins."""
        return self._bins

    @property
    def classes(self) -> int | None:
        """K for a marginal sketch, else None."""
        return self._classes

    @property
    def grid(self) -> str | tuple[int, int] | None:
        """The grid kept for cell-based metrics: "fine", "compact", None or (octaves, sub_bits)."""
        return grid_name(self._grid)

    @property
    def kind(self) -> str | None:
        """'binary', 'top-label' or 'marginal'; None until the first update of a 1-D/top-label sketch."""
        return _KIND_NAMES[self._kind]

    @property
    def count(self) -> Any:
        """Number of samples (rows) added: an int, or with sample weights the total weight (an
        int while every weight was whole, else a float)."""
        with self._lock:
            total = self._count_unlocked()
            return total if self._weight_bits == 0 else total / float(1 << self._weight_bits)

    def _count_unlocked(self) -> int:
        """The count words' total (in 2^-weight_bits units when weights were fractional)."""
        return int(self._acc[: self._bins * FIELDS : FIELDS].sum())

    @property
    def nbytes(self) -> int:
        """Bytes of the state (O(bins + grid), whatever the number of samples)."""
        return int(self._acc.nbytes)

    def _settings(self) -> str:
        grid = "" if self._cells == GRID_CELLS else f", grid={self.grid!r}"
        return f"bins={self._bins}, classes={self._classes}, kind={self.kind!r}{grid}"

    def update(
        self,
        scores: Any,
        labels: Any,
        *,
        nan_policy: str = "raise",
        sample_weight: Any = None,
        backend: str | None = None,
    ) -> ReliabilitySketch:
        """Add a batch (``sample_weight``: one weight per row); raises (and changes nothing)
        on any invalid value. The values are checked once, by the accumulation kernel."""
        kernels = _backend.resolve(backend or self._backend)
        mode = "marginal" if self._classes else "top-label"
        rules = InputRules(
            mode=mode, nan_policy=nan_policy, row_sum_atol=self._row_sum_atol, sample_weight=sample_weight
        )
        if nan_policy == "raise" and self._replicates is None and self._cells == GRID_CELLS:
            c = prepare(scores, labels, **rules)  # structure only: accumulate_checked checks values, rows, weights
            self._check_classes(c)
            try:
                return self._add_checked(c, kernels, self._row_sum_atol)
            except ValueError:  # word a value error exactly as the validation layer does
                check(scores, labels, kernels, **rules)
                raise
        c = check(scores, labels, kernels, **rules)
        self._check_classes(c)
        return self._add_checked(c, kernels)

    def _check_classes(self, c: Checked) -> None:
        if self._classes and c.classes != self._classes:
            raise ValueError(
                f"this sketch has classes={self._classes}: scores must have shape (n, {self._classes}), "
                f"got {c.scores.shape}"
            )

    def _add_checked(self, c: Checked, kernels: Any, atol: float = -1.0) -> ReliabilitySketch:
        """Add input for this sketch (all-or-nothing): validated by :func:`check` (``atol``
        -1), or structurally checked only, the kernel then checking the values and the rows
        of (n, K) input against ``atol``."""
        if c.weights is not None and self._replicates is not None:
            raise ValueError(
                "sample_weight cannot feed bootstrap replicates (replicates=R draws Poisson counts per row): "
                "use a sketch without replicates for weighted data"
            )
        replicate_delta = None
        if self._replicates is not None:
            from ..metrics.bootstrap import poisson_replicates

            ((p, y),) = stream_pairs(c, kernels)
            replicate_delta = poisson_replicates(
                kernels.unit_stats(p, y, self._bins), self._bins, len(self._replicates), self._rng
            )  # (touched units, their increments)
        delta, bits = None, 0
        if c.weights is not None:  # staged: weighted sums carry 24 fractional bits until scaled down
            check_weight_total(c.weights, need_some=False)  # a sum past 2^39 would wrap the delta's counts
            fine = np.zeros(self._streams * stream_size(self._bins), np.uint64)
            kernels.accumulate_checked(
                fine, self._bins, self._streams, PART_ALL, c.scores, c.labels, c.kind, c.weights, atol
            )
            delta = fine if self._cells == GRID_CELLS else self._fold_fine(fine, c.kind)
            delta, bits = scale_down(delta, self._bins, self._streams, self._cells)
        with self._lock:
            if self._kind is not None and self._kind != c.kind:
                raise ValueError(
                    f"this sketch holds {self.kind} pairs; cannot add {_KIND_NAMES[c.kind]} input "
                    "(1-D scores and (n, K) top-label scores do not mix)"
                )
            if delta is None and self._weight_bits:  # unweighted rows into a state of fractional weights
                delta, bits = self._unweighted_delta(c, kernels, atol), 0
            if delta is not None:
                self._add_state_weighted(delta, bits)
            else:
                _check_room(self._count_unlocked(), c.n, "adding")
                if self._cells != GRID_CELLS:
                    self._accumulate_rows(c, kernels, self._acc)
                else:
                    kernels.accumulate_checked(
                        self._acc, self._bins, self._streams, PART_ALL, c.scores, c.labels, c.kind, None, atol
                    )
            if replicate_delta is not None:
                units, increments = replicate_delta
                self._replicates[:, units, :] += increments  # type: ignore[index]
            self._kind = c.kind
        return self

    def _fold_fine(self, fine: np.ndarray, kind: int) -> np.ndarray:
        """A fine-grid state folded onto this sketch's grid (exact)."""
        tmp = ReliabilitySketch(self._bins, self._classes, row_sum_atol=self._row_sum_atol, backend=self._backend)
        tmp._acc, tmp._kind = fine, kind
        return tmp.coarsen(self.grid)._acc

    def _add_state_weighted(self, delta: np.ndarray, bits: int) -> None:
        """Add a state of ``bits`` fractional weight bits (the lock is held): both sides in the
        finer units, then the sum stored without the bits if its values allow (canonical)."""
        acc, mine = self._acc, self._weight_bits
        if bits > mine:
            acc = scale_up(acc, self._bins, self._streams, self._cells)  # may raise: nothing changed yet
        elif bits < mine:
            delta = scale_up(delta, self._bins, self._streams, self._cells)
        else:
            acc = acc.copy() if mine else acc
        _check_room(
            int(acc[: self._bins * FIELDS : FIELDS].sum()), int(delta[: self._bins * FIELDS : FIELDS].sum()), "adding"
        )  # in the finer units: the count words must stay below 2^63
        _add_state(acc, delta, self._bins, self._streams)
        bits = max(bits, mine)
        if bits:
            acc, bits = scale_down(acc, self._bins, self._streams, self._cells)
        self._acc, self._weight_bits = acc, bits

    def _accumulate_rows(self, c: Checked, kernels: Any, target: np.ndarray) -> None:
        """Add validated input to ``target``, a state of this sketch's grid when that is not
        the fine one (rows.hpp)."""
        pairs = stream_pairs(c, kernels)
        p = np.concatenate([np.asarray(s, np.float64) for s, _ in pairs])
        y = np.concatenate([np.asarray(v, np.uint8) for _, v in pairs])
        rows = np.repeat(np.arange(len(pairs), dtype=np.int64), [len(s) for s, _ in pairs])
        kernels.accumulate_rows(target, self._bins, self._grid[0], self._grid[1], rows, p, y)

    def _unweighted_delta(self, c: Checked, kernels: Any, atol: float) -> np.ndarray:
        """The state of unweighted input alone (to add to a state holding fractional weights)."""
        delta = np.zeros_like(self._acc)
        if self._cells != GRID_CELLS:
            self._accumulate_rows(c, kernels, delta)
        else:
            kernels.accumulate_checked(
                delta, self._bins, self._streams, PART_ALL, c.scores, c.labels, c.kind, None, atol
            )
        return delta

    def _snapshot(self) -> tuple[np.ndarray, int | None]:
        with self._lock:
            return self._acc.copy(), self._kind

    def _weighted_snapshot(self) -> tuple[np.ndarray, int | None, int]:
        """The state, the kind and the state's fractional weight bits (0 or 24), together."""
        with self._lock:
            return self._acc.copy(), self._kind, self._weight_bits

    def _replicate_snapshot(self) -> np.ndarray | None:
        with self._lock:
            return None if self._replicates is None else self._replicates.copy()

    def _full_snapshot(self) -> tuple[np.ndarray, int | None, np.ndarray | None, int]:
        """State, kind, replicates and fractional weight bits taken together (one moment)."""
        with self._lock:
            reps = None if self._replicates is None else self._replicates.copy()
            return self._acc.copy(), self._kind, reps, self._weight_bits

    def merge(self, other: ReliabilitySketch) -> ReliabilitySketch:
        """Add ``other`` into this sketch in place (exact); returns self.

        Safe under concurrency: both sketches are locked, always in the same order, so
        concurrent merges and updates give a state some serial order gives; ``s.merge(s)``
        doubles ``s`` exactly. Raises (and changes nothing) when the settings differ or
        the count would pass :data:`MAX_COUNT`."""
        if not isinstance(other, ReliabilitySketch):
            raise TypeError(f"can only merge a ReliabilitySketch, got {type(other).__name__}")
        if other._bins != self._bins or other._classes != self._classes or other._grid != self._grid:
            raise ValueError(f"cannot merge incompatible sketches: {self._settings()} vs {other._settings()}")
        if other.replicates != self.replicates:
            raise ValueError(
                f"cannot merge a sketch with {other.replicates} bootstrap replicates into one with "
                f"{self.replicates}: every part of a stream needs the same replicates="
            )
        with both_locked(self, other):
            kind = other._kind
            if kind is not None and self._kind is not None and kind != self._kind:
                raise ValueError(f"cannot merge incompatible sketches: {self._settings()} vs {other._settings()}")
            state = other._acc.copy() if other is self else other._acc
            reps = other._replicates
            if other._weight_bits or self._weight_bits:
                self._add_state_weighted(state, other._weight_bits)  # both in the finer units, exact
            else:
                _check_room(self._count_unlocked(), other._count_unlocked(), "merging")
                _add_state(self._acc, state, self._bins, self._streams)
            if reps is not None:
                self._replicates += reps.copy() if other is self else reps  # type: ignore[operator]
            if self._kind is None:
                self._kind = kind
        return self

    def __iadd__(self, other: ReliabilitySketch) -> ReliabilitySketch:
        return self.merge(other)

    def __add__(self, other: ReliabilitySketch) -> ReliabilitySketch:
        if not isinstance(other, ReliabilitySketch):
            return NotImplemented
        return self.copy().merge(other)

    def copy(self) -> ReliabilitySketch:
        """An independent copy (its replicates, if any, continue from a spawned generator)."""
        state, kind, reps, bits = self._full_snapshot()
        out = ReliabilitySketch(
            self._bins, self._classes, row_sum_atol=self._row_sum_atol, backend=self._backend, grid=self.grid
        )
        out._acc, out._kind, out._replicates, out._weight_bits = state, kind, reps, bits
        out._rng = self._rng.spawn(1)[0]
        return out

    def reset(self) -> None:
        """Forget every sample (the settings stay)."""
        with self._lock:
            self._acc[:] = 0
            self._weight_bits = 0
            if self._replicates is not None:
                self._replicates[:] = 0.0
            self._kind = KIND_MARGINAL if self._classes else None

    def __repr__(self) -> str:
        return f"ReliabilitySketch({self._settings()}, count={self.count})"

    # ---------------------------------------------------------- serialization

    def to_bytes(self) -> bytes:
        """Versioned, checksummed binary form (see calipers._serde for the layout)."""
        state, kind, reps, bits = self._full_snapshot()
        empty = int(state[: self._bins * FIELDS : FIELDS].sum()) == 0
        flags = _serde.FLAG_EMPTY if empty else 0
        if bits:  # counts and sums carry 24 fractional weight bits: format version 2
            flags |= _serde.FLAG_WEIGHTED
        if reps is not None:  # appended: R, then R x 2 bins x 2 doubles as their bit patterns
            flags |= _serde.FLAG_REPLICATES
            state = np.concatenate(
                [state, np.array([len(reps)], np.uint64), np.ascontiguousarray(reps, "<f8").view(np.uint64).ravel()]
            )
        return _serde.pack(
            _serde.TYPE_RELIABILITY_SKETCH,
            flags,
            _KIND_CODES[kind],
            self._bins,
            self._streams,
            self._grid[0],
            self._grid[1],
            self._row_sum_atol,
            state,
            version=2 if bits else 1,
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, backend: str = "auto") -> ReliabilitySketch:
        """Rebuild a sketch; raises ValueError on truncated, corrupted or foreign bytes."""
        (flags, kind_code, bins, streams, octaves, sub_bits), atol, state = _serde.unpack(
            data, _serde.TYPE_RELIABILITY_SKETCH
        )
        if kind_code not in _CODE_KINDS:
            raise ValueError(f"calipers blob has an unknown kind code {kind_code}")
        kind = _CODE_KINDS[kind_code]
        try:
            grid = grid_spec((octaves, sub_bits))
        except ValueError:
            raise ValueError(
                f"calipers blob uses grid ({octaves}, {sub_bits}); this build reads (0, 0) and "
                f"(1..{GRID_OCTAVES}, 0..{GRID_SUB_BITS})"
            ) from None
        cells = grid_cell_count(*grid)
        if not 1 <= bins <= 1_000_000:
            raise ValueError(f"calipers blob has an invalid bin count {bins}")
        if (kind == KIND_MARGINAL) != (streams >= 2) or streams < 1:
            raise ValueError(f"calipers blob has {streams} stream(s) for kind {_KIND_NAMES[kind]!r}")
        reps = None
        if flags & _serde.FLAG_REPLICATES:
            state, reps = _split_replicates(state, bins, streams, cells)
            flags &= ~_serde.FLAG_REPLICATES
        bits = 0
        if flags & _serde.FLAG_WEIGHTED:
            if reps is not None:
                raise ValueError("calipers blob holds both sample weights and bootstrap replicates")
            bits = WEIGHT_BITS
            flags &= ~_serde.FLAG_WEIGHTED
        if state.size != streams * stream_size(bins, cells):
            raise ValueError(
                f"calipers blob payload has {state.size} words, expected "
                f"{streams * stream_size(bins, cells)} for bins={bins}, streams={streams}, grid={grid}"
            )
        _check_consistent(state, bins, streams, kind, flags, grid)
        out = cls(
            bins, streams if kind == KIND_MARGINAL else None, row_sum_atol=atol, backend=backend, grid=grid_name(grid)
        )
        if bits and scale_down(state, bins, streams, cells)[1] == 0:
            raise ValueError("calipers blob is flagged weighted but holds whole counts (not canonical)")
        out._acc, out._kind, out._replicates, out._weight_bits = state, kind, reps, bits
        return out

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (_restore, (self.to_bytes(),))

    # ---------------------------------------------------------------- metrics

    def _stats(self, binning: str, bins: int | None) -> list[BinStats]:
        check_choice("binning", binning, ("width", "mass"))
        state, _, bits = self._weighted_snapshot()
        if binning == "width":
            if bins is not None and bins != self._bins:
                raise ValueError(f"equal-width bins are fixed at construction (bins={self._bins}); got bins={bins}")
            return coarse_stats(state, self._bins, self._streams, self._cells, bits)
        nbins = check_bins(self._bins if bins is None else bins)
        lower, _ = self._cell_edges()
        out = []
        for cells in self._fine_cells(state):
            counts = cells[:, 0].astype(np.int64)  # in units of 2^-bits: the cut rule is the same
            starts = mass_cuts_from_counts(counts, nbins)
            index = np.concatenate([[0], starts]).astype(np.int64)
            scale = float(1 << bits)
            sums = decode128(cells[:, 2], cells[:, 3], UNIT_SCALE * scale)
            edges = np.concatenate([[0.0], lower[starts], [1.0]])
            out.append(
                BinStats(
                    edges,
                    decode_count(np.add.reduceat(cells[:, 0], index), bits),
                    np.add.reduceat(sums, index),
                    np.add.reduceat(cells[:, 1].astype(np.float64) / scale, index),
                )
            )
        return out

    def _fine_cells(self, state: np.ndarray) -> list[np.ndarray]:
        """Each stream's grid cells (cells x FIELDS) in a state snapshot; without a grid
        (``grid=None``) the equal-width bins."""
        rows = state.reshape(self._streams, stream_size(self._bins, self._cells))
        if self._cells == 0:
            return [row[: self._bins * FIELDS].reshape(self._bins, FIELDS) for row in rows]
        lo, hi = self._bins * FIELDS, (self._bins + self._cells) * FIELDS
        return [row[lo:hi].reshape(self._cells, FIELDS) for row in rows]

    def _cell_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper score bounds of the cells :meth:`_fine_cells` returns."""
        if self._cells == 0:
            edges = width_edges(self._bins)
            return edges[:-1], edges[1:]
        return fine_cell_lower_edges(*self._grid), fine_cell_upper_edges(*self._grid)

    def coarsen(self, grid: str | tuple[int, int] | None) -> ReliabilitySketch:
        """A copy of this sketch on a coarser grid, folded exactly: equal to the sketch
        built with ``grid=`` from the same data. The target must be a coarsening of this
        sketch's grid (fewer or equal octaves and sub-bits; None always is)."""
        target = grid_spec(grid)
        if target != (0, 0) and (target[0] > self._grid[0] or target[1] > self._grid[1]):
            raise ValueError(f"grid {grid!r} is not a coarsening of this sketch's grid {self.grid!r}")
        state, kind, bits = self._weighted_snapshot()
        out = ReliabilitySketch(
            self._bins, self._classes, row_sum_atol=self._row_sum_atol, backend=self._backend, grid=grid
        )
        cells = grid_cell_count(*target)
        fine_to_src = coarsen_index(*self._grid) if self._cells else np.zeros(0, np.int64)
        fine_to_dst = coarsen_index(*target) if cells else np.zeros(0, np.int64)
        rows_in = state.reshape(self._streams, stream_size(self._bins, self._cells))
        rows_out = out._acc.reshape(self._streams, stream_size(self._bins, cells))
        for src, dst in zip(rows_in, rows_out):
            dst[: self._bins * FIELDS] = src[: self._bins * FIELDS]
            dst[(self._bins + cells) * FIELDS :] = src[(self._bins + self._cells) * FIELDS :]
            if cells:
                index = np.zeros(self._cells, np.int64)  # source cell -> target cell
                index[fine_to_src] = fine_to_dst
                grid_part = src[self._bins * FIELDS : (self._bins + self._cells) * FIELDS].reshape(-1, FIELDS)
                dst[self._bins * FIELDS : (self._bins + cells) * FIELDS] = _fold_cells(grid_part, index, cells).ravel()
        out._kind = kind
        if bits:  # folding can make a weighted state whole: keep the canonical form
            out._acc, bits = scale_down(out._acc, self._bins, self._streams, cells)
        out._weight_bits = bits
        out._replicates = self._replicate_snapshot()
        out._rng = self._rng.spawn(1)[0]
        return out

    def _empty_nan(self, what: str) -> bool:
        """The one empty-sketch rule: True (and a RuntimeWarning) when nothing was added."""
        if self.count == 0:
            warn_empty(what, "ReliabilitySketch")
            return True
        return False

    def ece(
        self,
        *,
        binning: str = "width",
        norm: str = "l1",
        debiased: bool = False,
        bins: int | None = None,
        seed: Any = None,
        resamples: int = 1000,
    ) -> float:
        """Binned calibration error, as :func:`calipers.ece` (equal-width: identical values;
        ``norm="l1", debiased=True`` is the seeded resampling heuristic there)."""
        from ..metrics.binned_error import resampled_debiased

        check_choice("norm", norm, NORMS)
        if debiased and norm == "max":
            raise ValueError("debiased=True is defined for norm='l2' and norm='l1'; got norm='max'")
        stats = self._stats(binning, bins)
        if self._empty_nan("ece"):
            return float("nan")
        if debiased and norm == "l1":
            rng = np.random.default_rng(seed)
            values = [resampled_debiased(s.count, s.sum_score, s.sum_label, 1.0, rng, resamples) for s in stats]
        else:
            values = [binned_error(s.count, s.sum_score, s.sum_label, norm, debiased) for s in stats]
        return values[0] if len(values) == 1 else combine_classes(values, norm)

    def reliability(
        self, *, binning: str = "width", bins: int | None = None, confidence: float = 0.95
    ) -> ReliabilityTable:
        """Per-bin table (marginal sketches pool the class-wise pairs). Equal-width bins are
        calipers' [e_i, e_i+1); equal-mass bins are whole fine-grid cells, closed on the
        side away from 1/2 (see the class docstring)."""
        return ReliabilityTable.from_stats(self._stats(binning, bins), confidence)

    def _totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        state, _, bits = self._weighted_snapshot()
        return totals_from_state(state, self._bins, self._streams, self._cells, bits)

    def brier(self) -> float:
        """Brier score of the stream, exact (equal to :func:`calipers.brier` in the same mode)."""
        if self._empty_nan("brier"):
            return float("nan")
        sq, _, _, n = self._totals()
        return brier_from_totals(sq, n)

    def log_loss(self) -> float:
        """Log loss of the stream, exact (equal to :func:`calipers.log_loss` in the same mode)."""
        if self._empty_nan("log_loss"):
            return float("nan")
        _, ll, _, n = self._totals()
        return log_loss_from_totals(ll, n)

    def brier_skill_score(self) -> float:
        """Brier skill score of the stream against its own base rate."""
        if self._empty_nan("brier_skill_score"):
            return float("nan")
        sq, _, positives, n = self._totals()
        return bss_from_totals(sq, positives, n)

    def calibrator(self, method: str = "isotonic", **params: Any) -> Any:
        """Fit a 1-D calibrator from the sketch alone.

        ``method``: "platt", "beta", "isotonic", "histogram" or "scaling-binning"; ``params``
        go to the calibrator's constructor. The fit sees each non-empty fine-grid cell as
        its mean score carrying the cell's positives (label 1) and negatives (label 0) as
        sample weights, so it equals the array fit on data whose scores are moved to their
        cell's mean: every score moves by less than one cell, 1/64 (1.6%) of its distance to
        0 or 1 (down to 2^-32). Top-label sketches give calibrators that take (n, K)
        probabilities; marginal sketches give one map per class.
        """
        from .._common.grid import UNIT_SCALE
        from ..calibration import one_dimensional as _cal

        classes = {
            "platt": _cal.PlattScaling,
            "beta": _cal.BetaCalibration,
            "isotonic": _cal.IsotonicCalibration,
            "histogram": _cal.HistogramBinning,
            "scaling-binning": _cal.ScalingBinning,
        }
        if method not in classes:
            raise ValueError(f"method must be one of {', '.join(map(repr, classes))}, got {method!r}")
        state, kind, bits = self._weighted_snapshot()
        if kind is None or int(state[: self._bins * FIELDS : FIELDS].sum()) == 0:
            raise ValueError("cannot fit a calibrator from an empty ReliabilitySketch")
        maps = []
        scale = float(1 << bits)
        for cells in self._fine_cells(state):
            count = cells[:, 0].astype(np.float64) / scale
            nz = count > 0
            mean = decode128(cells[nz, 2], cells[nz, 3], UNIT_SCALE * scale) / count[nz]
            mean = np.clip(mean, 0.0, 1.0)
            pos = cells[nz, 1].astype(np.float64) / scale
            scores = np.concatenate([mean, mean])
            labels = np.concatenate([np.ones(mean.size, np.int8), np.zeros(mean.size, np.int8)])
            weights = np.concatenate([pos, count[nz] - pos])
            keep = weights > 0
            single = classes[method](**{**params, "mode": "top-label"})
            single.fit(scores[keep], labels[keep], sample_weight=weights[keep])
            maps.extend(single.maps_)
        out = classes[method](**{**params, "mode": "marginal" if kind == KIND_MARGINAL else "top-label"})
        out._fitted = _cal._Fitted1D(kind, self._classes, tuple(maps), _cal._fast_kernels(out.backend))
        return out

    def auroc(self) -> float:
        """AUROC from the fine grid: exact except that pairs in the same cell (scores within
        1.6% of each other's distance to 0 or 1) count as ties (1/2). Marginal sketches
        average the one-vs-rest AUROC over classes. NaN with a warning when an outcome is
        missing."""
        from ..metrics.discrimination import auroc_from_counts

        state, _ = self._snapshot()
        if self._empty_nan("auroc"):
            return float("nan")
        values = []
        for cells in self._fine_cells(state):
            pos = cells[:, 1].astype(np.float64)
            values.append(auroc_from_counts(pos, cells[:, 0].astype(np.float64) - pos))
        return values[0] if len(values) == 1 else float(np.mean(values))

    def brier_decomposition(self) -> Any:
        """Murphy's reliability, resolution and uncertainty over the equal-width bins; equal
        to :func:`calipers.brier_decomposition` on the same data."""
        from ..metrics.discrimination import BrierDecomposition, decomposition_from_bins

        if self._empty_nan("brier_decomposition"):
            nan = float("nan")
            return BrierDecomposition(nan, nan, nan, nan)
        return decomposition_from_bins(self._stats("width", None), self.brier())

    def ece_interval(
        self, *, confidence: float = 0.95, norm: str = "l1", debiased: bool = False, method: str = "percentile"
    ) -> Any:
        """Bootstrap interval of the equal-width ECE from the streaming replicates (needs
        ``replicates=R`` at construction); a :class:`calipers.bootstrap.BootstrapInterval`."""
        from ..metrics.binned_error import NORMS as norms
        from ..metrics.bootstrap import BootstrapInterval, check_interval_args, interval, replicate_errors

        if self._replicates is None:
            raise ValueError("this sketch keeps no bootstrap replicates: build it with ReliabilitySketch(replicates=R)")
        check_interval_args(1, confidence, method)
        check_choice("norm", norm, norms)
        if debiased and norm != "l2":
            raise ValueError(f"debiased=True is defined for norm='l2' here; got norm={norm!r}")
        reps = self._replicate_snapshot()
        assert reps is not None
        if self._empty_nan("ece_interval"):
            nan = float("nan")
            return BootstrapInterval(nan, nan, nan, float(confidence), method, np.full(len(reps), nan), True)
        estimate = self.ece(norm=norm, debiased=debiased)
        values = replicate_errors(reps[:, :, 0], reps[:, :, 1], norm, debiased)
        return interval(estimate, values, confidence, method, True)

    def _grid_points(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
        from ..metrics.smooth import grid_points

        state, _, bits = self._weighted_snapshot()
        lower, upper = self._cell_edges()
        out = []
        for cells in self._fine_cells(state):
            points, residuals, counts, displacement = grid_points(cells, lower, upper)
            scale = float(1 << bits)  # weighted: back to units of one weight
            out.append((points, residuals / scale, counts / scale, displacement))
        return out

    def smooth_ece(self, *, compat: str | None = None, return_bound: bool = False) -> Any:
        """Smooth ECE (:func:`calipers.smooth_ece`) from the fine grid: each non-empty cell
        is one point at its mean score carrying its count and residual sum.

        Moving a sample by d changes smECE_s by at most sqrt(2/pi) d / s times its |f - y|
        (the kernel's slope integrates to that), and the fixed point moves no more than the
        curve does at it, so ``|value - smooth_ece(samples)| <= sqrt(2/pi) / sigma *
        (1/n) sum_c d_c r_c`` with d_c the cell's largest distance from its mean and r_c a
        bound on its sum of |f - y|; ``return_bound=True`` returns ``(value, bound)``
        (``compat=None`` only; marginal sketches average both over classes). The bound is
        small where the scores pile up near 0 and 1 (fine cells there) and loosest for
        scores near 1/2, whose cells are 1/256 wide.
        """
        from ..metrics.smooth import KERNEL_SLOPE, smece_of_points

        check_choice("compat", compat, (None, "relplot"))
        if return_bound and compat is not None:
            raise ValueError("return_bound is available for compat=None only")
        if self._empty_nan("smooth_ece"):
            return (float("nan"), float("nan")) if return_bound else float("nan")
        values, bounds = [], []
        for points, residuals, counts, displacement in self._grid_points():
            value, sigma = smece_of_points(points, residuals, counts, float(counts.sum()), compat)
            values.append(value)
            bounds.append(KERNEL_SLOPE * displacement / sigma)
        value = float(np.mean(values))
        return (value, float(np.mean(bounds))) if return_bound else value

    def smooth_reliability(self, *, sigma: float | None = None, mesh: int = 200, compat: str | None = None) -> Any:
        """The smoothed reliability curve (:func:`calipers.smooth_reliability`, frequencies
        in [0, 1]) from the fine grid (binary and top-label sketches): each non-empty cell
        is one point at its mean score carrying its samples and positives."""
        from ..metrics.smooth import SmoothReliability, smooth_curve

        check_choice("compat", compat, (None, "relplot"))
        if self._streams != 1:
            raise ValueError("smooth_reliability draws one curve: not available for a marginal sketch")
        if self._empty_nan("smooth_reliability"):
            t = np.linspace(0.0, 1.0, check_int("mesh", mesh, 2, 1_000_000))
            nan = np.full_like(t, np.nan)
            return SmoothReliability(t, nan, nan.copy(), float("nan") if sigma is None else float(sigma), float("nan"))
        points, residuals, counts, _ = self._grid_points()[0]
        outcomes = np.clip(points * counts - residuals, 0.0, counts)
        return smooth_curve(points, outcomes, counts, float(counts.sum()), sigma, mesh, compat)

    def metrics(self) -> dict[str, float]:
        """ECE (l1, l2, max, debiased l2, equal-mass), smooth ECE, Brier, Brier skill score and
        log loss in one dict."""
        if self.count == 0:
            return {
                k: float("nan")
                for k in (
                    "ece",
                    "ece_l2",
                    "mce",
                    "ece_l2_debiased",
                    "ece_mass",
                    "smooth_ece",
                    "brier",
                    "brier_skill_score",
                    "log_loss",
                )
            }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {
                "ece": self.ece(),
                "ece_l2": self.ece(norm="l2"),
                "mce": self.ece(norm="max"),
                "ece_l2_debiased": self.ece(norm="l2", debiased=True),
                "ece_mass": self.ece(binning="mass"),
                "smooth_ece": self.smooth_ece(),
                "brier": self.brier(),
                "brier_skill_score": self.brier_skill_score(),
                "log_loss": self.log_loss(),
            }


def _fold_cells(cells: np.ndarray, index: np.ndarray, n_out: int) -> np.ndarray:
    """Add cells (n, FIELDS) into n_out cells by ``index``, the 128-bit sums with carry."""
    out = np.zeros((n_out, FIELDS), np.uint64)
    np.add.at(out[:, 0], index, cells[:, 0])
    np.add.at(out[:, 1], index, cells[:, 1])
    low = np.zeros(n_out, np.uint64)
    mid = np.zeros(n_out, np.uint64)
    high = np.zeros(n_out, np.uint64)
    np.add.at(low, index, cells[:, 2] & np.uint64(0xFFFFFFFF))  # < 2^44 for 3970 cells: exact
    np.add.at(mid, index, cells[:, 2] >> np.uint64(32))
    np.add.at(high, index, cells[:, 3])
    lo = (mid << np.uint64(32)) + low
    out[:, 2] = lo
    out[:, 3] = high + (mid >> np.uint64(32)) + (lo < (mid << np.uint64(32))).astype(np.uint64)
    return out


def _check_room(have: int, adding: int, what: str) -> None:
    if have + adding > MAX_COUNT:
        raise ValueError(
            f"{what} {adding} samples to a sketch of {have} would pass the {MAX_COUNT} (2^63 - 1) samples "
            "its exact counts can hold; nothing was changed"
        )


def _exact_sums(lo: np.ndarray, hi: np.ndarray) -> list[int]:
    """Per row of (streams, cells) 128-bit words, the exact total as a Python int (numpy
    sums of 32-bit halves cannot wrap for fewer than 2^32 cells)."""
    low = (lo & np.uint64(0xFFFFFFFF)).sum(axis=1)
    high = (lo >> np.uint64(32)).sum(axis=1)
    top = hi.sum(axis=1)
    return [int(a) + (int(b) << 32) + (int(c) << 64) for a, b, c in zip(low, high, top)]


def _check_means(cells: np.ndarray, lower: np.ndarray, upper: np.ndarray, what: str) -> None:
    """Every non-empty cell's mean score lies in its cell (up to the fixed point's rounding)."""
    count = cells[:, :, 0].astype(np.float64)
    full = count > 0
    mean = decode128(cells[:, :, 2], cells[:, :, 3], UNIT_SCALE)[full] / count[full]
    lo = np.broadcast_to(lower, count.shape)[full]
    hi = np.broadcast_to(upper, count.shape)[full]
    slack = 1e-12 * np.maximum(hi, 1e-300) + 2.0**-60
    if np.any(mean < lo - slack) or np.any(mean > hi + slack):
        raise ValueError(f"calipers blob is inconsistent: a {what}'s mean score lies outside the {what}")


def _check_bins_against_grid(
    coarse: np.ndarray, fine: np.ndarray, inner: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> None:
    """The same samples fill the bins and the grid: below each inner bin edge e, the bins
    hold at least the samples of the grid cells wholly below e and at most those of the
    cells that start below e (counts and positives alike)."""
    slack = 1e-12
    surely = np.searchsorted(upper, inner - slack, side="left")  # cells whose every score is < e
    maybe = np.searchsorted(lower, inner + slack, side="left")  # cells that may hold a score < e
    for field, what in ((0, "counts"), (1, "positives")):
        below = np.cumsum(coarse[:, :, field], axis=1)[:, :-1]  # per stream, samples under each inner edge
        grid = np.concatenate([np.zeros((fine.shape[0], 1), np.uint64), np.cumsum(fine[:, :, field], axis=1)], axis=1)
        if np.any(grid[:, surely] > below) or np.any(grid[:, maybe] < below):
            raise ValueError(f"calipers blob is inconsistent: bin and grid {what} hold different samples")


def _cell_bounds(
    cells: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per stream, the least and greatest sum of squared errors and of log loss that the
    cells' samples can have: a cell of c samples, k of them positive, with scores in
    [lo, hi] holds k (1 - hi)^2 + (c - k) lo^2 <= sum (p - y)^2 <= k (1 - lo)^2 + (c - k) hi^2,
    and the same with L(q) = -ln max(q, 1e-15) of p for positives and of 1 - p for negatives.
    On the fine grid (cells 1/64 of the distance to 0 or 1 wide) the two bounds are close,
    so totals edited after the fact cannot move far from the truth unnoticed."""
    count = cells[:, :, 0].astype(np.float64)
    pos = cells[:, :, 1].astype(np.float64)
    neg = count - pos

    def loss(q: np.ndarray) -> np.ndarray:
        out: np.ndarray = -np.log(np.maximum(q, LOG_LOSS_FLOOR))
        return out

    sq = (
        (pos * (1.0 - upper) ** 2 + neg * lower**2).sum(axis=1),
        (pos * (1.0 - lower) ** 2 + neg * upper**2).sum(axis=1),
    )
    ll = (
        (pos * loss(upper) + neg * loss(1.0 - lower)).sum(axis=1),
        (pos * loss(lower) + neg * loss(1.0 - upper)).sum(axis=1),
    )
    return sq, ll


def _check_consistent(
    state: np.ndarray,
    bins: int,
    streams: int,
    kind: int | None,
    flags: int,
    grid: tuple[int, int] = (GRID_OCTAVES, GRID_SUB_BITS),
) -> None:
    """Every invariant a filled sketch has: positives <= count per cell, counts within
    MAX_COUNT, equal totals of the bins and of the grid (counts, positives and exact score
    sums), each cell's mean score inside the cell, squared-error and log-loss totals within
    their per-sample bounds (squared errors at least the cells' Jensen bound, log loss at
    least the squared errors), one positive per row across the classes of a marginal sketch,
    and flags and kind that match. Without a grid (``grid=(0, 0)``) the grid checks are moot."""
    from ..metrics.scoring import totals_from_state

    grid_cells = grid_cell_count(*grid)
    rows = state.reshape(streams, stream_size(bins, grid_cells))
    coarse = rows[:, : bins * FIELDS].reshape(streams, bins, FIELDS)
    fine = rows[:, bins * FIELDS : (bins + grid_cells) * FIELDS].reshape(streams, grid_cells, FIELDS)
    for cells in (coarse, fine):
        if np.any(cells[:, :, 0] > np.uint64(MAX_COUNT)):
            raise ValueError(f"calipers blob is inconsistent: a cell count exceeds {MAX_COUNT}")
        if np.any(cells[:, :, 1] > cells[:, :, 0]):
            raise ValueError("calipers blob is inconsistent: a cell has more positives than samples")
        # sum of scores <= count (sum hi word is sum / 4 in units of 2^64 / 2^62)
        if np.any(cells[:, :, 3] > cells[:, :, 0] // 4 + 1):
            raise ValueError("calipers blob is inconsistent: a cell's score sum exceeds its count")
    totals = [sum(int(v) for v in row) for row in coarse[:, :, 0]]
    if max(totals) > MAX_COUNT:
        raise ValueError(f"calipers blob is inconsistent: its count exceeds {MAX_COUNT}")
    if len(set(totals)) != 1:
        raise ValueError("calipers blob is inconsistent: the classes' bin counts disagree")
    edges = np.arange(bins + 1, dtype=np.float64) / float(bins)
    _check_means(coarse, edges[:-1], edges[1:], "bin")
    if grid_cells:
        fine_totals = [int(v) for v in _exact_sums(fine[:, :, 0], np.zeros_like(fine[:, :, 0]))]
        if fine_totals != totals:
            raise ValueError("calipers blob is inconsistent: bin and grid counts disagree")
        if _exact_sums(coarse[:, :, 1], np.zeros_like(coarse[:, :, 1])) != _exact_sums(
            fine[:, :, 1], np.zeros_like(fine[:, :, 1])
        ):
            raise ValueError("calipers blob is inconsistent: bin and grid positives disagree")
        if _exact_sums(coarse[:, :, 2], coarse[:, :, 3]) != _exact_sums(fine[:, :, 2], fine[:, :, 3]):
            raise ValueError("calipers blob is inconsistent: bin and grid score sums disagree")
        lower, upper = fine_cell_lower_edges(*grid), fine_cell_upper_edges(*grid)
        _check_means(fine, lower, upper, "grid cell")
        _check_bins_against_grid(coarse, fine, edges[1:-1], lower, upper)
    n = totals[0]
    if n:
        sq, ll, _, _ = totals_from_state(state, bins, streams, grid_cells)
        if np.any(sq < 0) or np.any(sq > n * (1 + 1e-12)) or np.any(ll < 0) or np.any(ll > n * 34.6):
            raise ValueError("calipers blob is inconsistent: its squared-error or log-loss totals are impossible")
        if kind == KIND_MARGINAL and sum(_exact_sums(coarse[:, :, 1], np.zeros_like(coarse[:, :, 1]))) != n:
            raise ValueError("calipers blob is inconsistent: a marginal sketch needs one true class per row")
        # Jensen per cell: the squared errors are at least sum_c (score sum - positives)^2 / count;
        # per sample (p - y)^2 <= 1 - q <= -ln q (q the floored probability of the outcome)
        cells = fine if grid_cells else coarse
        count = cells[:, :, 0].astype(np.float64)
        gap = decode128(cells[:, :, 2], cells[:, :, 3], UNIT_SCALE) - cells[:, :, 1].astype(np.float64)
        floor = (gap * gap / np.maximum(count, 1.0)).sum(axis=1)
        slack = n * 2.0**-50  # the fixed point's and the float sums' rounding
        if np.any(sq < floor * (1 - 1e-9) - slack) or np.any(ll < sq * (1 - 1e-9) - slack):
            raise ValueError(
                "calipers blob is inconsistent: its squared-error or log-loss totals are below what its cells imply"
            )
        lower, upper = (
            (fine_cell_lower_edges(*grid), fine_cell_upper_edges(*grid)) if grid_cells else (edges[:-1], edges[1:])
        )
        for total, (low, high), what in zip((sq, ll), _cell_bounds(cells, lower, upper), ("squared-error", "log-loss")):
            if np.any(total < low * (1 - 1e-9) - slack) or np.any(total > high * (1 + 1e-9) + slack):
                raise ValueError(
                    f"calipers blob is inconsistent: its {what} total lies outside what the scores and outcomes "
                    "of its cells allow"
                )
    empty = n == 0
    if bool(flags & _serde.FLAG_EMPTY) != empty or flags & ~_serde.FLAG_EMPTY:
        raise ValueError(f"calipers blob flags {flags:#x} do not match its counts")
    if kind is None and not empty:
        raise ValueError("calipers blob has samples but no input kind")


def _split_replicates(
    payload: np.ndarray, bins: int, streams: int, grid_cells: int = GRID_CELLS
) -> tuple[np.ndarray, np.ndarray]:
    """The exact state and the checked replicate block of a payload flagged with replicates."""
    main = streams * stream_size(bins, grid_cells)
    if streams != 1 or payload.size < main + 1:
        raise ValueError("calipers blob has a malformed replicate block")
    count = int(payload[main])
    if not 1 <= count <= 100_000 or payload.size != main + 1 + count * 4 * bins:
        raise ValueError(f"calipers blob replicate block does not match R={count}, bins={bins}")
    reps = payload[main + 1 :].astype("<u8").view("<f8").reshape(count, 2 * bins, 2).astype(np.float64)
    from ..metrics.bootstrap import unit_bounds

    n_units, sums = reps[:, :, 0], reps[:, :, 1]
    lo, hi = unit_bounds(bins)
    if (
        not np.all(np.isfinite(reps))
        or np.any(n_units < 0)
        or np.any(n_units != np.floor(n_units))
        or np.any(sums < n_units * lo - 1e-6 * (n_units + 1))
        or np.any(sums > n_units * hi + 1e-6 * (n_units + 1))
    ):
        raise ValueError("calipers blob is inconsistent: a bootstrap replicate has impossible counts or sums")
    return payload[:main], reps


def _restore(data: bytes) -> ReliabilitySketch:
    return ReliabilitySketch.from_bytes(data)


def merge_all(sketches: Iterable[ReliabilitySketch]) -> ReliabilitySketch:
    """Fold many sketches into a new one (inputs are not modified)."""
    it = iter(sketches)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("merge_all needs at least one sketch") from None
    if not isinstance(first, ReliabilitySketch):
        raise TypeError(f"can only merge ReliabilitySketch objects, got {type(first).__name__}")
    out = first.copy()
    for s in it:
        out.merge(s)
    return out
