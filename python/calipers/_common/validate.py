"""The one input layer every public entry point goes through.

Structure (kinds, dtypes, shapes, lengths, emptiness) is checked here; value rules
(NaN, inf, [0, 1], row sums, label range) are checked by the backend's validation kernel
in one pass, and the resulting counts are turned into the same message whatever the
backend. Contiguous float32/float64 scores and integer/bool labels are not copied.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypedDict

import numpy as np

from .grid import (
    KIND_BINARY,
    KIND_MARGINAL,
    KIND_TOP_LABEL,
    MAX_WEIGHT,
    RULE_INF,
    RULE_LABEL,
    RULE_NAN,
    RULE_RANGE,
    RULE_ROW_SUM,
    WEIGHT_BITS,
    WEIGHT_SCALE,
)

NanPolicy = Literal["raise", "omit"]
Mode = Literal["top-label", "marginal"]
DEFAULT_ROW_SUM_ATOL = 1e-4


class InputRules(TypedDict, total=False):
    """The validation options public entry points forward to :func:`check` and
    :func:`prepare` (``check(scores, labels, kernels, **rules)``; ``check`` alone also takes
    ``check_range`` and ``check_rows``)."""

    mode: str | None
    nan_policy: str
    row_sum_atol: float
    sample_weight: Any


_LABEL_DTYPES = (np.int8, np.uint8, np.int16, np.int32, np.int64)


@dataclass(frozen=True)
class Checked:
    """Validated input: contiguous arrays plus the reduction they ask for."""

    scores: np.ndarray  # float32/float64, (n,) or (n, K)
    labels: np.ndarray  # int8/uint8/int16/int32/int64, (n,)
    kind: int  # KIND_BINARY, KIND_TOP_LABEL or KIND_MARGINAL
    weights: np.ndarray | None = None  # float64 (n,), finite, >= 0 (checked), or None

    @property
    def n(self) -> int:
        return int(self.scores.shape[0])

    @property
    def classes(self) -> int | None:
        return None if self.scores.ndim == 1 else int(self.scores.shape[1])


def reject_masked(x: Any, name: str) -> None:
    """ValueError when ``x`` is a numpy masked array with masked entries: calipers reads no
    masks (``np.asarray`` would take the hidden values as data), so the message names the
    argument, the count and the first masked index (or row), and the way out. A masked
    array with no masked entry is read as its data."""
    if isinstance(x, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(x)
        count = int(np.count_nonzero(mask))
        if count:
            first = np.unravel_index(int(np.argmax(mask)), mask.shape) if mask.ndim else (0,)
            where = f"index {int(first[0])}" if mask.ndim <= 1 else f"row {int(first[0])}"
            keep = f"~np.ma.getmaskarray({name})" + (".any(axis=1)" if mask.ndim == 2 else "")
            raise ValueError(
                f"{name} is a masked array with {count} masked value(s), first at {where}: calipers reads no "
                f"masks; drop the masked rows from every argument: keep = {keep}, "
                f"then pass {name}.data[keep] and the other arrays [keep]"
            )


def _array(x: Any, name: str) -> np.ndarray:
    reject_masked(x, name)
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (bool, int or float), got dtype {arr.dtype}")
    return arr


def as_scores(x: Any, name: str = "scores") -> np.ndarray:
    """float32/float64 C-contiguous native-endian scores, without copying when possible."""
    arr = _array(x, name)
    if arr.dtype.kind == "f" and arr.dtype.itemsize in (4, 8):
        if arr.dtype.isnative and arr.flags.c_contiguous:
            return arr
        return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr, dtype=np.float64)


def refuse_any(bad: np.ndarray, rule: str, verb: str = "are not", values: np.ndarray | None = None) -> None:
    """ValueError ``"<rule>: N value(s) <verb>, first at index i"`` (and ``(value v)`` when
    ``values`` is given) when any entry of the 1-D mask ``bad`` is set; the one wording of the
    error rule (argument, rule, count, first offender)."""
    if bad.any():
        i = int(np.argmax(bad))
        shown = "" if values is None else f" (value {values[i].item()!r})"
        raise ValueError(f"{rule}: {int(bad.sum())} value(s) {verb}, first at index {i}{shown}")


def finite_values(x: Any, name: str, *, flatten: bool = False) -> np.ndarray:
    """A non-empty 1-D float64 array of finite numbers (``flatten`` accepts any shape)."""
    arr = as_scores(x, name).astype(np.float64, copy=False)
    if flatten:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    refuse_any(~np.isfinite(arr), f"{name} must be finite")
    return arr


def as_embeddings(x: Any, name: str, dtype: Any = None) -> np.ndarray:
    """A non-empty (rows, dims) array of finite numbers, C-contiguous: float32/float64 kept
    (or cast to ``dtype``), other numbers as float64; bools and non-numbers are TypeError."""
    arr = _array(x, name)
    if arr.dtype == np.bool_:
        raise TypeError(f"{name} must hold numbers, got dtype bool")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows, dims), got shape {arr.shape}")
    target = dtype or (arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64)
    arr = np.ascontiguousarray(arr, dtype=target)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} must be finite: {int(bad.sum())} row(s) hold NaN or inf, first at row {int(np.argmax(bad))}"
        )
    return arr


def as_labels(x: Any, name: str = "labels") -> np.ndarray:
    """Integer labels for the kernels. Bools are viewed as uint8; float labels must be
    whole numbers (others become -1 so the label rule reports them)."""
    arr = _array(x, name)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr).view(np.uint8)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64, copy=False)
        whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2**62)
        return np.ascontiguousarray(np.where(whole, arr, -1).astype(np.int64))
    for dt in _LABEL_DTYPES:
        if arr.dtype == dt:
            if arr.dtype.isnative and arr.flags.c_contiguous:
                return arr
            return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr, dtype=np.int64)


def _omit_nan(
    scores: np.ndarray, labels_raw: Any, labels: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    bad = np.isnan(scores) if scores.ndim == 1 else np.isnan(scores).any(axis=1)
    raw = np.asarray(labels_raw)
    if raw.dtype.kind == "f" and raw.shape == bad.shape:
        bad = bad | np.isnan(raw)
    if bad.any():
        keep = ~bad
        w = None if weights is None else np.ascontiguousarray(weights[keep])
        return np.ascontiguousarray(scores[keep]), np.ascontiguousarray(labels[keep]), w
    return scores, labels, weights


def _where(scores: np.ndarray, flat_index: int) -> str:
    if scores.ndim == 1:
        return f"index {flat_index} (value {scores[flat_index].item()!r})"
    row, col = divmod(flat_index, scores.shape[1])
    return f"row {row}, column {col} (value {scores[row, col].item()!r})"


def raise_violations(
    counts: tuple[int, ...],
    firsts: tuple[int, ...],
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    rules: tuple[int, ...],
    atol: float,
    names: tuple[str, str] = ("scores", "labels"),
) -> None:
    """Raise the ValueError for the highest-priority rule that has offenders."""
    sname, lname = names
    for rule in rules:
        c, i = counts[rule], firsts[rule]
        if not c:
            continue
        if rule == RULE_NAN:
            msg = (
                f"{sname} must not contain NaN: {c} NaN value(s), first at {_where(scores, i)}; "
                "drop those rows (nan_policy='omit' does it where a function takes that option)"
            )
        elif rule == RULE_INF:
            msg = f"{sname} must be finite: {c} infinite value(s), first at {_where(scores, i)}"
        elif rule == RULE_RANGE:
            msg = f"{sname} must lie in [0, 1]: {c} value(s) outside, first at {_where(scores, i)}"
        elif rule == RULE_ROW_SUM:
            total = 0.0
            for v in scores[i].tolist():  # left to right: the sum the rule tests
                total += v
            msg = (
                f"each row of {sname} must sum to 1 within row_sum_atol={float(atol)!r}: {c} row(s) do not, "
                f"first at row {i} (sum {total!r}); probabilities are never renormalized silently"
            )
        else:
            allowed = "0 or 1 for 1-D scores" if scores.ndim == 1 else f"integers in [0, {scores.shape[1]})"
            msg = f"{lname} must be {allowed}: {c} value(s) are not, first at index {i} (value {labels[i].item()!r})"
        raise ValueError(msg)


def as_weights(sample_weight: Any, n: int, name: str = "sample_weight") -> np.ndarray | None:
    """None, or one float64 weight per row (C-contiguous, native): TypeError for non-numbers,
    ValueError for a wrong shape. Values are checked by :func:`check_weight_values` (or by the
    fused kernels, which apply the same rules)."""
    if sample_weight is None:
        return None
    w = _array(sample_weight, name)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one weight per row, got {w.shape}")
    return np.ascontiguousarray(w, dtype=np.float64)


def weight_error(w: np.ndarray, name: str = "sample_weight") -> str | None:
    """The message of the first weight rule with offenders, in priority order: finite,
    >= 0, below 2^39 (weights are held with 24 fractional bits, cpp weights.hpp); None if
    every weight is valid. The C++, Numba and numpy kernels word it identically."""
    finite = np.isfinite(w)
    rules = (
        (~finite, "must be finite", "are not"),
        (finite & (w < 0), "must be >= 0", "are negative"),
        (
            finite & (w >= MAX_WEIGHT),
            "must be below 2^39 = 549755813888 (weights are held with 24 fractional bits)",
            "are not",
        ),
    )
    for mask, rule, verb in rules:
        count = int(np.count_nonzero(mask))
        if count:
            i = int(np.argmax(mask))
            return f"{name} {rule}: {count} value(s) {verb}, first at index {i} (value {float(w[i])!r})"
    return None


def check_weight_total(w: np.ndarray | None, name: str = "sample_weight", *, need_some: bool = True) -> None:
    """The rules on valid weights taken together (after :func:`weight_error`): they are held
    as integers of 2^-24 in 64-bit counts, so one call's weights must sum to less than 2^39
    (else a count would wrap: NaN or a wrong value), and at least one must count, i.e. be
    at least 2^-25 (smaller ones round to 0: a call of such weights holds no sample). Both
    raise ValueError; a common factor changes no metric, so rescaling is the fix.
    ``need_some=False`` (a sketch update: an all-zero chunk adds nothing) skips the second."""
    if w is None:
        return
    total = float(np.sum(w))
    if not total < MAX_WEIGHT - w.size / WEIGHT_SCALE:  # each weight rounds up by at most half a unit
        raise ValueError(
            f"{name} must sum to less than 2^39 = 549755813888 in one call (weights are held with 24 "
            f"fractional bits in 64-bit counts), they sum to {total!r}: divide them by a common factor "
            "(no metric changes)"
        )
    if need_some and not np.any(w >= 2.0 ** -(WEIGHT_BITS + 1)):
        raise ValueError(
            f"{name} must have at least one weight of 2^-{WEIGHT_BITS + 1} or more (smaller ones round to 0 at "
            f"{WEIGHT_BITS} fractional bits), largest {float(np.max(w))!r}: nothing would be measured; multiply "
            "them by a common factor (no metric changes)"
        )


def check_weight_values(w: np.ndarray | None, name: str = "sample_weight") -> None:
    """Raise the ValueError of :func:`weight_error` (nothing for None)."""
    if w is not None:
        msg = weight_error(w, name)
        if msg is not None:
            raise ValueError(msg)


def prepare(
    scores: Any,
    labels: Any,
    *,
    mode: str | None = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
) -> Checked:
    """The structural half of :func:`check`: options, kinds, dtypes, shapes, lengths, the
    weights' shape, ``nan_policy="omit"`` and emptiness. The values are not checked: the
    fused kernels check them in their own pass (and :func:`check` with the backend's
    validation kernel)."""
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    if mode not in (None, "top-label", "marginal"):
        raise ValueError(f"mode must be 'top-label' or 'marginal', got {mode!r}")
    check_number("row_sum_atol", row_sum_atol, 0.0, 1.0)
    s = as_scores(scores)
    labels_raw = labels
    y = as_labels(labels)
    if s.ndim not in (1, 2):
        raise ValueError(f"scores must be 1-D (n,) or 2-D (n, K), got shape {s.shape}")
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D (n,), got shape {y.shape}")
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"scores and labels must have the same length, got {s.shape[0]} and {y.shape[0]}")
    if s.ndim == 2 and s.shape[1] < 2:
        raise ValueError(f"2-D scores need at least 2 classes (columns), got shape {s.shape}")
    w = as_weights(sample_weight, s.shape[0])
    if nan_policy == "omit":
        s, y, w = _omit_nan(s, labels_raw, y, w)
    if s.shape[0] == 0:
        raise ValueError("scores is empty: at least one sample is needed")
    kind = KIND_BINARY if s.ndim == 1 else (KIND_MARGINAL if mode == "marginal" else KIND_TOP_LABEL)
    return Checked(s, y, kind, w)


def check(
    scores: Any,
    labels: Any,
    backend: ModuleType,
    *,
    mode: str | None = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    check_range: bool = True,
    check_rows: bool = True,
    sample_weight: Any = None,
) -> Checked:
    """Validate a (scores, labels) pair (and ``sample_weight``). ``mode`` only matters for
    2-D scores."""
    c = prepare(
        scores, labels, mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol, sample_weight=sample_weight
    )
    s, y = c.scores, c.labels
    rules = [RULE_NAN, RULE_INF]
    if check_range:
        rules.append(RULE_RANGE)
    if s.ndim == 1:
        counts, firsts = backend.validate_binary(s, y)
    else:
        counts, firsts = backend.validate_probs(s, y, float(row_sum_atol), bool(check_rows))
        if check_rows:
            rules.append(RULE_ROW_SUM)
    rules.append(RULE_LABEL)
    shown = np.asarray(labels) if nan_policy == "raise" else y
    if shown.shape != y.shape or shown.dtype.kind not in "biuf":
        shown = y
    raise_violations(counts, firsts, s, shown, rules=tuple(rules), atol=row_sum_atol)
    check_weight_values(c.weights)
    check_weight_total(c.weights, need_some=False)  # the sum here; one-shot sums also need a weight that counts
    return c


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """An integer parameter: TypeError unless an int (bools refused), ValueError outside
    [lo, hi]. The one rule for every integer argument of the package."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {bound}, got {int(value)}")
    return int(value)


