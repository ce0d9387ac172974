"""Fitted 1-D calibration maps: immutable, serializable to plain dicts, with a batch
transform through the backend and a scalar path for per-request calls."""

from __future__ import annotations

import bisect
import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._common import binning as _binning
from .._common.saved import saved_number, saved_numbers
from .solvers import NotConverged, newton_logistic

FLOAT64_EPS = float(np.finfo(np.float64).eps)
PLATT_CLIP = 1e-12
CLIP_MIN = 2.0**-53  # the smallest clip with 1 - clip < 1 (fits use 1e-12 and float64 eps)
ISOTONIC_RESOLUTION = float(np.finfo(np.float64).resolution)  # 1e-15, as sklearn's _make_unique
SEPARABLE_L2 = 1.0  # the fallback penalty (scikit-learn's default C = 1)


def _sigmoid(t: float) -> float:
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def _frozen(a: Any) -> np.ndarray:
    arr = np.array(a, dtype=np.float64)
    arr.flags.writeable = False
    return arr


class Map:
    """A fitted one-score-to-one-probability map (frozen): vectorised ``transform`` on the
    kernels, ``one`` for a single float on the per-request path, and a JSON-able ``to_dict``."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The map's parameters as plain JSON-able values (``map_from_dict`` reads them back)."""
        raise NotImplementedError

    def transform(self, kernels: Any, x: np.ndarray) -> np.ndarray:
        """The map applied to float64 scores ``x`` with the given backend's kernels."""
        raise NotImplementedError

    def one(self, x: float) -> float:
        """The map applied to one float (no numpy: about a microsecond)."""
        raise NotImplementedError


@dataclass(frozen=True)
class LogisticMap(Map):
    """Platt: sigmoid(a logit(clip p) + b). Beta: sigmoid(a ln p - b ln(1 - p) + c)."""

    kind: ClassVar[str] = "logistic"
    family: str  # "platt" | "beta"
    a: float
    b: float
    c: float = 0.0
    clip: float = PLATT_CLIP

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "a": self.a, "b": self.b, "c": self.c, "clip": self.clip}

    def transform(self, kernels: Any, x: np.ndarray) -> np.ndarray:
        if self.family == "platt":
            return np.asarray(kernels.platt_transform(x, self.a, self.b, self.clip))
        return np.asarray(kernels.beta_transform(x, self.a, self.b, self.c, self.clip))

    def one(self, x: float) -> float:
        clip = self.clip
        q = clip if x < clip else (1.0 - clip if x > 1.0 - clip else x)
        if self.family == "platt":
            t = self.a * math.log(q / (1.0 - q)) + self.b
        else:
            t = self.a * math.log(q) - self.b * math.log(1.0 - q) + self.c
        if t >= 0:
            return 1.0 / (1.0 + math.exp(-t))
        e = math.exp(t)
        return e / (1.0 + e)


@dataclass(frozen=True)
class InterpMap(Map):
    """Isotonic: linear interpolation through the fitted points, clipped at both ends."""

    kind: ClassVar[str] = "interp"
    x: np.ndarray
    y: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x.tolist(), "y": self.y.tolist()}

    def transform(self, kernels: Any, x: np.ndarray) -> np.ndarray:
        return np.asarray(kernels.interp(x, self.x, self.y))

    def __post_init__(self) -> None:  # Python lists for the per-request path
        object.__setattr__(self, "_xl", self.x.tolist())
        object.__setattr__(self, "_yl", self.y.tolist())

    def one(self, x: float) -> float:
        xs, ys = self._xl, self._yl  # type: ignore[attr-defined]
        if x <= xs[0] or len(xs) == 1:
            return float(ys[0])
        if x >= xs[-1]:
            return float(ys[-1])
        k = bisect.bisect_right(xs, x)
        x0, y0 = xs[k - 1], ys[k - 1]
        return float((ys[k] - y0) / (xs[k] - x0) * (x - x0) + y0)


