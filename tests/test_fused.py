"""The one-pass path of the one-shot metrics and of ReliabilitySketch.update: the values are
validated once (by the kernel), its errors are the validation layer's, its integers do not
depend on the thread count, and it equals the sketch bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import calipers
from calipers import ReliabilitySketch
from calipers._common.validate import check
from calipers._kernels import backend as _backend

RNG = np.random.default_rng(21)
P1 = RNG.random(2000)
Y1 = (RNG.random(2000) < P1).astype(np.int64)
Z = RNG.normal(size=(1500, 6)) * 2
P6 = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
Y6 = RNG.integers(0, 6, 1500)

ONE_PASS = [
    lambda s, y, **k: calipers.ece(s, y, **k),
    lambda s, y, **k: calipers.ece(s, y, norm="l2", debiased=True, **k),
    lambda s, y, **k: calipers.reliability(s, y, **k),
    lambda s, y, **k: calipers.brier(s, y, **k),
    lambda s, y, **k: calipers.brier_skill_score(s, y, **k),
    lambda s, y, **k: calipers.log_loss(s, y, **k),
    lambda s, y, **k: calipers.brier_decomposition(s, y, **k),
    lambda s, y, **k: ReliabilitySketch(classes=6 if k.get("mode") == "marginal" else None).update(
        s, y, sample_weight=k.get("sample_weight")
    ),
]


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the one-pass path validated the values a second time")


@pytest.mark.parametrize("call", range(len(ONE_PASS)))
def test_valid_input_is_validated_once(backend: str, call: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """On valid input the Python layer runs no validation of its own (no check(), no
    validate_* kernel): the one-pass kernel's checks are the only ones."""
    import calipers._common.binstats as binstats
    import calipers.streaming.sketch as sketch

    monkeypatch.setenv("CALIPERS_BACKEND", backend)
    fn = ONE_PASS[call]
    w = RNG.random(2000)
    expected = [fn(P1, Y1), fn(P6, Y6), fn(P6, Y6, mode="marginal"), fn(P1, Y1, sample_weight=w)]
    monkeypatch.setattr(binstats, "check", _refuse)
    monkeypatch.setattr(sketch, "check", _refuse)
    if backend == "cpp":  # the C++ kernels check inside their own loop: no validation kernel runs
        monkeypatch.setattr(_backend.resolve("cpp"), "validate_binary", _refuse)
        monkeypatch.setattr(_backend.resolve("cpp"), "validate_probs", _refuse)
    got = [fn(P1, Y1), fn(P6, Y6), fn(P6, Y6, mode="marginal"), fn(P1, Y1, sample_weight=w)]
    for a, b in zip(got, expected):
        assert (a.to_bytes() == b.to_bytes()) if isinstance(a, ReliabilitySketch) else repr(a) == repr(b)


BAD_INPUT = [
    (np.array([0.2, np.nan, 0.7, np.nan]), np.array([0, 1, 1, 0])),
    (np.array([0.2, np.inf, 0.7]), np.array([0, 1, 1])),
    (np.array([0.2, 1.5, -0.1]), np.array([0, 1, 1])),
    (np.array([0.2, 0.4, 0.7]), np.array([0, 2, 1])),
    (np.array([0.2, 0.4, 0.7]), np.array([0.0, 0.5, 1.0])),  # float labels: the raw value is shown
    (np.array([0.2, 0.4, 0.7], np.float32), np.array([0, 1, -1], np.int8)),
    (np.array([[0.2, 0.8], [0.5, 0.6], [0.3, 0.3]]), np.array([0, 1, 1])),  # row sums
    (np.array([[0.2, 0.8], [np.nan, 0.6]]), np.array([0, 1])),
    (np.array([[0.2, 0.8], [0.4, 0.6]]), np.array([0, 3])),
    (np.array([[1.2, -0.2], [0.4, 0.6]]), np.array([0, 1])),  # sums to 1, values outside [0, 1]
]


@pytest.mark.parametrize("case", range(len(BAD_INPUT)))
def test_errors_are_the_validation_layers(backend: str, case: int) -> None:
    scores, labels = BAD_INPUT[case]
    with pytest.raises(ValueError) as ref:
        check(scores, labels, _backend.resolve(backend))
    for fn in ONE_PASS:
        if fn is ONE_PASS[-1] and scores.ndim == 2 and case == 8:
            continue  # a top-label sketch: the same error, checked below
        with pytest.raises(ValueError) as got:
            fn(scores, labels, backend=backend) if fn is not ONE_PASS[-1] else fn(scores, labels)
        assert str(got.value) == str(ref.value)


