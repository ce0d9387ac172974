"""Numba kernels: scalar loops mirroring cpp/include/calipers/ one for one.

Compiled with ``nogil=True`` so Python threads scale on this backend too, and without
fastmath, so float rounding matches the C++ core (built with -ffp-contract=off).
Imported lazily: importing numba costs ~0.4 s and each signature compiles on first use.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._common.grid import (
    FIELDS,
    GRID_CELLS,
    GRID_HALF,
    GRID_OCTAVES,
    GRID_SUB,
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
    stream_size,
    width_edges,
)
from . import checks
from . import numpy_backend as _kernels_numpy

_jit = numba.njit(nogil=True, cache=True)


@_jit
def _note(counts, firsts, rule, i):
    if counts[rule] == 0:
        firsts[rule] = i
    counts[rule] += 1


@_jit
def _check_score(v, i, counts, firsts):
    p = np.float64(v)
    if math.isnan(p):
        _note(counts, firsts, RULE_NAN, i)
    elif math.isinf(p):
        _note(counts, firsts, RULE_INF, i)
    elif p < 0.0 or p > 1.0:
        _note(counts, firsts, RULE_RANGE, i)


@_jit
def _validate_binary(p, y, counts, firsts):
    for i in range(p.shape[0]):
        _check_score(p[i], i, counts, firsts)
        if not (y[i] == 0 or y[i] == 1):
            _note(counts, firsts, RULE_LABEL, i)


@_jit
def _validate_probs(P, y, atol, check_rows, counts, firsts):
    n, K = P.shape
    for i in range(n):
        s = 0.0
        for k in range(K):
            _check_score(P[i, k], i * K + k, counts, firsts)
            s += np.float64(P[i, k])
        if check_rows and not (abs(s - 1.0) <= atol):
            _note(counts, firsts, RULE_ROW_SUM, i)
        lab = np.int64(y[i])
        if lab < 0 or lab >= K:
            _note(counts, firsts, RULE_LABEL, i)


def _run_validation(fn, *args):
    counts = np.zeros(N_RULES, np.int64)
    firsts = np.full(N_RULES, -1, np.int64)
    fn(*args, counts, firsts)
    return tuple(int(c) for c in counts), tuple(int(f) for f in firsts)


def validate_binary(scores, labels):
    """validate.hpp validate_binary."""
    scores, labels = checks.scores_labels(scores, labels, 1)
    return _run_validation(_validate_binary, scores, labels)


def validate_probs(scores, labels, atol, check_rows):
    """validate.hpp validate_probs."""
    scores, labels = checks.scores_labels(scores, labels, 2)
    return _run_validation(_validate_probs, scores, labels, float(atol), bool(check_rows))


_LOG_INV, _LOG_C = _kernels_numpy.LOG_INV, _kernels_numpy.LOG_C  # identical tables everywhere
_LOG_BITS = _kernels_numpy.LOG_TABLE_BITS
_LOG_SIZE = _kernels_numpy.LOG_TABLE_SIZE


@_jit
def _det_log(x):
    bits = np.array([x]).view(np.uint64)[0]
    e = np.int64((bits >> np.uint64(52)) & np.uint64(0x7FF)) - 1023
    j = np.int64((bits >> np.uint64(52 - _LOG_BITS)) & np.uint64(_LOG_SIZE - 1))
    mbits = (bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000)
    m = np.array([mbits]).view(np.float64)[0]
    c = 1.0 + (np.float64(j) + 0.5) / _LOG_SIZE
    r = (m - c) * _LOG_INV[j]
    s = -1.0 / 6.0
    s = s * r + 1.0 / 5.0
    s = s * r - 1.0 / 4.0
    s = s * r + 1.0 / 3.0
    s = s * r - 1.0 / 2.0
    s = s * r + 1.0
    de = np.float64(e)
    return de * 6.93147180369123816490e-01 + (de * 1.90821492927058770002e-10 + (_LOG_C[j] + s * r))


@_jit
def _half_cell(t):
    if t < 2.0 ** (-GRID_OCTAVES - 1):
        return 0
    if t >= 0.5:
        return GRID_HALF - 1
    m, e = math.frexp(t)  # t = m 2^e, m in [0.5, 1): float exponent is e - 1
    sub = np.int64((2.0 * m - 1.0) * GRID_SUB)
    return 1 + (e - 1 + GRID_OCTAVES + 1) * GRID_SUB + sub


@_jit
def _fine_cell(p):
    if p <= 0.5:
        return _half_cell(p)
    return GRID_CELLS - 1 - _half_cell(1.0 - p)


@_jit
def _width_index(p, bins, edges):
    i = np.int64(p * bins)
    if i >= bins:
        i = np.int64(bins - 1)
    if i < 0:
        i = np.int64(0)
    if i + 1 < bins and p >= edges[i + 1]:
        i += 1
    elif i > 0 and p < edges[i]:
        i -= 1
    return i


@_jit
def _add128(acc, j, q):
    acc[j] += q
    if acc[j] < q:
        acc[j + 1] += np.uint64(1)


@_jit
def _square_units(p, positive):
    """(p - y)^2 in UNIT_SCALE fixed point: one sample's Brier term."""
    r = p - (1.0 if positive else 0.0)
    return np.uint64(r * r * UNIT_SCALE)