@dataclass(frozen=True)
class BinMap(Map):
    """Histogram lookup: values[bin(x)] with sorted cuts, optionally after a Platt map."""

    kind: ClassVar[str] = "bins"
    cuts: np.ndarray
    values: np.ndarray
    right_closed: bool
    platt: LogisticMap | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cuts": self.cuts.tolist(),
            "values": self.values.tolist(),
            "right_closed": self.right_closed,
            "platt": None if self.platt is None else self.platt.to_dict(),
        }

    def transform(self, kernels: Any, x: np.ndarray) -> np.ndarray:
        if self.platt is not None:
            x = self.platt.transform(kernels, x)
        looked_up: np.ndarray = kernels.bin_lookup(
            np.ascontiguousarray(x, np.float64), self.cuts, self.values, self.right_closed
        )
        return looked_up

    def __post_init__(self) -> None:  # Python lists for the per-request path
        object.__setattr__(self, "_cuts", self.cuts.tolist())
        object.__setattr__(self, "_values", self.values.tolist())

    def one(self, x: float) -> float:
        if self.platt is not None:
            x = self.platt.one(x)
        cuts, values = self._cuts, self._values  # type: ignore[attr-defined]
        i = bisect.bisect_left(cuts, x) if self.right_closed else bisect.bisect_right(cuts, x)
        return float(values[min(i, len(values) - 1)])


def map_from_dict(d: dict[str, Any]) -> Map:
    """Rebuild a map from :meth:`Map.to_dict` output, checking what a fitted map guarantees
    (ValueError otherwise)."""
    if not isinstance(d, dict):
        raise ValueError("a calibration map must be a JSON object")
    kind = d.get("kind")
    try:
        if kind == "logistic":
            family = d["family"]
            if not isinstance(family, str) or family not in ("platt", "beta"):
                raise ValueError(f"unknown logistic family {family!r}")
            a, b, c, clip = (saved_number(d, key, "calibration map") for key in ("a", "b", "c", "clip"))
            out: Map = LogisticMap(family, a, b, c, clip)
        elif kind == "interp":
            x, y = _frozen(saved_numbers(d, "x", "calibration map")), _frozen(saved_numbers(d, "y", "calibration map"))
            if x.ndim != 1 or x.size == 0 or x.shape != y.shape or np.any(np.diff(x) <= 0):
                raise ValueError("isotonic points must be non-empty with strictly increasing x")
            out = InterpMap(x, y)
        elif kind == "bins":
            cuts = _frozen(saved_numbers(d, "cuts", "calibration map"))
            values = _frozen(saved_numbers(d, "values", "calibration map"))
            if cuts.ndim != 1 or values.ndim != 1 or values.size == 0 or np.any(np.diff(cuts) < 0):
                raise ValueError("histogram cuts must be sorted and values non-empty")
            platt = d.get("platt")
            inner = None if platt is None else map_from_dict({**platt, "kind": "logistic"})
            assert inner is None or isinstance(inner, LogisticMap)
            if not isinstance(d["right_closed"], bool):
                raise ValueError(f"right_closed must be true or false, got {d['right_closed']!r}")
            out = BinMap(cuts, values, d["right_closed"], inner)
        else:
            raise ValueError(f"unknown calibration map kind {kind!r}")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed calibration map: {exc!r}") from None
    for name in ("a", "b", "c", "clip"):
        if isinstance(out, LogisticMap) and not math.isfinite(getattr(out, name)):
            raise ValueError(f"calibration map has a non-finite {name}")
    if isinstance(out, (InterpMap, BinMap)):
        arrays = (out.x, out.y) if isinstance(out, InterpMap) else (out.cuts, out.values)
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise ValueError("calibration map has non-finite points")
    check_map(out, monotone=not isinstance(out, BinMap))
    return out


def _first_bad(mask: np.ndarray) -> str:
    return f"{int(mask.sum())} value(s), first at index {int(np.argmax(mask))}"


def _check_unit(name: str, values: np.ndarray) -> None:
    bad = ~((values >= 0.0) & (values <= 1.0))
    if bad.any():
        raise ValueError(f"calibration map {name} must lie in [0, 1]: {_first_bad(bad)}")


def _check_increasing(name: str, values: np.ndarray) -> None:
    bad = np.diff(values) < 0
    if bad.any():
        raise ValueError(f"calibration map {name} must be non-decreasing: {_first_bad(bad)} decrease(s)")


