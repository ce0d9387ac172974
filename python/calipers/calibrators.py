"""Post-hoc calibrators with one protocol.

``fit(scores, labels, sample_weight=None) -> self``, ``transform(scores)``,
``to_bytes`` / ``from_bytes``, ``to_json`` / ``from_json``, ``get_params`` / ``set_params``.

Input follows the package's conventions: 1-D scores in [0, 1] with 0/1 labels, or (n, K)
probabilities with integer labels and ``mode="top-label"`` (the calibrator maps the top
confidence; ``transform`` returns the calibrated confidence, shape (n,)) or
``mode="marginal"`` (one-vs-rest: one map per class; ``transform`` returns (n, K), rows
renormalized to sum to 1 unless ``renormalize=False``; compat modes leave them as the
reference does). :class:`TemperatureScaling` takes logits instead.

A fitted calibrator is immutable (``fit`` swaps in a new frozen state), so one instance
can serve many threads. ``transform`` of a length-1 float64 array or a Python float takes
a scalar path that costs about a microsecond.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import _backend, _serde
from ._calib_maps import (Map, fit_beta, fit_histogram, fit_isotonic, fit_platt, fit_scaling_binning,
                          map_from_dict, map_to_dict)
from ._grid import KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL
from ._validate import DEFAULT_ROW_SUM_ATOL, as_labels, as_scores, check, check_bins, raise_violations
from ._grid import RULE_INF, RULE_NAN, RULE_RANGE, RULE_ROW_SUM

__all__ = ["TemperatureScaling", "PlattScaling", "BetaCalibration", "IsotonicCalibration", "HistogramBinning",
           "ScalingBinning", "Calibrator"]

_KIND_NAMES = {KIND_BINARY: "binary", KIND_TOP_LABEL: "top-label", KIND_MARGINAL: "marginal"}
_KIND_CODES = {v: k for k, v in _KIND_NAMES.items()}
_REGISTRY: dict[str, type["Calibrator"]] = {}


def check_weights(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = as_scores(sample_weight, "sample_weight").astype(np.float64, copy=False)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"sample_weight must be finite and >= 0: {int(bad.sum())} value(s) are not, "
                         f"first at index {i} (value {w[i].item()!r})")
    if not np.any(w > 0):
        raise ValueError("sample_weight must have at least one positive weight")
    return np.ascontiguousarray(w)


_F64 = np.dtype(np.float64)


def _check_one(v: float) -> float:
    if 0.0 <= v <= 1.0:
        return v
    if v != v:
        raise ValueError("scores must not contain NaN: 1 NaN value(s), first at index 0")
    if math.isinf(v):
        raise ValueError("scores must be finite: 1 infinite value(s), first at index 0")
    raise ValueError(f"scores must lie in [0, 1]: 1 value(s) outside, first at index 0 (value {v!r})")


class Calibrator:
    """Shared protocol: parameters, serialization and the fitted-state guard."""

    _param_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    _fitted: Any = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> "Calibrator":
        """Change constructor parameters (validated); a fitted state is discarded."""
        unknown = set(params) - set(self._param_names)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter(s) {sorted(unknown)}; "
                             f"valid: {list(self._param_names)}")
        merged = {**self.get_params(), **params}
        type(self).__init__(self, **merged)  # re-runs the checks
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return self._fitted is not None

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> "Calibrator":
        raise NotImplementedError

    def transform(self, scores: Any) -> Any:
        raise NotImplementedError

    def _state(self) -> Any:
        state = self._fitted
        if state is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit(scores, labels) first")
        return state

    # -- serialization -------------------------------------------------------------------

    def _fitted_to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _fitted_from_dict(self, d: dict[str, Any]) -> Any:
        raise NotImplementedError

    def to_json(self) -> str:
        """Human-readable form with stable field names; floats round-trip exactly."""
        doc = {"format": "calipers.calibrator", "format_version": 1, "type": type(self).__name__,
               "params": self.get_params(), "fitted": None if self._fitted is None else self._fitted_to_dict()}
        return json.dumps(doc, allow_nan=False, sort_keys=True)

    @staticmethod
    def from_json(text: str | bytes) -> "Calibrator":
        """Rebuild any calibrator from :meth:`to_json` output; ValueError if malformed."""
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise ValueError(f"not calipers calibrator JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != "calipers.calibrator":
            raise ValueError("not calipers calibrator JSON: missing format 'calipers.calibrator'")
        if doc.get("format_version") != 1:
            raise ValueError(f"unsupported calibrator format version {doc.get('format_version')!r} (this build reads 1)")
        name = doc.get("type")
        cls = _REGISTRY.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"unknown calibrator type {doc.get('type')!r}")
        params = doc.get("params")
        if not isinstance(params, dict) or set(params) != set(cls._param_names):
            raise ValueError(f"{cls.__name__} parameters must be exactly {list(cls._param_names)}")
        try:
            out = cls(**params)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"invalid {cls.__name__} parameters: {exc}") from None
        if doc.get("fitted") is not None:
            if not isinstance(doc["fitted"], dict):
                raise ValueError("calibrator 'fitted' must be an object or null")
            try:
                out._fitted = out._fitted_from_dict(doc["fitted"])
            except (TypeError, KeyError, AttributeError, OverflowError) as exc:
                raise ValueError(f"malformed fitted state of {cls.__name__}: {exc!r}") from None
        return out

    def to_bytes(self) -> bytes:
        """Versioned, checksummed binary envelope around the JSON form."""
        return _serde.pack_payload(_serde.TYPE_CALIBRATOR, self.to_json().encode("utf-8"))

    @staticmethod
    def from_bytes(data: bytes) -> "Calibrator":
        return Calibrator.from_json(_serde.unpack_payload(data, _serde.TYPE_CALIBRATOR).decode("utf-8", "strict"))

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Calibrator.from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calibrator):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


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
        if not row_sum_atol >= 0:
            raise ValueError(f"row_sum_atol must be >= 0, got {row_sum_atol!r}")
        compat = getattr(self, "compat", None)
        if compat not in self._compat_choices:
            raise ValueError(f"compat must be one of {self._compat_choices}, got {compat!r}")
        self.mode, self.renormalize, self.row_sum_atol, self.backend = mode, bool(renormalize), row_sum_atol, backend
        self._fitted = None

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        raise NotImplementedError

    def _checked(self, scores: Any, labels: Any, kernels: Any) -> Any:
        compat = getattr(self, "compat", None)
        return check(scores, labels, kernels, mode=self.mode, row_sum_atol=self.row_sum_atol,  # type: ignore[arg-type]
                     check_rows=compat is None)

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> "_OneDimensional":
        """Fit on calibration scores and outcomes; raises ValueError on bad input or when a
        stream has only one outcome (nothing to calibrate against)."""
        kernels = _backend.resolve(self.backend)
        c = self._checked(scores, labels, kernels)
        w = check_weights(sample_weight, c.n)
        from ._bins import stream_pairs

        maps = []
        for k, (p, y) in enumerate(stream_pairs(c, kernels)):
            p = np.ascontiguousarray(p, dtype=np.float64)
            y = np.asarray(y).astype(np.int8)
            active = y if w is None else y[w > 0]
            if active.min() == active.max():
                where = "" if c.kind != KIND_MARGINAL else f" for class {k}"
                raise ValueError(f"the calibration labels{where} are all {int(active[0])}: a calibrator needs both "
                                 "outcomes (0 and 1) to fit")
            maps.append(self._fit_map(kernels, p, y, w))
        self._fitted = _Fitted1D(c.kind, c.classes if c.kind == KIND_MARGINAL else None, tuple(maps),
                                 _fast_kernels(self.backend))
        return self

    @property
    def maps_(self) -> tuple[Map, ...]:
        """The fitted maps: one, or one per class in marginal mode."""
        return self._state().maps

    def transform(self, scores: Any) -> Any:
        """Calibrated probabilities. A Python float in, a float out (binary calibrators)."""
        state: _Fitted1D = self._fitted
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
            raise ValueError(f"this calibrator was fitted on {_KIND_NAMES[state.kind]} input: scores must be "
                             f"{'1-D (n,)' if want == 1 else '2-D (n, K)'}, got shape {s.shape}")
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
        return _Fitted1D(kind, classes, tuple(map_from_dict(m) for m in maps), _fast_kernels(self.backend))


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

    def __init__(self, C: float | None = None, smoothing: bool = False, *, mode: str = "top-label",
                 renormalize: bool = True, row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> None:
        if C is not None and not (isinstance(C, (int, float)) and C > 0 and math.isfinite(C)):
            raise ValueError(f"C must be None or a positive finite number, got {C!r}")
        self.C, self.smoothing = C, bool(smoothing)
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        return fit_platt(kernels, p, y, w, C=self.C, smoothing=self.smoothing)


class _Unparametrized(_OneDimensional):
    """A 1-D calibrator whose only parameters are the common ones; subclasses name their fit."""

    _param_names = ("mode", "renormalize", "row_sum_atol", "backend")
    _fit_function: ClassVar[Any]

    def __init__(self, *, mode: str = "top-label", renormalize: bool = True,
                 row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> None:
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        return type(self)._fit_function(kernels, p, y, w)


class BetaCalibration(_Unparametrized):
    """Beta calibration (Kull, Silva Filho and Flach, 2017), the 3-parameter 'abm' model:
    sigmoid(a ln p - b ln(1 - p) + c) with a, b >= 0, p clipped to [eps, 1 - eps].

    Fitted exactly as the betacal package does, but to convergence: an unconstrained
    logistic fit on (ln p, -ln(1 - p)); if a < 0 the model is refitted with a = 0, else if
    b < 0 with b = 0."""

    _fit_function = staticmethod(fit_beta)


class IsotonicCalibration(_Unparametrized):
    """Isotonic regression (pool-adjacent-violators, O(n) after the sort), equal to
    scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``: sample weights, ties
    averaged, scores outside the fitted range clipped, linear interpolation between the
    fitted points."""

    _fit_function = staticmethod(fit_isotonic)


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

    def __init__(self, bins: int = 15, *, monotone: bool = True, compat: str | None = None, mode: str = "top-label",
                 renormalize: bool = True, row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> None:
        self.bins, self.monotone, self.compat = check_bins(bins), bool(monotone), compat
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        return fit_histogram(kernels, p, y, w, self.bins, self.compat, self.monotone)


class ScalingBinning(_OneDimensional):
    """Scaling-binning (Kumar, Liang and Ma, 2019): Platt scaling, then equal-mass bins of
    the Platt outputs, each bin mapped to the mean Platt output in it.

    ``split=None`` uses the whole calibration set for all three steps (as the reference
    package); ``split="three-way"`` uses disjoint random thirds (seeded by ``seed``): the
    first fits Platt, the second sets the bins, the third the bin means, as in the paper.
    ``compat="uncertainty-calibration"`` reproduces PlattBinnerCalibrator and its Top and
    Marginal variants (up to the Platt solver: calipers' is the exact MLE, the reference's
    lbfgs stops early)."""

    _param_names = ("bins", "split", "seed", "compat", "mode", "renormalize", "row_sum_atol", "backend")
    _compat_choices = (None, "uncertainty-calibration")

    def __init__(self, bins: int = 15, *, split: str | None = None, seed: int | None = None,
                 compat: str | None = None, mode: str = "top-label", renormalize: bool = True,
                 row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> None:
        if split not in (None, "three-way"):
            raise ValueError(f"split must be None or 'three-way', got {split!r}")
        self.bins, self.split, self.seed, self.compat = check_bins(bins), split, seed, compat
        self._init_common(mode, renormalize, row_sum_atol, backend)

    def _fit_map(self, kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Map:
        return fit_scaling_binning(kernels, p, y, w, self.bins, self.compat, self.split, self.seed)


@dataclass(frozen=True)
class _FittedTemperature:
    temperature: float
    binary: bool
    iterations: int


class TemperatureScaling(Calibrator):
    """Temperature scaling: softmax(z / T) of (n, K) logits (or sigmoid(z / T) of 1-D
    binary logits), T minimizing the (weighted) negative log-likelihood.

    The NLL is convex in 1/T; a safeguarded Newton method on 1/T (bracketing on the sign
    of the derivative, bisection when a step leaves the bracket) runs until the Newton
    step is below 1e-9 relative (and takes it: quadratic convergence leaves T exact to
    float64 noise); inputs of 65536 rows or more first converge on every 16th row, one pass over the logits per iteration, accumulated in float64. If the
    classes are separable the NLL keeps falling as T -> 0; the solver stops, with a finite
    T, once the derivative vanishes in float64 (or at T = 1e-6). If the labels carry no
    information about the logits the optimum is T = infinity; the solver stops at T = 1e6
    (uniform probabilities)."""

    _param_names = ("backend",)

    def __init__(self, *, backend: str = "auto") -> None:
        if backend not in ("auto", *_backend.BACKENDS):
            raise ValueError(f"backend must be one of 'auto', 'cpp', 'numba', 'numpy', got {backend!r}")
        self.backend = backend
        self._fitted = None

    @property
    def temperature_(self) -> float:
        return self._state().temperature

    @staticmethod
    def _logits(logits: Any, name: str = "logits") -> np.ndarray:
        z = as_scores(logits, name)
        if z.ndim not in (1, 2) or (z.ndim == 2 and z.shape[1] < 2):
            raise ValueError(f"{name} must be 1-D (binary) or 2-D (n, K >= 2), got shape {z.shape}")
        if z.shape[0] == 0:
            raise ValueError(f"{name} is empty: at least one sample is needed")
        bad = ~np.isfinite(z)
        if bad.any():
            flat = int(np.argmax(bad.reshape(-1)))
            where = f"index {flat}" if z.ndim == 1 else f"row {flat // z.shape[1]}, column {flat % z.shape[1]}"
            raise ValueError(f"{name} must be finite: {int(bad.sum())} value(s) are not, first at {where}")
        return z

    @staticmethod
    def _two_column(z: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.column_stack([np.zeros(z.shape[0], z.dtype), z]))

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> "TemperatureScaling":
        """``scores`` are logits: (n, K) with labels in [0, K), or 1-D with labels in {0, 1}."""
        kernels = _backend.resolve(self.backend)
        z = self._logits(scores, "scores")
        y = as_labels(labels)
        if y.shape != (z.shape[0],):
            raise ValueError(f"scores and labels must have the same length, got {z.shape[0]} and {y.shape}")
        K = 2 if z.ndim == 1 else z.shape[1]
        bad = (y < 0) | (y >= K)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"labels must be integers in [0, {K}): {int(bad.sum())} value(s) are not, "
                             f"first at index {i} (value {np.asarray(labels)[i]!r})")
        w = check_weights(sample_weight, z.shape[0])
        Z = self._two_column(z) if z.ndim == 1 else z
        beta, iterations, _ = kernels.temperature_fit(Z, np.ascontiguousarray(y), w)
        self._fitted = _FittedTemperature(1.0 / float(beta), z.ndim == 1, int(iterations))
        return self

    def transform(self, scores: Any) -> np.ndarray:
        """Probabilities: (n, K) for 2-D logits, P(y = 1) of shape (n,) for 1-D logits."""
        state: _FittedTemperature = self._state()
        beta = 1.0 / state.temperature
        if type(scores) is np.ndarray and not state.binary and scores.ndim == 2 and scores.dtype == _F64 \
                and scores.flags.c_contiguous and scores.shape[0] > 0 and scores.shape[1] >= 2:
            # the kernel checks finiteness itself: no extra pass, ~1 us for one request
            return _backend.resolve(self.backend).softmax_scaled(scores, beta)
        z = self._logits(scores)
        if state.binary != (z.ndim == 1):
            raise ValueError(f"this calibrator was fitted on {'1-D' if state.binary else '2-D'} logits, "
                             f"got shape {z.shape}")
        kernels = _backend.resolve(self.backend)
        if state.binary:
            return kernels.softmax_scaled(self._two_column(z), beta)[:, 1].copy()
        return kernels.softmax_scaled(z, beta)

    def _fitted_to_dict(self) -> dict[str, Any]:
        st: _FittedTemperature = self._fitted
        return {"temperature": st.temperature, "binary": st.binary, "iterations": st.iterations}

    def _fitted_from_dict(self, d: dict[str, Any]) -> _FittedTemperature:
        try:
            t = float(d["temperature"])
            out = _FittedTemperature(t, bool(d["binary"]), int(d["iterations"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed temperature state: {exc!r}") from None
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperature must be positive and finite, got {t!r}")
        return out
