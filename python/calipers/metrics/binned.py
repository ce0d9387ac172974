"""One-shot calibration metrics on arrays.

Input conventions (one rule everywhere):

* 1-D ``scores`` in [0, 1] with 1-D ``labels`` in {0, 1}: a forecast of P(y = 1) and its
  outcome (or a confidence and whether the answer was correct).
* 2-D ``scores`` (n, K) of class probabilities (rows sum to 1 within ``row_sum_atol``)
  with integer ``labels`` in [0, K): ``mode="top-label"`` (confidence = max probability,
  outcome = argmax == label, first maximum wins ties) or ``mode="marginal"`` (class k's
  column against 1[label == k], averaged over classes).

Binning (``compat=None``): bins [e_i, e_{i+1}) with the last bin closed, nothing dropped;
equal-width edges i/B; equal-mass bins never split tied scores (see
:mod:`calipers._common.binning`). ``compat="uncertainty-calibration"`` and ``compat="sklearn"``
reproduce those libraries' binning bit for bit and check only what they check (no
row-sum check; uncertainty-calibration also accepts scores outside [0, 1], merging
values above the last edge into the last bin); ``compat="torchmetrics"`` and
``compat="netcal"`` reproduce those libraries' calibration errors (:mod:`.compat`). Empty
input raises ValueError.

Speed: equal-width metrics without a compat mode take one pass over the input (the
``binned_sums`` kernel): validation, bin index and the per-bin fixed-point sums fused in one
loop, on the process-wide thread pool for large inputs. The values are not validated a
second time: when the kernel refuses them, the error is worded exactly as the validation
layer words it.

Sample weights (``sample_weight=``): every count becomes a sum of weights. Weights are held
in fixed point (round(w 2^24), :mod:`calipers._common.binstats`), so integer weights give
exactly the result of repeating rows and zero weights that of dropping them; weights must be
finite, >= 0 and below 2^39 (ValueError naming ``sample_weight``, the rule, the count and the
first index). The compat modes reproduce references that take no weights and refuse them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common import binning as _binning
from .._common.binstats import BinStats, fused_sums, stream_pairs
from .._common.grid import KIND_BINARY, PART_COARSE
from .._common.validate import DEFAULT_ROW_SUM_ATOL, Checked, InputRules, check, check_bins, check_choice
from .._kernels import backend as _backend
from . import compat as _compat
from .binned_error import NORMS, binned_error, combine_classes, resampled_debiased
from .table import ReliabilityTable

__all__ = ["ece", "reliability", "array_stats"]

COMPATS = (None, "uncertainty-calibration", "sklearn")
ECE_COMPATS = (None, "uncertainty-calibration", "sklearn", "torchmetrics", "netcal")
BINNINGS = ("width", "mass")
UC_BINNINGS = ("width", "mass", "discrete", "auto")  # compat="uncertainty-calibration" only


def refuse_weights(sample_weight: Any, compat: str | None) -> None:
    """The compat modes reproduce references without sample weights: refuse them there."""
    if sample_weight is not None and compat is not None:
        raise ValueError(
            f"sample_weight is not available with compat={compat!r}: that mode reproduces a library "
            "that takes no sample weights"
        )


def checked_input(scores: Any, labels: Any, backend: str, compat: str | None, rules: InputRules) -> tuple[Checked, Any]:
    """Validated input (and its kernels) of the binned metrics: the checks each compat mode
    keeps (no row sums outside calipers' own binning, no range for uncertainty-calibration)."""
    check_choice("compat", compat, COMPATS)
    refuse_weights(rules.get("sample_weight"), compat)
    kernels = _backend.resolve(backend)
    c = check(
        scores, labels, kernels, check_range=compat != "uncertainty-calibration", check_rows=compat is None, **rules
    )
    return c, kernels


def ece(
    scores: Any,
    labels: Any,
    *,
    bins: int = 15,
    binning: str = "width",
    norm: str = "l1",
    debiased: bool = False,
    mode: str = "top-label",
    compat: str | None = None,
    seed: Any = None,
    resamples: int = 1000,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Binned calibration error.

    ``norm="l1"`` is the usual ECE, ``"l2"`` the RMS calibration error and ``"max"`` the
    MCE (largest gap over non-empty bins). ``debiased=True`` (``norm="l2"`` only) applies
    the bias correction of Kumar et al. (2019): each bin with n_j >= 2 contributes
    w_j[(s_j - y_j)^2 - y_j(1 - y_j)/(n_j - 1)], bins with fewer samples contribute
    nothing, and the sum is clipped at 0 before the square root. In marginal mode the
    per-class errors e_k combine as (mean_k e_k^p)^(1/p) (max for ``norm="max"``).

    ``norm="l1", debiased=True`` is Kumar et al.'s heuristic for p != 2
    (uncertainty-calibration's ``normal_debiased_ce``): twice the plugin ECE minus the mean
    ECE of ``resamples`` draws of each bin's frequency from N(y_j, y_j(1 - y_j)/n_j). It is
    **stochastic**: ``seed`` (an int or a ``numpy.random.Generator``) makes it repeatable;
    it can be negative. Empty bins are left out; under ``compat="uncertainty-calibration"``
    any bin with fewer than 2 samples raises ValueError, as the reference does.

    With ``compat="uncertainty-calibration"``, ``ece(p, y, norm="l1")`` equals
    ``calibration.get_ece``, ``binning="mass"`` equals ``get_ece_em``, and
    ``norm="l2", binning="mass", debiased=...`` equals ``lower_bound_scaling_ce``.
    That mode also takes ``binning="discrete"`` (one bin per distinct value:
    ``get_binning_ce``) and ``binning="auto"``, the reference's dispatch in
    ``get_calibration_error``: discrete bins when every column of ``scores`` has fewer than
    n/4 distinct values, else equal-mass bins. So ``ece(P, y, norm="l2", debiased=True,
    binning="auto", mode="marginal", compat="uncertainty-calibration")`` is
    ``get_calibration_error(P, y)``.

    ``compat="torchmetrics"`` is torchmetrics' ``binary_calibration_error`` (1-D) or
    ``multiclass_calibration_error`` ((n, K)) with ``norm`` l1, l2 or max; ``compat="netcal"``
    is netcal's ``ECE`` (``norm="l1"``), ``MCE`` (``"max"``) or ``ACE`` (``"average"``, the
    unweighted mean over non-empty bins), equal-width or with ``binning="mass"`` netcal's
    ``equal_intervals=False``. Their conventions are listed in :mod:`calipers.metrics.compat`.

    ``sample_weight``: one weight per row (see the module docstring): bins hold sums of
    weights, integer weights give the result of repeated rows bit for bit.
    """
    bins = check_bins(bins)
    check_choice("compat", compat, ECE_COMPATS)
    if compat in ("torchmetrics", "netcal"):
        return _peer_ece(
            scores, labels, bins, binning, norm, debiased, mode, compat, nan_policy, sample_weight, backend
        )
    check_choice("binning", binning, UC_BINNINGS if compat == "uncertainty-calibration" else BINNINGS)
    check_choice("norm", norm, NORMS)
    if debiased and norm == "max":
        raise ValueError(
            "debiased=True is defined for norm='l2' (Kumar et al.'s estimator) and norm='l1' "
            "(their resampling heuristic); got norm='max'"
        )
    rules = InputRules(mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol, sample_weight=sample_weight)
    if compat is None and binning == "width":
        kernels = _backend.resolve(backend)
        stats = fused_sums(scores, labels, kernels, bins=bins, parts=PART_COARSE, rules=rules).stats()
    else:
        c, kernels = checked_input(scores, labels, backend, compat, rules)
        if binning == "auto":
            binning = "discrete" if _binning.uc_is_discrete(c.scores) else "mass"
        stats = array_stats(c, kernels, bins, binning, compat)
    if debiased and norm == "l1":
        rng = np.random.default_rng(seed)
        strict = compat == "uncertainty-calibration"
        values = [resampled_debiased(s.count, s.sum_score, s.sum_label, 1.0, rng, resamples, strict) for s in stats]
    else:
        values = [binned_error(s.count, s.sum_score, s.sum_label, norm, debiased) for s in stats]
    return values[0] if len(values) == 1 else combine_classes(values, norm)


def reliability(
    scores: Any,
    labels: Any,
    *,
    bins: int = 15,
    binning: str = "width",
    mode: str = "top-label",
    compat: str | None = None,
    confidence: float = 0.95,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> ReliabilityTable:
    """Per-bin count, mean score, observed frequency and Wilson interval.

    Empty bins are kept (count 0, NaN means). ``compat="sklearn"``: the non-empty bins'
    ``frequency`` and ``mean_score`` equal ``sklearn.calibration.calibration_curve``'s
    ``prob_true`` and ``prob_pred`` (``binning="width"`` = ``strategy="uniform"``,
    ``"mass"`` = ``"quantile"``). Marginal mode pools the class-wise pairs per bin. With
    ``sample_weight`` the counts are sums of weights (floats unless every weight is whole).
    """
    bins = check_bins(bins)
    check_choice("binning", binning, BINNINGS)
    check_choice("compat", compat, COMPATS)
    rules = InputRules(mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol, sample_weight=sample_weight)
    if compat is None and binning == "width":
        stats = fused_sums(scores, labels, _backend.resolve(backend), bins=bins, parts=PART_COARSE, rules=rules).stats()
        return ReliabilityTable.from_stats(stats, confidence)
    c, kernels = checked_input(scores, labels, backend, compat, rules)
    return ReliabilityTable.from_stats(array_stats(c, kernels, bins, binning, compat), confidence)


def _edge_stats(
    backend: Any, p: np.ndarray, y: np.ndarray, cuts: np.ndarray, right_closed: bool, nbins: int, edges: np.ndarray
) -> BinStats:
    count, sum_x, sum_y = backend.binned_stats_edges(p, y, np.ascontiguousarray(cuts, np.float64), right_closed, nbins)
    return BinStats(edges, np.asarray(count, np.int64), np.asarray(sum_x), np.asarray(sum_y))


def array_stats(c: Checked, backend: Any, bins: int, binning: str, compat: str | None) -> list[BinStats]:
    """Per-stream bin statistics of validated input (``c.weights``: sample weights, calipers'
    own binnings only)."""
    if compat is None and binning == "width":
        return fused_sums(None, None, backend, bins=bins, parts=PART_COARSE, checked=c).stats()
    out = []
    for p, y in stream_pairs(c, backend):
        if compat is None:  # calipers equal-mass, left-closed; exact fixed-point sums
            p64 = np.ascontiguousarray(p, np.float64)
            w = c.weights
            live = slice(None) if w is None else w > 0  # zero weights are dropped rows
            order = np.argsort(p64[live], kind="stable")
            cuts = _binning.mass_cuts(p64[live][order], bins, None if w is None else w[live][order])
            edges = np.concatenate([[0.0], cuts, [1.0]])
            pair = Checked(p64, np.ascontiguousarray(y), KIND_BINARY, w)
            sums = fused_sums(None, None, backend, bins=cuts.size + 1, parts=PART_COARSE, checked=pair, cuts=cuts)
            out.append(sums.stats(edges)[0])
        elif compat == "uncertainty-calibration":
            if binning == "width":
                upper = _binning.uc_width_bins(bins)
            elif binning == "discrete":
                upper = _binning.uc_discrete_bins(p)
            else:
                upper = _binning.uc_equal_bins(p, bins)
            edges = np.concatenate([[min(0.0, float(np.min(p)))], upper])
            out.append(_edge_stats(backend, p, y, upper, True, upper.size, edges))
        else:  # sklearn calibration_curve
            strategy = "uniform" if binning == "width" else "quantile"
            edges = _binning.sklearn_edges(p, bins, strategy)
            out.append(_edge_stats(backend, p, y, edges[1:-1], True, bins, edges))
    return out


def _peer_ece(
    scores: Any,
    labels: Any,
    bins: int,
    binning: str,
    norm: str,
    debiased: bool,
    mode: str,
    compat: str,
    nan_policy: str,
    sample_weight: Any,
    backend: str,
) -> float:
    """compat="torchmetrics" / "netcal" (:mod:`.compat`)."""
    refuse_weights(sample_weight, compat)
    if debiased:
        raise ValueError(f"compat={compat!r} has no debiased estimator (debiased=True)")
    if mode != "top-label":
        raise ValueError(
            f"compat={compat!r} reproduces top-label (and binary) calibration errors: mode must be 'top-label'"
        )
    check_choice("nan_policy", nan_policy, ("raise",))
    kernels = _backend.resolve(backend)
    if compat == "torchmetrics":
        check_choice("binning", binning, ("width",))
        check_choice("norm", norm, _compat.TORCHMETRICS_NORMS)
        return _compat.torchmetrics_ece(scores, labels, bins, norm, kernels)
    check_choice("binning", binning, BINNINGS)
    check_choice("norm", norm, _compat.NETCAL_NORMS)
    return _compat.netcal_ece(scores, labels, bins, binning, norm, kernels)
