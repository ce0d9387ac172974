"""One invariant checker per serializable type: what every fitted or filled object holds.

The fuzz and corruption tests (tests/test_formats_fuzz.py, the corrupted-JSON test in
tests/test_calibrators.py) require that a mutated blob or JSON either raises ValueError or
TypeError, or loads into an object that passes the checker of its type. The checkers are
written from the documented behaviour and read the objects through their public API (and
the few fitted attributes the docs name): they never call the loaders' own validation, so a
check deleted from a ``from_bytes`` / ``from_json`` shows up here. Each checker is also run
on genuinely filled and fitted objects (tests/test_formats_fuzz.py), so it asks for nothing
a real object lacks.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np

import calipers
from calipers import (
    BetaCalibration,
    CalibrationMonitor,
    GroupedSketch,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    QuantileSketch,
    ReliabilitySketch,
    ScalingBinning,
    SDMEstimator,
    TemperatureScaling,
)
from calipers.debias import LinearCalibrationCorrection, PPISketch, RegressionSketch, TweedieCorrection

REL = 1e-9  # rounding slack of float64 sums and of the 62-bit fixed point, relative
LOG_LOSS_CAP = -math.log(1e-15)  # the floor calipers puts on the probability of the outcome

GRID = np.concatenate([[0.0, 1e-300, 1e-15, 1e-9], np.linspace(0.0, 1.0, 401), [1 - 1e-9, 1 - 1e-15, 1.0]])
GRID = np.unique(GRID)


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a metric, ignoring the documented RuntimeWarnings (empty sketch, one outcome)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def _in_unit(x: float, what: str, slack: float = 1e-12) -> None:
    assert -slack <= x <= 1 + slack, f"{what} = {x!r} is outside [0, 1]"


# --------------------------------------------------------------------- ReliabilitySketch


def check_reliability_sketch(s: ReliabilitySketch, *, smooth: bool = True) -> None:
    """A filled (or empty) ReliabilitySketch: counts, per-bin means, metric ranges and the
    identities that tie the bins, the fine grid and the exact totals together."""
    assert isinstance(s, ReliabilitySketch)
    n = s.count
    assert isinstance(n, int) and 0 <= n <= calipers.streaming.sketch.MAX_COUNT, n
    assert 1 <= s.bins <= 1_000_000
    K = s.classes
    assert K is None or K >= 2
    assert (s.kind == "marginal") == (K is not None), (s.kind, K)
    if K is None and s.kind is None:
        assert n == 0, "samples of no input kind"
    again = ReliabilitySketch.from_bytes(s.to_bytes())
    assert again.to_bytes() == s.to_bytes() and again.count == n
    if n == 0:
        for metric in (s.ece, s.brier, s.log_loss, s.brier_skill_score, s.auroc, s.smooth_ece):
            assert math.isnan(_quiet(metric))
        return
    streams = K or 1
    # equal-width table: every sample in one bin, each bin's mean score inside its edges
    for binning in ("width", "mass"):
        if binning == "mass" and K is not None:
            continue  # class-wise equal-mass bins differ per class: no pooled table
        t = s.reliability(binning=binning)
        assert t.count.min() >= 0 and int(t.count.sum()) == n * streams, (binning, t.count.sum(), n)
        assert t.edges[0] == 0.0 and t.edges[-1] == 1.0 and np.all(np.diff(t.edges) >= 0), binning
        full = t.count > 0
        if binning == "mass":
            assert full.all(), "an equal-mass bin of a sketch is never empty"
        lo, hi = t.edges[:-1][full], t.edges[1:][full]
        m = t.mean_score[full]
        assert np.all(m >= lo - 1e-9 * np.maximum(hi, 1e-300) - 1e-15), (binning, "mean below its bin")
        assert np.all(m <= hi + 1e-9 + 1e-15), (binning, "mean above its bin")
        f = t.frequency[full]
        assert np.all((f >= 0) & (f <= 1)), (binning, "frequency outside [0, 1]")
        assert np.all((t.lower[full] <= f + 1e-12) & (f <= t.upper[full] + 1e-12)), (binning, "Wilson interval")
        if K is not None and binning == "width":
            assert round(float(t.sum_label.sum())) == n, "a marginal sketch has one true class per row"
    _check_bins_hold_the_grid_samples(s)
    ece1, ece2, mce = s.ece(), s.ece(norm="l2"), s.ece(norm="max")
    deb = s.ece(norm="l2", debiased=True)
    for name, v in (("ece", ece1), ("ece_l2", ece2), ("mce", mce), ("debiased", deb)):
        _in_unit(v, name)
    assert ece1 <= ece2 * (1 + REL) + 1e-15 and ece2 <= mce * (1 + REL) + 1e-15, (ece1, ece2, mce)  # power means
    assert deb <= ece2 * (1 + REL) + 1e-15, (deb, ece2)  # the correction only subtracts
    brier, log_loss = s.brier(), s.log_loss()
    _in_unit(brier, "brier")
    assert 0 <= log_loss <= LOG_LOSS_CAP * (1 + REL), log_loss
    # per sample (p - y)^2 <= 1 - q <= -ln q with q the probability of the outcome (floored)
    assert brier <= log_loss * (1 + REL) + 1e-15, (brier, log_loss)
    # Jensen within each bin: the Brier score bounds the binned reliability term
    assert ece2**2 <= brier * (1 + 1e-7) + 1e-15, (ece2**2, brier)
    d = s.brier_decomposition()
    assert math.isclose(d.reliability, ece2**2, rel_tol=1e-9, abs_tol=1e-15), (d.reliability, ece2)
    assert d.resolution >= -1e-15 and 0 <= d.uncertainty <= 0.25 + 1e-15
    assert d.brier == brier
    bss = _quiet(s.brier_skill_score)
    assert math.isnan(bss) or bss <= 1 + 1e-12, bss
    auc = _quiet(s.auroc)
    assert math.isnan(auc) or 0 <= auc <= 1, auc
    _in_unit(s.ece(binning="mass"), "equal-mass ece")
    if smooth:  # 12 ms (FFTs): left out where many sketches are checked (groups, windows)
        _in_unit(s.smooth_ece(), "smooth ece")
    if 2 * n <= calipers.streaming.sketch.MAX_COUNT:  # a sketch near the limit refuses to double
        doubled = s + s
        assert doubled.count == 2 * n
        assert math.isclose(doubled.ece(), ece1, rel_tol=1e-12, abs_tol=1e-15)
        assert math.isclose(doubled.brier(), brier, rel_tol=1e-14)


def _check_bins_hold_the_grid_samples(s: ReliabilitySketch) -> None:
    """The equal-width bins and the fine grid count the same samples: below each inner bin
    edge e the bins hold at least the samples of the grid cells that end at or below e, and
    at most those of the cells that start below e (counts and positives)."""
    if s.grid is None:
        return
    state, _ = s._snapshot()
    lower, upper = s._cell_edges()
    K = s.classes or 1
    rows = state.reshape(K, -1)
    edges = np.arange(1, s.bins) / s.bins
    for row, cells in zip(rows, s._fine_cells(state)):
        bins = row[: s.bins * 4].reshape(s.bins, 4)
        for field in (0, 1):
            below = np.cumsum(bins[:, field].astype(np.float64))[:-1]
            c = cells[:, field].astype(np.float64)
            surely = np.array([c[upper <= e - 1e-12].sum() for e in edges])
            maybe = np.array([c[lower < e + 1e-12].sum() for e in edges])
            assert np.all(surely <= below) and np.all(below <= maybe), ("bins and grid disagree", field)


def check_grouped(g: GroupedSketch) -> None:
    """Every group a valid sketch of the template's settings and one input kind; the
    overall sketch is their merge; PCE is a calibration error."""
    assert isinstance(g, GroupedSketch)
    keys = list(g)
    assert len(keys) == len(set(keys)) == len(g)
    assert all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys), keys
    kinds = set()
    for key, sk in g.items():
        check_reliability_sketch(sk, smooth=False)
        assert (sk.bins, sk.classes) == (g.bins, g.classes), key
        if sk.kind is not None:
            kinds.add(sk.kind)
    assert len(kinds) <= 1, kinds
    overall = g.overall()
    assert overall.count == g.count == sum(sk.count for _, sk in g.items())
    if g.count:
        _in_unit(_quiet(g.pce), "pce")
    again = GroupedSketch.from_bytes(g.to_bytes())
    assert again == g


# ------------------------------------------------------------------------ QuantileSketch


def check_quantile(q: QuantileSketch) -> None:
    """A KLL sketch: weights add up to the count, quantiles are ordered values inside
    [min, max], rank bounds bracket a rank in [0, n], the bounds are finite and ordered,
    and without any compaction the sketch holds every value (min and max among them)."""
    assert isinstance(q, QuantileSketch)
    n = q.count
    assert isinstance(n, int) and n >= 0
    assert 8 <= q.k <= 65536
    bound = q.error_bound
    assert math.isfinite(bound) and 0 <= bound <= max(n, 0) * 64, bound
    assert 0 <= q.probable_error(1e-6) <= bound + 1e-12
    again = QuantileSketch.from_bytes(q.to_bytes())
    assert again.to_bytes() == q.to_bytes()
    if n == 0:
        assert math.isnan(_quiet(q.quantile, 0.5))
        return
    lo, hi = q.min, q.max
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi, (lo, hi)
    levels = q._levels  # the documented items per level (the blob's payload)
    assert sum(lv.size * 2**h for h, lv in enumerate(levels)) == n, "level weights must add up to the count"
    items = np.concatenate(levels)
    assert np.all(np.isfinite(items)) and np.all((items >= lo) & (items <= hi)), "items outside [min, max]"
    if bound == 0:  # no compaction ever ran: every value is kept, at weight 1
        assert all(lv.size == 0 for lv in levels[1:]), "items above level 0 without a compaction"
        assert items.min() == lo and items.max() == hi, "min and max are kept exactly"
    else:  # a compaction at level h adds 2^h: the highest occupied level was reached by one
        top = max(h for h, lv in enumerate(levels) if lv.size)
        assert top == 0 or bound >= 2.0 ** (top - 1), (top, bound)
    qs = [q.quantile(x) for x in np.linspace(0, 1, 21)]
    assert qs[0] == lo and qs[-1] == hi
    assert all(a <= b for a, b in itertools.pairwise(qs)), qs
    assert all(lo <= v <= hi for v in qs)
    previous = -1.0
    for x in [lo - 1.0, lo, *qs, hi, hi + 1.0]:
        r_lo, r_hi = q.rank_bounds(x)
        assert 0 <= r_lo <= r_hi <= n, (x, r_lo, r_hi)
        assert r_lo >= previous - 1e-9, "rank bounds must not fall as x grows"
        previous = r_lo
    assert q.rank_bounds(hi)[1] == n
    t1, t2 = q.conformal_threshold(0.05), q.conformal_threshold(0.3)
    assert t2 <= t1, (t1, t2)
    assert math.isinf(t1) or lo <= t1 <= hi


# ---------------------------------------------------------------------------- calibrators

_MONOTONE_EXEMPT = {  # documented as possibly decreasing
    "HistogramBinning": lambda c: (not c.monotone) or c.compat == "uncertainty-calibration",
}


def _check_map_object(cal: Any, m: Any) -> None:
    """The fitted map's documented attributes, read independently of maps.check_map."""
    from calipers.calibration.maps import BinMap, InterpMap, LogisticMap

    name = type(cal).__name__
    if isinstance(m, LogisticMap):
        assert name in ("PlattScaling", "BetaCalibration"), name
        assert m.family == ("platt" if name == "PlattScaling" else "beta")
        for v in (m.a, m.b, m.c, m.clip):
            assert math.isfinite(v), m
        assert 0 < m.clip < 0.5 and m.a >= 0, m
        if m.family == "platt":
            assert m.c == 0.0, m
        else:
            assert m.b >= 0, m
    elif isinstance(m, InterpMap):
        assert name == "IsotonicCalibration", name
        assert m.x.ndim == 1 and m.x.size >= 1 and m.x.shape == m.y.shape
        assert np.all(np.diff(m.x) > 0) and np.all((m.x >= 0) & (m.x <= 1)), "isotonic x"
        assert np.all((m.y >= 0) & (m.y <= 1)) and np.all(np.diff(m.y) >= 0), "isotonic y"
    else:
        assert isinstance(m, BinMap), type(m)
        assert name in ("HistogramBinning", "ScalingBinning"), name
        assert (m.platt is not None) == (name == "ScalingBinning")
        if m.platt is not None:
            _check_map_object(PlattScaling(), m.platt)
        assert m.right_closed == (cal.compat == "uncertainty-calibration")
        assert np.all(np.diff(m.cuts) >= 0) and np.all((m.cuts >= 0) & (m.cuts <= 1)), "cuts"
        assert np.all((m.values >= 0) & (m.values <= 1)), "bin values"
        assert 1 <= m.values.size <= cal.bins, (m.values.size, cal.bins)
        assert m.values.size in (m.cuts.size, m.cuts.size + 1)