def test_one_pass_integers_do_not_depend_on_threads():
    n = (1 << 18) + 12345  # above the parallel threshold
    p = RNG.random(n)
    y = (RNG.random(n) < p).astype(np.uint8)
    w = RNG.random(n) * 3
    P = RNG.dirichlet(np.full(10, 0.3), size=n // 4)
    Y = RNG.integers(0, 10, n // 4)
    core = _backend.resolve("cpp") if calipers.available_backends()["cpp"] == "ok" else None
    if core is None:
        pytest.skip("the C++ extension is not built")
    before = calipers.get_num_threads()
    try:
        states = []
        for threads in (1, 2, 3):
            calipers.set_num_threads(threads)
            states.append(
                [
                    core.binned_sums(p, y, None, 15, 0, 5, -1.0),
                    core.binned_sums(p, y, w, 15, 0, 5, -1.0),
                    core.binned_sums(P, Y, None, 15, 1, 5, 1e-4),
                    core.binned_sums(P, Y, w[: n // 4], 2000, 2, 9, 1e-4),
                ]
            )
        for other in states[1:]:
            for a, b in zip(states[0], other):
                np.testing.assert_array_equal(a, b)
        ref = _backend.resolve("numpy")
        np.testing.assert_array_equal(states[0][0], ref.binned_sums(p, y, None, 15, 0, 5, -1.0))
        np.testing.assert_array_equal(states[0][2], ref.binned_sums(P, Y, None, 15, 1, 5, 1e-4))
    finally:
        calipers.set_num_threads(before)


def test_one_shot_equals_the_sketch_bit_for_bit(backend: str) -> None:
    for scores, labels, mode in ((P1, Y1, "top-label"), (P6, Y6, "top-label"), (P6, Y6, "marginal")):
        s = ReliabilitySketch(15, 6 if mode == "marginal" else None, backend=backend).update(scores, labels)
        for norm in ("l1", "l2", "max"):
            assert s.ece(norm=norm) == calipers.ece(scores, labels, norm=norm, mode=mode, backend=backend)
        assert s.brier() == calipers.brier(scores, labels, mode=mode, backend=backend)
        assert s.log_loss() == calipers.log_loss(scores, labels, mode=mode, backend=backend)


@pytest.mark.parametrize("bins", [1, 2, 3, 7, 10, 15, 33, 100, 999, 1024, 1025, 4096])
def test_bins_on_every_edge_match_the_reference(bins: int) -> None:
    """fused.hpp bins with a 2048-cell table up to 1024 bins and p * B above: both are the
    reference's [e_i, e_{i+1}) with e_i = i / B, on every edge and its neighbours."""
    if calipers.available_backends()["cpp"] != "ok":
        pytest.skip("the C++ extension is not built")
    edges = np.arange(bins + 1) / bins
    p = np.clip(np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, 2), RNG.random(500)]), 0, 1)
    y = (RNG.random(p.size) < 0.5).astype(np.int8)
    got = _backend.resolve("cpp").binned_sums(p, y, None, bins, 0, 1, -1.0)
    np.testing.assert_array_equal(got, _backend.resolve("numpy").binned_sums(p, y, None, bins, 0, 1, -1.0))


def test_row_sums_use_the_callers_tolerance():
    P = np.array([[0.5, 0.5005], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"row_sum_atol=0\.0001: 1 row\(s\) do not, first at row 0 \(sum 1\.0005\)"):
        calipers.ece(P, [0, 1])
    # 0.5005 in bin 7 (outcome 0), 0.8 in bin 12 (outcome 1): (0.5005 + 0.2) / 2
    assert calipers.ece(P, [0, 1], row_sum_atol=1e-3) == pytest.approx((0.5005 + 0.2) / 2, abs=1e-15)
    s = ReliabilitySketch(row_sum_atol=1e-3).update(P, [0, 1])
    assert s.count == 2
    with pytest.raises(ValueError, match="each row of scores must sum to 1"):
        ReliabilitySketch().update(P, [0, 1])