@_jit
def _log_units(p, positive):
    """-log of the probability given to the outcome (p or 1 - p exactly, floored at
    LOG_LOSS_FLOOR, as the C++ blend) in LOG_SCALE fixed point."""
    yv = 1.0 if positive else 0.0
    q = p * yv + (1.0 - p) * (1.0 - yv)
    if q < LOG_LOSS_FLOOR:
        q = np.float64(LOG_LOSS_FLOOR)
    v = -_det_log(q)
    if v < 0.0:
        v = 0.0
    return np.uint64(v * LOG_SCALE)


@_jit
def _add_cell(acc, j, qp, positive):
    acc[j] += np.uint64(1)
    if positive:
        acc[j + 1] += np.uint64(1)
    _add128(acc, j + 2, qp)


@_jit
def _add(acc, base, bins, edges, parts, p, positive):
    qp = np.uint64(p * UNIT_SCALE)
    if parts & PART_COARSE:
        _add_cell(acc, base + _width_index(p, bins, edges) * FIELDS, qp, positive)
    if parts & PART_FINE:
        _add_cell(acc, base + (bins + _fine_cell(p)) * FIELDS, qp, positive)
    if parts & PART_TOTALS:
        tot = base + (bins + GRID_CELLS) * FIELDS
        _add128(acc, tot, _square_units(p, positive))
        _add128(acc, tot + 2, _log_units(p, positive))


@_jit
def _accumulate_binary(acc, bins, edges, parts, p, y):
    for i in range(p.shape[0]):
        _add(acc, 0, bins, edges, parts, np.float64(p[i]), y[i] == 1)


@_jit
def _row_argmax(P, i):
    """The first column holding row i's largest score (ties: the lowest index, as np.argmax)."""
    arg = 0
    for k in range(1, P.shape[1]):
        if P[i, k] > P[i, arg]:
            arg = k
    return arg


@_jit
def _accumulate_top(acc, bins, edges, parts, P, y):
    n = P.shape[0]
    for i in range(n):
        arg = _row_argmax(P, i)
        _add(acc, 0, bins, edges, parts, np.float64(P[i, arg]), np.int64(y[i]) == arg)


@_jit
def _accumulate_marginal(acc, bins, edges, parts, P, y, size):
    n, K = P.shape
    for i in range(n):
        lab = np.int64(y[i])
        for k in range(K):
            _add(acc, k * size, bins, edges, parts, np.float64(P[i, k]), lab == k)


def accumulate(acc, bins, streams, parts, scores, labels, kind):
    """sketch.hpp accumulate: checks everything before touching ``acc``, then adds in place."""
    scores, labels = checks.scores_labels(scores, labels, 1 if kind == KIND_BINARY else 2)
    checks.accumulation(acc, bins, streams, parts, scores, kind)
    counts = validate_binary(scores, labels) if kind == KIND_BINARY else validate_probs(scores, labels, 0.0, False)
    checks.require_valid(counts, scores, labels)
    edges = width_edges(bins)
    if kind == KIND_BINARY:
        _accumulate_binary(acc, bins, edges, parts, scores, labels)
    elif kind == KIND_TOP_LABEL:
        _accumulate_top(acc, bins, edges, parts, scores, labels)
    elif kind == KIND_MARGINAL:
        _accumulate_marginal(acc, bins, edges, parts, scores, labels, stream_size(bins))
    else:
        raise ValueError(f"unknown kind {kind}")


