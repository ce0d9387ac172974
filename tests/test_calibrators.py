"""Calibrator protocol: monotonicity, range, bad input, serialization, backends, sketches."""

from __future__ import annotations

import copy
import json
import pickle
import threading
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from calipers import (
    BetaCalibration,
    Calibrator,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    ReliabilitySketch,
    ScalingBinning,
    TemperatureScaling,
)

ONE_D = [
    lambda **kw: PlattScaling(**kw),
    lambda **kw: PlattScaling(C=1.0, **kw),
    lambda **kw: PlattScaling(smoothing=True, **kw),
    lambda **kw: BetaCalibration(**kw),
    lambda **kw: IsotonicCalibration(**kw),
    lambda **kw: HistogramBinning(10, **kw),
    lambda **kw: HistogramBinning(10, compat="uncertainty-calibration", **kw),
    lambda **kw: ScalingBinning(10, **kw),
    lambda **kw: ScalingBinning(10, split="three-way", seed=3, **kw),
]
IDS = [
    "platt",
    "platt-C1",
    "platt-smooth",
    "beta",
    "isotonic",
    "histogram",
    "histogram-uc",
    "scaling-binning",
    "scaling-binning-3way",
]


@st.composite
def calibration_sets(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(6, 120))
    p = draw(arrays(np.float64, n, elements=st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 0.5, 0.25]))))
    y = draw(arrays(np.int8, n, elements=st.integers(0, 1)))
    assume(0 < y.sum() < n)
    return p, y


@pytest.mark.parametrize("make", ONE_D, ids=IDS)
@given(data=calibration_sets(), grid=arrays(np.float64, 50, elements=st.floats(0, 1)))
def test_monotone_and_in_range(make, data, grid):  # type: ignore[no-untyped-def]
    p, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # separable draws fall back with a warning
        try:
            cal = make().fit(p, y)
        except ValueError as exc:  # a random third of a tiny set can hold one outcome only
            assert "three-way" in str(exc)
            assume(False)
    x = np.sort(np.concatenate([grid, p, [0.0, 1.0]]))
    out = cal.transform(x)
    assert np.all((out >= 0) & (out <= 1))
    if getattr(cal, "compat", None) is None:  # the reference's histogram binning is not monotone
        assert np.all(np.diff(out) >= -1e-12)


def test_plain_histogram_binning_can_reverse_and_monotone_pools():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    y = np.array([0, 1, 1, 1, 0, 0, 1, 1])
    plain = HistogramBinning(4, monotone=False).fit(p, y)
    assert plain.maps_[0].values.tolist() == [0.5, 1.0, 0.0, 1.0]
    pooled = HistogramBinning(4).fit(p, y)
    assert pooled.maps_[0].values.tolist() == [0.5, 0.5, 0.5, 1.0]


@pytest.mark.parametrize("make", ONE_D, ids=IDS)
def test_single_class_raises(make):  # type: ignore[no-untyped-def]
    if getattr(make(), "compat", None) == "uncertainty-calibration" and isinstance(make(), HistogramBinning):
        # the reference fits one outcome: every bin takes it (tests/test_compat_accepts.py)
        assert make().fit([0.2, 0.5, 0.9], [1, 1, 1]).transform([0.3, 0.95]).tolist() == [1.0, 1.0]
        assert make().fit([0.2, 0.5, 0.9], [0, 0, 0]).transform([0.3, 0.95]).tolist() == [0.0, 0.0]
        return
    with pytest.raises(ValueError, match=r"both\s+outcomes"):
        make().fit([0.2, 0.5, 0.9], [1, 1, 1])
    with pytest.raises(ValueError, match="all 0"):
        make().fit([0.2, 0.5, 0.9], [0, 0, 0])