def _probability_rows(K: int) -> np.ndarray:
    """Rows of multiples of 1/64 that sum to exactly 1 (any row_sum_atol, also 0, accepts them)."""
    rng = np.random.default_rng(K)
    cuts = np.sort(rng.integers(0, 65, (64, K - 1)), axis=1)
    counts = np.diff(np.column_stack([np.zeros(64, int), cuts, np.full(64, 64)]), axis=1)
    return np.vstack([counts / 64.0, np.eye(K)])


def check_calibrator(cal: Any) -> None:
    """A calibrator as a fit leaves it (or unfitted): parameters a constructor accepts, a
    round trip to identical JSON and bytes, and a transform that maps scores into [0, 1]
    monotonically (unless documented otherwise), identically on the per-request path."""
    assert isinstance(cal, calipers.Calibrator)
    params = cal.get_params()
    rebuilt = type(cal)(**params)
    assert rebuilt.get_params() == params
    text = cal.to_json()
    assert calipers.Calibrator.from_json(text).to_json() == text
    assert calipers.Calibrator.from_bytes(cal.to_bytes()).to_json() == text
    if not cal.is_fitted:
        return
    name = type(cal).__name__
    if isinstance(cal, TemperatureScaling):
        T = cal.temperature_
        assert math.isfinite(T) and T > 0, T
        z = np.random.default_rng(1).normal(size=(20, 4)) * 5
        if cal._fitted.binary:
            p1 = cal.transform(z[:, 0])
            assert np.all((p1 >= 0) & (p1 <= 1)), p1
            order = np.argsort(z[:, 0])
            assert np.all(np.diff(p1[order]) >= 0), "P(y = 1) must increase with the logit"
            return
        out = cal.transform(z)
        assert out.shape == z.shape and np.all((out >= 0) & (out <= 1)), out
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
        ranked = np.take_along_axis(out, np.argsort(z, axis=1), axis=1)
        assert np.all(np.diff(ranked, axis=1) >= 0), "T > 0 keeps the order of the logits"
        return
    if name == "HCalibration":
        beta, w = cal.inverse_temperatures_, cal.weights_
        assert beta.shape == w.shape == (cal.temperatures,)
        assert np.all(np.isfinite(beta)) and np.all(beta >= 0) and np.all(np.isfinite(w)) and np.all(w >= 0)
        assert math.isclose(float(w.sum()), 1.0, abs_tol=1e-9), w.sum()
        assert 1 <= cal.selected_epoch_ <= cal.epochs_
        z = np.random.default_rng(1).normal(size=(20, 4)) * 5
        out = cal.transform(z)
        assert np.all((out >= 0) & (out <= 1)) and np.allclose(out.sum(axis=1), 1.0, rtol=1e-9)
        return
    assert isinstance(cal, (PlattScaling, BetaCalibration, IsotonicCalibration, HistogramBinning, ScalingBinning))
    maps = cal.maps_
    assert isinstance(maps, tuple) and len(maps) >= 1
    for m in maps:
        _check_map_object(cal, m)
    monotone = not _MONOTONE_EXEMPT.get(name, lambda c: False)(cal)
    if cal.mode == "marginal":
        K = len(maps)
        assert K >= 2
        P = _probability_rows(K)
        out = cal.transform(P)
        assert out.shape == P.shape and np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 1 + 1e-12))
        if cal.renormalize and getattr(cal, "compat", None) is None:  # compat modes leave rows as the reference
            np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-9)
        return
    assert len(maps) == 1, "a top-label or binary calibrator has one map"
    from calipers._common.grid import KIND_BINARY

    if cal._fitted.kind == KIND_BINARY:
        x = GRID
        out = cal.transform(x)
        for v in (0.0, 0.3, 0.5, 0.97, 1.0):  # the per-request path is the batch path
            one = cal.transform(v)
            assert math.isclose(one, float(cal.transform(np.array([v, 0.5]))[0]), rel_tol=1e-12, abs_tol=1e-15)
    else:  # top-label: the map of each row's largest probability
        x = GRID[GRID >= 0.5]
        out = cal.transform(np.column_stack([x, 1.0 - x]))
    assert out.shape == x.shape and np.all(np.isfinite(out)), name
    assert np.all((out >= 0) & (out <= 1)), (name, out.min(), out.max())
    if monotone:
        assert np.all(np.diff(out) >= -1e-12), (name, float(np.diff(out).min()))