@_jit
def _top_label(P, y, conf, correct):
    n = P.shape[0]
    for i in range(n):
        arg = _row_argmax(P, i)
        conf[i] = P[i, arg]
        correct[i] = 1 if np.int64(y[i]) == arg else 0


def top_label(scores, labels):
    """binned_stats.hpp top_label."""
    scores, labels = checks.scores_labels(scores, labels, 2)
    conf = np.empty(scores.shape[0], np.float64)
    correct = np.empty(scores.shape[0], np.int8)
    _top_label(scores, labels, conf, correct)
    return conf, correct


@_jit
def _binned_stats_edges(x, y, cuts, right_closed, nbins, count, sum_x, sum_y):
    if right_closed:
        idx = np.searchsorted(cuts, x, side="left")
    else:
        idx = np.searchsorted(cuts, x, side="right")
    for i in range(x.shape[0]):
        b = idx[i]
        if b > nbins - 1:
            b = nbins - 1
        count[b] += 1
        sum_x[b] += np.float64(x[i])
        sum_y[b] += np.float64(y[i])


def binned_stats_edges(scores, labels, cuts, right_closed, nbins):
    """binned_stats.hpp binned_stats_edges."""
    scores, labels = checks.scores_labels(scores, labels, 1)
    checks.require_ndim(cuts, "cuts", 1)
    checks.bins_range(nbins, "nbins")
    checks.require_f64(cuts, "cuts")
    checks.require_sorted(cuts, "cuts")
    count = np.zeros(nbins, np.int64)
    sum_x = np.zeros(nbins)
    sum_y = np.zeros(nbins)
    _binned_stats_edges(
        scores, labels, np.ascontiguousarray(cuts, np.float64), bool(right_closed), int(nbins), count, sum_x, sum_y
    )
    return count, sum_x, sum_y


@_jit
def _unit_stats(x, y, edges, bins, count, total, sumsq):
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        b = min(max(int(v * bins), 0), bins - 1)  # binning.hpp EqualWidth.index
        if b + 1 < bins and v >= edges[b + 1]:
            b += 1
        elif b > 0 and v < edges[b]:
            b -= 1
        u = 2 * b + (1 if y[i] != 0 else 0)
        count[u] += 1
        total[u] += v
        sumsq[u] += v * v


def unit_stats(scores, labels, bins):
    """bootstrap.hpp unit_stats (valid binary input, checked)."""
    scores, labels = checks.scores_labels(scores, labels, 1)
    checks.bins_range(bins)
    checks.require_valid(validate_binary(scores, labels), scores, labels)
    count = np.zeros(2 * bins, np.int64)
    total = np.zeros(2 * bins)
    sumsq = np.zeros(2 * bins)
    _unit_stats(scores, labels, np.arange(bins + 1, dtype=np.float64) / float(bins), int(bins), count, total, sumsq)
    return count, total, sumsq


@_jit
def _distances(q, X, acc):
    """knn.hpp lane_sqdist for one query against every pool row (same order, same bits)."""
    nx, d = X.shape
    lanes = np.zeros(8, X.dtype)
    for j in range(nx):
        lanes[:] = 0
        for c in range(d):
            diff = q[c] - X[j, c]
            lanes[c % 8] += diff * diff
        acc[j] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))


@_jit
def _knn(Q, X, k, exclude, has_exclude, index, dist):
    acc = np.empty(X.shape[0], X.dtype)
    for i in range(Q.shape[0]):
        _distances(Q[i], X, acc)
        wide = acc.astype(np.float64)
        if has_exclude and 0 <= exclude[i] < X.shape[0]:  # negative: nothing excluded
            wide[exclude[i]] = np.inf
        order = np.argsort(wide, kind="mergesort")[:k]  # stable: ties to the smaller index
        for r in range(k):
            if math.isinf(wide[order[r]]):  # the excluded row: no candidate left
                index[i, r] = -1
                dist[i, r] = 0.0
            else:
                index[i, r] = order[r]
                dist[i, r] = wide[order[r]]


