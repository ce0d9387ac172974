"""Numba kernels of downstream debiasing, re-exported by ``numba_backend``: scalar loops
mirroring cpp/include/calipers/tweedie.hpp and hcalibration.hpp one for one (the input
checks are shared with the numpy reference, so every backend raises the same errors)."""

from __future__ import annotations

import math

import numba
import numpy as np

from .debias_numpy import (
    HCAL_ACE,
    HCAL_BINS,
    KDE_CUTOFF,
    ace_edges,
    check_grid_inputs,
    check_hcal_inputs,
    check_kde_inputs,
)

_jit = numba.njit(nogil=True, cache=True)


@_jit
def _kde(x, w, has_w, h, q, log_sum, score):  # type: ignore[no-untyped-def]
    two_h2 = 2.0 * h * h
    n = x.size
    for j in range(q.size):
        qj = q[j]
        pos = np.searchsorted(x, qj)
        near = pos
        if pos == n or (pos > 0 and qj - x[pos - 1] < x[pos] - qj):
            near = pos - 1
        dk = x[near] - qj
        dmin = abs(dk)
        reach = math.sqrt(dmin * dmin + KDE_CUTOFF * two_h2)
        lo = min(near, np.searchsorted(x, qj - reach))
        hi = max(near + 1, np.searchsorted(x, qj + reach, side="right"))
        shift = dmin * dmin / two_h2
        den = 0.0
        num = 0.0
        for i in range(lo, hi):
            a = x[i] - x[near]
            e = math.exp(-(a * (a + 2.0 * dk)) / two_h2) * (w[i] if has_w else 1.0)
            den += e
            num += e * a
        log_sum[j] = math.log(den) - shift
        score[j] = dk / (h * h) + num / (den * h * h)


def kde_score(points, weights, queries, h):  # type: ignore[no-untyped-def]
    """tweedie.hpp kde_score."""
    check_kde_inputs(points, weights, queries, h)
    log_sum = np.empty(queries.size)
    score = np.empty(queries.size)
    w = points if weights is None else weights
    _kde(points, w, weights is not None, float(h), queries, log_sum, score)
    return log_sum, score


@_jit
def _binning(x, w, has_w, lo, step, out):  # type: ignore[no-untyped-def]
    cells = out.size
    last = float(cells - 1)
    for i in range(x.size):
        t = (x[i] - lo) / step
        if not (t >= 0.0 and t <= last):
            return i
        k = int(t)
        if k >= cells - 1:
            k = cells - 2
        f = t - k
        wi = w[i] if has_w else 1.0
        out[k] += wi * (1.0 - f)
        out[k + 1] += wi * f
    return -1


def linear_binning(points, weights, lo, step, cells):  # type: ignore[no-untyped-def]
    """tweedie.hpp linear_binning."""
    if cells < 2:
        raise ValueError("cells must be >= 2")
    if not (step > 0.0 and np.isfinite(step) and np.isfinite(lo)):
        raise ValueError("linear_binning: step must be positive and finite")
    out = np.zeros(int(cells))
    w = points if weights is None else weights
    bad = _binning(points, w, weights is not None, float(lo), float(step), out)
    if bad >= 0:
        raise ValueError(f"linear_binning: point {bad} lies outside the grid")
    return out


@_jit
def _hermite_at(x, lo, step, v, s):  # type: ignore[no-untyped-def]
    cells = v.size
    t = (x - lo) / step
    if not (t >= 0.0 and t <= float(cells - 1)):
        return math.nan
    k = int(t)
    if k >= cells - 1:
        k = cells - 2
    a = t - k
    b = 1.0 - a
    h00 = (1.0 + 2.0 * a) * b * b
    h10 = a * b * b
    h01 = a * a * (3.0 - 2.0 * a)
    h11 = -a * a * b
    return h00 * v[k] + h10 * step * s[k] + h01 * v[k + 1] + h11 * step * s[k + 1]


@_jit
def _grid_score(q, lo, step, v, s, fd, out):  # type: ignore[no-untyped-def]
    for j in range(q.size):
        if fd == 0.0:
            out[j] = _hermite_at(q[j], lo, step, v, s)
        else:
            out[j] = (_hermite_at(q[j] + fd, lo, step, v, s) - _hermite_at(q[j] - fd, lo, step, v, s)) / (2.0 * fd)