@pytest.mark.parametrize("make", ONE_D, ids=IDS)
def test_round_trips_and_corruption(make, cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    for mode in ("top-label", "marginal"):
        cal = make(mode=mode).fit(P[:3000], y[:3000])
        expected = cal.transform(P[3000:4000])
        for copy_fn in (
            lambda c: Calibrator.from_json(c.to_json()),
            lambda c: Calibrator.from_bytes(c.to_bytes()),
            lambda c: pickle.loads(pickle.dumps(c)),
            copy.deepcopy,
        ):
            back = copy_fn(cal)
            assert type(back) is type(cal) and back.get_params() == cal.get_params()
            np.testing.assert_array_equal(back.transform(P[3000:4000]), expected)
            assert back.to_bytes() == cal.to_bytes()
        blob = cal.to_bytes()
        for bad in (blob[:-1], blob[:20], b"", blob[:30] + b"x" + blob[31:], b"XXXX" + blob[4:]):
            with pytest.raises(ValueError):
                Calibrator.from_bytes(bad)
        doc = json.loads(cal.to_json())
        for field, value in (("type", "Nope"), ("format_version", 7), ("params", {"bogus": 1})):
            broken = dict(doc, **{field: value})
            with pytest.raises(ValueError):
                Calibrator.from_json(json.dumps(broken))
        with pytest.raises(ValueError):
            Calibrator.from_json("{not json")


def test_json_is_readable_with_stable_fields(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    doc = json.loads(PlattScaling().fit(P, y).to_json())
    assert doc["format"] == "calipers.calibrator" and doc["format_version"] == 1 and doc["type"] == "PlattScaling"
    assert set(doc["fitted"]["maps"][0]) == {"kind", "family", "a", "b", "c", "clip"}
    t = json.loads(TemperatureScaling().fit(np.log(P + 1e-12), y).to_json())
    assert set(t["fitted"]) == {"temperature", "binary", "iterations"}


def test_calibrator_kernels_agree(backend, cifar):  # type: ignore[no-untyped-def]
    """Each O(n) pass agrees with the numpy reference to 1e-12 relative."""
    from calipers._kernels import backend as _backend

    kernels, ref = _backend.resolve(backend), _backend.resolve("numpy")
    P, y = cifar
    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(np.column_stack([np.log(P[:, 0] + 1e-9), -np.log1p(-P[:, 1] + 1e-12)]))
    t = (y == 3).astype(np.float64)
    w = rng.uniform(0.5, 2.0, y.size)
    for weights in (None, w):
        for theta in (np.array([0.3, -0.2, 0.1]), np.array([1.5, 0.7, -2.0])):
            a, b = kernels.logistic_stats(X, t, weights, theta), ref.logistic_stats(X, t, weights, theta)
            assert a[0] == pytest.approx(b[0], rel=1e-12)
            np.testing.assert_allclose(a[1], b[1], rtol=1e-11, atol=1e-9)
            np.testing.assert_allclose(a[2], b[2], rtol=1e-12)
        Z = np.log(P + 1e-12)
        for beta in (0.3, 1.0, 2.5):
            np.testing.assert_allclose(
                kernels.temperature_stats(Z, y, weights, beta), ref.temperature_stats(Z, y, weights, beta), rtol=1e-12
            )
    x = np.sort(np.round(P[:, 0], 3))
    for got, want in zip(kernels.isotonic_fit(x, t, w, 1e-15), ref.isotonic_fit(x, t, w, 1e-15)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    q = np.ascontiguousarray(P[:, 2])
    np.testing.assert_allclose(
        kernels.platt_transform(q, 0.7, -0.3, 1e-12), ref.platt_transform(q, 0.7, -0.3, 1e-12), rtol=1e-14
    )
    np.testing.assert_allclose(
        kernels.beta_transform(q, 0.7, 0.4, -0.3, 1e-16), ref.beta_transform(q, 0.7, 0.4, -0.3, 1e-16), rtol=1e-14
    )
    xp, fp = np.array([0.1, 0.4, 0.5, 0.9]), np.array([0.0, 0.3, 0.3, 1.0])
    np.testing.assert_array_equal(kernels.interp(q, xp, fp), ref.interp(q, xp, fp))
    for right in (True, False):
        np.testing.assert_array_equal(
            kernels.bin_lookup(q, xp, np.arange(5.0), right), ref.bin_lookup(q, xp, np.arange(5.0), right)
        )
    np.testing.assert_allclose(kernels.softmax_scaled(Z, 0.7), ref.softmax_scaled(Z, 0.7), rtol=1e-13)


def test_transform_kernels_agree_on_every_value_class(backend):  # type: ignore[no-untyped-def]
    """The C++ transforms run vectorized exp/log (cpp/include/calipers/vecmath.hpp, within 1
    ulp of glibc) in AVX-512/AVX2 clones: every lane position, the clip limits, exact 0 and 1,
    subnormals and NaN against the numpy reference (measured: 1.9e-15 relative at most), and
    the branch-free histogram lookup (up to 64 cuts) and the binary search (more) bit for bit,
    NaN and +-inf included."""
    from calipers._kernels import backend as _backend

    kernels, ref = _backend.resolve(backend), _backend.resolve("numpy")
    rng = np.random.default_rng(12)
    q = np.concatenate([rng.random(100_003), [0.0, 1.0, 1e-12, 1 - 1e-12, 5e-324, 1e-310, 0.5, np.nan]])
    for a, b in ((0.7, -0.3), (4.0, 2.0), (-1.3, 0.0)):
        np.testing.assert_allclose(
            kernels.platt_transform(q, a, b, 1e-12), ref.platt_transform(q, a, b, 1e-12), rtol=1e-14
        )
        np.testing.assert_allclose(
            kernels.beta_transform(q, a, 0.4, b, 1e-16), ref.beta_transform(q, a, 0.4, b, 1e-16), rtol=1e-14
        )
    x = np.concatenate([q, [-np.inf, np.inf, -1.0, 2.0]])
    for ncuts in (1, 14, 64, 65, 300):
        cuts = np.sort(rng.random(ncuts))
        values = rng.random(ncuts + 1)
        for right in (True, False):
            xs = np.concatenate([x, cuts])
            np.testing.assert_array_equal(
                kernels.bin_lookup(xs, cuts, values, right), ref.bin_lookup(xs, cuts, values, right), err_msg=f"{ncuts}"
            )


@pytest.mark.parametrize("make", ONE_D, ids=IDS)
def test_backends_agree(make, backend, cifar):  # type: ignore[no-untyped-def]
    """Fits agree to 1e-9: kernels agree to 1e-12, and an optimum found from float64 sums
    in a different order is only pinned down to about 1e-11 in the parameters."""
    P, y = cifar
    for mode in ("top-label", "marginal"):
        ours = make(mode=mode, backend=backend).fit(P[:4000], y[:4000])
        ref = make(mode=mode, backend="numpy").fit(P[:4000], y[:4000])
        np.testing.assert_allclose(ours.transform(P[4000:]), ref.transform(P[4000:]), rtol=1e-9, atol=1e-12)


def test_temperature_backends_agree(backend, cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    Z = np.log(P + 1e-12)
    ours = TemperatureScaling(backend=backend).fit(Z, y)
    ref = TemperatureScaling(backend="numpy").fit(Z, y)
    assert ours.temperature_ == pytest.approx(ref.temperature_, rel=1e-12)
    np.testing.assert_allclose(ours.transform(Z), ref.transform(Z), rtol=1e-12, atol=1e-15)


def test_bad_transform_input_and_unfitted(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    with pytest.raises(ValueError, match="not fitted"):
        PlattScaling().transform([0.5])
    cal = IsotonicCalibration().fit(P, y)
    with pytest.raises(ValueError, match="2-D"):
        cal.transform([0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        cal.transform([[0.5, 0.6] + [0.0] * 8])
    binary = PlattScaling().fit(P.max(axis=1), (P.argmax(1) == y).astype(int))
    for bad, pattern in (
        ([1.5], r"\[0, 1\]"),
        (np.array([np.nan]), "NaN"),
        (1.5, r"\[0, 1\]"),
        ([0.2, np.inf], "finite"),
        ([], "empty"),
    ):
        with pytest.raises(ValueError, match=pattern):
            binary.transform(bad)
    with pytest.raises(ValueError, match="sample_weight"):
        PlattScaling().fit([0.2, 0.8], [0, 1], sample_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="finite"):
        TemperatureScaling().fit([[0.0, np.inf]], [0])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        TemperatureScaling().fit([[0.0, 1.0]], [2])


def test_single_sample_path_equals_batch(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    conf, correct = P.max(axis=1), (P.argmax(1) == y).astype(int)
    for make in ONE_D:
        cal = make().fit(conf, correct)
        batch = cal.transform(conf[:200])
        single = np.array([cal.transform(conf[i : i + 1])[0] for i in range(200)])
        scalar = np.array([cal.transform(float(conf[i])) for i in range(200)])
        np.testing.assert_allclose(single, batch, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(scalar, batch, rtol=1e-12, atol=1e-15)
    Z = np.log(P + 1e-12)
    t = TemperatureScaling().fit(Z, y)
    np.testing.assert_allclose(t.transform(Z[:1]), t.transform(Z[:5])[:1], rtol=1e-12)


def test_marginal_renormalization(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    norm = IsotonicCalibration(mode="marginal").fit(P[:5000], y[:5000]).transform(P[5000:])
    np.testing.assert_allclose(norm.sum(axis=1), 1.0, rtol=1e-12)
    raw = IsotonicCalibration(mode="marginal", renormalize=False).fit(P[:5000], y[:5000]).transform(P[5000:])
    assert np.abs(raw.sum(axis=1) - 1).max() > 1e-3
    uc = HistogramBinning(compat="uncertainty-calibration", mode="marginal").fit(P[:5000], y[:5000])
    assert np.abs(uc.transform(P[5000:]).sum(axis=1) - 1).max() > 1e-3  # compat leaves rows as the reference


def test_sample_weights_equal_repetition():
    rng = np.random.default_rng(0)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(int)
    reps = rng.integers(1, 4, 300)
    for make in (PlattScaling, BetaCalibration, IsotonicCalibration, lambda: HistogramBinning(8)):
        weighted = make().fit(p, y, sample_weight=reps.astype(float))
        repeated = make().fit(np.repeat(p, reps), np.repeat(y, reps))
        np.testing.assert_allclose(weighted.transform(p), repeated.transform(p), rtol=1e-9, atol=1e-12)


def test_params_protocol():
    cal = HistogramBinning(12, mode="marginal")
    assert cal.get_params()["bins"] == 12
    cal.set_params(bins=5)
    assert cal.bins == 5 and not cal.is_fitted
    with pytest.raises(ValueError, match="no parameter"):
        cal.set_params(nope=1)
    with pytest.raises(ValueError, match=r"bins must be in \[1, 1000000\]"):
        cal.set_params(bins=0)
    with pytest.raises(ValueError, match="mode"):
        PlattScaling(mode="ovr")
    with pytest.raises(ValueError, match="backend must be one of"):
        IsotonicCalibration().set_params(backend="gpu")
    with pytest.raises(ValueError, match="compat must be one of"):
        HistogramBinning().set_params(compat="sklearn")
    assert "HistogramBinning(bins=5" in repr(cal)


def test_separable_platt_warns_and_stays_finite():
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(RuntimeWarning, match="separable"):
        cal = PlattScaling().fit(p, y)
    assert np.isfinite(cal.maps_[0].a) and 0 < cal.maps_[0].a < 100
    z = np.array([[0.0, -3.0], [0.0, -1.0], [0.0, 1.0], [0.0, 3.0]])
    with pytest.warns(RuntimeWarning, match="separable by the logits"):  # T shrinks until the iteration cap
        t = TemperatureScaling().fit(z, [0, 0, 1, 1])
    assert 0 < t.temperature_ < 0.05
    assert np.all(np.isfinite(t.transform(z)))


def test_shared_across_threads(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    cal = IsotonicCalibration().fit(P, y)
    expected = cal.transform(P)
    results = [None] * 8

    def work(i: int) -> None:
        results[i] = cal.transform(P)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize(
    "method,cls",
    [
        ("platt", PlattScaling),
        ("beta", BetaCalibration),
        ("isotonic", IsotonicCalibration),
        ("histogram", HistogramBinning),
        ("scaling-binning", ScalingBinning),
    ],
)
def test_sketch_calibrator_equals_cell_mean_fit_and_is_close_to_array_fit(method, cls, cifar):  # type: ignore[no-untyped-def]
    from calipers._kernels import numpy_backend as _kernels_numpy

    P, y = cifar
    conf, correct = P.max(axis=1), (P.argmax(1) == y).astype(int)
    sketch = ReliabilitySketch().update(P, y)
    from_sketch = sketch.calibrator(method)
    # exactly the array fit with every score moved to its fine-grid cell's mean
    cells = _kernels_numpy.fine_cell(conf)
    sums = np.bincount(cells, weights=conf, minlength=3970)
    counts = np.bincount(cells, minlength=3970)
    moved = sums[cells] / counts[cells]
    cell_fit = cls().fit(moved, correct)
    np.testing.assert_allclose(from_sketch.transform(P), cell_fit.transform(conf), rtol=1e-9, atol=1e-9)
    # and close to the fit on the raw scores (each score moved by < 1.6% of min(p, 1 - p))
    array_fit = cls().fit(P, y)
    diff = np.abs(from_sketch.transform(P) - array_fit.transform(P))
    bound = {"platt": 1e-4, "beta": 1e-4}.get(method, 0.01)
    assert diff.mean() < bound, (method, diff.mean())


def test_marginal_sketch_calibrator(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    sketch = ReliabilitySketch(classes=10).update(P, y)
    cal = sketch.calibrator("isotonic")
    assert cal.mode == "marginal" and len(cal.maps_) == 10
    out = cal.transform(P)
    assert out.shape == P.shape
    with pytest.raises(ValueError, match="empty"):
        ReliabilitySketch().calibrator("platt")
    with pytest.raises(ValueError, match="method"):
        sketch.calibrator("temperature")


@pytest.mark.parametrize("make", ONE_D + [lambda **kw: TemperatureScaling()], ids=IDS + ["temperature"])
def test_every_corrupted_json_field_raises_or_loads_a_valid_calibrator(make, cifar):  # type: ignore[no-untyped-def]
    """Each leaf of a CIFAR-fitted calibrator's JSON replaced by hostile values: the loader
    raises, or what loads passes every invariant of a fitted calibrator (tests/invariants.py:
    maps in range, monotone where documented, the per-request path equal to the batch one)."""
    from invariants import check_calibrator
    from mutations import leaves, replaced

    P, y = cifar
    cal = make().fit(np.log(P + 1e-9), y) if isinstance(make(), TemperatureScaling) else make().fit(P, y)
    doc = json.loads(cal.to_json())
    loaded = refused = 0
    for path in leaves(doc):
        for bad in (None, "x", -1, 0, 1e308, 1e-320, -0.5, 1.5, [], {}, True):
            text = json.dumps(replaced(doc, path, bad))
            try:
                back = Calibrator.from_json(text)
            except (ValueError, TypeError):
                refused += 1
                continue
            loaded += 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                check_calibrator(back)
    assert refused > loaded  # most corruptions are refused; the rest are valid calibrators


@given(st.binary(max_size=300))
def test_calibrator_from_random_bytes_raises_value_error(blob):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        Calibrator.from_bytes(blob)


def test_from_json_on_a_member_class_returns_that_class_or_refuses():
    rng = np.random.default_rng(0)
    p = rng.random(200)
    y = (rng.random(200) < p).astype(int)
    platt, beta = PlattScaling().fit(p, y), BetaCalibration().fit(p, y)
    assert isinstance(Calibrator.from_json(beta.to_json()), BetaCalibration)  # the family: any member
    back = PlattScaling.from_bytes(platt.to_bytes())
    assert isinstance(back, PlattScaling) and back == platt
    with pytest.raises(ValueError, match="the saved object is a BetaCalibration, not a PlattScaling"):
        PlattScaling.from_json(beta.to_json())


def test_temperature_warns_at_its_bounds():
    """A fit at the T = 1e6 bound (labels independent of the logits) or stopped without
    converging (separable) gave an arbitrary T silently (adversarial pass 5)."""
    with pytest.warns(
        RuntimeWarning, match=r"no information about the logits, so the fit stopped at its bound T = 1e\+06"
    ):
        TemperatureScaling().fit(np.array([[1e300, 0.0], [1e300, 0.0]]), [0, 1])
    with pytest.warns(RuntimeWarning, match="without converging"):
        TemperatureScaling().fit(np.array([[10.0, 0], [10, 0], [0, 10], [0, 10]]), [0, 0, 1, 1])
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 3)) * 2
    y = np.array([rng.choice(3, p=np.exp(v) / np.exp(v).sum()) for v in z])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TemperatureScaling().fit(z, y)  # an ordinary fit: no warning