def knn(query, pool, k, exclude=None):
    """knn.hpp knn_sqeuclidean (same bits, same ties)."""
    checks.knn_args(query, pool, k, exclude)
    index = np.empty((query.shape[0], k), np.int64)
    dist = np.empty((query.shape[0], k))
    ex = np.zeros(1, np.int64) if exclude is None else np.ascontiguousarray(exclude, np.int64)
    _knn(query, pool, int(k), ex, exclude is not None, index, dist)
    return index, dist


@_jit
def _sdm_support_stats(Q, X, k, correct, pred, query_pred, q_out, d0_out, nearest_out):
    nx = X.shape[0]
    acc = np.empty(nx, X.dtype)
    for i in range(Q.shape[0]):
        _distances(Q[i], X, acc)
        p = query_pred[i]
        nearest = 0
        blocker = nx
        for j in range(nx):
            if acc[j] < acc[nearest]:
                nearest = j
            match = correct[j] != 0 and pred[j] == p
            if not match and (blocker == nx or acc[j] < acc[blocker]):
                blocker = j
        q = 0
        for j in range(nx):
            match = correct[j] != 0 and pred[j] == p
            if match and (blocker == nx or acc[j] < acc[blocker] or (acc[j] == acc[blocker] and j < blocker)):
                q += 1
        q_out[i] = min(q, k)
        d0_out[i] = acc[nearest]
        nearest_out[i] = nearest


def sdm_support_stats(query, pool, k, correct, pred, query_pred):
    """knn.hpp sdm_support_stats."""
    checks.sdm_args(query, pool, k, correct, pred, query_pred)
    n = query.shape[0]
    q, d0, nearest = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int64)
    _sdm_support_stats(
        query,
        pool,
        int(k),
        np.ascontiguousarray(correct, np.uint8),
        np.ascontiguousarray(pred, np.int64),
        np.ascontiguousarray(query_pred, np.int64),
        q,
        d0,
        nearest,
    )
    return q, d0, nearest


# ---------------------------------------------------------------- calibrators


@_jit
def _temperature_stats(Z, y, w, has_w, beta, stride):
    n, K = Z.shape
    nll = grad = hess = weight = 0.0
    for i in range(0, n, stride):
        zmax = np.float64(Z[i, 0])
        for k in range(1, K):
            zmax = max(zmax, np.float64(Z[i, k]))
        se = sz = szz = 0.0
        for k in range(K):
            d = np.float64(Z[i, k]) - zmax
            e = math.exp(beta * d)
            se += e
            sz += e * d
            szz += e * d * d
        mean = sz / se
        wi = w[i] if has_w else 1.0
        zy = np.float64(Z[i, np.int64(y[i])]) - zmax
        nll += wi * (math.log(se) - beta * zy)
        grad += wi * (mean - zy)
        hess += wi * (szz / se - mean * mean)
        weight += wi
    return nll, grad, hess, weight


def _w(weights):
    return (np.zeros(1), False) if weights is None else (weights, True)


def temperature_stats(logits, labels, weights, beta, stride=1):
    """temperature.hpp temperature_stats."""
    checks.temperature_input(logits, labels, weights, fit=False)
    w, has_w = _w(weights)
    return _temperature_stats(logits, labels, w, has_w, float(beta), int(stride))


def temperature_fit(logits, labels, weights):
    """temperature.hpp fit_temperature_warm."""
    checks.temperature_input(logits, labels, weights, fit=True)
    w, has_w = _w(weights)
    return _kernels_numpy.newton_temperature_warm(
        lambda b, s: _temperature_stats(logits, labels, w, has_w, float(b), int(s)), logits.shape[0]
    )


@_jit
def _logistic_stats(X, y, w, has_w, theta):
    n, d = X.shape
    m = d + 1
    loss = 0.0
    grad = np.zeros(m)
    hess = np.zeros((m, m))
    for i in range(n):
        t = theta[d]
        for j in range(d):
            t += theta[j] * X[i, j]
        wi = w[i] if has_w else 1.0
        if t >= 0:
            p = 1.0 / (1.0 + math.exp(-t))
            sp = t + math.log1p(math.exp(-t))
        else:
            p = math.exp(t) / (1.0 + math.exp(t))
            sp = math.log1p(math.exp(t))
        loss += wi * (sp - y[i] * t)
        r = wi * (p - y[i])
        c = wi * p * (1.0 - p)
        for j in range(m):
            xj = X[i, j] if j < d else 1.0
            grad[j] += r * xj
            for k in range(j + 1):
                xk = X[i, k] if k < d else 1.0
                hess[j, k] += c * xj * xk
    for j in range(m):
        for k in range(j):
            hess[k, j] = hess[j, k]
    return loss, grad, hess