def check_map(m: Map, *, monotone: bool) -> None:
    """What every fitted map guarantees: logistic maps increase (a, b >= 0) with a clip in
    [2^-53, 1/2) (Platt maps have c = 0); interpolation points and bin values are
    probabilities in [0, 1] at scores in [0, 1], interpolation values non-decreasing, bin
    values non-decreasing when ``monotone``, one more value than inner cuts (or as many
    as upper edges); ValueError otherwise."""
    if isinstance(m, LogisticMap):
        if not CLIP_MIN <= m.clip < 0.5:  # 1 - clip < 1: the per-request path takes log(1 - clip)
            raise ValueError(f"calibration map clip must lie in [2^-53, 0.5), got {m.clip!r}")
        if m.a < 0 or (m.family == "beta" and m.b < 0):
            names = "a" if m.family == "platt" else "a and b"
            raise ValueError(f"a {m.family} map must be non-decreasing: {names} must be >= 0, got a={m.a!r}, b={m.b!r}")
        if m.family == "platt" and m.c != 0.0:
            raise ValueError(f"a platt map has no third parameter: c must be 0, got {m.c!r}")
    elif isinstance(m, InterpMap):
        _check_unit("x", m.x)
        _check_unit("y", m.y)
        _check_increasing("y", m.y)
    elif isinstance(m, BinMap):
        _check_unit("cuts", m.cuts)
        _check_unit("values", m.values)
        if m.values.size not in (m.cuts.size, m.cuts.size + 1):
            raise ValueError(
                f"calibration map has {m.values.size} bin values for {m.cuts.size} cuts "
                "(one more than the inner cuts, or one per upper edge)"
            )
        if monotone:
            _check_increasing("values", m.values)
        if m.platt is not None:
            check_map(m.platt, monotone=True)


def map_to_dict(m: Map) -> dict[str, Any]:
    """``m.to_dict()`` with the map's kind, for serialization."""
    return {"kind": m.kind, **m.to_dict()}


# ------------------------------------------------------------------ fits


def _logistic(kernels: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, l2: float, what: str) -> np.ndarray:
    pen = np.array([l2] * X.shape[1] + [0.0])  # the intercept is never penalized
    try:
        return newton_logistic(kernels, np.ascontiguousarray(X), y, w, pen)
    except NotConverged as exc:
        if l2 > 0:
            raise ValueError(f"{what}: the logistic fit does not converge ({exc})") from None
        warnings.warn(
            f"{what}: the maximum-likelihood fit does not exist ({exc}); fitted with an L2 penalty "
            f"of {SEPARABLE_L2} on the slope instead (scikit-learn's C=1), so the parameters stay finite",
            RuntimeWarning,
            stacklevel=4,
        )
        pen = np.array([SEPARABLE_L2] * X.shape[1] + [0.0])
        try:
            return newton_logistic(kernels, np.ascontiguousarray(X), y, w, pen)
        except NotConverged as again:
            raise ValueError(f"{what}: the logistic fit does not converge ({again})") from None


def platt_logit(p: np.ndarray, clip: float = PLATT_CLIP) -> np.ndarray:
    """log(p / (1 - p)) of scores clipped to [clip, 1 - clip], as uncertainty-calibration does."""
    q = np.clip(p, clip, 1.0 - clip)
    return np.asarray(np.log(q / (1.0 - q)))


def fit_platt(
    kernels: Any,
    p: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    *,
    C: float | None,
    smoothing: bool,
    what: str = "PlattScaling",
) -> LogisticMap:
    """Platt scaling by exact maximum likelihood (Newton with line search); ``C`` for
    scikit-learn's L2 penalty, ``smoothing`` for Platt's 1999 targets."""
    active = y if w is None else y[w > 0]
    if active.size == 0 or active.min() == active.max():
        raise ValueError(f"{what}: the Platt fitting set has only one outcome; it needs both 0 and 1")
    x = platt_logit(p)
    target = y.astype(np.float64)
    if smoothing:  # Platt (1999): targets (N+ + 1)/(N+ + 2) and 1/(N- + 2)
        ww = np.ones_like(target) if w is None else w
        n_pos, n_neg = float(np.sum(ww * target)), float(np.sum(ww * (1 - target)))
        target = np.where(target == 1, (n_pos + 1) / (n_pos + 2), 1.0 / (n_neg + 2))
    live = x if w is None else x[w > 0]
    if live.min() == live.max():  # one distinct score: only the base rate is identifiable
        return _base_rate_map("platt", target, w)
    l2 = 0.0 if C is None else 1.0 / C
    if l2 == 0.0 and not smoothing and _separable(x, y, w):
        warnings.warn(
            "PlattScaling: the classes are separable by the score, so the maximum-likelihood fit does "
            f"not exist; fitted with an L2 penalty of {SEPARABLE_L2} on the slope instead "
            "(scikit-learn's C=1), so the parameters stay finite",
            RuntimeWarning,
            stacklevel=3,
        )
        l2 = SEPARABLE_L2
    theta = _logistic(kernels, x[:, None], target, w, l2, "PlattScaling")
    if theta[0] < 0:  # never reverse the model's ranking: fall back to the base rate
        warnings.warn(
            "PlattScaling: the fitted slope is negative (scores rank the outcomes backwards); using the "
            "constant base rate instead so the calibrator stays non-decreasing",
            RuntimeWarning,
            stacklevel=3,
        )
        return _base_rate_map("platt", target, w)
    return LogisticMap("platt", float(theta[0]), float(theta[1]))


