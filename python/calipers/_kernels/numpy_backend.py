"""Reference kernels in plain numpy: slow where they must be, obviously correct.

Each mirrors a C++ kernel in cpp/include/calipers/ operation for operation, so the
integer state they produce is identical and float results agree to the last bit
wherever the summation order is the same.
"""

from __future__ import annotations

import numpy as np

from .._common.grid import (
    FIELDS,
    GRID_CELLS,
    GRID_HALF,
    GRID_OCTAVES,
    GRID_SUB,
    GRID_SUB_BITS,
    KIND_BINARY,
    KIND_MARGINAL,
    KIND_TOP_LABEL,
    LOG_LOSS_FLOOR,
    LOG_SCALE,
    N_RULES,
    PART_COARSE,
    PART_FINE,
    PART_SQUARES,
    PART_TOTALS,
    RULE_INF,
    RULE_LABEL,
    RULE_NAN,
    RULE_RANGE,
    RULE_ROW_SUM,
    UNIT_SCALE,
    WEIGHT_SCALE,
    stream_size,
    width_edges,
)
from . import checks

_M32 = np.uint64(0xFFFFFFFF)
_CHUNK = 1 << 20  # keeps float64 bincount sums of 32-bit halves exact (< 2^53)

# ---------------------------------------------------------------- validation