# ---------------------------------------------------------------------------------- SDM


def check_sdm(est: SDMEstimator) -> None:
    """A fitted SDMEstimator: calibration scalars a fit can give (thresholds >= alpha with a
    region, q'_min one of the calibration q' values), and predictions whose every output
    has its documented range and order."""
    assert isinstance(est, SDMEstimator)
    assert 0.5 < est.alpha <= 1.0 and est.k >= 1
    C = est.classes
    assert C >= 2
    psi, q_min = est.thresholds, est.q_prime_min
    assert psi.shape == (C,) and np.all(np.isfinite(psi)) and np.all((psi >= 0) & (psi <= 1)), psi
    q_sorted = est._q_sorted
    d_cdf = est._d_cdf
    assert len(q_sorted) == len(d_cdf) == C
    for qs, ds in zip(q_sorted, d_cdf):
        assert qs.ndim == 1 and np.all(np.isfinite(qs)) and np.all(qs >= 0) and np.all(qs <= est.k)
        assert np.all(np.diff(qs) >= 0) and np.all(np.diff(ds) >= 0) and np.all(ds >= 0)
        assert ds.size <= qs.size
    if math.isinf(q_min):
        assert q_min > 0 and np.all(psi == 0), (q_min, psi)
    else:
        assert q_min >= 1, q_min
        assert np.all(psi >= est.alpha), ("a region needs every class's threshold to reach alpha", psi, est.alpha)
        assert any(np.any(qs == q_min) for qs in q_sorted), "q'_min is one of the calibration q' values"
    n = est.support_size
    assert n >= 1
    labels = est._support_labels
    assert np.all(((labels >= 0) & (labels < C)) | (labels == -1) | (labels == -99))
    dim = est._support.shape[1]
    rng = np.random.default_rng(2)
    h = rng.normal(size=(30, dim)).astype(est._support.dtype)
    h[:10] = est._support[rng.integers(0, n, 10)]  # some queries on the support itself
    z = rng.normal(size=(30, C)) * 3
    out = est.predict(h, z)
    np.testing.assert_array_equal(out.prediction, z.argmax(axis=1))
    assert np.all((out.q >= 0) & (out.q <= min(est.k, n)))
    for name in ("d", "d_lower", "d_upper"):
        v = getattr(out, name)
        assert np.all((v >= 0) & (v <= 1)), name
    assert np.all(out.d_lower <= out.d) and np.all(out.d <= out.d_upper)
    for name in ("sdm", "sdm_lower", "sdm_upper"):
        v = getattr(out, name)
        assert np.all((v >= 0) & (v <= 1)) and np.allclose(v.sum(axis=1), 1.0), name
    assert np.all(out.q_prime <= out.q + 1e-12) and np.all(out.q_prime_lower <= out.q_prime + 1e-12)
    np.testing.assert_array_equal(out.is_ood, np.floor(out.q_prime) <= 0)
    assert not np.any(out.is_ood & out.is_high_reliability)
    assert not np.any(out.is_high_reliability_lower & ~out.is_high_reliability), "lower must be stricter"
    assert np.all((out.nearest_index >= 0) & (out.nearest_index < n))
    assert np.all(out.n_effective >= 0)
    again = SDMEstimator.from_bytes(est.to_bytes())
    assert again.to_bytes() == est.to_bytes()