def logistic_stats(X, y, weights, theta):
    """logistic.hpp logistic_stats."""
    checks.logistic_args(X, y, weights, theta)
    w, has_w = _w(weights)
    return _logistic_stats(X, y, w, has_w, np.asarray(theta, np.float64))


@_jit
def _isotonic_fit(x, y, w, resolution):
    n = x.shape[0]
    ux = np.empty(n)
    uy = np.empty(n)
    uw = np.empty(n)
    m = 0
    cx, cw, cy = x[0], 0.0, 0.0
    for j in range(n):
        if x[j] - cx >= resolution:
            ux[m] = cx
            uw[m] = cw
            uy[m] = cy / cw
            m += 1
            cx, cw, cy = x[j], w[j], y[j] * w[j]
        else:
            cw += w[j]
            cy += y[j] * w[j]
    ux[m] = cx
    uw[m] = cw
    uy[m] = cy / cw
    m += 1
    bv = np.empty(m)
    bw = np.empty(m)
    be = np.empty(m, np.int64)
    nb = 0
    for i in range(m):
        v, wt = uy[i], uw[i]
        while nb > 0 and bv[nb - 1] >= v:
            pw = bw[nb - 1]
            v = (bv[nb - 1] * pw + v * wt) / (pw + wt)
            wt += pw
            nb -= 1
        bv[nb] = v
        bw[nb] = wt
        be[nb] = i + 1
        nb += 1
    out = np.empty(m)
    start = 0
    for b in range(nb):
        for i in range(start, be[b]):
            out[i] = bv[b]
        start = be[b]
    return ux[:m].copy(), out


def isotonic_fit(x, y, weights, resolution):
    """isotonic.hpp merge_ties + isotonic_pav."""
    checks.isotonic_args(x, y, weights, resolution)
    if x.size == 0:
        return np.zeros(0), np.zeros(0)
    return _isotonic_fit(x, y, weights, float(resolution))


@_jit
def _sigmoid(t):
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


@_jit
def _platt_transform(p, a, b, clip, out):
    for i in range(p.shape[0]):
        q = min(max(p[i], clip), 1.0 - clip)
        out[i] = _sigmoid(a * math.log(q / (1.0 - q)) + b)


def platt_transform(scores, a, b, clip):
    """transforms.hpp platt_transform."""
    checks.require_f64(scores, "scores")
    out = np.empty(scores.shape[0])
    _platt_transform(scores, float(a), float(b), float(clip), out)
    return out


@_jit
def _beta_transform(p, a, b, c, eps, out):
    for i in range(p.shape[0]):
        q = min(max(p[i], eps), 1.0 - eps)
        out[i] = _sigmoid(a * math.log(q) - b * math.log(1.0 - q) + c)


def beta_transform(scores, a, b, c, eps):
    """transforms.hpp beta_transform."""
    checks.require_f64(scores, "scores")
    out = np.empty(scores.shape[0])
    _beta_transform(scores, float(a), float(b), float(c), float(eps), out)
    return out


@_jit
def _interp(x, xp, fp, out):
    m = xp.shape[0]
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            out[i] = v
        elif m == 1 or v <= xp[0]:
            out[i] = fp[0]
        elif v >= xp[m - 1]:
            out[i] = fp[m - 1]
        else:
            k = np.searchsorted(xp, v, side="right")
            slope = (fp[k] - fp[k - 1]) / (xp[k] - xp[k - 1])
            out[i] = slope * (v - xp[k - 1]) + fp[k - 1]


def interp(scores, xp, fp):
    """transforms.hpp interp_clip."""
    checks.interp_args(scores, xp, fp)
    out = np.empty(scores.shape[0])
    _interp(scores, xp, fp, out)
    return out


@_jit
def _bin_lookup(x, cuts, values, right_closed, out):
    if right_closed:
        idx = np.searchsorted(cuts, x, side="left")
    else:
        idx = np.searchsorted(cuts, x, side="right")
    last = values.shape[0] - 1
    for i in range(x.shape[0]):
        out[i] = values[min(idx[i], last)]


