"""Calibrators that map one score to one probability: Platt scaling, beta calibration,
isotonic regression, histogram binning and scaling-binning.

Input follows the package's conventions: 1-D scores in [0, 1] with 0/1 labels, or (n, K)
probabilities with integer labels and ``mode="top-label"`` (the calibrator maps the top
confidence; ``transform`` returns the calibrated confidence, shape (n,)) or
``mode="marginal"`` (one-vs-rest: one map per class; ``transform`` returns (n, K), rows
renormalized to sum to 1 unless ``renormalize=False``; compat modes leave them as the
reference does). ``transform`` of a length-1 float64 array or a Python float takes a
scalar path that costs about a microsecond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._common.grid import KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL, RULE_INF, RULE_NAN, RULE_RANGE, RULE_ROW_SUM
from .._common.validate import DEFAULT_ROW_SUM_ATOL, Checked, as_scores, check, check_bins, plain, raise_violations
from .._kernels import backend as _backend
from .base import _F64, _KIND_CODES, _KIND_NAMES, Calibrator, _check_one, check_weights
from .maps import (
    BinMap,
    InterpMap,
    LogisticMap,
    Map,
    check_map,
    fit_beta,
    fit_histogram,
    fit_isotonic,
    fit_platt,
    fit_scaling_binning,
    map_from_dict,
    map_to_dict,
)

__all__ = ["PlattScaling", "BetaCalibration", "IsotonicCalibration", "HistogramBinning", "ScalingBinning"]


@dataclass(frozen=True)
class _Fitted1D:
    kind: int
    classes: int | None
    maps: tuple[Map, ...]
    fast: Any = None  # the C++ kernels for per-request calls, when that backend is live


def _fast_kernels(backend: str) -> Any:
    try:
        kernels = _backend.resolve(backend)
    except ImportError:
        return None
    return kernels if _backend.name_of(kernels) == "cpp" else None


class _OneDimensional(Calibrator):
    """Common machinery of the calibrators that map one score to one probability."""

    _compat_choices: ClassVar[tuple[Any, ...]] = (None,)

    def _init_common(self, mode: str, renormalize: bool, row_sum_atol: float, backend: str) -> None:
        if mode not in ("top-label", "marginal"):
            raise ValueError(f"mode must be 'top-label' or 'marginal', got {mode!r}")
        if backend not in ("auto", *_backend.BACKENDS):
            raise ValueError(f"backend must be one of 'auto', 'cpp', 'numba', 'numpy', got {backend!r}")
        if isinstance(row_sum_atol, bool) or not isinstance(row_sum_atol, (int, float, np.integer, np.floating)):
            raise TypeError(f"row_sum_atol must be a number, got {type(row_sum_atol).__name__}")
        if not (math.isfinite(row_sum_atol) and row_sum_atol >= 0):
            raise ValueError(f"row_sum_atol must be finite and >= 0, got {plain(row_sum_atol)}")
        compat = getattr(self, "compat", None)
        if compat not in self._compat_choices:
            raise ValueError(f"compat must be one of {self._compat_choices}, got {compat!r}")
        self.mode, self.renormalize, self.row_sum_atol, self.backend = mode, bool(renormalize), row_sum_atol, backend
        self._fitted = None

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        raise NotImplementedError

    def _fits_one_outcome(self, kind: int) -> bool:
        """Whether a stream whose outcomes are all equal can be fitted (a reference that
        accepts it, in its compat mode); calipers itself refuses: nothing to calibrate against."""
        return False

    def _checked(self, scores: Any, labels: Any, kernels: Any) -> Any:
        compat = getattr(self, "compat", None)
        return check(
            scores,
            labels,
            kernels,
            mode=self.mode,
            row_sum_atol=self.row_sum_atol,
            check_rows=compat is None,
        )

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> _OneDimensional:
        """Fit on calibration scores and outcomes; raises ValueError on bad input or when a
        stream has only one outcome (nothing to calibrate against).

        ``sample_weight``: one weight per row (finite, >= 0, at least one positive). Rows of
        weight 0 are dropped before the fit (so they are exactly dropped rows); whole weights
        fit what the repeated rows fit (to the solvers' tolerance, ~1e-10; exactly for the
        binning calibrators' cuts). ``ScalingBinning(split="three-way")`` splits rows at
        random, so repeated rows split differently there; compat modes take no weights."""
        kernels = _backend.resolve(self.backend)
        c = self._checked(scores, labels, kernels)
        w = check_weights(sample_weight, c.n)
        if w is not None and getattr(self, "compat", None) is not None:
            raise ValueError(
                f"sample_weight is not available with compat={self.compat!r}: that mode reproduces a library "  # type: ignore[attr-defined]
                "that takes no sample weights"
            )
        if w is not None and not np.all(w > 0):  # a zero weight is a dropped row, exactly
            keep = w > 0
            c = Checked(np.ascontiguousarray(c.scores[keep]), np.ascontiguousarray(c.labels[keep]), c.kind)
            w = np.ascontiguousarray(w[keep])
        from .._common.binstats import stream_pairs

        if getattr(self, "compat", None) == "uncertainty-calibration" and c.kind == KIND_MARGINAL:
            span = int(c.labels.max()) - int(c.labels.min()) + 1
            if span != c.classes:  # the reference asserts k == max(labels) - min(labels) + 1
                raise ValueError(
                    f"compat='uncertainty-calibration' needs labels spanning all {c.classes} classes "
                    f"(its marginal calibrators assert max - min + 1 == K), got {span}"
                )
        maps = []
        for k, (p, y) in enumerate(stream_pairs(c, kernels)):
            p = np.ascontiguousarray(p, dtype=np.float64)
            y = np.asarray(y).astype(np.int8)
            active = y if w is None else y[w > 0]
            if active.min() == active.max() and not self._fits_one_outcome(c.kind):
                where = "" if c.kind != KIND_MARGINAL else f" for class {k}"
                raise ValueError(
                    f"the calibration labels{where} are all {int(active[0])}: a calibrator needs both "
                    "outcomes (0 and 1) to fit"
                )
            maps.append(self._fit_map(kernels, p, y, w))
        self._fitted = _Fitted1D(
            c.kind, c.classes if c.kind == KIND_MARGINAL else None, tuple(maps), _fast_kernels(self.backend)
        )
        return self

    @property
    def maps_(self) -> tuple[Map, ...]:
        """The fitted maps: one, or one per class in marginal mode."""
        maps: tuple[Map, ...] = self._state().maps
        return maps

    def transform(self, scores: Any) -> Any:
        """Calibrated probabilities. A Python float in, a float out (binary calibrators)."""
        state: _Fitted1D | None = self._fitted
        if state is None:
            state = self._state()  # raises the not-fitted error
        if state.kind == KIND_BINARY:  # per-request paths: no array machinery
            kind = type(scores)
            if kind is np.ndarray and scores.shape == (1,) and scores.dtype == _F64:
                v = scores.item()
                if not 0.0 <= v <= 1.0:
                    _check_one(v)
                if state.fast is not None:  # one C++ call, about 1 us in all
                    return state.maps[0].transform(state.fast, scores)
                return np.array((state.maps[0].one(v),))
            if kind is float:
                return state.maps[0].one(scores if 0.0 <= scores <= 1.0 else _check_one(scores))
            if isinstance(scores, (float, int, np.floating, np.integer)) and not isinstance(scores, (bool, np.bool_)):
                v = float(scores)  # a numpy scalar or an int: the float path, a float out
                return state.maps[0].one(v if 0.0 <= v <= 1.0 else _check_one(v))
        kernels = _backend.resolve(self.backend)
        s = self._checked_scores(scores, kernels, state)
        if state.kind == KIND_BINARY:
            return state.maps[0].transform(kernels, s.astype(np.float64, copy=False))
        if state.kind == KIND_TOP_LABEL:
            conf = np.ascontiguousarray(s.max(axis=1), dtype=np.float64)
            return state.maps[0].transform(kernels, conf)
        out: np.ndarray = np.empty(s.shape, np.float64)
        for k, m in enumerate(state.maps):
            out[:, k] = m.transform(kernels, np.ascontiguousarray(s[:, k], dtype=np.float64))
        if self.renormalize and getattr(self, "compat", None) is None:
            total = out.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                out = np.where(total > 0, out / total, 1.0 / out.shape[1])
        return out

    def _checked_scores(self, scores: Any, kernels: Any, state: _Fitted1D) -> np.ndarray:
        s = as_scores(scores)
        want = 1 if state.kind == KIND_BINARY else 2
        if s.ndim != want:
            raise ValueError(
                f"this calibrator was fitted on {_KIND_NAMES[state.kind]} input: scores must be "
                f"{'1-D (n,)' if want == 1 else '2-D (n, K)'}, got shape {s.shape}"
            )
        if state.kind == KIND_MARGINAL and s.shape[1] != state.classes:
            raise ValueError(f"this calibrator was fitted on {state.classes} classes, got scores of shape {s.shape}")
        if s.shape[0] == 0:
            raise ValueError("scores is empty: at least one sample is needed")
        zeros = np.zeros(s.shape[0], np.int8)
        compat = getattr(self, "compat", None)
        if want == 1:
            counts, firsts = kernels.validate_binary(s, zeros)
            rules: tuple[int, ...] = (RULE_NAN, RULE_INF, RULE_RANGE)
        else:
            counts, firsts = kernels.validate_probs(s, zeros, float(self.row_sum_atol), compat is None)
            rules = (RULE_NAN, RULE_INF, RULE_RANGE) + ((RULE_ROW_SUM,) if compat is None else ())
        raise_violations(counts, firsts, s, zeros, rules=rules, atol=self.row_sum_atol)
        return s

    # -- serialization of the fitted state ------------------------------------------------

    def _fitted_to_dict(self) -> dict[str, Any]:
        st: _Fitted1D = self._fitted
        return {"kind": _KIND_NAMES[st.kind], "classes": st.classes, "maps": [map_to_dict(m) for m in st.maps]}

    def _fitted_from_dict(self, d: dict[str, Any]) -> _Fitted1D:
        name = d.get("kind")
        kind = _KIND_CODES.get(name) if isinstance(name, str) else None
        if kind is None:
            raise ValueError(f"unknown fitted kind {d.get('kind')!r}")
        maps = d.get("maps")
        if not isinstance(maps, list) or not maps or not all(isinstance(m, dict) for m in maps):
            raise ValueError("fitted 'maps' must be a non-empty list of objects")
        classes = d.get("classes")
        if kind == KIND_MARGINAL:
            if not isinstance(classes, int) or classes < 2 or len(maps) != classes:
                raise ValueError("a marginal calibrator needs one map per class (classes >= 2)")
        elif classes is not None or len(maps) != 1:
            raise ValueError("a binary or top-label calibrator has exactly one map and classes=null")
        if (kind == KIND_MARGINAL) != (self.mode == "marginal"):
            raise ValueError(f"a {name} fitted state does not match mode={self.mode!r}")
        parsed = tuple(map_from_dict(m) for m in maps)
        for m in parsed:
            self._check_fitted_map(m)
        return _Fitted1D(kind, classes, parsed, _fast_kernels(self.backend))

    def _check_fitted_map(self, m: Map) -> None:
        """What this calibrator's fit guarantees of each map (ValueError otherwise)."""
        raise NotImplementedError


class PlattScaling(_OneDimensional):
    """Platt scaling: sigmoid(a * logit(p) + b), logit(p) = log(p / (1 - p)) with p clipped
    to [1e-12, 1 - 1e-12].

    ``C=None`` (default) solves the unregularized maximum-likelihood fit to convergence
    (Newton with line search). ``C=float`` adds scikit-learn's L2 penalty 1/(2C) a^2 on the
    slope (the intercept is not penalized), i.e. ``LogisticRegression(C=C)``.
    ``smoothing=True`` uses Platt's (1999) targets (N+ + 1)/(N+ + 2) and 1/(N- + 2).
    When the classes are separable by the score the MLE does not exist: a RuntimeWarning
    says so and the fit falls back to C=1, so the parameters stay finite. The map never
    reverses the model's ranking: if the fitted slope is negative, a RuntimeWarning says so
    and the calibrator returns the constant base rate (a = 0).
    """

    _param_names = ("C", "smoothing", "mode", "renormalize", "row_sum_atol", "backend")

    def __init__(
        self,
        C: float | None = None,
        smoothing: bool = False,
        *,
        mode: str = "top-label",
        renormalize: bool = True,
        row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto",
    ) -> None:
        if C is not None and not (
            isinstance(C, (int, float)) and not isinstance(C, bool) and C > 0 and math.isfinite(C)
        ):
            raise ValueError(f"C must be None or a positive finite number, got {plain(C)}")
        self.C, self.smoothing = C, bool(smoothing)
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        return fit_platt(kernels, p, y, w, C=self.C, smoothing=self.smoothing)

    def _check_fitted_map(self, m: Map) -> None:
        if not (isinstance(m, LogisticMap) and m.family == "platt"):
            raise ValueError("a PlattScaling state holds logistic maps of the platt family")


class _Unparametrized(_OneDimensional):
    """A 1-D calibrator whose only parameters are the common ones; subclasses name their fit."""

    _param_names = ("mode", "renormalize", "row_sum_atol", "backend")
    _fit_function: ClassVar[Any]

    def __init__(
        self,
        *,
        mode: str = "top-label",
        renormalize: bool = True,
        row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto",
    ) -> None:
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        fitted: Map = type(self)._fit_function(kernels, p, y, w)
        return fitted


class BetaCalibration(_Unparametrized):
    """Beta calibration (Kull, Silva Filho and Flach, 2017), the 3-parameter 'abm' model:
    sigmoid(a ln p - b ln(1 - p) + c) with a, b >= 0, p clipped to [eps, 1 - eps].

    Fitted exactly as the betacal package does, but to convergence: an unconstrained
    logistic fit on (ln p, -ln(1 - p)); if a < 0 the model is refitted with a = 0, else if
    b < 0 with b = 0."""

    _fit_function = staticmethod(fit_beta)

    def _check_fitted_map(self, m: Map) -> None:
        if not (isinstance(m, LogisticMap) and m.family == "beta"):
            raise ValueError("a BetaCalibration state holds logistic maps of the beta family")


class IsotonicCalibration(_Unparametrized):
    """Isotonic regression (pool-adjacent-violators, O(n) after the sort), equal to
    scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``: sample weights, ties
    averaged, scores outside the fitted range clipped, linear interpolation between the
    fitted points."""

    _fit_function = staticmethod(fit_isotonic)

    def _check_fitted_map(self, m: Map) -> None:
        if not isinstance(m, InterpMap):
            raise ValueError("an IsotonicCalibration state holds interpolation maps")


class HistogramBinning(_OneDimensional):
    """Histogram binning: equal-mass bins of the calibration scores, each mapped to its
    (weighted) outcome frequency.

    Default bins follow calipers' convention (left-closed, cut between runs of tied scores,
    never empty). Plain histogram binning can map a higher score to a lower probability
    when neighbouring bins' frequencies are noisy; with ``monotone=True`` (default) adjacent
    violating bins are pooled (weighted pool-adjacent-violators over the bins), so the map
    never reverses the model's ranking. ``compat="uncertainty-calibration"`` reproduces
    HistogramCalibrator / HistogramTopCalibrator / HistogramMarginalCalibrator exactly
    (midpoint edges, right-closed bins, an empty bin maps to its midpoint, no pooling, no
    renormalization)."""

    _param_names = ("bins", "monotone", "compat", "mode", "renormalize", "row_sum_atol", "backend")
    _compat_choices = (None, "uncertainty-calibration")

    def __init__(
        self,
        bins: int = 15,
        *,
        monotone: bool = True,
        compat: str | None = None,
        mode: str = "top-label",
        renormalize: bool = True,
        row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto",
    ) -> None:
        self.bins, self.monotone, self.compat = check_bins(bins), bool(monotone), compat
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fits_one_outcome(self, kind: int) -> bool:
        # uncertainty-calibration's histogram calibrators fit a stream whose outcomes are all
        # equal (a model right on every point, a class that never occurs): each bin's value
        # is that outcome.
        return self.compat == "uncertainty-calibration"

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        return fit_histogram(kernels, p, y, w, self.bins, self.compat, self.monotone)

    def _check_fitted_map(self, m: Map) -> None:
        _check_bin_map(self, m, platt=False, monotone=self.monotone and self.compat is None)


class ScalingBinning(_OneDimensional):
    """Scaling-binning (Kumar, Liang and Ma, 2019): Platt scaling, then equal-mass bins of
    the Platt outputs, each bin mapped to the mean Platt output in it.

    ``split=None`` uses the whole calibration set for all three steps (as the reference
    package); ``split="three-way"`` uses disjoint random thirds (seeded by ``seed``): the
    first fits Platt, the second sets the bins, the third the bin means, as in the paper.
    ``compat="uncertainty-calibration"`` reproduces PlattBinnerCalibrator and its Top and
    Marginal variants up to the Platt solver: calipers' is the exact MLE, the reference's
    lbfgs stops early (outputs up to 3e-4 apart; with its fit solved exactly, 4e-12)."""

    _param_names = ("bins", "split", "seed", "compat", "mode", "renormalize", "row_sum_atol", "backend")
    _compat_choices = (None, "uncertainty-calibration")

    def __init__(
        self,
        bins: int = 15,
        *,
        split: str | None = None,
        seed: int | None = None,
        compat: str | None = None,
        mode: str = "top-label",
        renormalize: bool = True,
        row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto",
    ) -> None:
        if split not in (None, "three-way"):
            raise ValueError(f"split must be None or 'three-way', got {split!r}")
        if seed is not None and (
            isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"seed must be None or a non-negative integer, got {plain(seed)}")
        self.bins, self.split, self.seed, self.compat = check_bins(bins), split, seed, compat
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        return fit_scaling_binning(kernels, p, y, w, self.bins, self.compat, self.split, self.seed)

    def _check_fitted_map(self, m: Map) -> None:
        _check_bin_map(self, m, platt=True, monotone=True)


def _check_bin_map(cal: Any, m: Map, *, platt: bool, monotone: bool) -> None:
    """A histogram (or scaling-binning) map as its fit makes it: a Platt map first exactly
    when scaling-binning, right-closed bins exactly in the uncertainty-calibration mode, at
    most ``bins`` values, non-decreasing when the fit pools (or bins Platt outputs)."""
    name = type(cal).__name__
    if not isinstance(m, BinMap) or (m.platt is not None) != platt:
        raise ValueError(f"a {name} state holds bin maps {'with' if platt else 'without'} a Platt map")
    if m.right_closed != (cal.compat == "uncertainty-calibration"):
        raise ValueError(f"a {name} state with compat={cal.compat!r} has right_closed={not m.right_closed}")
    if m.values.size > cal.bins:
        raise ValueError(f"a {name} state has {m.values.size} bin values for bins={cal.bins}")
    check_map(m, monotone=monotone)
