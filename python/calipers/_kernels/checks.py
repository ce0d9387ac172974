"""Argument checks of the numpy and Numba backends: the checks the C++ bindings make
(``cpp/bindings/arrays.hpp`` and the core's ``check_*`` functions), with the same
exception types and messages, so every backend refuses the same input the same way
(``tests/test_backends_agree.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.grid import (
    KIND_BINARY,
    KIND_MARGINAL,
    N_RULES,
    RULE_INF,
    RULE_LABEL,
    RULE_NAN,
    RULE_RANGE,
    RULE_ROW_SUM,
    stream_size,
)
from .._common.validate import check_class_labels, raise_violations

MAX_BINS = 1_000_000
MAX_STREAMS = 1 << 20
_LABEL_KINDS = {("i", 1), ("u", 1), ("b", 1), ("i", 2), ("i", 4), ("i", 8)}


def _dtype_name(a: np.ndarray) -> str:
    return str(a.dtype)


def _array(a: Any, name: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    return a


def require_native_contiguous(a: np.ndarray, name: str) -> None:
    """TypeError for a non-native byte order, ValueError for a non-C-contiguous array."""
    if not a.dtype.isnative:
        raise TypeError(f"{name} must be in native byte order, got {_dtype_name(a)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")


def require_ndim(a: Any, name: str, ndim: int) -> np.ndarray:
    """``a`` as an array of ``ndim`` dimensions (ValueError otherwise)."""
    a = _array(a, name)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {a.ndim}-D")
    return np.asarray(a)


def _require_dtype(a: Any, name: str, kind: str, sizes: tuple[int, ...], what: str) -> np.ndarray:
    """A native, C-contiguous array of dtype kind ``kind`` and an item size in ``sizes``
    (TypeError naming ``what`` otherwise)."""
    a = _array(a, name)
    if a.dtype.kind != kind or a.dtype.itemsize not in sizes:
        raise TypeError(f"{name} must be {what}, got {_dtype_name(a)}")
    require_native_contiguous(a, name)
    return np.asarray(a)


def require_float(a: Any, name: str) -> np.ndarray:
    """float32 or float64, native and C-contiguous (float16 and others: TypeError)."""
    return _require_dtype(a, name, "f", (4, 8), "float32 or float64")


def require_f64(a: Any, name: str) -> np.ndarray:
    """A native, C-contiguous float64 array."""
    return _require_dtype(a, name, "f", (8,), "float64")


def require_i64(a: Any, name: str) -> np.ndarray:
    """A native, C-contiguous int64 array."""
    return _require_dtype(a, name, "i", (8,), "int64")


def require_labels(a: Any) -> np.ndarray:
    """int8/16/32/64, uint8 or bool labels, native and C-contiguous."""
    a = _array(a, "labels")
    require_native_contiguous(a, "labels")
    if (a.dtype.kind, a.dtype.itemsize) not in _LABEL_KINDS:
        raise TypeError(f"labels must be int8/16/32/64, uint8 or bool, got {_dtype_name(a)}")
    return np.asarray(a)


def require_size(a: np.ndarray, name: str, n: int, what: str) -> None:
    """ValueError unless ``a`` has exactly n elements."""
    if a.size != n:
        raise ValueError(f"{name} must have {what} ({n}), got {a.size}")


def require_sorted(v: np.ndarray, name: str) -> None:
    """Values sorted ascending without NaN."""
    bad = np.isnan(v)
    if v.size > 1:
        bad[1:] |= ~(v[:-1] <= v[1:])
    if bad.any():
        raise ValueError(f"{name} must be sorted ascending without NaN (first offender at index {int(np.argmax(bad))})")


def scores_labels(scores: Any, labels: Any, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """The dtype, dimension and length checks of a (scores, labels) pair."""
    scores = require_ndim(scores, "scores", ndim)
    labels = require_ndim(labels, "labels", 1)
    require_float(scores, "scores")
    require_labels(labels)
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(f"scores and labels must have the same length, got {scores.shape[0]} and {labels.shape[0]}")
    if ndim == 2 and scores.shape[1] < 1:
        raise ValueError("scores must have at least one column")
    return scores, labels


def require_valid(counts: tuple[tuple[int, ...], tuple[int, ...]], scores: np.ndarray, labels: np.ndarray) -> None:
    """Raise the Python layer's ValueError for NaN, inf, out-of-[0, 1] scores or labels out
    of range (row sums are the Python layer's business), given a backend's validate counts."""
    if any(counts[0][r] for r in range(N_RULES)):
        raise_violations(
            counts[0], counts[1], scores, labels, rules=(RULE_NAN, RULE_INF, RULE_RANGE, RULE_LABEL), atol=0.0
        )


def accumulation(acc: Any, bins: int, streams: int, parts: int, scores: np.ndarray, kind: int) -> None:
    """sketch.hpp check_accumulation, and the state array's dtype and layout."""
    acc = _array(acc, "acc")
    if acc.dtype != np.uint64 or not acc.flags.c_contiguous or not acc.flags.writeable:
        raise TypeError("acc must be a writeable C-contiguous uint64 array")
    if not 1 <= bins <= MAX_BINS:
        raise ValueError("bins must lie in [1, 1000000]")
    if not 1 <= streams <= MAX_STREAMS:
        raise ValueError("streams must lie in [1, 2^20]")
    if acc.size != streams * stream_size(bins):
        raise ValueError("the state's size does not match bins and streams")
    if not 1 <= parts <= 7:
        raise ValueError("parts must be a non-empty subset of 1 | 2 | 4")
    if kind not in (0, 1, 2):
        raise ValueError("kind must be 0 (binary), 1 (top-label) or 2 (marginal)")
    if kind == KIND_MARGINAL and scores.shape[1] != streams:
        raise ValueError("marginal accumulation needs one stream per class")
    if kind != KIND_MARGINAL and streams != 1:
        raise ValueError("binary and top-label accumulation use one stream")
    if kind != KIND_BINARY and scores.ndim != 2:
        raise ValueError("scores must be 2-D, got 1-D")


def bins_range(bins: int, name: str = "bins") -> None:
    """ValueError unless bins lies in [1, 10^6]."""
    if not 1 <= bins <= MAX_BINS:
        raise ValueError(f"{name} must lie in [1, 1000000]")


def temperature_input(logits: Any, labels: Any, weights: Any, *, fit: bool) -> tuple[np.ndarray, np.ndarray, Any]:
    """temperature.hpp check_temperature_input and the bindings' shape checks."""
    logits = require_ndim(logits, "logits", 2)
    labels = require_ndim(labels, "labels", 1)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError("logits and labels must have the same number of rows")
    if weights is not None:
        if not isinstance(weights, np.ndarray):
            raise TypeError("sample_weight must be None or a float64 array")
        require_size(weights, "sample_weight", logits.shape[0], "one entry per row")
        require_f64(weights, "sample_weight")
    require_float(logits, "logits")
    require_labels(labels)
    n, K = logits.shape
    if fit and n == 0:
        raise ValueError("logits is empty: at least one row is needed")
    if K < 1:
        raise ValueError("logits must have at least one column")
    check_class_labels(labels, K)
    finite = np.isfinite(logits).reshape(-1)
    if not finite.all():
        j = int(np.argmin(finite))
        raise ValueError(
            f"logits must be finite: {int((~finite).sum())} value(s) are not, first at row {j // K}, column {j % K}"
        )
    if weights is not None:
        badw = ~(np.isfinite(weights) & (weights >= 0))
        if badw.any():
            i = int(np.argmax(badw))
            raise ValueError(
                f"sample_weight must be finite and >= 0: {int(badw.sum())} value(s) are not, first at "
                f"index {i} (value {float(weights[i])!r})"
            )
    return logits, labels, weights


def knn_pair(query: Any, pool: Any) -> None:
    """Two (rows, dims) arrays, both float32 or both float64, with the same dims."""
    query = require_ndim(query, "query", 2)
    pool = require_ndim(pool, "pool", 2)
    width = require_float(query, "query").dtype.itemsize
    if require_float(pool, "pool").dtype.itemsize != width:
        raise TypeError("query and pool must both be float32 or both float64")
    if query.shape[1] != pool.shape[1]:
        raise ValueError(
            f"query and pool must have the same number of columns, got {query.shape[1]} and {pool.shape[1]}"
        )


def knn_args(query: Any, pool: Any, k: int, exclude: Any) -> None:
    """register_knn.cpp py_knn's checks."""
    knn_pair(query, pool)
    if not 0 <= k <= pool.shape[0]:
        raise ValueError("k must lie in [0, pool rows]")
    if exclude is not None:
        if not isinstance(exclude, np.ndarray):
            raise TypeError("exclude must be None or an int64 array")
        require_ndim(exclude, "exclude", 1)
        require_size(exclude, "exclude", query.shape[0], "one entry per query")
        require_i64(exclude, "exclude")


def sdm_args(query: Any, pool: Any, k: int, correct: Any, pred: Any, query_pred: Any) -> None:
    """register_knn.cpp py_sdm_support_stats's checks."""
    knn_pair(query, pool)
    if pool.shape[0] < 1:
        raise ValueError("the support set is empty")
    if k < 1:
        raise ValueError("k must be >= 1")
    correct = _array(correct, "correct")
    if correct.dtype != np.uint8:
        raise TypeError("correct must be uint8")
    require_native_contiguous(correct, "correct")
    require_size(correct, "correct", pool.shape[0], "one entry per support row")
    require_size(_array(pred, "pred"), "pred", pool.shape[0], "one entry per support row")
    require_size(_array(query_pred, "query_pred"), "query_pred", query.shape[0], "one entry per query")
    require_i64(pred, "pred")
    require_i64(query_pred, "query_pred")


def logistic_args(X: Any, y: Any, weights: Any, theta: Any) -> None:
    """register_calibrators.cpp py_logistic_stats's checks."""
    X = require_ndim(X, "X", 2)
    if not 1 <= X.shape[1] <= 3:
        raise ValueError("X must be (n, d) with 1 <= d <= 3")
    y, theta = _array(y, "y"), _array(theta, "theta")
    if y.size != X.shape[0] or theta.size != X.shape[1] + 1:
        raise ValueError("y or theta has the wrong length")
    require_f64(X, "X")
    require_f64(y, "y")
    require_f64(theta, "theta")
    if weights is not None:
        if not isinstance(weights, np.ndarray):
            raise TypeError("sample_weight must be None or a float64 array")
        require_size(weights, "sample_weight", X.shape[0], "one entry per row")
        require_f64(weights, "sample_weight")


def isotonic_args(x: Any, y: Any, weights: Any, resolution: float) -> None:
    """register_calibrators.cpp py_isotonic_fit's checks."""
    x, y, weights = _array(x, "x"), _array(y, "y"), _array(weights, "sample_weight")
    if y.size != x.size or weights.size != x.size:
        raise ValueError("x, y and sample_weight must have the same length")
    require_f64(x, "x")
    require_f64(y, "y")
    require_f64(weights, "sample_weight")
    require_sorted(x, "x")
    if not resolution >= 0.0:
        raise ValueError("resolution must be >= 0")
    bad = ~(np.isfinite(weights) & (weights > 0)) | ~np.isfinite(y)
    if bad.any():
        raise ValueError(f"isotonic_fit needs finite y and finite positive weights (index {int(np.argmax(bad))})")


def interp_args(x: Any, xp: Any, fp: Any) -> None:
    """register_calibrators.cpp py_interp's checks."""
    require_f64(x, "scores")
    require_f64(xp, "xp")
    require_f64(fp, "fp")
    if xp.size == 0 or fp.size != xp.size:
        raise ValueError("xp and fp must be non-empty and equal in length")
    require_sorted(xp, "xp")


def lookup_args(x: Any, cuts: Any, values: Any) -> None:
    """register_calibrators.cpp py_bin_lookup's checks."""
    require_f64(x, "scores")
    require_f64(cuts, "cuts")
    require_f64(values, "values")
    if values.size == 0:
        raise ValueError("values must be non-empty")
    require_sorted(cuts, "cuts")


def softmax_args(logits: Any) -> None:
    """register_calibrators.cpp py_softmax_scaled's checks (finiteness is the kernel's)."""
    logits = require_ndim(logits, "logits", 2)
    require_float(logits, "logits")
    if logits.shape[1] < 1:
        raise ValueError("logits must have at least one column")


def det_log_args(x: Any) -> np.ndarray:
    """module.cpp py_det_log's checks: finite positive float64."""
    x = require_f64(x, "x")
    bad = ~(np.isfinite(x) & (x > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"det_log needs finite positive x, got {float(x.reshape(-1)[i])!r} at index {i}")
    return np.asarray(x)


def fine_cell_args(p: Any) -> np.ndarray:
    """module.cpp py_fine_cell's checks: float64 in [0, 1]."""
    p = require_f64(p, "p")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("fine_cell needs p in [0, 1]")
    return np.asarray(p)


def _kind(kind: int) -> None:
    if kind not in (0, 1, 2):
        raise ValueError("kind must be 0 (binary), 1 (top-label) or 2 (marginal)")


def pair_args(scores: Any, labels: Any, kind: int) -> tuple[np.ndarray, np.ndarray]:
    """register_fused.cpp check_pair: the kind, dimensions and lengths of (scores, labels)."""
    _kind(kind)
    scores = require_ndim(scores, "scores", 1 if kind == KIND_BINARY else 2)
    labels = require_ndim(labels, "labels", 1)
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(f"scores and labels must have the same length, got {scores.shape[0]} and {labels.shape[0]}")
    if kind != KIND_BINARY and scores.shape[1] < 1:
        raise ValueError("scores must have at least one column")
    return scores, labels


def weights_arg(weights: Any, n: int) -> np.ndarray | None:
    """register_fused.cpp weights_of: None, or one native contiguous float64 weight per row."""
    if weights is None:
        return None
    if not isinstance(weights, np.ndarray):
        raise TypeError("sample_weight must be None or a float64 array")
    require_ndim(weights, "sample_weight", 1)
    require_size(weights, "sample_weight", n, "one entry per row")
    return require_f64(weights, "sample_weight")


def dtypes(scores: np.ndarray, labels: np.ndarray) -> None:
    """arrays.hpp dispatch: float32/float64 scores, integer or bool labels."""
    require_float(scores, "scores")
    if not labels.flags.c_contiguous:
        raise ValueError("labels must be C-contiguous")
    if not labels.dtype.isnative:
        raise TypeError(f"labels must be in native byte order, got {_dtype_name(labels)}")
    if (labels.dtype.kind, labels.dtype.itemsize) not in _LABEL_KINDS:
        raise TypeError(f"labels must be int8/16/32/64, uint8 or bool, got {_dtype_name(labels)}")


def fused_args(
    scores: Any, labels: Any, weights: Any, bins: int, kind: int, parts: int, cuts: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """register_fused.cpp py_binned_sums and fused.hpp check_fused_spec, in their order."""
    scores, labels = pair_args(scores, labels, kind)
    bins_range(bins)
    if cuts is not None:
        if not isinstance(cuts, np.ndarray):
            raise TypeError("cuts must be None or a float64 array")
        require_ndim(cuts, "cuts", 1)
        require_size(cuts, "cuts", bins - 1, "bins - 1 entries")
        require_f64(cuts, "cuts")
        require_sorted(cuts, "cuts")
    weights = weights_arg(weights, scores.shape[0])
    if kind == KIND_MARGINAL and scores.shape[1] > MAX_STREAMS:
        raise ValueError("marginal sums need K <= 2^20 classes")
    dtypes(scores, labels)
    if not parts & 1 or parts & ~(1 | 4 | 8):
        raise ValueError("parts must be 1 (bins), optionally with 4 (squares and log loss) or 8 (squares)")
    return scores, labels, weights, cuts


def checked_accumulation(
    acc: Any, bins: int, streams: int, parts: int, scores: Any, labels: Any, kind: int, weights: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """register_fused.cpp py_accumulate_checked and sketch.hpp check_accumulation."""
    acc = _array(acc, "acc")
    if acc.dtype != np.uint64 or not acc.flags.c_contiguous or not acc.flags.writeable:
        raise TypeError("acc must be a writeable C-contiguous uint64 array")
    scores, labels = pair_args(scores, labels, kind)
    weights = weights_arg(weights, scores.shape[0])
    dtypes(scores, labels)
    accumulation(acc, bins, streams, parts, scores, kind)
    return scores, labels, weights


def raise_invalid(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, atol: float, validators: Any
) -> None:
    """fused.hpp raise_fused / sketch.hpp accumulate_checked: the message of the first
    violated value rule (scores, row sums when atol >= 0, labels), then the weights'.
    ``validators``: an object with the backend's validate_binary and validate_probs."""
    from .._common.validate import check_weight_values

    if scores.ndim == 1:
        counts = validators.validate_binary(scores, labels)
        rules: tuple[int, ...] = (RULE_NAN, RULE_INF, RULE_RANGE, RULE_LABEL)
    else:
        counts = validators.validate_probs(scores, labels, atol, atol >= 0.0)
        rules = (RULE_NAN, RULE_INF, RULE_RANGE) + ((RULE_ROW_SUM,) if atol >= 0.0 else ()) + (RULE_LABEL,)
    raise_violations(counts[0], counts[1], scores, labels, rules=rules, atol=atol)
    check_weight_values(weights)