def check_number(
    name: str, value: Any, lo: float, hi: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """A real parameter: TypeError unless a real number (bools refused), ValueError unless
    finite and inside the interval (open ends as asked)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    inside = (lo < v if low_open else lo <= v) and (v < hi if high_open else v <= hi)
    if not inside:
        interval = f"{'(' if low_open else '['}{lo:g}, {hi:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {plain(value)}")
    return v


def plain(value: Any) -> str:
    """repr() of a value for an error message, numpy scalars as the plain numbers they hold
    (``10``, not ``np.int64(10)``)."""
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)


def check_bins(bins: Any) -> int:
    """A bin count in [1, 10^6] (TypeError for a non-integer, ValueError out of range)."""
    return check_int("bins", bins, 1, 1_000_000)


def check_choice(name: str, value: Any, allowed: tuple[str | None, ...]) -> Any:
    """``value`` if it is one of ``allowed`` (compared by equality), else ValueError."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def warn_empty(what: str, holder: str, result: str = "NaN") -> None:
    """The one rule for metrics of empty streaming state: they return NaN (structured
    results hold NaN) with this RuntimeWarning, never raise and never return None."""
    warnings.warn(f"{what} of an empty {holder} is undefined; returning {result}", RuntimeWarning, stacklevel=3)


def check_class_labels(labels: np.ndarray, classes: int, shown: Any = None) -> None:
    """ValueError unless every label is an integer in [0, classes) (``shown``: the labels as
    the caller gave them, for the message)."""
    lab = np.asarray(labels).astype(np.int64, copy=False)
    bad = (lab < 0) | (lab >= classes)
    if bad.any():
        i = int(np.argmax(bad))
        value = (lab if shown is None else np.asarray(shown))[i]
        raise ValueError(
            f"labels must be integers in [0, {classes}): {int(bad.sum())} value(s) are not, first at index {i} "
            f"(value {plain(value)})"
        )