def grid_score(queries, lo, step, values, slopes, fd_delta):  # type: ignore[no-untyped-def]
    """tweedie.hpp grid_score."""
    check_grid_inputs(lo, step, values, slopes, fd_delta)
    out = np.empty(queries.size)
    _grid_score(queries, float(lo), float(step), values, slopes, float(fd_delta), out)
    return out


@_jit
def _window_sum(seq, m, r, out):  # type: ignore[no-untyped-def]
    period = 2 * r + 1
    s = 0.0
    c = 0.0
    for t in range(m):
        if t % period == 0:
            s = 0.0
            c = 0.0
            for j in range(max(0, t - r), min(m, t + r + 1)):
                x = seq[j]
                u = s + x
                c += ((s - u) + x) if abs(s) >= abs(x) else ((x - u) + s)
                s = u
        else:
            if t + r < m:
                x = seq[t + r]
                u = s + x
                c += ((s - u) + x) if abs(s) >= abs(x) else ((x - u) + s)
                s = u
            if t >= r + 1:
                x = -seq[t - r - 1]
                u = s + x
                c += ((s - u) + x) if abs(s) >= abs(x) else ((x - u) + s)
                s = u
        out[t] = s + c


@_jit
def _hcal(p, y, K, window, eps, weighting, leave_one_out, scale, want_grad, edges, grad):  # type: ignore[no-untyped-def]
    M = p.size
    key = p + 1e-20
    order = np.argsort(key, kind="mergesort")
    subsets = K if leave_one_out else 1
    r = window // 2
    inv_w = 1.0 / (window + 1)
    members = np.empty(M, np.int64)
    v = np.empty(M)
    D = np.empty(M)
    g = np.empty(M)
    G = np.empty(M)
    omega = np.empty(M)
    first = np.empty(M, np.int64)
    count = np.empty(M, np.int64)
    nb = np.zeros(HCAL_BINS)
    total = 0.0
    for c in range(subsets):
        m = 0
        for t in range(M):
            e = order[t]
            if (not leave_one_out) or y[e // K] != c:
                members[m] = e
                m += 1
        if m == 0:
            return math.nan
        for t in range(m):
            e = members[t]
            o = 1.0 if y[e // K] == e % K else 0.0
            v[t] = p[e] - o
        _window_sum(v, m, r, D)
        if weighting == HCAL_ACE:
            nb[:] = 0.0
            for t in range(m):
                pe = p[members[t]]
                j = int(pe * HCAL_BINS)
                if j > HCAL_BINS - 1:
                    j = HCAL_BINS - 1
                first[t] = -1
                count[t] = 0
                for b in range(max(0, j - 1), min(HCAL_BINS - 1, j + 1) + 1):
                    if edges[b] <= pe and pe <= edges[b + 1]:
                        if first[t] < 0:
                            first[t] = b
                        count[t] += 1
                for b in range(first[t], first[t] + count[t]):
                    nb[b] += 1.0
            for t in range(m):
                wsum = 0.0
                for b in range(first[t], first[t] + count[t]):
                    wsum += 1.0 / (nb[b] + 1e-5)
                omega[t] = wsum / HCAL_BINS
        else:
            for t in range(m):
                omega[t] = 1.0 / m
        Ls = 0.0
        for t in range(m):
            d = D[t] * inv_w
            excess = abs(d) - eps
            g[t] = 0.0
            if excess > 0.0:
                Ls += omega[t] * excess
                g[t] = omega[t] if d > 0.0 else -omega[t]
        total += Ls
        if want_grad:
            _window_sum(g, m, r, G)
            f = scale * inv_w / subsets
            for t in range(m):
                grad[members[t]] += f * G[t]
    return scale * total / subsets


def hcalibration_loss_grad(probs, labels, window, eps, weighting, leave_one_out, scale, want_grad):  # type: ignore[no-untyped-def]
    """hcalibration.hpp: (loss, d loss / d probs)."""
    check_hcal_inputs(probs, labels, window, weighting)
    n, K = probs.shape
    grad = np.zeros(n * K)
    loss = _hcal(
        probs.reshape(-1),
        labels.astype(np.int64),
        K,
        int(window),
        float(eps),
        int(weighting),
        bool(leave_one_out),
        float(scale),
        bool(want_grad),
        ace_edges(),
        grad,
    )
    if math.isnan(loss):
        raise ValueError("h-calibration: a leave-one-class-out subset is empty (every label is the same class)")
    return loss, (grad.reshape(n, K) if want_grad else np.zeros(0))
