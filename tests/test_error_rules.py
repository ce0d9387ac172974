"""One error rule for every public entry point: a wrong type raises TypeError, a wrong value
ValueError (a missing optional dependency ImportError), never another exception, and a
refused call changes no state. Hypothesis draws the hostile input."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers

ALLOWED = (TypeError, ValueError, ImportError)

# ------------------------------------------------------------------------- hostile values

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.just(object()),
    st.just({"a": 1}),
    st.complex_numbers(allow_nan=True),
)


@st.composite
def _arrays(draw: Any) -> Any:
    kind = draw(
        st.sampled_from(
            [
                "float",
                "float16",
                "int",
                "bool",
                "complex",
                "str",
                "object",
                "3d",
                "empty",
                "nan",
                "inf",
                "big",
                "strided",
                "list",
                "ragged",
                "2d",
            ]
        )
    )
    n = draw(st.integers(0, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "float":
        return rng.random(n) * draw(st.sampled_from([1.0, 2.0, -1.0]))
    if kind == "float16":
        return rng.random(n).astype(np.float16)
    if kind == "int":
        return rng.integers(-3, 4, n)
    if kind == "bool":
        return rng.random(n) < 0.5
    if kind == "complex":
        return rng.random(n) + 1j
    if kind == "str":
        return np.array(["0.5"] * n)
    if kind == "object":
        return np.array([None] * n, dtype=object)
    if kind == "3d":
        return rng.random((n, 2, 2))
    if kind == "empty":
        return np.zeros((0,))
    if kind == "nan":
        return np.full(n, np.nan)
    if kind == "inf":
        return np.full(n, np.inf)
    if kind == "big":
        return np.full(n, 1e308)
    if kind == "strided":
        return rng.random(2 * n)[::2]
    if kind == "list":
        return [draw(_scalars) for _ in range(min(n, 4))]
    if kind == "ragged":
        return [[0.5, 0.5], [1.0]]
    return rng.dirichlet(np.ones(3), n) if n else np.zeros((0, 3))


_bad = st.one_of(_scalars, _arrays())

# Valid inputs the hostile one replaces one at a time.
P = np.array([0.1, 0.4, 0.35, 0.8, 0.95, 0.6])
Y = np.array([0, 0, 1, 1, 1, 0])
PK = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
YK = np.array([0, 1, 2, 2, 0, 1])
G = np.array(["a", "b", "a", "b", "a", "b"])
EMB = np.random.default_rng(0).normal(size=(6, 3))

FUNCTIONS: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "ece": (calipers.ece, (P, Y)),
    "reliability": (calipers.reliability, (P, Y)),
    "brier": (calipers.brier, (PK, YK)),
    "brier_skill_score": (calipers.brier_skill_score, (P, Y)),
    "log_loss": (calipers.log_loss, (P, Y)),
    "smooth_ece": (calipers.smooth_ece, (P, Y)),
    "smooth_reliability": (calipers.smooth_reliability, (P, Y)),
    "auroc": (calipers.auroc, (P, Y)),
    "brier_decomposition": (calipers.brier_decomposition, (P, Y)),
    "pce": (calipers.pce, (P, Y, G)),
    "piece": (calipers.piece, (PK, YK, np.linspace(0, 1, 6))),
    "knn": (calipers.knn, (EMB, EMB, 2)),
    "proximity": (calipers.proximity, (EMB, EMB, 2)),
    "conformal_threshold": (calipers.conformal_threshold, (P, 0.1)),
    "bootstrap_ci": (lambda *a: calipers.bootstrap_ci(calipers.ece, *a, n_resamples=20, seed=0), (P, Y)),
    "set_num_threads": (calipers.set_num_threads, (2,)),
}


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(*args)
        except ALLOWED:
            pass


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@settings(max_examples=80, deadline=None)
@given(position=st.integers(0, 2), value=_bad)
def test_functions_raise_only_type_or_value_errors(name: str, position: int, value: Any) -> None:
    fn, args = FUNCTIONS[name]
    args = list(args)
    args[position % len(args)] = value
    _call(fn, tuple(args))
    calipers.set_num_threads(2)


# ---------------------------------------------------------------------- stateful objects


def _sketches() -> dict[str, tuple[Callable[[], Any], Callable[[Any, Any, int], None]]]:
    def update(obj: Any, value: Any, pos: int) -> None:
        args = [P, Y]
        args[pos % 2] = value
        obj.update(*args)

    def update_k(obj: Any, value: Any, pos: int) -> None:
        args = [PK, YK]
        args[pos % 2] = value
        obj.update(*args)

    def grouped(obj: Any, value: Any, pos: int) -> None:
        args = [P, Y, G]
        args[pos % 3] = value
        obj.update(*args)

    def merge(obj: Any, value: Any, pos: int) -> None:
        obj.merge(value)

    def quantile(obj: Any, value: Any, pos: int) -> None:
        obj.update(value)

    return {
        "ReliabilitySketch.update": (lambda: calipers.ReliabilitySketch().update(P, Y), update),
        "ReliabilitySketch(classes=3).update": (lambda: calipers.ReliabilitySketch(classes=3).update(PK, YK), update_k),
        "ReliabilitySketch(replicates=5).update": (
            lambda: calipers.ReliabilitySketch(replicates=5, seed=0).update(P, Y),
            update,
        ),
        "ReliabilitySketch.merge": (lambda: calipers.ReliabilitySketch().update(P, Y), merge),
        "GroupedSketch.update": (lambda: calipers.GroupedSketch().update(P, Y, G), grouped),
        "QuantileSketch.update": (lambda: calipers.QuantileSketch(k=8).update(P), quantile),
    }


SKETCHES = _sketches()


@pytest.mark.parametrize("name", sorted(SKETCHES))
@settings(max_examples=80, deadline=None)
@given(position=st.integers(0, 2), value=_bad)
def test_refused_updates_change_nothing(name: str, position: int, value: Any) -> None:
    make, act = SKETCHES[name]
    obj = make()
    before = obj.to_bytes()
    try:
        act(obj, value, position)
    except ALLOWED:
        assert obj.to_bytes() == before, f"{name} changed state on a refused call"


CALIBRATORS = [
    calipers.PlattScaling,
    calipers.BetaCalibration,
    calipers.IsotonicCalibration,
    calipers.HistogramBinning,
    calipers.ScalingBinning,
]


@pytest.mark.parametrize("cls", CALIBRATORS, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, 2), value=_bad)
def test_calibrators_refuse_alike_and_stay_fitted(cls: type, position: int, value: Any) -> None:
    rng = np.random.default_rng(0)
    p = rng.random(200)
    y = (rng.random(200) < p).astype(int)
    cal = cls().fit(p, y)
    before = cal.to_json()
    args = [p, y]
    args[position % 2] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cal.fit(*args)
        except ALLOWED:
            assert cal.to_json() == before
        try:
            cal.transform(value)
        except ALLOWED:
            pass
    assert cal.is_fitted


def test_temperature_scaling_refuses_alike() -> None:
    cal = calipers.TemperatureScaling().fit(np.log(PK), YK)
    before = cal.to_json()
    for bad_logits, bad_labels in [
        (np.log(PK), YK + 3),
        (np.full((6, 3), np.nan), YK),
        ("x", YK),
        (np.log(PK)[:, :1], YK),
        (np.log(PK), YK[:4]),
    ]:
        with pytest.raises(ALLOWED):
            cal.fit(bad_logits, bad_labels)
        assert cal.to_json() == before


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.binary(max_size=64), _scalars))
def test_loaders_refuse_with_value_or_type_errors(value: Any) -> None:
    for loader in (
        calipers.ReliabilitySketch.from_bytes,
        calipers.GroupedSketch.from_bytes,
        calipers.QuantileSketch.from_bytes,
        calipers.Calibrator.from_bytes,
        calipers.Calibrator.from_json,
        calipers.SDMEstimator.from_bytes,
    ):
        with pytest.raises(ALLOWED):
            loader(value)


@pytest.mark.parametrize(
    "make",
    [
        lambda v: calipers.ReliabilitySketch(bins=v),
        lambda v: calipers.ReliabilitySketch(classes=v),
        lambda v: calipers.ReliabilitySketch(replicates=v),
        lambda v: calipers.QuantileSketch(k=v),
        lambda v: calipers.HistogramBinning(bins=v),
        lambda v: calipers.ScalingBinning(bins=v),
        lambda v: calipers.SDMEstimator(k=v),
        lambda v: calipers.ece(P, Y, bins=v),
        lambda v: calipers.smooth_reliability(P, Y, mesh=v),
        lambda v: calipers.bootstrap_ci(calipers.ece, P, Y, n_resamples=v),
        lambda v: calipers.knn(EMB, EMB, v),
    ],
)
def test_integer_parameters_follow_one_rule(make: Callable[[Any], Any]) -> None:
    """A non-integer is a TypeError, an integer out of range a ValueError, whatever the name."""
    for wrong_type in (2.5, "3", [3], True):
        with pytest.raises(TypeError):
            make(wrong_type)
    for wrong_value in (-1, 10**12):
        with pytest.raises(ValueError):
            make(wrong_value)


def test_empty_sketch_metrics_are_nan_with_one_warning() -> None:
    """The one documented behaviour: every metric of an empty sketch is NaN (structured
    results hold NaN) and warns with a RuntimeWarning."""
    s = calipers.ReliabilitySketch(replicates=5)
    for name, call in {
        "ece": lambda: s.ece(),
        "ece mass": lambda: s.ece(binning="mass"),
        "brier": lambda: s.brier(),
        "log_loss": lambda: s.log_loss(),
        "brier_skill_score": lambda: s.brier_skill_score(),
        "smooth_ece": lambda: s.smooth_ece(),
        "auroc": lambda: s.auroc(),
    }.items():
        with pytest.warns(RuntimeWarning, match="empty"):
            assert np.isnan(call()), name
    with pytest.warns(RuntimeWarning, match="empty"):
        d = s.brier_decomposition()
    assert np.isnan(d.reliability) and np.isnan(d.resolution) and np.isnan(d.uncertainty)
    with pytest.warns(RuntimeWarning, match="empty"):
        curve = s.smooth_reliability()
    assert np.all(np.isnan(curve.frequency))
    with pytest.warns(RuntimeWarning, match="empty"):
        ci = s.ece_interval()
    assert np.isnan(ci.low) and np.isnan(ci.high)
    with pytest.warns(RuntimeWarning, match="empty"):
        assert np.isnan(calipers.GroupedSketch().pce())
    with pytest.warns(RuntimeWarning, match="empty"):
        assert np.isnan(calipers.QuantileSketch().quantile(0.5))