def bin_lookup(scores, cuts, values, right_closed):
    """transforms.hpp bin_lookup."""
    checks.lookup_args(scores, cuts, values)
    out = np.empty(scores.shape[0])
    _bin_lookup(scores, cuts, values, bool(right_closed), out)
    return out


@_jit
def _softmax_scaled(Z, beta, out):
    n, K = Z.shape
    for i in range(n):
        zmax = np.float64(Z[i, 0])
        for k in range(1, K):
            zmax = max(zmax, np.float64(Z[i, k]))
        se = 0.0
        for k in range(K):
            out[i, k] = math.exp(beta * (np.float64(Z[i, k]) - zmax))
            se += out[i, k]
        for k in range(K):
            out[i, k] /= se


def softmax_scaled(logits, beta):
    """transforms.hpp softmax_scaled."""
    checks.softmax_args(logits)
    if not _all_finite(logits):
        raise _kernels_numpy.nonfinite_error(logits)
    out = np.empty(logits.shape, np.float64)
    _softmax_scaled(logits, float(beta), out)
    return out


@_jit
def _all_finite(Z):
    for v in Z.ravel():
        if not math.isfinite(v):
            return False
    return True


@_jit
def _det_log_array(x, out):
    for i in range(x.shape[0]):
        out[i] = _det_log(x[i])


def _elementwise(kernel, x, dtype):
    """``kernel(flat x, flat out)`` over an array of any shape."""
    out = np.empty(x.size, dtype)
    kernel(x.reshape(-1), out)
    return out.reshape(x.shape)


def det_log(x):
    """fixed_point.hpp det_log of finite positive float64 x (checked)."""
    return _elementwise(_det_log_array, checks.det_log_args(x), np.float64)


@_jit
def _fine_cell_array(p, out):
    for i in range(p.shape[0]):
        out[i] = _fine_cell(p[i])


def fine_cell(p):
    """binning.hpp fine_cell of float64 p in [0, 1] (checked)."""
    return _elementwise(_fine_cell_array, checks.fine_cell_args(p), np.int64)


# ---------------------------------------------------------------- rows (rows.hpp)


@_jit
def _grid_half_cell(t, octaves, sub_bits):
    if t < 2.0 ** (-octaves - 1):
        return 0
    half = 1 + octaves * (1 << sub_bits)
    if t >= 0.5:
        return half - 1
    m, e = math.frexp(t)  # t = m 2^e, m in [0.5, 1): float exponent is e - 1
    sub = np.int64((2.0 * m - 1.0) * (1 << sub_bits))
    return 1 + (e - 1 + octaves + 1) * (1 << sub_bits) + sub


@_jit
def _grid_cell(p, octaves, sub_bits):
    if p <= 0.5:
        return _grid_half_cell(p, octaves, sub_bits)
    return 2 * (1 + octaves * (1 << sub_bits)) - 1 - _grid_half_cell(1.0 - p, octaves, sub_bits)


@_jit
def _check_rows(rows, p, y, nrows, counts, firsts):
    for i in range(p.shape[0]):
        bad = (rows[i] < 0 or rows[i] >= nrows, not (p[i] >= 0.0 and p[i] <= 1.0), y[i] > 1)
        for r in range(3):
            if bad[r]:
                if counts[r] == 0:
                    firsts[r] = i
                counts[r] += 1


@_jit
def _accumulate_rows(acc, size, bins, edges, octaves, sub_bits, cells, rows, p, y):
    for i in range(p.shape[0]):
        base = rows[i] * size
        pi = np.float64(p[i])
        positive = y[i] == 1
        qp = np.uint64(pi * UNIT_SCALE)
        _add_cell(acc, base + _width_index(pi, bins, edges) * FIELDS, qp, positive)
        if octaves:
            _add_cell(acc, base + (bins + _grid_cell(pi, octaves, sub_bits)) * FIELDS, qp, positive)
        tot = base + (bins + cells) * FIELDS
        _add128(acc, tot, _square_units(pi, positive))
        _add128(acc, tot + 2, _log_units(pi, positive))