# ------------------------------------------------------------------------------ monitor


def check_monitor(m: CalibrationMonitor) -> None:
    """A monitor: every window's and group's sketch a valid sketch, groups adding up to no
    more than the overall stream, counts that are counts, and an exact round trip."""
    assert isinstance(m, CalibrationMonitor)
    assert m.bins >= 1 and m.window > 0 and m.history >= 1 and m.replicates >= 0
    overall = m.sketch()
    check_reliability_sketch(overall)
    groups = m.groups
    assert len(groups) == len(set(groups))
    total = 0
    for g in groups:
        sk = m.sketch(group=g)
        check_reliability_sketch(sk, smooth=False)
        assert (sk.bins, sk.classes) == (overall.bins, overall.classes)
        total += sk.count
    assert total <= overall.count, (total, overall.count)
    records = m.records_total
    by_group = m.records_by_group()
    assert isinstance(records, int) and records >= 0 and all(v >= 0 for v in by_group.values())
    assert sum(by_group.values()) <= records, (by_group, records)
    assert overall.count <= records, "the windows hold no more outcomes than were recorded"
    assert all(v >= 0 for v in m.dropped().values())
    assert m.pending >= 0
    snap = m.snapshot()
    assert isinstance(snap, dict) and "overall" in snap
    blob = m.to_bytes()
    again = CalibrationMonitor.from_bytes(blob)
    assert again.to_bytes() == blob