def _report(masks: dict[int, np.ndarray]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    counts = [0] * N_RULES
    firsts = [-1] * N_RULES
    for rule, mask in masks.items():
        c = int(np.count_nonzero(mask))
        counts[rule] = c
        if c:
            firsts[rule] = int(np.argmax(mask))
    return tuple(counts), tuple(firsts)


def _score_masks(p: np.ndarray) -> dict[int, np.ndarray]:
    nan = np.isnan(p)
    inf = np.isinf(p)
    with np.errstate(invalid="ignore"):
        out = ((p < 0) | (p > 1)) & ~inf
    return {RULE_NAN: nan, RULE_INF: inf, RULE_RANGE: out}


def validate_binary(scores, labels):
    """validate.hpp validate_binary: per-rule counts and first indices of 1-D input."""
    scores, labels = checks.scores_labels(scores, labels, 1)
    masks = _score_masks(scores)
    masks[RULE_LABEL] = (labels != 0) & (labels != 1)
    return _report(masks)


def _row_sums(P: np.ndarray) -> np.ndarray:
    # Left to right, as the C++ and Numba loops do (numpy's pairwise sum would differ).
    s = np.zeros(P.shape[0])
    for k in range(P.shape[1]):
        s += P[:, k].astype(np.float64)
    return s


def validate_probs(scores, labels, atol, check_rows):
    """validate.hpp validate_probs: per-rule counts and first indices of (n, K) input."""
    scores, labels = checks.scores_labels(scores, labels, 2)
    n, K = scores.shape
    masks = _score_masks(scores.reshape(-1))
    row_counts, row_firsts = _report(
        {
            RULE_ROW_SUM: ~(np.abs(_row_sums(scores) - 1.0) <= atol) if check_rows else np.zeros(n, bool),
            RULE_LABEL: (labels < 0) | (labels >= K),
        }
    )
    counts, firsts = _report(masks)
    counts = counts[:RULE_ROW_SUM] + row_counts[RULE_ROW_SUM:]
    firsts = firsts[:RULE_ROW_SUM] + row_firsts[RULE_ROW_SUM:]
    return counts, firsts


# ---------------------------------------------------------------- binning


def equal_width_index(p: np.ndarray, bins: int) -> np.ndarray:
    edges = width_edges(bins)
    i = np.clip((p * float(bins)).astype(np.int64), 0, bins - 1)
    up = (i + 1 < bins) & (p >= edges[np.minimum(i + 1, bins)])
    down = ~up & (i > 0) & (p < edges[i])
    return i + up - down


def fine_cell(p: np.ndarray) -> np.ndarray:
    """binning.hpp fine_cell of float64 p in [0, 1] (checked)."""
    return fine_cell_unchecked(checks.fine_cell_args(p))


def fine_cell_unchecked(p: np.ndarray) -> np.ndarray:
    """binning.hpp fine_cell, vectorized, for p already known to lie in [0, 1]."""
    low = p <= 0.5
    t = np.where(low, p, 1.0 - p)
    bits = t.view(np.uint64)
    e = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    sub = ((bits >> np.uint64(52 - GRID_SUB_BITS)) & np.uint64(GRID_SUB - 1)).astype(np.int64)
    cell = 1 + (e + GRID_OCTAVES + 1) * GRID_SUB + sub
    cell = np.where(e < -GRID_OCTAVES - 1, 0, cell)
    cell = np.where(e >= -1, GRID_HALF - 1, cell)
    return np.where(low, cell, GRID_CELLS - 1 - cell)


# ---------------------------------------------------------------- fixed point


def log_series(m: np.ndarray) -> np.ndarray:
    """fixed_point.hpp log_series: log m for m in [sqrt(1/2), sqrt(2))."""
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    poly = np.full_like(z, 1.0 / 21.0)
    for c in (19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0):
        poly = poly * z + 1.0 / c
    return (2.0 * s) * poly


def _log_table() -> tuple[np.ndarray, np.ndarray]:
    c = 1.0 + (np.arange(LOG_TABLE_SIZE, dtype=np.float64) + 0.5) / LOG_TABLE_SIZE
    low = c < 1.4142135623730951
    log_c = np.where(low, log_series(c), log_series(c / 2.0) + 0.69314718055994531)
    return 1.0 / c, log_c


LOG_TABLE_BITS = 7
LOG_TABLE_SIZE = 1 << LOG_TABLE_BITS
LOG_INV, LOG_C = _log_table()


def det_log(x: np.ndarray) -> np.ndarray:
    """fixed_point.hpp det_log of finite positive float64 x (checked)."""
    return det_log_unchecked(checks.det_log_args(x))


def det_log_unchecked(x: np.ndarray) -> np.ndarray:
    """fixed_point.hpp det_log, vectorized with the same operation order."""
    bits = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    e = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    j = ((bits >> np.uint64(52 - LOG_TABLE_BITS)) & np.uint64(LOG_TABLE_SIZE - 1)).astype(np.int64)
    m = ((bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000)).view(np.float64)
    c = 1.0 + (j.astype(np.float64) + 0.5) / LOG_TABLE_SIZE
    r = (m - c) * LOG_INV[j]
    s = np.full_like(r, -1.0 / 6.0)
    for coef in (1.0 / 5.0, -1.0 / 4.0, 1.0 / 3.0, -1.0 / 2.0, 1.0):
        s = s * r + coef
    de = e.astype(np.float64)
    return np.asarray(de * 6.93147180369123816490e-01 + (de * 1.90821492927058770002e-10 + (LOG_C[j] + s * r)))


def log_loss_terms(p: np.ndarray, positive: np.ndarray) -> np.ndarray:
    y = positive.astype(np.float64)
    q = p * y + (1.0 - p) * (1.0 - y)  # p or 1 - p exactly, as the C++ blend
    q = np.maximum(q, LOG_LOSS_FLOOR)
    return np.asarray(np.maximum(-det_log_unchecked(q), 0.0))


def quantize(v: np.ndarray, scale: float) -> np.ndarray:
    return (v * scale).astype(np.uint64)


def _add128(lo: np.ndarray, hi: np.ndarray, add_lo: np.ndarray, add_hi: np.ndarray) -> None:
    """(hi, lo) += (add_hi, add_lo), in place, with carry."""
    lo += add_lo
    hi += add_hi + (lo < add_lo).astype(np.uint64)


def _split_sum(lo_sum: np.ndarray, hi_sum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hi_sum * 2^32 + lo_sum (both exact uint64) as a 128-bit (lo, hi) pair."""
    shifted = hi_sum << np.uint64(32)
    lo = shifted + lo_sum
    hi = (hi_sum >> np.uint64(32)) + (lo < shifted).astype(np.uint64)
    return lo, hi


def _add_cells(cells: np.ndarray, idx: np.ndarray, q: np.ndarray, positive: np.ndarray) -> None:
    """cells[(ncells, 4)] += per-cell (count, positives, sum q as 128 bits), exactly."""
    ncells = cells.shape[0]
    for start in range(0, idx.size, _CHUNK):
        i = idx[start : start + _CHUNK]
        qq = q[start : start + _CHUNK]
        cells[:, 0] += np.bincount(i, minlength=ncells).astype(np.uint64)
        cells[:, 1] += np.bincount(i, weights=positive[start : start + _CHUNK], minlength=ncells).astype(np.uint64)
        lo_sum = np.bincount(i, weights=(qq & _M32).astype(np.float64), minlength=ncells).astype(np.uint64)
        hi_sum = np.bincount(i, weights=(qq >> np.uint64(32)).astype(np.float64), minlength=ncells).astype(np.uint64)
        add_lo, add_hi = _split_sum(lo_sum, hi_sum)
        lo, hi = cells[:, 2].copy(), cells[:, 3].copy()
        _add128(lo, hi, add_lo, add_hi)
        cells[:, 2], cells[:, 3] = lo, hi


def _add_total(pair: np.ndarray, q: np.ndarray) -> None:
    lo_sum = np.array([np.sum(q & _M32, dtype=np.uint64)])
    hi_sum = np.array([np.sum(q >> np.uint64(32), dtype=np.uint64)])
    add_lo, add_hi = _split_sum(lo_sum, hi_sum)
    lo, hi = pair[0:1].copy(), pair[1:2].copy()
    _add128(lo, hi, add_lo, add_hi)
    pair[0], pair[1] = lo[0], hi[0]


def _accumulate_stream(stream: np.ndarray, bins: int, parts: int, p: np.ndarray, positive: np.ndarray) -> None:
    coarse = stream[: bins * FIELDS].reshape(bins, FIELDS)
    fine = stream[bins * FIELDS : (bins + GRID_CELLS) * FIELDS].reshape(GRID_CELLS, FIELDS)
    totals = stream[(bins + GRID_CELLS) * FIELDS :]
    qp = quantize(p, UNIT_SCALE)
    pos = positive.astype(np.float64)
    if parts & PART_COARSE:
        _add_cells(coarse, equal_width_index(p, bins), qp, pos)
    if parts & PART_FINE:
        _add_cells(fine, fine_cell_unchecked(p), qp, pos)
    if parts & PART_TOTALS:
        r = p - pos
        _add_total(totals[0:2], quantize(r * r, UNIT_SCALE))
        _add_total(totals[2:4], quantize(log_loss_terms(p, positive), LOG_SCALE))


def top_label(scores, labels):
    """binned_stats.hpp top_label: max probability and first-argmax == label per row."""
    scores, labels = checks.scores_labels(scores, labels, 2)
    return _top_label(scores, labels)


def _top_label(scores, labels):
    conf = scores.max(axis=1).astype(np.float64)
    correct = (scores.argmax(axis=1) == labels).astype(np.int8)
    return conf, correct


def accumulate(acc, bins, streams, parts, scores, labels, kind):
    """sketch.hpp accumulate: checks everything, then adds (scores, labels) to the flat
    uint64 state ``acc`` in place (staged, so a failure midway changes nothing)."""
    scores, labels = checks.scores_labels(scores, labels, 1 if kind == KIND_BINARY else 2)
    checks.accumulation(acc, bins, streams, parts, scores, kind)
    counts = validate_binary(scores, labels) if kind == KIND_BINARY else validate_probs(scores, labels, 0.0, False)
    checks.require_valid(counts, scores, labels)
    delta = np.zeros_like(acc)
    _accumulate(delta, bins, streams, parts, scores, labels, kind)
    _add_state_words(acc, delta, bins, streams)


def _accumulate(acc, bins, streams, parts, scores, labels, kind):
    acc2 = acc.reshape(streams, stream_size(bins))
    if kind == KIND_BINARY:
        _accumulate_stream(acc2[0], bins, parts, scores.astype(np.float64, copy=False), labels == 1)
    elif kind == KIND_TOP_LABEL:
        conf, correct = _top_label(scores, labels)
        _accumulate_stream(acc2[0], bins, parts, conf, correct == 1)
    elif kind == KIND_MARGINAL:
        for k in range(scores.shape[1]):
            _accumulate_stream(acc2[k], bins, parts, scores[:, k].astype(np.float64), labels == k)
    else:
        raise ValueError(f"unknown kind {kind}")


def binned_stats_edges(scores, labels, cuts, right_closed, nbins):
    """binned_stats.hpp binned_stats_edges: per-bin count and sums for sorted cuts."""
    scores, labels = checks.scores_labels(scores, labels, 1)
    checks.require_ndim(cuts, "cuts", 1)
    checks.bins_range(nbins, "nbins")
    checks.require_f64(cuts, "cuts")
    checks.require_sorted(cuts, "cuts")
    x = scores.astype(np.float64, copy=False)
    idx = np.searchsorted(np.asarray(cuts, np.float64), x, side="left" if right_closed else "right")
    idx = np.minimum(idx, nbins - 1)
    count = np.bincount(idx, minlength=nbins).astype(np.int64)
    sum_x = np.bincount(idx, weights=x, minlength=nbins)
    sum_y = np.bincount(idx, weights=labels.astype(np.float64), minlength=nbins)
    return count, sum_x, sum_y


def unit_stats(scores, labels, bins):
    """bootstrap.hpp unit_stats: per (equal-width bin, outcome) unit = 2 bin + (y != 0),
    the count, sum and sum of squares of the scores."""
    scores, labels = checks.scores_labels(scores, labels, 1)
    checks.bins_range(bins)
    checks.require_valid(validate_binary(scores, labels), scores, labels)
    x = scores.astype(np.float64, copy=False)
    b = np.searchsorted(np.arange(1, bins, dtype=np.float64) / float(bins), x, side="right")
    u = 2 * b + (labels != 0)
    units = 2 * bins
    return (
        np.bincount(u, minlength=units).astype(np.int64),
        np.bincount(u, weights=x, minlength=units),
        np.bincount(u, weights=x * x, minlength=units),
    )


def _distance_rows(query, pool):
    """knn.hpp lane_sqdist for every (query, pool) pair: dimension c accumulates into lane
    c mod 8 in the input's precision, lanes combine ((0+1)+(2+3))+((4+5)+(6+7))."""
    out = np.empty((query.shape[0], pool.shape[0]), dtype=pool.dtype)
    for q0 in range(0, query.shape[0], 16):
        q = query[q0 : q0 + 16]
        lanes = np.zeros((8, len(q), pool.shape[0]), dtype=pool.dtype)
        for c in range(query.shape[1]):
            diff = q[:, c, None] - pool[None, :, c]
            lanes[c % 8] += diff * diff
        out[q0 : q0 + 16] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + (
            (lanes[4] + lanes[5]) + (lanes[6] + lanes[7])
        )
    return out


def knn(query, pool, k, exclude=None):
    """knn.hpp knn_sqeuclidean: the k smallest per query, ties to the smaller index; a
    negative ``exclude[i]`` excludes nothing; rows short of k candidates end in -1, 0."""
    checks.knn_args(query, pool, k, exclude)
    nq = query.shape[0]
    index = np.empty((nq, k), np.int64)
    dist = np.empty((nq, k))
    for q0 in range(0, nq, 256):
        acc = _distance_rows(query[q0 : q0 + 256], pool).astype(np.float64)
        if exclude is not None:
            ex = exclude[q0 : q0 + 256]
            rows = np.flatnonzero((ex >= 0) & (ex < pool.shape[0]))
            acc[rows, ex[rows]] = np.inf
        order = np.argsort(acc, axis=1, kind="stable")[:, :k]
        got = np.take_along_axis(acc, order, axis=1)
        missing = np.isinf(got)  # the excluded row: no candidate left there
        index[q0 : q0 + len(acc)] = np.where(missing, -1, order)
        dist[q0 : q0 + len(acc)] = np.where(missing, 0.0, got)
    return index, dist


def sdm_support_stats(query, pool, k, correct, pred, query_pred):
    """knn.hpp sdm_support_stats: q = matches before the nearest non-match (ties by index),
    capped at k; d0 and the index of the nearest support point."""
    checks.sdm_args(query, pool, k, correct, pred, query_pred)
    nq = query.shape[0]
    q = np.empty(nq, np.int64)
    d0 = np.empty(nq)
    nearest = np.empty(nq, np.int64)
    idx = np.arange(pool.shape[0])
    for q0 in range(0, nq, 256):
        acc = _distance_rows(query[q0 : q0 + 256], pool)
        for r in range(len(acc)):
            row = acc[r]
            match = (correct != 0) & (pred == query_pred[q0 + r])
            nearest[q0 + r] = int(np.argmin(row))
            d0[q0 + r] = float(row[nearest[q0 + r]])
            if match.all():
                q[q0 + r] = min(int(match.sum()), k)
                continue
            blocked = np.flatnonzero(~match)
            b = blocked[np.argmin(row[blocked])]
            before = (row < row[b]) | ((row == row[b]) & (idx < b))
            q[q0 + r] = min(int(np.sum(match & before)), k)
    return q, d0, nearest


# ---------------------------------------------------------------- calibrators


def temperature_stats(logits, labels, weights, beta, stride=1):
    """temperature.hpp temperature_stats: (nll, d/dbeta, d2/dbeta2, weight) summed over rows."""
    checks.temperature_input(logits, labels, weights, fit=False)
    return _temperature_stats(logits, labels, weights, beta, stride)


def _temperature_stats(logits, labels, weights, beta, stride=1):
    if stride > 1:
        logits, labels = logits[::stride], labels[::stride]
        weights = None if weights is None else weights[::stride]
    Z = logits.astype(np.float64, copy=False)
    d = Z - Z.max(axis=1, keepdims=True)
    e = np.exp(beta * d)
    se = e.sum(axis=1)
    mean = (e * d).sum(axis=1) / se
    var = (e * d * d).sum(axis=1) / se - mean * mean
    zy = d[np.arange(d.shape[0]), labels]
    w = np.ones(d.shape[0]) if weights is None else weights
    return (
        float(np.sum(w * (np.log(se) - beta * zy))),
        float(np.sum(w * (mean - zy))),
        float(np.sum(w * var)),
        float(np.sum(w)),
    )


BETA_MIN, BETA_MAX = 1e-6, 1e6


WARM_STRIDE, WARM_MIN_ROWS = 16, 1 << 16


def newton_temperature_warm(stats, n):
    """temperature.hpp fit_temperature_warm: every 16th row to 1e-6 first, then all rows."""
    beta, warm_iterations = 1.0, 0
    if n >= WARM_MIN_ROWS:
        beta, warm_iterations, _ = newton_temperature(lambda b: stats(b, WARM_STRIDE), 1.0, 1e-6)
    beta, iterations, converged = newton_temperature(lambda b: stats(b, 1), beta)
    return beta, iterations + warm_iterations, converged


def newton_temperature(stats, beta=1.0, tol=1e-9, max_iter=200):
    """temperature.hpp fit_temperature: safeguarded Newton on beta = 1/T (convex NLL)."""
    lo, hi = 0.0, np.inf
    iterations, converged = 0, False
    for it in range(1, max_iter + 1):
        _, grad, hess, weight = stats(beta)
        iterations = it
        g, h = grad / weight, hess / weight
        if g == 0.0:
            converged = True
            break
        if g > 0:
            hi = beta
        else:
            lo = beta
        if (g > 0 and beta <= BETA_MIN) or (g < 0 and beta >= BETA_MAX):
            break
        nxt = beta - g / h if h > 0 else np.nan
        if h > 0 and abs(g / h) <= tol * beta:  # converged: the Newton step is below tol
            beta = nxt
            converged = True
            break
        if not (lo < nxt < hi):
            nxt = beta * 4.0 if np.isinf(hi) else (beta / 4.0 if lo == 0.0 else 0.5 * (lo + hi))
        nxt = min(max(nxt, BETA_MIN), BETA_MAX)
        step = abs(nxt - beta)
        beta = nxt
        if step <= tol * beta:
            converged = True
            break
    return beta, iterations, converged


def temperature_fit(logits, labels, weights):
    """temperature.hpp fit_temperature_warm on all rows: (beta, iterations, converged)."""
    checks.temperature_input(logits, labels, weights, fit=True)
    return newton_temperature_warm(lambda b, s: _temperature_stats(logits, labels, weights, b, s), logits.shape[0])


def logistic_stats(X, y, weights, theta):
    """logistic.hpp logistic_stats: loss, gradient and Hessian of the weighted logistic loss."""
    checks.logistic_args(X, y, weights, theta)
    n = X.shape[0]
    A = np.hstack([X, np.ones((n, 1))])
    t = A @ theta
    p = np.where(t >= 0, 1.0 / (1.0 + np.exp(-np.abs(t))), np.exp(-np.abs(t)) / (1.0 + np.exp(-np.abs(t))))
    softplus = np.maximum(t, 0) + np.log1p(np.exp(-np.abs(t)))
    w = np.ones(n) if weights is None else weights
    loss = float(np.sum(w * (softplus - y * t)))
    grad = A.T @ (w * (p - y))
    hess = (A * (w * p * (1 - p))[:, None]).T @ A
    return loss, grad, hess


def isotonic_fit(x, y, weights, resolution):
    """isotonic.hpp merge_ties + isotonic_pav on x sorted ascending (a slow, plain loop)."""
    checks.isotonic_args(x, y, weights, resolution)
    if x.size == 0:
        return np.zeros(0), np.zeros(0)
    ux, uy, uw = [], [], []
    cx, cw, cy = x[0], 0.0, 0.0
    for xj, yj, wj in zip(x.tolist(), y.tolist(), weights.tolist()):
        if xj - cx >= resolution:
            ux.append(cx)
            uw.append(cw)
            uy.append(cy / cw)
            cx, cw, cy = xj, wj, yj * wj
        else:
            cw += wj
            cy += yj * wj
    ux.append(cx)
    uw.append(cw)
    uy.append(cy / cw)
    blocks: list[list[float]] = []  # [value, weight, count]
    for v, w in zip(uy, uw):
        bv, bw, bc = float(v), float(w), 1.0
        while blocks and blocks[-1][0] >= bv:
            pv, pw, pc = blocks.pop()
            bv = (pv * pw + bv * bw) / (pw + bw)
            bw += pw
            bc += pc
        blocks.append([bv, bw, bc])
    fitted = np.repeat([b[0] for b in blocks], [int(b[2]) for b in blocks])
    return np.array(ux), fitted


def _sigmoid(t):
    e = np.exp(-np.abs(t))
    return np.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def platt_transform(scores, a, b, clip):
    """transforms.hpp platt_transform."""
    checks.require_f64(scores, "scores")
    q = np.clip(scores, clip, 1.0 - clip)
    return _sigmoid(a * np.log(q / (1.0 - q)) + b)


def beta_transform(scores, a, b, c, eps):
    """transforms.hpp beta_transform."""
    checks.require_f64(scores, "scores")
    q = np.clip(scores, eps, 1.0 - eps)
    return _sigmoid(a * np.log(q) - b * np.log(1.0 - q) + c)


def interp(scores, xp, fp):
    """transforms.hpp interp_clip (np.interp semantics)."""
    checks.interp_args(scores, xp, fp)
    return np.interp(scores, xp, fp)


def bin_lookup(scores, cuts, values, right_closed):
    """transforms.hpp bin_lookup."""
    checks.lookup_args(scores, cuts, values)
    idx = np.searchsorted(cuts, scores, side="left" if right_closed else "right")
    return values[np.minimum(idx, values.size - 1)]


def nonfinite_error(Z) -> ValueError:
    bad = ~np.isfinite(Z)
    first = int(np.argmax(bad.reshape(-1)))
    K = Z.shape[1]
    return ValueError(
        f"logits must be finite: {int(bad.sum())} value(s) are not, first at row {first // K}, column {first % K}"
    )


def softmax_scaled(logits, beta):
    """transforms.hpp softmax_scaled: softmax(beta z) per row of finite logits."""
    checks.softmax_args(logits)
    Z = logits.astype(np.float64, copy=False)
    if not np.all(np.isfinite(Z)):
        raise nonfinite_error(Z)
    e = np.exp(beta * (Z - Z.max(axis=1, keepdims=True)))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- rows (rows.hpp)


def grid_cell(p: np.ndarray, octaves: int, sub_bits: int) -> np.ndarray:
    """Cell of each score in the (octaves, sub_bits) grid (rows.hpp Grid.cell)."""
    low = p <= 0.5
    t = np.where(low, p, 1.0 - p)
    bits = t.view(np.uint64)
    e = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    sub = ((bits >> np.uint64(52 - sub_bits)) & np.uint64((1 << sub_bits) - 1)).astype(np.int64)
    half = 1 + octaves * (1 << sub_bits)
    cell = 1 + (e + octaves + 1) * (1 << sub_bits) + sub
    cell = np.where(e < -octaves - 1, 0, cell)
    cell = np.where(e >= -1, half - 1, cell)
    return np.where(low, cell, 2 * half - 1 - cell)


_ROW_RULES = ("row index(es) outside [0, {nrows})", "score(s) outside [0, 1] or NaN", "outcome(s) not 0 or 1")


def rows_error(counts: tuple[int, ...], firsts: tuple[int, ...], nrows: int) -> ValueError | None:
    """The error rows.hpp raises for the first violated rule, or None."""
    for rule, (count, first) in enumerate(zip(counts, firsts)):
        if count:
            what = _ROW_RULES[rule].format(nrows=nrows)
            return ValueError(f"accumulate_rows: {count} {what}, first at index {first}")
    return None


def check_row_arrays(acc, bins, octaves, sub_bits, rows, scores, positive) -> int:
    """The binding's kind and size checks (register_monitor.cpp); returns the row size."""
    from .._common.grid import GRID_OCTAVES, GRID_SUB_BITS, grid_cell_count

    if not (isinstance(acc, np.ndarray) and acc.dtype == np.uint64 and acc.ndim == 1 and acc.flags.c_contiguous):
        raise TypeError("acc must be a writeable 1-D C-contiguous uint64 array")
    if bins < 1:
        raise ValueError("bins must be >= 1")
    if not ((octaves, sub_bits) == (0, 0) or (1 <= octaves <= GRID_OCTAVES and 0 <= sub_bits <= GRID_SUB_BITS)):
        raise ValueError("invalid grid (octaves, sub_bits)")
    size = stream_size(bins, grid_cell_count(octaves, sub_bits))
    if acc.size % size:
        raise ValueError("accumulator size is not a whole number of rows")
    if scores.ndim != 1:
        raise ValueError("scores must be 1-D")
    for a, name, dt in ((scores, "scores", np.float64), (rows, "rows", np.int64), (positive, "positive", np.uint8)):
        if a.ndim != 1 or a.dtype != dt or not a.flags.c_contiguous:
            raise TypeError(f"{name} must be a 1-D C-contiguous {np.dtype(dt).name} array")
        if a.shape[0] != scores.shape[0]:
            raise ValueError(f"{name} must have one entry per score")
    return size


def accumulate_rows(acc, bins, octaves, sub_bits, rows, scores, positive):
    """Adds pair i to row rows[i] of the flat state ``acc`` (rows.hpp); all-or-nothing."""
    from .._common.grid import grid_cell_count

    size = check_row_arrays(acc, bins, octaves, sub_bits, rows, scores, positive)
    nrows = acc.size // size
    masks = {0: (rows < 0) | (rows >= nrows), 1: ~((scores >= 0.0) & (scores <= 1.0)), 2: positive > 1}
    error = rows_error(*_report(masks), nrows)
    if error is not None:
        raise error
    cells = grid_cell_count(octaves, sub_bits)
    width = bins + cells
    state = acc.reshape(nrows, size)
    tmp = np.zeros((nrows * width, FIELDS), np.uint64)
    qp = quantize(scores, UNIT_SCALE)
    pos = positive.astype(np.float64)
    _add_cells(tmp, rows * width + equal_width_index(scores, bins), qp, pos)
    if cells:
        _add_cells(tmp, rows * width + bins + grid_cell(scores, octaves, sub_bits), qp, pos)
    add = tmp.reshape(nrows, width * FIELDS)
    end = width * FIELDS
    state[:, 0:end:FIELDS] += add[:, 0::FIELDS]
    state[:, 1:end:FIELDS] += add[:, 1::FIELDS]
    before = state[:, 2:end:FIELDS].copy()
    state[:, 2:end:FIELDS] += add[:, 2::FIELDS]
    state[:, 3:end:FIELDS] += add[:, 3::FIELDS] + (state[:, 2:end:FIELDS] < before).astype(np.uint64)
    r = scores - pos
    for col, q in (
        (end, quantize(r * r, UNIT_SCALE)),
        (end + 2, quantize(log_loss_terms(scores, positive), LOG_SCALE)),
    ):
        lo_sum = np.zeros(nrows, np.uint64)
        hi_sum = np.zeros(nrows, np.uint64)
        for start in range(0, q.size, _CHUNK):
            i, qq = rows[start : start + _CHUNK], q[start : start + _CHUNK]
            lo_sum += np.bincount(i, weights=(qq & _M32).astype(np.float64), minlength=nrows).astype(np.uint64)
            hi_sum += np.bincount(i, weights=(qq >> np.uint64(32)).astype(np.float64), minlength=nrows).astype(
                np.uint64
            )
        add_lo, add_hi = _split_sum(lo_sum, hi_sum)
        lo, hi = state[:, col].copy(), state[:, col + 1].copy()
        _add128(lo, hi, add_lo, add_hi)
        state[:, col], state[:, col + 1] = lo, hi


# ---------------------------------------------------------------- weights and one-pass sums (fused.hpp)


def quantize_weights(w: np.ndarray) -> np.ndarray:
    """fixed_point.hpp quantize_weight: round half up of w 2^24, as uint64."""
    return (w * WEIGHT_SCALE + 0.5).astype(np.int64).astype(np.uint64)


def _sum64(idx: np.ndarray, v: np.ndarray, ncells: int) -> np.ndarray:
    """Per-cell sums of uint64 values, modulo 2^64 (exact, in 32-bit halves)."""
    out = np.zeros(ncells, np.uint64)
    for start in range(0, idx.size, _CHUNK):
        i, vv = idx[start : start + _CHUNK], v[start : start + _CHUNK]
        lo = np.bincount(i, weights=(vv & _M32).astype(np.float64), minlength=ncells).astype(np.uint64)
        hi = np.bincount(i, weights=(vv >> np.uint64(32)).astype(np.float64), minlength=ncells).astype(np.uint64)
        out += lo + (hi << np.uint64(32))
    return out


def _mul_sum128(idx: np.ndarray, a: np.ndarray, b: np.ndarray, ncells: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell sums of the full 128-bit products a b (uint64 each), as (lo, hi) modulo 2^128:
    four 32-bit partial products, each summed in 32-bit halves (exact float64 bincounts)."""
    lo_total = np.zeros(ncells, np.uint64)
    hi_total = np.zeros(ncells, np.uint64)
    s32 = np.uint64(32)

    def bc(i: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.bincount(i, weights=v.astype(np.float64), minlength=ncells).astype(np.uint64)

    for start in range(0, idx.size, _CHUNK):
        i = idx[start : start + _CHUNK]
        aa, bb = a[start : start + _CHUNK], b[start : start + _CHUNK]
        a0, a1, b0, b1 = aa & _M32, aa >> s32, bb & _M32, bb >> s32
        p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
        s0 = bc(i, p00 & _M32)
        sm = bc(i, p00 >> s32) + bc(i, p01 & _M32) + bc(i, p10 & _M32)
        sh = bc(i, p01 >> s32) + bc(i, p10 >> s32) + bc(i, p11 & _M32)
        st = bc(i, p11 >> s32)
        lo = s0 + ((sm & _M32) << s32)
        hi = (sm >> s32) + sh + (st << s32) + (lo < s0).astype(np.uint64)
        _add128(lo_total, hi_total, lo, hi)
    return lo_total, hi_total


def _add_cells_weighted(
    cells: np.ndarray, idx: np.ndarray, q: np.ndarray, positive: np.ndarray, wq: np.ndarray
) -> None:
    """cells[(ncells, 4)] += per-cell (sum wq, sum wq y, sum wq q as 128 bits), exactly."""
    ncells = cells.shape[0]
    cells[:, 0] += _sum64(idx, wq, ncells)
    cells[:, 1] += _sum64(idx, np.where(positive, wq, np.uint64(0)), ncells)
    add_lo, add_hi = _mul_sum128(idx, wq, q, ncells)
    lo, hi = cells[:, 2].copy(), cells[:, 3].copy()
    _add128(lo, hi, add_lo, add_hi)
    cells[:, 2], cells[:, 3] = lo, hi


def _add_total_weighted(pair: np.ndarray, q: np.ndarray, wq: np.ndarray) -> None:
    add_lo, add_hi = _mul_sum128(np.zeros(q.size, np.int64), wq, q, 1)
    lo, hi = pair[0:1].copy(), pair[1:2].copy()
    _add128(lo, hi, add_lo, add_hi)
    pair[0], pair[1] = lo[0], hi[0]


def _stream_pairs(scores: np.ndarray, labels: np.ndarray, kind: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if kind == KIND_BINARY:
        return [(scores.astype(np.float64, copy=False), labels == 1)]
    if kind == KIND_TOP_LABEL:
        conf, correct = _top_label(scores, labels)
        return [(conf, correct == 1)]
    return [(scores[:, k].astype(np.float64), labels == k) for k in range(scores.shape[1])]


def _fill_stream(
    cells: np.ndarray,
    totals: np.ndarray,
    idx: np.ndarray,
    p: np.ndarray,
    positive: np.ndarray,
    wq: np.ndarray | None,
    squares: bool,
    logs: bool,
) -> None:
    """One stream's cells (indexed by idx) and totals, weighted or not."""
    qp = quantize(p, UNIT_SCALE)
    pos = positive.astype(np.float64)
    if wq is None:
        _add_cells(cells, idx, qp, pos)
    else:
        _add_cells_weighted(cells, idx, qp, positive, wq)
    if squares:
        r = p - pos
        q = quantize(r * r, UNIT_SCALE)
        _add_total(totals[0:2], q) if wq is None else _add_total_weighted(totals[0:2], q, wq)
    if logs:
        q = quantize(log_loss_terms(p, positive), LOG_SCALE)
        _add_total(totals[2:4], q) if wq is None else _add_total_weighted(totals[2:4], q, wq)


def binned_sums(scores, labels, weights, bins, kind, parts, atol, cuts=None):
    """fused.hpp binned_sums: per stream the bins (count, positives, score sum) and, by
    ``parts``, the totals, in the sketch's fixed point (24 more fractional bits with
    weights); the values, row sums (atol >= 0) and weights are checked first."""
    scores, labels, weights, cuts = checks.fused_args(scores, labels, weights, bins, kind, parts, cuts)
    checks.raise_invalid(scores, labels, weights, atol if kind != KIND_BINARY else -1.0, _Validators)
    pairs = _stream_pairs(scores, labels, kind)
    size = stream_size(bins, 0)
    out = np.zeros(len(pairs) * size, np.uint64)
    wq = None if weights is None else quantize_weights(weights)
    for s, (p, positive) in enumerate(pairs):
        row = out[s * size : (s + 1) * size]
        idx = equal_width_index(p, bins) if cuts is None else np.searchsorted(cuts, p, side="right")
        _fill_stream(
            row[: bins * FIELDS].reshape(bins, FIELDS),
            row[bins * FIELDS :],
            idx,
            p,
            positive,
            wq,
            bool(parts & (PART_TOTALS | PART_SQUARES)),
            bool(parts & PART_TOTALS),
        )
    return out


def accumulate_checked(acc, bins, streams, parts, scores, labels, kind, weights, atol):
    """sketch.hpp accumulate_checked: accumulate's checks plus the row sums of (n, K) input
    (atol >= 0) and the weights, then the rows, weighted (24 more fractional bits) or not."""
    scores, labels, weights = checks.checked_accumulation(acc, bins, streams, parts, scores, labels, kind, weights)
    checks.raise_invalid(scores, labels, weights, atol if kind != KIND_BINARY else -1.0, _Validators)
    delta = np.zeros_like(acc)
    if weights is None:
        _accumulate(delta, bins, streams, parts, scores, labels, kind)
    else:
        wq = quantize_weights(weights)
        state = delta.reshape(streams, stream_size(bins))
        for s, (p, positive) in enumerate(_stream_pairs(scores, labels, kind)):
            row = state[s]
            if parts & PART_COARSE:
                coarse = row[: bins * FIELDS].reshape(bins, FIELDS)
                _add_cells_weighted(coarse, equal_width_index(p, bins), quantize(p, UNIT_SCALE), positive, wq)
            if parts & PART_FINE:
                fine = row[bins * FIELDS : (bins + GRID_CELLS) * FIELDS].reshape(GRID_CELLS, FIELDS)
                _add_cells_weighted(fine, fine_cell_unchecked(p), quantize(p, UNIT_SCALE), positive, wq)
            if parts & PART_TOTALS:
                tot = row[(bins + GRID_CELLS) * FIELDS :]
                r = p - positive
                _add_total_weighted(tot[0:2], quantize(r * r, UNIT_SCALE), wq)
                _add_total_weighted(tot[2:4], quantize(log_loss_terms(p, positive), LOG_SCALE), wq)
    _add_state_words(acc, delta, bins, streams)


def _add_state_words(acc: np.ndarray, delta: np.ndarray, bins: int, streams: int) -> None:
    """acc += delta for two fine-grid states: counts add, 128-bit sums add with carry."""
    lo = np.concatenate(
        [
            s * stream_size(bins)
            + np.concatenate(
                [np.arange(bins + GRID_CELLS) * FIELDS + 2, (bins + GRID_CELLS) * FIELDS + np.array([0, 2])]
            )
            for s in range(streams)
        ]
    )
    before = acc[lo]
    acc += delta  # uint64 wraps; the carries of the 128-bit sums are restored below
    acc[lo + 1] += (acc[lo] < before).astype(np.uint64)


class _Validators:
    """This backend's validate_* kernels, for checks.raise_invalid."""

    validate_binary = staticmethod(validate_binary)
    validate_probs = staticmethod(validate_probs)


# downstream debiasing (Tweedie's KDE score, h-calibration): kept in their own module
from .debias_numpy import grid_score as grid_score  # noqa: E402
from .debias_numpy import hcalibration_loss_grad as hcalibration_loss_grad  # noqa: E402
from .debias_numpy import kde_score as kde_score  # noqa: E402
from .debias_numpy import linear_binning as linear_binning  # noqa: E402
