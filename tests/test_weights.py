"""sample_weight everywhere: integer weights give exactly the result of repeating rows, zero
weights that of dropping them, every backend agrees, and bad weights raise by one rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import calipers
from calipers import GroupedSketch, ReliabilitySketch

RNG = np.random.default_rng(14)


def _binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    p[: min(n, 4)] = [0.0, 1.0, 1 / 15, 0.5][: min(n, 4)]  # the ends and edges
    return p, (rng.random(n) < p).astype(np.int64)


def _probs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(k, 0.4), size=n)
    return P, rng.integers(0, k, n)


# Metrics whose sums are exact fixed point (or exact integer float sums): whole weights give
# bit-identical values. kwargs per case; (scores, labels) built by the strategy.
EXACT = [
    ("ece", calipers.ece, {}),
    ("ece l2 debiased", calipers.ece, {"norm": "l2", "debiased": True}),
    ("mce", calipers.ece, {"norm": "max", "bins": 7}),
    ("ece mass", calipers.ece, {"binning": "mass", "bins": 6}),
    ("brier", calipers.brier, {}),
    ("bss", calipers.brier_skill_score, {}),
    ("log loss", calipers.log_loss, {}),
    ("auroc", calipers.auroc, {}),
]


def _value(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # undefined cases (one outcome) are NaN on both sides
        return fn(*args, **kwargs)


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


weights_and_data = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.integers(0, 2**31),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.sampled_from(["binary", "top-label", "marginal"]),
    )
)


def _data(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    if kind == "binary":
        p, y = _binary(n, seed)
        return p, y, {}
    P, y = _probs(n, 3, seed)
    return P, y, {"mode": kind}


@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(weights_and_data)
def test_integer_weights_equal_repeated_rows(backend: str, case: tuple) -> None:  # type: ignore[type-arg]
    seed, w, kind = case
    w = np.asarray(w)
    if w.sum() == 0:
        w[0] = 1
    scores, labels, extra = _data(kind, len(w), seed)
    rep_s, rep_y = np.repeat(scores, w, axis=0), np.repeat(labels, w)
    for name, fn, kwargs in EXACT:
        if name == "auroc" and kind == "marginal" and len(np.unique(rep_y)) < 3:
            continue
        a = _value(fn, scores, labels, sample_weight=w, backend=backend, **extra, **kwargs)
        b = _value(fn, rep_s, rep_y, backend=backend, **extra, **kwargs)
        assert _same(a, b), (name, kind, a, b)
    ta = calipers.reliability(scores, labels, sample_weight=w, backend=backend, **extra)
    tb = calipers.reliability(rep_s, rep_y, backend=backend, **extra)
    np.testing.assert_array_equal(ta.count, tb.count)
    np.testing.assert_array_equal(ta.mean_score, tb.mean_score)
    np.testing.assert_array_equal(ta.frequency, tb.frequency)
    da = _value(calipers.brier_decomposition, scores, labels, sample_weight=w, backend=backend, **extra)
    db = _value(calipers.brier_decomposition, rep_s, rep_y, backend=backend, **extra)
    assert all(_same(x, y) for x, y in zip(da.__dict__.values(), db.__dict__.values()))
    classes = 3 if kind == "marginal" else None
    sa = ReliabilitySketch(7, classes, backend=backend).update(scores, labels, sample_weight=w)
    sb = ReliabilitySketch(7, classes, backend=backend).update(rep_s, rep_y)
    assert sa.to_bytes() == sb.to_bytes()  # the very bytes of the repeated rows
    keys = np.arange(len(w)) % 3
    ga = GroupedSketch(7, classes, backend=backend).update(scores, labels, keys, sample_weight=w)
    gb = GroupedSketch(7, classes, backend=backend).update(rep_s, rep_y, np.repeat(keys, w))
    assert ga.to_bytes() == gb.to_bytes()
    # smooth ECE and PCE sum w x in floats: equal to rounding (measured <= 2e-16)
    if kind != "marginal" or len(np.unique(labels)) > 1:
        sm_a = _value(calipers.smooth_ece, scores, labels, sample_weight=w, backend=backend, **extra)
        sm_b = _value(calipers.smooth_ece, rep_s, rep_y, backend=backend, **extra)
        assert sm_a == pytest.approx(sm_b, abs=1e-12)
    groups = np.arange(len(w)) % 3
    pa = calipers.pce(scores, labels, groups, sample_weight=w, backend=backend, **extra)
    pb = calipers.pce(rep_s, rep_y, np.repeat(groups, w), backend=backend, **extra)
    assert pa == pytest.approx(pb, abs=1e-12)


@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(weights_and_data)
def test_zero_weights_equal_dropped_rows(backend: str, case: tuple) -> None:  # type: ignore[type-arg]
    seed, w, kind = case
    rng = np.random.default_rng(seed)
    w = np.asarray(w, np.float64) * rng.random(len(w)) * 3  # fractional, some exactly 0
    if not np.any(w > 0):
        w[-1] = 0.25
    keep = w > 0
    scores, labels, extra = _data(kind, len(w), seed)
    for name, fn, kwargs in EXACT:
        if name == "auroc" and kind == "marginal" and len(np.unique(labels[keep])) < 3:
            continue
        a = _value(fn, scores, labels, sample_weight=w, backend=backend, **extra, **kwargs)
        b = _value(fn, scores[keep], labels[keep], sample_weight=w[keep], backend=backend, **extra, **kwargs)
        assert _same(a, b), (name, kind, a, b)
    sm_a = _value(calipers.smooth_ece, scores, labels, sample_weight=w, backend=backend, **extra)
    sm_b = _value(calipers.smooth_ece, scores[keep], labels[keep], sample_weight=w[keep], backend=backend, **extra)
    assert _same(sm_a, sm_b)
    if kind != "marginal":  # equal-mass edges: zero-weight rows place no cut
        ta = calipers.reliability(scores, labels, sample_weight=w, binning="mass", bins=5, backend=backend, **extra)
        tb = calipers.reliability(
            scores[keep], labels[keep], sample_weight=w[keep], binning="mass", bins=5, backend=backend, **extra
        )
        np.testing.assert_array_equal(ta.edges, tb.edges)
        np.testing.assert_array_equal(ta.count, tb.count)
    classes = 3 if kind == "marginal" else None
    sa = ReliabilitySketch(7, classes, backend=backend).update(scores, labels, sample_weight=w)
    sb = ReliabilitySketch(7, classes, backend=backend).update(scores[keep], labels[keep], sample_weight=w[keep])
    assert sa.to_bytes() == sb.to_bytes()
    groups = np.arange(len(w)) % 4
    ga = GroupedSketch(5, classes, backend=backend).update(scores, labels, groups, sample_weight=w)
    gb = GroupedSketch(5, classes, backend=backend).update(
        scores[keep], labels[keep], groups[keep], sample_weight=w[keep]
    )
    assert ga.to_bytes() == gb.to_bytes()  # no empty group for keys whose rows all weigh 0


def test_backends_agree_with_weights(backend: str) -> None:
    p, y = _binary(5000, 1)
    P, Y = _probs(3000, 4, 2)
    w1 = RNG.random(5000) * 5
    w2 = RNG.random(3000) * 5
    for fn, kwargs in (
        (calipers.ece, {}),
        (calipers.ece, {"binning": "mass"}),
        (calipers.log_loss, {}),
        (calipers.brier_skill_score, {}),
        (calipers.ece, {"norm": "l2", "debiased": True}),
    ):
        assert fn(p, y, sample_weight=w1, backend=backend, **kwargs) == fn(
            p, y, sample_weight=w1, backend="numpy", **kwargs
        )
        for mode in ("top-label", "marginal"):
            a = fn(P, Y, sample_weight=w2, mode=mode, backend=backend, **kwargs)
            assert a == fn(P, Y, sample_weight=w2, mode=mode, backend="numpy", **kwargs)
    s = ReliabilitySketch(backend=backend).update(p, y, sample_weight=w1)
    r = ReliabilitySketch(backend="numpy").update(p, y, sample_weight=w1)
    assert s.to_bytes() == r.to_bytes()
    g = GroupedSketch(backend=backend).update(P, Y, Y % 2, sample_weight=w2)
    h = GroupedSketch(backend="numpy").update(P, Y, Y % 2, sample_weight=w2)
    assert g.to_bytes() == h.to_bytes()


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**31), st.integers(1, 5))
def test_fractional_weight_merges_are_exact_and_order_free(seed: int, parts: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    p, y = _binary(n, seed)
    w = rng.random(n) * rng.integers(0, 3, n)  # fractional, some rows without weight
    cuts = np.sort(rng.choice(np.arange(1, n), size=parts - 1, replace=False)) if parts > 1 else np.array([], int)
    chunks = np.split(np.arange(n), cuts)
    pieces = [ReliabilitySketch(5).update(p[c], y[c], sample_weight=w[c]) for c in chunks if len(c)]
    pieces.append(ReliabilitySketch(5).update(p[:10], y[:10]))  # an unweighted sketch mixes in exactly
    whole = ReliabilitySketch(5).update(np.r_[p, p[:10]], np.r_[y, y[:10]], sample_weight=np.r_[w, np.ones(10)])
    forward = calipers.merge_all(pieces)
    backward = calipers.merge_all(pieces[::-1])
    assert forward.to_bytes() == whole.to_bytes() == backward.to_bytes()
    again = ReliabilitySketch.from_bytes(whole.to_bytes())
    assert again == whole and again.count == whole.count


def test_weighted_blob_format_and_canonical_form():
    p, y = _binary(500, 3)
    whole = ReliabilitySketch().update(p, y, sample_weight=np.full(500, 3.0))
    assert whole.to_bytes()[4] == 1 and whole.count == 1500  # whole weights: a format-1 blob, counts
    frac = ReliabilitySketch().update(p, y, sample_weight=np.full(500, 0.3))
    blob = frac.to_bytes()
    assert blob[4] == 2 and blob[6] & 4  # format 2, weighted flag
    assert frac.count == pytest.approx(150.0, rel=1e-7)  # 0.3 held as round(0.3 2^24) / 2^24
    assert abs(frac.ece() - calipers.ece(p, y)) < 1e-15  # a uniform weight changes nothing
    frac.update(p, y, sample_weight=np.full(500, 0.7))  # 0.3 + 0.7 in 2^-24 units: whole again
    assert frac.to_bytes()[4] == 1 and frac.count == 500
    # the version and the weighted flag go together
    bad = bytearray(blob)
    bad[4] = 1
    import zlib

    bad[-4:] = (zlib.crc32(bytes(bad[:-4])) & 0xFFFFFFFF).to_bytes(4, "little")
    with pytest.raises(ValueError, match="weighted flag goes with version 2"):
        ReliabilitySketch.from_bytes(bytes(bad))
    with pytest.raises(ValueError, match="replicates"):
        ReliabilitySketch(replicates=5).update(p, y, sample_weight=np.ones(500))


def test_weight_resolution_is_two_to_the_minus_24():
    p, y = _binary(1000, 4)
    w = RNG.random(1000) * 10
    s = ReliabilitySketch().update(p, y, sample_weight=w)
    held = np.floor(w * 2**24 + 0.5) / 2**24
    assert s.count == pytest.approx(held.sum(), rel=1e-15)
    assert abs(s.count - w.sum()) <= 1000 * 2**-25
    # every metric equals the float64 reference with the held weights (exact arithmetic)
    bins = np.minimum((p * 15).astype(int), 14)
    nb = np.bincount(bins, held, 15)
    gap = np.abs(np.bincount(bins, held * p, 15) - np.bincount(bins, held * y, 15))
    assert calipers.ece(p, y, sample_weight=w) == pytest.approx(gap.sum() / nb.sum(), rel=1e-12)


BAD = [
    (lambda w: calipers.ece(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.ece(*_binary(4, 0), sample_weight=w, binning="mass")),
    (lambda w: calipers.reliability(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.brier(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.brier_skill_score(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.log_loss(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.auroc(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.smooth_ece(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.brier_decomposition(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.pce(*_binary(4, 0), [0, 0, 1, 1], sample_weight=w)),
    (lambda w: calipers.bootstrap_ci(calipers.ece, *_binary(4, 0), sample_weight=w, n_resamples=5)),
    (lambda w: ReliabilitySketch().update(*_binary(4, 0), sample_weight=w)),
    (lambda w: GroupedSketch().update(*_binary(4, 0), [0, 1, 0, 1], sample_weight=w)),
    (lambda w: calipers.PlattScaling().fit(*_binary(4, 0), sample_weight=w)),
    (lambda w: calipers.TemperatureScaling().fit(np.zeros((4, 2)), [0, 1, 0, 1], sample_weight=w)),
]


@pytest.mark.parametrize("call", range(len(BAD)))
def test_bad_weights_raise_by_one_rule(backend: str, call: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALIPERS_BACKEND", backend)
    fn = BAD[call]
    with pytest.raises(
        ValueError, match=r"sample_weight must be >= 0: 2 value\(s\) are negative, first at index 1 \(value -1.0\)"
    ):
        fn([1.0, -1.0, 2.0, -3.0])
    with pytest.raises(
        ValueError, match=r"sample_weight must be finite: 1 value\(s\) are not, first at index 2 \(value nan\)"
    ):
        fn([1.0, 2.0, np.nan, -1.0])  # non-finite comes first
    with pytest.raises(
        ValueError, match=r"sample_weight must be finite: 1 value\(s\) are not, first at index 0 \(value inf\)"
    ):
        fn([np.inf, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"below 2\^39.*1 value\(s\) are not, first at index 3 \(value 1e\+20\)"):
        fn([1.0, 1.0, 1.0, 1e20])
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        fn([1.0, 1.0])
    with pytest.raises(TypeError, match="sample_weight must"):
        fn(["a", "b", "c", "d"])


def test_bad_weights_change_nothing():
    s = ReliabilitySketch().update(*_binary(100, 5))
    before = s.to_bytes()
    with pytest.raises(ValueError, match="sample_weight"):
        s.update(*_binary(100, 6), sample_weight=np.r_[np.ones(99), -1.0])
    assert s.to_bytes() == before


def test_calibrators_weights_equal_repetition_and_zero_weights_drop_rows():
    p, y = _binary(400, 7)
    P, Y = _probs(400, 4, 8)
    reps = RNG.integers(0, 4, 400)
    reps[:2] = 1
    makers = [
        (lambda: calipers.PlattScaling(), False),
        (lambda: calipers.PlattScaling(C=1.0, smoothing=True), False),
        (lambda: calipers.BetaCalibration(), False),
        (lambda: calipers.IsotonicCalibration(), False),
        (lambda: calipers.HistogramBinning(8), False),
        (lambda: calipers.ScalingBinning(6), False),
        (lambda: calipers.IsotonicCalibration(mode="marginal"), True),
        (lambda: calipers.HistogramBinning(5, mode="marginal"), True),
        (lambda: calipers.PlattScaling(), True),  # top-label on (n, K)
    ]
    for make, two_d in makers:
        s, labels = (P, Y) if two_d else (p, y)
        weighted = make().fit(s, labels, sample_weight=reps)
        repeated = make().fit(np.repeat(s, reps, axis=0), np.repeat(labels, reps))
        # solvers stop at 1e-9 relative steps: measured differences <= 3e-11
        np.testing.assert_allclose(weighted.transform(s), repeated.transform(s), rtol=1e-9, atol=1e-10)
        keep = reps > 0
        dropped = make().fit(s[keep], labels[keep], sample_weight=reps[keep])
        assert weighted == dropped  # zero weights: exactly the dropped rows (same fitted state)
    z = RNG.normal(size=(400, 4)) * 2
    z[np.arange(400), Y] += 1.5  # logits that inform the labels: T lies inside its bounds (no warning)
    t_w = calipers.TemperatureScaling().fit(z, Y, sample_weight=reps)
    t_r = calipers.TemperatureScaling().fit(np.repeat(z, reps, axis=0), np.repeat(Y, reps))
    assert t_w.temperature_ == pytest.approx(t_r.temperature_, rel=1e-9)
    assert t_w == calipers.TemperatureScaling().fit(z[reps > 0], Y[reps > 0], sample_weight=reps[reps > 0])
    with pytest.raises(ValueError, match="sample_weight is not available with compat"):
        calipers.HistogramBinning(compat="uncertainty-calibration").fit(p, y, sample_weight=reps)


def test_bootstrap_ci_with_weights():
    p, y = _binary(300, 9)
    w = RNG.integers(0, 3, 300).astype(float)
    a = calipers.bootstrap_ci(calipers.ece, p, y, sample_weight=w, n_resamples=50, seed=1)
    assert (
        a.estimate
        == calipers.ece(p, y, sample_weight=w)
        == calipers.ece(np.repeat(p, w.astype(int)), np.repeat(y, w.astype(int)))
    )
    keep = w > 0
    b = calipers.bootstrap_ci(calipers.ece, p[keep], y[keep], sample_weight=w[keep], n_resamples=50, seed=1)
    np.testing.assert_array_equal(a.replicates, b.replicates)  # zero weights: dropped rows, same draws
    # (the plug-in ECE is biased upward under resampling, so the percentile interval may sit above it)
    assert not a.fast and a.low < a.high and np.all(np.isfinite(a.replicates))


def test_nan_policy_omit_drops_the_weights_too():
    p, y = _binary(50, 10)
    w = RNG.random(50)
    q = p.copy()
    q[[3, 7]] = np.nan
    keep = ~np.isnan(q)
    assert calipers.ece(q, y, sample_weight=w, nan_policy="omit") == calipers.ece(
        p[keep], y[keep], sample_weight=w[keep]
    )


@pytest.mark.parametrize("grid", ["fine", "compact", None])
def test_unweighted_rows_after_fractional_weights_count_whole(grid: str | None) -> None:
    """A sketch that holds fractional weights keeps its counts in 2^-24 units: unweighted
    rows added afterwards (by update or merge) must count 1 each, not 2^-24 (they did)."""
    rng = np.random.default_rng(4)
    p, y = rng.random(100), (rng.random(100) < 0.5).astype(int)
    half = np.full(100, 0.5)
    a = ReliabilitySketch(grid=grid).update(p, y, sample_weight=half).update(p, y)
    b = ReliabilitySketch(grid=grid).update(np.r_[p, p], np.r_[y, y], sample_weight=np.r_[half, np.ones(100)])
    c = ReliabilitySketch(grid=grid).update(p, y, sample_weight=half).merge(ReliabilitySketch(grid=grid).update(p, y))
    assert a.count == b.count == c.count == 150.0
    assert a.to_bytes() == b.to_bytes() == c.to_bytes()


WEIGHTED = {
    "ece": lambda p, y, w: calipers.ece(p, y, sample_weight=w),
    "brier": lambda p, y, w: calipers.brier(p, y, sample_weight=w),
    "log_loss": lambda p, y, w: calipers.log_loss(p, y, sample_weight=w),
    "smooth_ece": lambda p, y, w: calipers.smooth_ece(p, y, sample_weight=w),
    "auroc": lambda p, y, w: calipers.auroc(p, y, sample_weight=w),
    "sketch": lambda p, y, w: calipers.ReliabilitySketch().update(p, y, sample_weight=w),
}


@pytest.mark.parametrize("name", sorted(WEIGHTED))
def test_weights_whose_sum_would_wrap_the_counts_raise(name):  # type: ignore[no-untyped-def]
    """Each weight below 2^39 but their sum past it wrapped the 64-bit counts: ECE NaN, Brier
    inf, or 2.24 and 3.36 on random rows (adversarial pass 5). One call's weights must sum to
    less than 2^39; divided by 4 the same weights give the unweighted values exactly."""
    p, y = np.full(4, 0.5), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"sample_weight must sum to less than 2\^39"):
        WEIGHTED[name](p, y, np.full(4, 2.0**38))
    if name in ("ece", "brier"):
        assert WEIGHTED[name](p, y, np.full(4, 2.0**36)) == WEIGHTED[name](p, y, None)


@pytest.mark.parametrize("name", sorted(set(WEIGHTED) - {"sketch", "smooth_ece", "auroc"}))
@pytest.mark.parametrize("value", [0.0, 1e-8])
def test_weights_that_all_round_to_zero_raise_everywhere(name, value):  # type: ignore[no-untyped-def]
    """All-zero weights gave NaN from ece with no warning, NaN from brier with numpy's warning,
    a ValueError from smooth_ece; weights of 1e-8 (rounding to 0) NaN from ece and values
    elsewhere (adversarial pass 5). One ValueError now."""
    p, y = np.array([0.2, 0.7, 0.4]), np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"at least one weight of 2\^-25 or more"):
        WEIGHTED[name](p, y, np.full(3, value))


def test_zero_weights_in_float_paths_and_sketches():  # type: ignore[no-untyped-def]
    """smooth ECE and AUROC compute in floats: all-zero weights raise there, tiny ones are
    measured; a sketch update of an all-zero chunk adds nothing (a stream may hold one)."""
    p, y = np.array([0.2, 0.7, 0.4]), np.array([0, 1, 1])
    with pytest.raises(ValueError, match="at least one positive weight"):
        calipers.smooth_ece(p, y, sample_weight=np.zeros(3))
    assert calipers.smooth_ece(p, y, sample_weight=np.full(3, 1e-8)) == pytest.approx(calipers.smooth_ece(p, y))
    assert calipers.ReliabilitySketch().update(p, y, sample_weight=np.zeros(3)).count == 0
