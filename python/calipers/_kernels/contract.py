"""The kernel contract: every O(n) kernel, its arguments, dtypes and errors.

Three backends implement it (26 kernels) with the same results and the same exceptions: the C++
extension ``calipers._core`` (stubs in ``calipers/_core.pyi``), ``numba_backend`` and the
numpy reference ``numpy_backend``. ``tests/test_kernel_contract.py`` checks that each
backend has every member with these parameter names, and ``tests/test_backends_agree.py``
runs every kernel on every backend, on valid input and on input each kernel must refuse.

Conventions for every kernel:

* arrays are native-endian and C-contiguous; ``scores`` are float32 or float64, ``labels``
  int8/int16/int32/int64, uint8 or bool; other dtypes raise ``TypeError``;
* wrong shapes, lengths, sizes and values raise ``ValueError`` (the C++ side throws
  ``std::invalid_argument``) before any output or state changes; the value rules of
  ``validate_*`` are worded as the Python layer words them
  (:func:`calipers._common.validate.raise_violations`);
* kernels that rely on valid values (``accumulate``, ``unit_stats``, the temperature
  kernels) check them themselves, so a direct call with bad input raises instead of
  reading out of bounds or casting NaN to an integer;
* results never depend on the number of threads (C++ uses one process-wide bounded pool,
  see :func:`calipers.set_num_threads`; the Numba kernels run on the calling thread).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Kernels", "KERNEL_NAMES", "Counts"]

Floats = npt.NDArray[np.floating]
Ints = npt.NDArray[np.integer]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
# (counts per rule, first index per rule or -1): rules NaN, inf, range, row sum, label.
Counts = tuple[tuple[int, ...], tuple[int, ...]]


class Kernels(Protocol):
    """What a backend module provides (a module satisfies this protocol structurally)."""

    # -- validation -------------------------------------------------------------------------
    def validate_binary(self, scores: Floats, labels: Ints) -> Counts:
        """Count NaN, inf and out-of-[0, 1] scores and labels outside {0, 1} of 1-D
        ``scores`` (n,) and ``labels`` (n,); ValueError on shape or length mismatch."""
        ...

    def validate_probs(self, scores: Floats, labels: Ints, atol: float, check_rows: bool) -> Counts:
        """The same for (n, K) probabilities (flat index for value rules), plus rows whose
        left-to-right sum is off 1 by more than ``atol`` (when ``check_rows``) and labels
        outside [0, K) (row index)."""
        ...

    # -- the sketch ---------------------------------------------------------------------------
    def accumulate(
        self, acc: npt.NDArray[np.uint64], bins: int, streams: int, parts: int, scores: Floats, labels: Ints, kind: int
    ) -> None:
        """Add (scores, labels) to the flat uint64 sketch state ``acc`` in place (see
        ``calipers._common.grid`` for the layout). ``kind`` 0: 1-D binary, 1: (n, K)
        top-label, 2: (n, K) marginal (``streams == K``); ``parts`` a non-empty subset of
        1 (bins) | 2 (fine grid) | 4 (totals). Checks the layout (ValueError), the dtype of
        ``acc`` (TypeError: writeable C-contiguous uint64) and the values (NaN, inf, [0, 1],
        labels: ValueError worded as the Python layer) before touching ``acc``."""
        ...

    def accumulate_rows(
        self,
        acc: npt.NDArray[np.uint64],
        bins: int,
        octaves: int,
        sub_bits: int,
        rows: I64,
        scores: F64,
        positive: npt.NDArray[np.uint8],
    ) -> None:
        """Add pair i (score, outcome 0/1) to row ``rows[i]`` of a flat state of equal rows
        (bins, then a fine grid of ``octaves`` x 2^``sub_bits`` cells per half, none when
        octaves is 0, then totals): the per-group, per-window state of ``CalibrationMonitor``
        and ``ReliabilitySketch(grid=...)``. 1-D C-contiguous float64 scores, int64 rows and
        uint8 outcomes of one length (TypeError otherwise); rows outside [0, R), scores
        outside [0, 1] or outcomes above 1 raise ValueError before anything changes. With
        the fine grid, one row equals ``accumulate`` of the same pairs byte for byte."""
        ...

    def accumulate_checked(
        self,
        acc: npt.NDArray[np.uint64],
        bins: int,
        streams: int,
        parts: int,
        scores: Floats,
        labels: Ints,
        kind: int,
        weights: F64 | None,
        atol: float,
    ) -> None:
        """The sketch update of the Python layer: :meth:`accumulate` plus the checks the
        Python layer would otherwise make in a second pass: rows of (n, K) input summing to 1
        within ``atol`` (left to right; ``atol < 0``: no row check) and the weights. ``weights``
        is None or one native C-contiguous float64 per row (TypeError otherwise; ValueError
        for a wrong length), each finite, >= 0 and below 2^39 (ValueError naming
        sample_weight, the rule, the count and the first index, after the score and label
        rules). With weights every added count and sum carries 24 fractional bits: count +=
        round(w 2^24), positives += round(w 2^24) y, sums += round(w 2^24) x the fixed-point
        value (128-bit products), so an integer weight adds exactly 2^24 times what repeated
        rows add; callers add into a zeroed state and rescale. Nothing changes on any error."""
        ...

    def binned_sums(
        self,
        scores: Floats,
        labels: Ints,
        weights: F64 | None,
        bins: int,
        kind: int,
        parts: int,
        atol: float,
        cuts: F64 | None = None,
    ) -> npt.NDArray[np.uint64]:
        """The one pass of the one-shot metrics: validation, bin index and only the sums
        asked for. Returns a new uint64 state of ``streams`` (K for ``kind`` 2, else 1) x
        (bins x 4 + 4) words: per bin count, positives, sum(p) lo/hi (the sketch's fixed point)
        and then sum((p-y)^2) lo/hi and sum(log loss) lo/hi. ``parts``: 1 (bins), plus 4 (both
        totals) or 8 (squared errors only). Bins are equal-width, or with ``cuts`` (bins - 1
        sorted float64 values) the number of cuts <= x. ``atol`` and ``weights`` as in
        :meth:`accumulate_checked`. Any bad value, row sum, label or weight raises ValueError
        with the Python layer's message (:func:`calipers._common.validate.check`,
        :func:`calipers._common.validate.weight_error`); the integers do not depend on the
        number of threads."""
        ...

    def top_label(self, scores: Floats, labels: Ints) -> tuple[F64, npt.NDArray[np.int8]]:
        """(max probability, 1 if the first argmax equals the label) of (n, K) scores, K >= 1."""
        ...

    def binned_stats_edges(
        self, scores: Floats, labels: Ints, cuts: F64, right_closed: bool, nbins: int
    ) -> tuple[I64, F64, F64]:
        """(count, sum of scores, sum of labels) per bin for sorted float64 ``cuts``: the bin
        of x is the number of cuts < x (``right_closed``) or <= x, clamped to nbins - 1.
        ValueError for unsorted cuts or nbins outside [1, 10^6]."""
        ...

    def unit_stats(self, scores: Floats, labels: Ints, bins: int) -> tuple[I64, F64, F64]:
        """Per (equal-width bin, outcome) unit 2 * bin + y: count, sum and sum of squares of
        valid 1-D binary input (checked: ValueError)."""
        ...

    # -- neighbours ----------------------------------------------------------------------------
    def knn(self, query: Floats, pool: Floats, k: int, exclude: I64 | None = None) -> tuple[I64, F64]:
        """(indices, squared L2 distances), each (n_query, k), nearest first, ties to the
        smaller index; both float32 or both float64 (TypeError otherwise, float16 too).
        ``exclude[i] >= 0`` skips pool row exclude[i] for query i; negative skips nothing.
        Rows that run out of candidates end in index -1, distance 0."""
        ...

    def sdm_support_stats(
        self, query: Floats, pool: Floats, k: int, correct: npt.NDArray[np.uint8], pred: I64, query_pred: I64
    ) -> tuple[I64, F64, I64]:
        """SDM similarity q (support matches ordered before the nearest non-match, capped at
        k >= 1), the nearest distance d0 and its index, per query."""
        ...

    # -- calibrators -----------------------------------------------------------------------------
    def temperature_stats(
        self, logits: Floats, labels: Ints, weights: F64 | None, beta: float
    ) -> tuple[float, float, float, float]:
        """(weighted NLL, its first and second derivative in beta = 1/T, total weight) of
        softmax(beta * logits). Labels must lie in [0, K), logits and weights be finite,
        weights >= 0 (ValueError)."""
        ...

    def temperature_fit(self, logits: Floats, labels: Ints, weights: F64 | None) -> tuple[float, int, bool]:
        """(beta, iterations, converged) of the safeguarded Newton fit; same checks, and at
        least one row."""
        ...

    def logistic_stats(self, X: F64, y: F64, weights: F64 | None, theta: F64) -> tuple[float, F64, F64]:
        """(loss, gradient, Hessian) of weighted logistic regression with intercept at
        ``theta`` (d + 1 entries) on float64 (n, d) features, 1 <= d <= 3."""
        ...

    def isotonic_fit(self, x: F64, y: F64, weights: F64, resolution: float) -> tuple[F64, F64]:
        """PAV on float64 ``x`` sorted ascending (ValueError otherwise) with finite y and
        positive weights; x within ``resolution`` of a run's first value are merged first."""
        ...

    def platt_transform(self, scores: F64, a: float, b: float, clip: float) -> F64:
        """sigmoid(a * logit(clip(p, clip, 1 - clip)) + b) of float64 scores."""
        ...

    def beta_transform(self, scores: F64, a: float, b: float, c: float, eps: float) -> F64:
        """sigmoid(a ln p - b ln(1 - p) + c) of float64 scores clipped to [eps, 1 - eps]."""
        ...

    def interp(self, scores: F64, xp: F64, fp: F64) -> F64:
        """np.interp(scores, xp, fp) for sorted, non-empty float64 xp (ValueError otherwise)."""
        ...

    def bin_lookup(self, scores: F64, cuts: F64, values: F64, right_closed: bool) -> F64:
        """values[bin of x] for sorted float64 cuts, index clamped to the last value."""
        ...

    def softmax_scaled(self, logits: Floats, beta: float) -> F64:
        """softmax(beta * logits) per row of finite (n, K) logits, K >= 1 (ValueError names
        the first non-finite entry)."""
        ...

    # -- downstream debiasing ---------------------------------------------------------------------------
    def kde_score(self, points: F64, weights: F64 | None, queries: F64, h: float) -> tuple[F64, F64]:
        """Per query q: (log sum_i w_i exp(-(q - x_i)^2 / 2h^2), its derivative in q) of a
        Gaussian KDE on sorted float64 ``points`` (Tweedie's score); ValueError for unsorted
        or non-finite points, negative weights, h <= 0."""
        ...

    def linear_binning(self, points: F64, weights: F64 | None, lo: float, step: float, cells: int) -> F64:
        """Each point's weight split linearly between its two grid nodes lo + j step (the
        fast Tweedie path); ``cells`` nodes, every point within them (ValueError otherwise)."""
        ...

    def grid_score(self, queries: F64, lo: float, step: float, values: F64, slopes: F64, fd_delta: float) -> F64:
        """The cubic Hermite interpolant through (values, slopes) on the grid at each query,
        or its central difference with half-width ``fd_delta`` when > 0; NaN off the grid."""
        ...

    def hcalibration_loss_grad(
        self,
        probs: F64,
        labels: I64,
        window: int,
        eps: float,
        weighting: int,
        leave_one_out: bool,
        scale: float,
        want_grad: bool,
    ) -> tuple[float, F64]:
        """The h-calibration loss of (n, K) probabilities (official code's definition) and,
        when ``want_grad``, its gradient with respect to ``probs``."""
        ...

    # -- fixed point and grid (exposed so tests can compare them bit for bit) -------------------------
    def det_log(self, x: F64) -> F64:
        """The deterministic log of finite positive float64 x (the sketch's log-loss terms)."""
        ...

    def fine_cell(self, p: F64) -> I64:
        """The fine-grid cell of each float64 p in [0, 1]."""
        ...


KERNEL_NAMES: tuple[str, ...] = tuple(
    name for name, value in vars(Kernels).items() if callable(value) and not name.startswith("_")
)
