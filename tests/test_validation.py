"""Bad input raises a clear, identical error on every backend and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import calipers
from calipers import ReliabilitySketch

P2 = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])

# (name, scores, labels, classes, exception, message regex)
BAD_1D = [
    (
        "nan",
        [0.2, np.nan, 0.3, np.nan],
        [0, 1, 1, 0],
        ValueError,
        r"scores must not contain NaN: 2 NaN value\(s\), first at index 1",
    ),
    ("inf", [0.2, 0.3, np.inf], [0, 1, 1], ValueError, r"must be finite: 1 infinite value\(s\), first at index 2"),
    ("range", [0.2, 1.5, -0.1, 0.3], [0, 1, 1, 0], ValueError, r"\[0, 1\]: 2 value\(s\) outside, first at index 1"),
    ("labels", [0.2, 0.3, 0.4], [0, 2, 1], ValueError, r"labels must be 0 or 1 .*first at index 1 \(value 2\)"),
    ("float labels", [0.2, 0.3], [0.0, 0.5], ValueError, r"labels must be 0 or 1 .*first at index 1 \(value 0.5\)"),
    ("length", [0.2, 0.3, 0.4], [0, 1], ValueError, r"same length, got 3 and 2"),
    ("empty", [], [], ValueError, r"empty"),
    ("strings", ["a", "b"], [0, 1], TypeError, r"scores must hold numbers"),
    ("string", "0.5", [1], TypeError, r"scores must be an array"),
    ("objects", np.array([0.1, None], dtype=object), [0, 1], TypeError, r"dtype object"),
    ("complex", np.array([0.1 + 1j]), [0], TypeError, r"dtype complex"),
    ("3-D", np.zeros((2, 2, 2)), [0, 1], ValueError, r"1-D \(n,\) or 2-D"),
    ("2-D labels", [0.2, 0.3], [[0], [1]], ValueError, r"labels must be 1-D"),
    ("string labels", [0.2, 0.3], ["a", "b"], TypeError, r"labels must hold numbers"),
]
BAD_2D = [
    (
        "row sum",
        [[0.2, 0.7], [0.5, 0.5], [0.1, 0.1]],
        [0, 1, 1],
        ValueError,
        r"sum to 1 within row_sum_atol=0.0001: 2 row\(s\) do not, first at row 0",
    ),
    ("class label", P2, [0, 2, 1], ValueError, r"integers in \[0, 2\).*first at index 1"),
    ("negative label", P2, [0, -1, 1], ValueError, r"integers in \[0, 2\)"),
    ("nan cell", [[0.2, 0.8], [np.nan, 0.5]], [0, 1], ValueError, r"row 1, column 0"),
    ("one column", [[1.0], [1.0]], [0, 0], ValueError, r"at least 2 classes"),
]


@pytest.mark.parametrize("case", BAD_1D + BAD_2D, ids=[c[0] for c in BAD_1D + BAD_2D])
def test_bad_input_raises_and_leaves_the_sketch_unchanged(backend, case):  # type: ignore[no-untyped-def]
    _, scores, labels, exc, pattern = case
    two_d = np.ndim(scores) == 2 and np.shape(scores)[1] == 2 and case in BAD_2D
    sketch = ReliabilitySketch(10)
    sketch.update(P2 if two_d else [0.1, 0.9], [0, 1, 1] if two_d else [0, 1])
    before = sketch.to_bytes()
    with pytest.raises(exc, match=pattern):
        sketch.update(scores, labels, backend=backend)
    assert sketch.to_bytes() == before
    for fn in (calipers.ece, calipers.brier, calipers.log_loss, calipers.reliability):
        with pytest.raises(exc, match=pattern):
            fn(scores, labels, backend=backend)


def test_marginal_sketch_needs_its_class_count(backend):  # type: ignore[no-untyped-def]
    s = ReliabilitySketch(10, classes=3)
    with pytest.raises(ValueError, match=r"classes=3: scores must have shape \(n, 3\)"):
        s.update(P2, [0, 1, 1], backend=backend)
    with pytest.raises(ValueError, match=r"got \(1,\)"):
        s.update([0.2], [1], backend=backend)
    assert s.count == 0


def test_nan_policy_omit_drops_rows(backend):  # type: ignore[no-untyped-def]
    p = np.array([0.2, np.nan, 0.7, 0.9])
    y = np.array([0, 1, 1, 1])
    assert calipers.ece(p, y, nan_policy="omit", backend=backend) == calipers.ece(p[[0, 2, 3]], y[[0, 2, 3]])
    s = ReliabilitySketch().update(p, y, nan_policy="omit", backend=backend)
    assert s.count == 3
    with pytest.raises(ValueError, match="empty"):
        calipers.ece([np.nan], [1], nan_policy="omit", backend=backend)
    with pytest.raises(ValueError, match="finite"):  # omit is about NaN only
        calipers.ece([np.inf, 0.2], [1, 0], nan_policy="omit", backend=backend)
    with pytest.raises(ValueError, match="nan_policy"):
        calipers.ece(p, y, nan_policy="ignore")


def test_bad_options():
    p, y = [0.2, 0.8], [0, 1]
    with pytest.raises(ValueError, match=r"bins must be in \[1, 1000000\]"):
        calipers.ece(p, y, bins=0)
    with pytest.raises(TypeError, match="bins must be an integer"):
        calipers.ece(p, y, bins=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="binning must be one of"):
        calipers.ece(p, y, binning="quantile")
    with pytest.raises(ValueError, match="norm must be one of"):
        calipers.ece(p, y, norm="l3")
    with pytest.raises(ValueError, match="compat must be one of"):
        calipers.ece(p, y, compat="relplot")  # netcal and torchmetrics are modes now (issue 14)
    with pytest.raises(ValueError, match="debiased=True is defined for norm='l2'"):
        calipers.ece(p, y, norm="max", debiased=True)
    with pytest.raises(ValueError, match="mode must be"):
        calipers.ece(P2, [0, 1, 1], mode="classwise")
    with pytest.raises(ValueError, match="classes must be"):
        ReliabilitySketch(classes=1)
    with pytest.raises(ValueError, match="fixed at construction"):
        ReliabilitySketch(10).update(p, y).ece(bins=5)


def test_accepted_input_kinds_and_zero_copy():
    import calipers._common.validate as v

    p32 = np.linspace(0, 1, 11, dtype=np.float32)
    p64 = p32.astype(np.float64)
    assert v.as_scores(p32) is p32 and v.as_scores(p64) is p64
    y = np.array([0, 1] * 5 + [1])
    assert v.as_labels(y) is y
    expected = calipers.ece(p64, y)
    assert calipers.ece(p32.astype(np.float64), y) == expected
    assert calipers.ece(list(p64), list(y)) == expected
    assert calipers.ece(p64, y.astype(bool)) == expected
    assert calipers.ece(p64, y.astype(np.float32)) == expected
    assert calipers.ece(p64.astype(">f8"), y.astype(">i4")) == expected  # big-endian
    assert calipers.ece(np.repeat(p64, 2)[::2], y) == expected  # strided
    pd = pytest.importorskip("pandas")
    assert calipers.ece(pd.Series(p64), pd.Series(y)) == expected


def test_gaussian_nb_row_drift_is_accepted_by_default():
    P = np.array([[0.3, 0.7 + 1.3e-5], [0.5, 0.5]])
    assert calipers.ece(P, [1, 0]) >= 0
    with pytest.raises(ValueError, match="row_sum_atol"):
        calipers.ece(P, [1, 0], row_sum_atol=1e-6)


def test_the_nan_advice_works_for_functions_without_nan_policy():
    """The NaN message told every caller to pass nan_policy='omit', which calibrators,
    GroupedSketch.update, pce and bootstrap_ci do not take (adversarial pass 5): the advice
    now holds wherever it is printed, on every backend."""
    import calipers

    for backend in ("cpp", "numba", "numpy"):
        with pytest.raises(ValueError, match=r"drop those rows \(nan_policy='omit' does it where a function takes"):
            calipers.PlattScaling(backend=backend).fit([0.2, 0.7, np.nan, 0.9], [0, 1, 1, 0])
        with pytest.raises(ValueError, match="drop those rows"):
            calipers.ece([0.2, np.nan], [0, 1], backend=backend)
    assert calipers.ece([0.2, np.nan, 0.7], [0, 1, 1], nan_policy="omit") >= 0  # where it is taken, it works