def accumulate_rows(acc, bins, octaves, sub_bits, rows, scores, positive):
    """Adds pair i to row rows[i] of the flat state ``acc`` (rows.hpp); all-or-nothing."""
    from .._common.grid import grid_cell_count

    size = _kernels_numpy.check_row_arrays(acc, bins, octaves, sub_bits, rows, scores, positive)
    nrows = acc.size // size
    counts = np.zeros(3, np.int64)
    firsts = np.full(3, -1, np.int64)
    _check_rows(rows, scores, positive, nrows, counts, firsts)
    error = _kernels_numpy.rows_error(tuple(counts.tolist()), tuple(firsts.tolist()), nrows)
    if error is not None:
        raise error
    cells = grid_cell_count(octaves, sub_bits)
    _accumulate_rows(acc, size, bins, width_edges(bins), octaves, sub_bits, cells, rows, scores, positive)


# ---------------------------------------------------------------- weights and one-pass sums (fused.hpp)

_U32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)


@_jit
def _mul_add128(acc, j, a, b):
    """acc[j], acc[j + 1] (lo, hi) += a b, the full 128-bit product (fixed_point.hpp)."""
    a0, a1, b0, b1 = a & _U32, a >> _S32, b & _U32, b >> _S32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _S32) + (p01 & _U32) + (p10 & _U32)
    lo = (mid << _S32) | (p00 & _U32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    acc[j] += lo
    if acc[j] < lo:
        acc[j + 1] += _ONE
    acc[j + 1] += hi


@_jit
def _quantize_weight(w):
    return np.uint64(np.int64(w * 16777216.0 + 0.5))


@_jit
def _upper_bound(cuts, p):
    lo, hi = 0, cuts.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if cuts[mid] <= p:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def _fused_pair(out, base, bins, edges, cuts, use_cuts, parts, p, positive, wq, weighted):
    b = _upper_bound(cuts, p) if use_cuts else _width_index(p, bins, edges)
    j = base + b * FIELDS
    q = np.uint64(p * UNIT_SCALE)
    if weighted:
        out[j] += wq
        if positive:
            out[j + 1] += wq
        _mul_add128(out, j + 2, wq, q)
    else:
        out[j] += _ONE
        if positive:
            out[j + 1] += _ONE
        _add128(out, j + 2, q)
    tot = base + bins * FIELDS
    if parts & (PART_TOTALS | PART_SQUARES):
        qs = _square_units(p, positive)
        if weighted:
            _mul_add128(out, tot, wq, qs)
        else:
            _add128(out, tot, qs)
    if parts & PART_TOTALS:
        ql = _log_units(p, positive)
        if weighted:
            _mul_add128(out, tot + 2, wq, ql)
        else:
            _add128(out, tot + 2, ql)


@_jit
def _fused_binary(out, bins, edges, cuts, use_cuts, parts, scores, labels, w, weighted):
    for i in range(scores.shape[0]):
        wq = _quantize_weight(w[i]) if weighted else _ONE
        _fused_pair(out, 0, bins, edges, cuts, use_cuts, parts, np.float64(scores[i]), labels[i] == 1, wq, weighted)


@_jit
def _fused_top(out, bins, edges, cuts, use_cuts, parts, scores, labels, w, weighted):
    n = scores.shape[0]
    for i in range(n):
        wq = _quantize_weight(w[i]) if weighted else _ONE
        arg = _row_argmax(scores, i)
        conf = np.float64(scores[i, arg])
        _fused_pair(out, 0, bins, edges, cuts, use_cuts, parts, conf, np.int64(labels[i]) == arg, wq, weighted)


@_jit
def _fused_marginal(out, bins, edges, cuts, use_cuts, parts, scores, labels, w, weighted):
    n, K = scores.shape
    size = bins * FIELDS + 4
    for i in range(n):
        wq = _quantize_weight(w[i]) if weighted else _ONE
        lab = np.int64(labels[i])
        for k in range(K):
            _fused_pair(
                out, k * size, bins, edges, cuts, use_cuts, parts, np.float64(scores[i, k]), lab == k, wq, weighted
            )


def binned_sums(scores, labels, weights, bins, kind, parts, atol, cuts=None):
    """fused.hpp binned_sums (same checks, same integers)."""
    scores, labels, weights, cuts = checks.fused_args(scores, labels, weights, bins, kind, parts, cuts)
    checks.raise_invalid(scores, labels, weights, atol if kind != KIND_BINARY else -1.0, _validators)
    streams = scores.shape[1] if kind == KIND_MARGINAL else 1
    out = np.zeros(streams * stream_size(bins, 0), np.uint64)
    w = np.zeros(1) if weights is None else weights
    c = np.zeros(1) if cuts is None else cuts
    fn = {KIND_BINARY: _fused_binary, KIND_TOP_LABEL: _fused_top, KIND_MARGINAL: _fused_marginal}[kind]
    fn(out, int(bins), width_edges(bins), c, cuts is not None, int(parts), scores, labels, w, weights is not None)
    return out


@_jit
def _accumulate_weighted_binary(acc, bins, edges, parts, scores, labels, w):
    for i in range(scores.shape[0]):
        _add_weighted(acc, 0, bins, edges, parts, np.float64(scores[i]), labels[i] == 1, _quantize_weight(w[i]))


@_jit
def _accumulate_weighted_top(acc, bins, edges, parts, scores, labels, w):
    n = scores.shape[0]
    for i in range(n):
        arg = _row_argmax(scores, i)
        correct = np.int64(labels[i]) == arg
        _add_weighted(acc, 0, bins, edges, parts, np.float64(scores[i, arg]), correct, _quantize_weight(w[i]))


@_jit
def _accumulate_weighted_marginal(acc, bins, edges, parts, scores, labels, w, size):
    n, K = scores.shape
    for i in range(n):
        wq = _quantize_weight(w[i])
        lab = np.int64(labels[i])
        for k in range(K):
            _add_weighted(acc, k * size, bins, edges, parts, np.float64(scores[i, k]), lab == k, wq)


@_jit
def _add_cell_weighted(acc, j, qp, positive, wq):
    acc[j] += wq
    if positive:
        acc[j + 1] += wq
    _mul_add128(acc, j + 2, wq, qp)


@_jit
def _add_weighted(acc, base, bins, edges, parts, p, positive, wq):
    qp = np.uint64(p * UNIT_SCALE)
    if parts & PART_COARSE:
        _add_cell_weighted(acc, base + _width_index(p, bins, edges) * FIELDS, qp, positive, wq)
    if parts & PART_FINE:
        _add_cell_weighted(acc, base + (bins + _fine_cell(p)) * FIELDS, qp, positive, wq)
    if parts & PART_TOTALS:
        tot = base + (bins + GRID_CELLS) * FIELDS
        _mul_add128(acc, tot, wq, _square_units(p, positive))
        _mul_add128(acc, tot + 2, wq, _log_units(p, positive))


class _Validators:
    """This backend's validate_* kernels, for checks.raise_invalid."""

    validate_binary = staticmethod(validate_binary)
    validate_probs = staticmethod(validate_probs)


_validators = _Validators()


def accumulate_checked(acc, bins, streams, parts, scores, labels, kind, weights, atol):
    """sketch.hpp accumulate_checked: accumulate's checks plus row sums and weights, then the
    rows (weighted: 24 more fractional bits). Every check runs before ``acc`` changes."""
    scores, labels, weights = checks.checked_accumulation(acc, bins, streams, parts, scores, labels, kind, weights)
    checks.raise_invalid(scores, labels, weights, atol if kind != KIND_BINARY else -1.0, _validators)
    edges = width_edges(bins)
    if weights is None:
        if kind == KIND_BINARY:
            _accumulate_binary(acc, bins, edges, parts, scores, labels)
        elif kind == KIND_TOP_LABEL:
            _accumulate_top(acc, bins, edges, parts, scores, labels)
        else:
            _accumulate_marginal(acc, bins, edges, parts, scores, labels, stream_size(bins))
    elif kind == KIND_BINARY:
        _accumulate_weighted_binary(acc, bins, edges, parts, scores, labels, weights)
    elif kind == KIND_TOP_LABEL:
        _accumulate_weighted_top(acc, bins, edges, parts, scores, labels, weights)
    else:
        _accumulate_weighted_marginal(acc, bins, edges, parts, scores, labels, weights, stream_size(bins))


# downstream debiasing (Tweedie's KDE score, h-calibration): kept in their own module
from .debias_numba import grid_score as grid_score  # noqa: E402
from .debias_numba import hcalibration_loss_grad as hcalibration_loss_grad  # noqa: E402
from .debias_numba import kde_score as kde_score  # noqa: E402
from .debias_numba import linear_binning as linear_binning  # noqa: E402