# ------------------------------------------------------------------------------- debias


def _check_moments(mo: Any, what: str) -> None:
    n = mo.n
    assert n >= 0
    if n == 0:
        return
    for v in (mo.mean, mo.m2, mo.lo, mo.hi):
        assert math.isfinite(v), (what, mo)
    slack = 1e-9 * max(abs(mo.lo), abs(mo.hi), 1e-300)
    assert mo.lo <= mo.hi and mo.lo - slack <= mo.mean <= mo.hi + slack, (what, mo)
    # Popoviciu: a sample in [lo, hi] has variance at most (hi - lo)^2 / 4
    spread = mo.hi - mo.lo
    assert 0 <= mo.m2 <= n * spread * spread / 4 * (1 + 1e-9) + 1e-300, (what, "M2 out of range", mo)
    if n == 1:
        assert mo.lo == mo.hi and mo.m2 == 0, (what, "one value", mo)


def _check_comoments(co: Any, what: str) -> None:
    _check_moments(co.x(), what + " x")
    _check_moments(co.y(), what + " y")
    if co.n:
        assert math.isfinite(co.c_xy)
        # Cauchy-Schwarz (with slack for rounding and for M2 that underflowed to 0)
        range_bound = co.n * (co.hi_x - co.lo_x) * (co.hi_y - co.lo_y)
        assert abs(co.c_xy) <= range_bound * (1 + 1e-9) + 1e-300, (what, "co-moment beyond n range(x) range(y)", co)
        if min(co.m2_x, co.m2_y) > 1e-250:  # M2 far from underflow: Cauchy-Schwarz itself
            bound = math.sqrt(co.m2_x) * math.sqrt(co.m2_y)
            assert abs(co.c_xy) <= bound * (1 + 1e-9), (what, "co-moment beyond Cauchy-Schwarz", co)