def _base_rate_map(family: str, target: np.ndarray, w: np.ndarray | None) -> LogisticMap:
    """The constant map to the (weighted) base rate: a = b = 0, intercept logit(rate)."""
    ww = np.ones_like(target) if w is None else w
    rate = min(max(float(np.sum(ww * target) / np.sum(ww)), 1e-300), 1 - 1e-16)
    clip = PLATT_CLIP if family == "platt" else FLOAT64_EPS
    return LogisticMap(
        family,
        0.0,
        0.0 if family == "beta" else math.log(rate / (1.0 - rate)),
        math.log(rate / (1.0 - rate)) if family == "beta" else 0.0,
        clip,
    )


def _separable(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> bool:
    """True when a threshold on x splits the outcomes (the MLE slope would be +inf)."""
    keep = np.ones(x.size, bool) if w is None else w > 0
    pos, neg = x[keep & (y == 1)], x[keep & (y == 0)]
    return bool(pos.size and neg.size and neg.max() <= pos.min())


def fit_beta(kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> LogisticMap:
    """betacal's 'abm' fit: logistic on (ln p, -ln(1 - p)); a negative coefficient is
    dropped and the other refitted (a = 0 or b = 0), as betacal does."""
    q = np.clip(p, FLOAT64_EPS, 1.0 - FLOAT64_EPS)
    X = np.column_stack([np.log(q), -np.log(1.0 - q)])
    target = y.astype(np.float64)
    live = q if w is None else q[w > 0]
    if live.min() == live.max():  # one distinct score: only the base rate is identifiable
        return _base_rate_map("beta", target, w)
    theta = _logistic(kernels, X, target, w, 0.0, "BetaCalibration")
    if theta[0] < 0:
        t1 = _logistic(kernels, X[:, 1:2], target, w, 0.0, "BetaCalibration")
        a, b, c = 0.0, float(t1[0]), float(t1[1])
    elif theta[1] < 0:
        t0 = _logistic(kernels, X[:, 0:1], target, w, 0.0, "BetaCalibration")
        a, b, c = float(t0[0]), 0.0, float(t0[1])
    else:
        a, b, c = float(theta[0]), float(theta[1]), float(theta[2])
    if a < 0 or b < 0:  # betacal stops here with a decreasing map; calipers keeps a, b >= 0
        warnings.warn(
            "BetaCalibration: no fit with a, b >= 0 beats the constant base rate; using it so the "
            "calibrator stays non-decreasing",
            RuntimeWarning,
            stacklevel=3,
        )
        return _base_rate_map("beta", target, w)
    return LogisticMap("beta", a, b, c, FLOAT64_EPS)


def fit_isotonic(kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> InterpMap:
    """scikit-learn's IsotonicRegression(out_of_bounds='clip'): zero weights dropped,
    sorted, near-duplicate x merged (within 1e-15 of a run's first x), PAV, redundant
    points of flat runs trimmed; predictions interpolate linearly and clip."""
    ww = np.ones(p.size) if w is None else w
    keep = ww > 0
    x, t, ww = p[keep].astype(np.float64), y[keep].astype(np.float64), ww[keep].astype(np.float64)
    order = np.argsort(x)  # numpy's SIMD sort; ties are merged below, so their order only moves the last bit
    xs, ys = kernels.isotonic_fit(
        np.ascontiguousarray(x[order]),
        np.ascontiguousarray(t[order]),
        np.ascontiguousarray(ww[order]),
        ISOTONIC_RESOLUTION,
    )
    xs, ys = np.asarray(xs), np.asarray(ys)
    if ys.size > 2:
        keep_pt = np.ones(ys.size, bool)
        keep_pt[1:-1] = (ys[1:-1] != ys[:-2]) | (ys[1:-1] != ys[2:])
        xs, ys = xs[keep_pt], ys[keep_pt]
    return InterpMap(_frozen(xs), _frozen(ys))


def _bin_values(
    x: np.ndarray,
    v: np.ndarray,
    w: np.ndarray | None,
    cuts: np.ndarray,
    right_closed: bool,
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray:
    """Weighted mean of v per bin; an empty bin takes the midpoint of its edges
    (uncertainty-calibration's rule), which keeps the map non-decreasing."""
    nvalues = lower.size
    idx = np.minimum(np.searchsorted(cuts, x, side="left" if right_closed else "right"), nvalues - 1)
    ww = np.ones(x.size) if w is None else w
    mass = np.bincount(idx, weights=ww, minlength=nvalues)
    total = np.bincount(idx, weights=ww * v, minlength=nvalues)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, total / mass, (lower + upper) / 2.0)


def _uc_edges(upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([[0.0], upper[:-1]]), upper


def _calipers_edges(cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([[0.0], cuts]), np.concatenate([cuts, [1.0]])


def _pool_violators(kernels: Any, values: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators across bins (isotonic regression on the bin values)."""
    order = np.arange(values.size, dtype=np.float64)
    _, pooled = kernels.isotonic_fit(
        order, np.ascontiguousarray(values, np.float64), np.ascontiguousarray(mass, np.float64), 0.5
    )
    return np.asarray(pooled)


def fit_histogram(
    kernels: Any, p: np.ndarray, y: np.ndarray, w: np.ndarray | None, bins: int, compat: str | None, monotone: bool
) -> BinMap:
    """Histogram binning: the (weighted) outcome frequency of each equal-mass bin, pooled
    to be non-decreasing when ``monotone`` (calipers' bins) or uncertainty-calibration's
    bins and values under ``compat``."""
    if compat == "uncertainty-calibration":
        upper = _binning.uc_equal_bins(p, bins)
        values = _bin_values(p, y.astype(np.float64), w, upper, True, *_uc_edges(upper))
        return BinMap(_frozen(upper), _frozen(values), True)
    order = np.argsort(p, kind="stable")
    cuts = _binning.mass_cuts(p[order].astype(np.float64), bins, None if w is None else w[order])
    values = _bin_values(p, y.astype(np.float64), w, cuts, False, *_calipers_edges(cuts))
    if monotone and values.size > 1:  # bins are never empty here (cuts sit between tie runs)
        idx = np.searchsorted(cuts, p, side="right")
        mass = np.bincount(idx, weights=None if w is None else w, minlength=values.size)
        values = _pool_violators(kernels, values, mass)
    return BinMap(_frozen(cuts), _frozen(values), False)


def fit_scaling_binning(
    kernels: Any,
    p: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    bins: int,
    compat: str | None,
    split: str | None,
    seed: int | None,
) -> BinMap:
    """Kumar et al. (2019): Platt, then equal-mass bins of the Platt outputs, each bin's
    value the mean Platt output. ``split="three-way"`` uses disjoint thirds (T1 fits
    Platt, T2 sets the bins, T3 the bin means), as in the paper."""
    parts = [np.arange(p.size)] * 3
    if split == "three-way":
        perm = np.random.default_rng(seed).permutation(p.size)
        parts = list(np.array_split(perm, 3))
        if min(len(part) for part in parts) == 0:
            raise ValueError("split='three-way' needs at least 3 calibration samples")
    sub = [(p[i], y[i], None if w is None else w[i]) for i in parts]
    what = "ScalingBinning(split='three-way')" if split == "three-way" else "ScalingBinning"
    platt = fit_platt(kernels, *sub[0], C=None, smoothing=False, what=what)
    u_bins = platt.transform(kernels, np.ascontiguousarray(sub[1][0], np.float64))
    u_vals = platt.transform(kernels, np.ascontiguousarray(sub[2][0], np.float64))
    if compat == "uncertainty-calibration":
        upper = _binning.uc_equal_bins(u_bins, bins)
        values = _bin_values(u_vals, u_vals, sub[2][2], upper, True, *_uc_edges(upper))
        return BinMap(_frozen(upper), _frozen(values), True, platt)
    order = np.argsort(u_bins, kind="stable")
    wb = sub[1][2]
    cuts = _binning.mass_cuts(u_bins[order], bins, None if wb is None else wb[order])
    values = _bin_values(u_vals, u_vals, sub[2][2], cuts, False, *_calipers_edges(cuts))
    return BinMap(_frozen(cuts), _frozen(values), False, platt)