def check_regression_sketch(s: RegressionSketch) -> None:
    """Co-moments and residual moments of one sample, and a histogram whose cells hold
    every prediction (counts add up, centroids in their cells, the mean recovered)."""
    assert isinstance(s, RegressionSketch)
    co, res = s.moments, s.residual
    _check_comoments(co, "co-moments")
    _check_moments(res, "residual")
    assert res.n == co.n == s.count
    assert 16 <= s.max_cells
    again = RegressionSketch.from_bytes(s.to_bytes())
    assert again == s
    if s.count == 0:
        return
    n = s.count
    scale = max(abs(co.lo_x), abs(co.hi_x), abs(co.lo_y), abs(co.hi_y), 1e-300)
    # prediction - target: its mean, range and spread follow from the pairs' moments
    assert math.isclose(res.mean, co.mean_x - co.mean_y, rel_tol=1e-9, abs_tol=1e-9 * scale), (res.mean, co)
    assert res.lo >= co.lo_x - co.hi_y - 1e-9 * scale and res.hi <= co.hi_x - co.lo_y + 1e-9 * scale, res
    var = co.m2_x + co.m2_y - 2 * co.c_xy
    assert math.isclose(res.m2, var, rel_tol=1e-6, abs_tol=1e-9 * n * scale * scale), (res.m2, var)
    centroids, counts = s.cells()
    w = s.cell_width
    assert counts.size <= s.max_cells and np.all(counts > 0) and int(counts.sum()) == n
    assert np.all(np.diff(centroids) > 0)
    assert centroids[0] >= co.lo_x - w and centroids[-1] <= co.hi_x + w, "cells outside the predictions' range"
    total = float(np.sum(centroids * counts))
    assert math.isclose(total, n * co.mean_x, rel_tol=1e-9, abs_tol=1e-9 * n * scale), (total / n, co.mean_x)


def check_ppi_sketch(s: PPISketch) -> None:
    """Labelled co-moments and unlabelled moments; a result whose interval holds the estimate."""
    assert isinstance(s, PPISketch)
    _check_comoments(s._lab, "labelled")
    _check_moments(s._unl, "unlabelled")
    assert s.n == s._lab.n and s.N == s._unl.n
    assert PPISketch.from_bytes(s.to_bytes()) == s
    if s.n >= 2 and s.N >= 2:
        r = s.result(alpha=0.1)
        assert 0 <= r.lam <= 1 and r.low <= r.estimate <= r.high, r
        assert all(math.isfinite(v) for v in (r.estimate, r.low, r.high)), r


def check_correction(c: Any) -> None:
    """LCC or Tweedie as a fit leaves them: their documented fitted attributes in range,
    a finite correction that keeps the order of predictions (LCC: increasing affine map)."""
    assert isinstance(c, (LinearCalibrationCorrection, TweedieCorrection)), type(c)
    from calipers.debias import Correction

    text = c.to_json()
    assert Correction.from_json(text).to_json() == text
    assert Correction.from_bytes(c.to_bytes()).to_json() == text
    if not c.is_fitted:
        return
    st = c._fitted
    lo, hi = st.lo, st.hi
    assert math.isfinite(lo) and math.isfinite(hi) and lo < hi
    x = np.linspace(lo, hi, 50)
    if isinstance(c, LinearCalibrationCorrection):
        assert c.slope_ > 0 and math.isfinite(1.0 / c.slope_), c.slope_  # any scale: the fit's rule is relative
        assert math.isfinite(c.intercept_) and c.residual_std_ >= 0 and 0 <= c.r2_ <= 1 and c.n_ >= 2
        out = c.transform(x)
        assert np.all(np.isfinite(out)) and np.all(np.diff(out) >= 0)  # increasing (up to rounding)
        scale = max(abs(lo), abs(hi), abs(c.intercept_))
        np.testing.assert_allclose(out * c.slope_ + c.intercept_, x, rtol=1e-9, atol=1e-12 * scale)
        return
    assert math.isfinite(c.sigma_) and c.sigma_ >= 0 and math.isfinite(c.bandwidth_) and c.bandwidth_ > 0
    assert c.n_ >= 2
    points = st.points
    assert points.size >= 2 and np.all(np.diff(points) >= 0) and points[0] >= lo and points[-1] <= hi
    n = c.n_
    shrink = n**-0.2  # Scott's factor: the bandwidth is std (ddof 1) * n^(-1/5)
    if st.weights is not None:  # a sketch fit: points are cell centroids, the std the exact one
        w = st.weights
        assert np.all(w > 0) and int(w.sum()) == n
        mean = float(np.sum(w * points) / n)
        std_c = math.sqrt(float(np.sum(w * (points - mean) ** 2)) / (n - 1))
        # centroids keep the between-cell spread only: std(centroids) <= std <= the range's bound
        top = (hi - lo) / 2 * math.sqrt(n / (n - 1))
        assert std_c * shrink * (1 - 1e-9) <= c.bandwidth_ <= top * shrink * (1 + 1e-9), (c.bandwidth_, std_c, top)
    else:
        assert points.size == n
        std = float(np.std(points, ddof=1))
        assert math.isclose(c.bandwidth_, std * shrink, rel_tol=1e-9), (c.bandwidth_, std * shrink)
    out = c.transform(x)
    if c.sigma_ < 1e100:  # sigma^2 times a score stays representable (a std of 1e155 gives inf)
        assert np.all(np.isfinite(out)), (c.sigma_, c.bandwidth_, out)
    if c.sigma_ == 0:
        np.testing.assert_array_equal(out, x)
