"""What adversarial testing of the public API found (issue 11), each finding as a user hits
it: loaded states that a fit could never give, group keys, the smoothed curve, multiclass
scoring rules, scalars and the numbers in error messages."""

from __future__ import annotations

import json
import math
import pickle
import struct
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers._common import serde as _serde

# -- a loaded calibrator holds what a fit gives ---------------------------------------------------


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return p, (rng.random(n) < p**1.4).astype(int)


def _edited(cal: calipers.Calibrator, edit) -> str:  # type: ignore[no-untyped-def]
    doc = json.loads(cal.to_json())
    edit(doc)
    return json.dumps(doc)


def _map(doc: dict) -> dict:  # type: ignore[type-arg]
    return doc["fitted"]["maps"][0]  # type: ignore[no-any-return]


def test_loaded_calibrators_are_checked_like_fitted_ones() -> None:
    """Finding: an isotonic y of 2.0 gave transform(1.0) = 2.0, a reversed y or a negated Platt
    slope gave a decreasing map, clip=1e308 gave NaN, row_sum_atol=inf loaded and then failed
    in to_json."""
    p, y = _data()
    iso = calipers.IsotonicCalibration().fit(p, y)
    platt = calipers.PlattScaling().fit(p, y)
    beta = calipers.BetaCalibration().fit(p, y)
    hist = calipers.HistogramBinning(bins=8).fit(p, y)
    cases = [
        (iso, lambda d: _map(d)["y"].__setitem__(-1, 2.0), r"map y must lie in \[0, 1\]: 1 value\(s\), first at index"),
        (iso, lambda d: _map(d)["y"].reverse(), "map y must be non-decreasing"),
        (iso, lambda d: _map(d)["x"].__setitem__(0, -0.5), r"map x must lie in \[0, 1\]"),
        (
            platt,
            lambda d: _map(d).__setitem__("a", -_map(d)["a"]),
            "a platt map must be non-decreasing: a must be >= 0",
        ),
        (platt, lambda d: _map(d).__setitem__("clip", 1e308), r"clip must lie in \[2\^-53, 0.5\), got 1e\+308"),
        (platt, lambda d: _map(d).__setitem__("c", 0.5), "c must be 0"),
        (beta, lambda d: _map(d).__setitem__("b", -1.0), "a beta map must be non-decreasing: a and b must be >= 0"),
        (hist, lambda d: _map(d)["values"].reverse(), "map values must be non-decreasing"),
        (hist, lambda d: _map(d)["values"].append(0.99), "bin values for"),
        (hist, lambda d: _map(d).__setitem__("right_closed", 1), "right_closed must be true or false"),
        (hist, lambda d: _map(d).__setitem__("right_closed", True), "has right_closed=False"),
        (platt, lambda d: d["params"].__setitem__("row_sum_atol", math.inf), "row_sum_atol must be finite"),
        (
            platt,
            lambda d: d["params"].__setitem__("renormalize", "no"),
            "invalid PlattScaling parameter renormalize='no'",
        ),
        (platt, lambda d: d["params"].__setitem__("mode", "marginal"), "does not match mode='marginal'"),
        (
            iso,
            lambda d: d["fitted"]["maps"][0].update(kind="logistic", family="platt", a=1.0, b=0.0, c=0.0, clip=1e-12),
            "an IsotonicCalibration state holds interpolation maps",
        ),
    ]
    for cal, edit, message in cases:
        text = _edited(cal, edit)
        with pytest.raises(ValueError, match=message):
            calipers.Calibrator.from_json(text)
        with pytest.raises(ValueError, match=message):  # the bytes form carries the same JSON
            calipers.Calibrator.from_bytes(_serde.pack_payload(_serde.TYPE_CALIBRATOR, text.encode()))
    seeded = calipers.ScalingBinning(seed=3, split="three-way").fit(p, y)
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        calipers.Calibrator.from_json(_edited(seeded, lambda d: d["params"].__setitem__("seed", "x")))
    temp = calipers.TemperatureScaling().fit(np.log(np.column_stack([1 - p, p]) + 1e-9), y)
    for key, value in (("temperature", -1.0), ("binary", "no"), ("iterations", 2.5)):
        with pytest.raises(ValueError, match=key):
            calipers.Calibrator.from_json(_edited(temp, lambda d, k=key, v=value: d["fitted"].__setitem__(k, v)))
    with pytest.raises(ValueError, match="row_sum_atol must be finite"):
        calipers.PlattScaling(row_sum_atol=math.inf)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 300), classes=st.sampled_from([None, 3]))
def test_every_fitted_calibrator_loads_back(seed: int, n: int, classes: int | None) -> None:
    """The load checks never reject what a fit gives (hypothesis over data, every calibrator,
    mode and compat)."""
    rng = np.random.default_rng(seed)
    if classes is None:
        scores = rng.random(n) ** rng.uniform(0.3, 3)
        labels = (rng.random(n) < scores).astype(int)
        labels[:2] = [0, 1]
        modes = ["top-label"]
    else:
        scores = rng.dirichlet(np.ones(classes) * rng.uniform(0.2, 3), n)
        labels = np.concatenate([np.arange(classes), rng.integers(0, classes, n - classes)])
        modes = ["top-label", "marginal"]
    for mode in modes:
        for cal in (
            calipers.PlattScaling(mode=mode),
            calipers.BetaCalibration(mode=mode),
            calipers.IsotonicCalibration(mode=mode),
            calipers.HistogramBinning(5, mode=mode),
            calipers.HistogramBinning(5, monotone=False, mode=mode),
            calipers.HistogramBinning(5, compat="uncertainty-calibration", mode=mode),
            calipers.ScalingBinning(4, mode=mode),
            calipers.ScalingBinning(4, compat="uncertainty-calibration", mode=mode),
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    cal.fit(scores, labels)
                except ValueError as exc:  # a class with one outcome: nothing to calibrate
                    assert "all 0" in str(exc) or "all 1" in str(exc) or "only one outcome" in str(exc)
                    continue
            assert calipers.Calibrator.from_json(cal.to_json()) == cal
            assert calipers.Calibrator.from_bytes(cal.to_bytes()) == cal
    if classes is None:
        sketch = calipers.ReliabilitySketch().update(scores, labels)
        for method in ("platt", "isotonic", "histogram", "scaling-binning"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fitted = sketch.calibrator(method)
            assert calipers.Calibrator.from_json(fitted.to_json()) == fitted


# -- a loaded sketch holds what updates give ----------------------------------------------------


def _repack(sketch: calipers.ReliabilitySketch, edit) -> bytes:  # type: ignore[no-untyped-def]
    """The sketch's blob with its state edited and the header and CRC rebuilt (as a forger
    would, so only the invariant checks can catch it)."""
    from calipers._common.grid import GRID_OCTAVES, GRID_SUB_BITS
    from calipers.streaming.sketch import _KIND_CODES

    state = sketch._acc.copy()
    edit(state)
    empty = int(state[: sketch.bins * 4 : 4].sum()) == 0
    return _serde.pack(
        _serde.TYPE_RELIABILITY_SKETCH,
        _serde.FLAG_EMPTY if empty else 0,
        _KIND_CODES[sketch._kind],
        sketch.bins,
        sketch._streams,
        GRID_OCTAVES,
        GRID_SUB_BITS,
        sketch._row_sum_atol,
        state,
    )


def test_loaded_sketches_are_checked_like_filled_ones(cifar) -> None:  # type: ignore[no-untyped-def]
    """A forged blob with a valid header and CRC: every invariant of a filled sketch is checked."""
    from calipers._common.grid import GRID_CELLS, stream_size

    p, y = _data(2000)
    s = calipers.ReliabilitySketch(10).update(p, y)
    assert calipers.ReliabilitySketch.from_bytes(_repack(s, lambda a: None)) == s
    bins, fine = 10, 10 * 4

    def move_sums(a: np.ndarray) -> None:  # bin 0's samples claim bin 9's score sum (totals kept)
        a[2:4], a[38:40] = a[38:40].copy(), a[2:4].copy()

    def swap_counts(a: np.ndarray) -> None:  # bins 0 and 9 trade counts: totals and means may still look fine
        a[0], a[36] = a[36], a[0]

    def swap_positives(a: np.ndarray) -> None:
        a[1], a[37] = a[37], a[1]

    def huge(a: np.ndarray) -> None:  # counts that sum past 2^64 and wrap to the true total
        for i in (0, 4, fine, fine + 4):
            a[i] += np.uint64(2**63)

    def positives(a: np.ndarray) -> None:
        a[13] += np.uint64(1)

    def squared_errors(a: np.ndarray) -> None:
        a[(bins + GRID_CELLS) * 4 + 1] = np.uint64(2**62)  # a total far above n

    cases = [
        (move_sums, "a bin's mean score lies outside the bin"),
        (swap_counts, "bin and grid counts hold different samples"),
        (swap_positives, "bin and grid positives hold different samples"),
        (huge, "a cell count exceeds 9223372036854775807"),
        (positives, "bin and grid positives disagree"),
        (squared_errors, "squared-error or log-loss totals are impossible"),
    ]
    for edit, message in cases:
        with pytest.raises(ValueError, match=message):
            calipers.ReliabilitySketch.from_bytes(_repack(s, edit))
    P, labels = cifar
    m = calipers.ReliabilitySketch(10, classes=10).update(P[:500], labels[:500])
    assert calipers.ReliabilitySketch.from_bytes(_repack(m, lambda a: None)) == m
    from calipers._common.grid import fine_cell_lower_edges, fine_cell_upper_edges

    row = m._acc[: stream_size(10)]
    b = int(np.flatnonzero(row[0:fine:4] > row[1:fine:4])[0])  # a bin of class 0 with a negative
    inside = (fine_cell_lower_edges() >= b / 10) & (fine_cell_upper_edges() < (b + 1) / 10)
    cells = row[fine : fine + GRID_CELLS * 4].reshape(GRID_CELLS, 4)
    c = int(np.flatnonzero(inside & (cells[:, 0] > cells[:, 1]))[0])  # a grid cell inside that bin, too

    def one_more_true_class(a: np.ndarray) -> None:  # class 0 gains a positive, bins and grid alike
        a[4 * b + 1] += np.uint64(1)
        a[fine + 4 * c + 1] += np.uint64(1)

    with pytest.raises(ValueError, match="a marginal sketch needs one true class per row"):
        calipers.ReliabilitySketch.from_bytes(_repack(m, one_more_true_class))


def test_loaded_quantile_sketch_and_sdm_are_checked() -> None:
    q = calipers.QuantileSketch(k=16).update(np.random.default_rng(0).normal(size=5000))
    payload = _serde.unpack_payload(q.to_bytes(), 4)
    (hlen,) = struct.unpack_from("<I", payload)
    header = json.loads(payload[4 : 4 + hlen])

    def blob(**changes: object) -> bytes:
        head = json.dumps({**header, **changes}).encode()
        return _serde.pack_payload(4, struct.pack("<I", len(head)) + head + payload[4 + hlen :])

    assert calipers.QuantileSketch.from_bytes(blob()).quantile(0.5) == q.quantile(0.5)
    for changes in ({"bound": math.inf}, {"bound_sq": header["bound"] ** 2 * 2 + 1}, {"bound": 0.0}):
        with pytest.raises(ValueError, match="inconsistent"):
            calipers.QuantileSketch.from_bytes(blob(**changes))
    rng = np.random.default_rng(1)
    centers = 3 * rng.normal(size=(3, 8))
    ys = rng.integers(0, 3, 600)
    emb = centers[ys] + rng.normal(size=(600, 8))
    sdm = calipers.SDMEstimator(alpha=0.9, k=50).fit(
        emb[:300], emb[:300] @ centers.T, ys[:300], emb[300:], emb[300:] @ centers.T, ys[300:]
    )
    raw = _serde.unpack_payload(sdm.to_bytes(), 5)
    (hlen,) = struct.unpack_from("<I", raw)
    head = json.loads(raw[4 : 4 + hlen])
    assert calipers.SDMEstimator.from_bytes(sdm.to_bytes()).to_bytes() == sdm.to_bytes()
    for changes, message in (
        ({"psi": [2.0, 0.5, 0.5]}, "psi must lie in"),
        ({"q_prime_min": 0.5}, "q'_min must be >= 1"),
        ({"acc_hr": 0.3}, "accuracy"),
    ):
        h = json.dumps({**head, **changes}).encode()
        with pytest.raises(ValueError, match=message):
            calipers.SDMEstimator.from_bytes(_serde.pack_payload(5, struct.pack("<I", len(h)) + h + raw[4 + hlen :]))


# -- group keys ------------------------------------------------------------------------------------


def test_grouped_sketch_keeps_keys_of_different_types_apart() -> None:
    """Finding: GroupedSketch put keys 1 and '1' in one group."""
    p, y = _data(6)
    g = calipers.GroupedSketch().update(p, y, [1, "1", 1, "1", 2, "x"])
    assert list(g) == [1, 2, "1", "x"]
    assert (g[1].count, g["1"].count, g[2].count, g["x"].count) == (2, 2, 1, 1)
    g.update(p[:2], y[:2], np.array(["1", "1"]))
    assert (g[1].count, g["1"].count) == (2, 4)
    again = calipers.GroupedSketch.from_bytes(g.to_bytes())
    assert again == g and list(again) == [1, 2, "1", "x"] and pickle.loads(pickle.dumps(g)) == g


def test_grouped_sketch_takes_the_columns_pce_takes() -> None:
    """Finding: GroupedSketch rejected a pandas string, category or object Series of group
    keys that calipers.pce accepts."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    p, y = _data(400)
    names = np.where(p < 0.3, "low", np.where(p < 0.7, "mid", "high"))
    expected = calipers.pce(p, y, names)
    columns = {
        "object": pd.Series(names.tolist(), dtype=object),
        "string": pd.Series(names, dtype="string"),
        "string[pyarrow]": pd.Series(names, dtype="string[pyarrow]"),
        "category": pd.Series(names, dtype="category"),
        "pyarrow string": pa.array(names.tolist()),
        "pyarrow chunked": pa.chunked_array([names[:100].tolist(), names[100:].tolist()]),
        "pyarrow dictionary": pa.array(names.tolist()).dictionary_encode(),
    }
    for kind, column in columns.items():
        assert calipers.pce(p, y, column) == pytest.approx(expected, rel=1e-12), kind
        g = calipers.GroupedSketch().update(p, y, column)
        assert set(g) == {"low", "mid", "high"}, kind
        assert g.pce() == pytest.approx(expected, rel=1e-12), kind
    codes = (p * 3).astype(int)
    for kind, column in {
        "int64": pd.Series(codes),
        "Int64": pd.Series(codes, dtype="Int64"),
        "category of ints": pd.Series(codes, dtype="category"),
        "pyarrow int": pa.array(codes),
        "uint8": codes.astype(np.uint8),
    }.items():
        g = calipers.GroupedSketch().update(p, y, column)
        assert set(g) == {0, 1, 2}, kind
        assert g.pce() == pytest.approx(calipers.pce(p, y, codes), rel=1e-12), kind
    before = g.to_bytes()
    with pytest.raises(ValueError, match=r"group keys must not be missing: 1 value\(s\) are, first at index 3"):
        g.update(p[:5], y[:5], pd.Series(["a", "b", "c", None, "e"], dtype="string"))
    with pytest.raises(ValueError, match=r"1 value\(s\) are NaN, first at index 2"):
        g.update(p[:4], y[:4], pd.Series([1, 2, None, 4], dtype="Int64"))
    with pytest.raises(TypeError, match="index 1 holds a bytes"):
        g.update(p[:2], y[:2], np.array(["a", b"b"], dtype=object))
    with pytest.raises(TypeError, match="got dtype bool"):
        g.update(p[:2], y[:2], np.array([True, False]))
    assert g.to_bytes() == before


# -- the smoothed curve ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits-nb", "digits-lr", "cifar10-vgg16", "cancer-nb", "cancer-rf"])
def test_smooth_reliability_stays_in_unit_interval_and_matches_relplot(real_outputs, name):  # type: ignore[no-untyped-def]
    """Finding: smooth_reliability returned frequencies below 0 (-0.33 at t=0 on digits) where
    relplot's curve at the same sigma is 0."""
    relplot = pytest.importorskip("relplot")
    P, labels = real_outputs[name]
    f, correct = P.max(axis=1), (P.argmax(axis=1) == labels).astype(float)
    curve = calipers.smooth_reliability(P, labels)
    finite = np.isfinite(curve.frequency)
    assert finite.mean() > 0.5
    assert np.all((curve.frequency[finite] >= 0) & (curve.frequency[finite] <= 1))
    ours = calipers.smooth_reliability(P, labels, compat="relplot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = relplot.prepare_rel_diagram(f, correct, plot_confidence_band=False, report_CE=False)
    assert ours.sigma == theirs["sigma"]
    np.testing.assert_allclose(ours.t, theirs["mesh"], rtol=0, atol=0)
    # the curve convolves directly, as relplot does: measured identical (difference 0.0) on
    # cifar10-vgg16 and digits; the density differs by rounding (<= 9.2e-15 of its maximum)
    np.testing.assert_allclose(ours.frequency, theirs["mu"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(ours.density, theirs["density"], rtol=0, atol=1e-13 * theirs["density"].max())
    assert np.all((ours.frequency >= 0) & (ours.frequency <= 1))
    sketch = calipers.ReliabilitySketch().update(P, labels)
    from_sketch = sketch.smooth_reliability()
    ok = np.isfinite(from_sketch.frequency)
    assert np.all((from_sketch.frequency[ok] >= 0) & (from_sketch.frequency[ok] <= 1))
    assert np.nanmax(np.abs(from_sketch.frequency - curve.frequency)) < 0.02
    relplot_sketch = sketch.smooth_reliability(compat="relplot")
    assert np.all((relplot_sketch.frequency >= 0) & (relplot_sketch.frequency <= 1))


# -- multiclass scoring rules -------------------------------------------------------------------------


def test_multiclass_brier_and_log_loss_are_sklearns(real_outputs) -> None:  # type: ignore[no-untyped-def]
    """Finding: calipers.log_loss(P, y) and calipers.brier(P, y) on (n, K) input were top-label
    binary quantities (0.249 against scikit-learn's multiclass log loss of 0.380 on digits)."""
    from sklearn.metrics import brier_score_loss, log_loss

    checked = 0
    for name, (P, y) in real_outputs.items():
        K = P.shape[1]
        kw = {"row_sum_atol": 1e-3}
        with warnings.catch_warnings():  # real outputs drift from 1 by up to 1.3e-5: sklearn warns
            warnings.simplefilter("ignore", UserWarning)
            expected_brier = brier_score_loss(y, P, labels=np.arange(K))
            expected_log_loss = log_loss(y, P, labels=np.arange(K))
        assert calipers.brier(P, y, **kw) == pytest.approx(expected_brier, rel=1e-12), name
        assert calipers.brier(P, y, mode="multiclass", **kw) == calipers.brier(P, y, **kw)
        p_true = P[np.arange(len(y)), y]
        floor = np.mean(-np.log(np.maximum(p_true, 1e-15)))
        assert calipers.log_loss(P, y, **kw) == pytest.approx(floor, rel=1e-12), name
        if p_true.min() >= 1e-15:  # no flooring involved: scikit-learn's value
            assert calipers.log_loss(P, y, **kw) == pytest.approx(expected_log_loss, rel=1e-12), name
            checked += 1
        top = P.max(axis=1)
        correct = (P.argmax(axis=1) == y).astype(float)
        assert calipers.brier(P, y, mode="top-label", **kw) == pytest.approx(np.mean((top - correct) ** 2), rel=1e-12)
        sketch = calipers.ReliabilitySketch(row_sum_atol=1e-3).update(P, y)
        assert sketch.brier() == pytest.approx(calipers.brier(P, y, mode="top-label", **kw), rel=1e-12)
        assert sketch.log_loss() == pytest.approx(calipers.log_loss(P, y, mode="top-label", **kw), rel=1e-12)
        if K == 2:  # scikit-learn halves the binary case: the 1-D score of P(class 1)
            assert calipers.brier(P, y, **kw) == pytest.approx(calipers.brier(P[:, 1], y), rel=1e-12)
    assert checked >= 3
    P, y = real_outputs["digits-lr"]
    assert calipers.log_loss(P, y) > calipers.log_loss(P, y, mode="top-label")  # they differ: names say which
    with pytest.raises(ValueError, match="mode must be one of"):
        calipers.brier(P, y, mode="classwise")


# -- scalars and plain numbers -------------------------------------------------------------------------


def test_numpy_scalars_work_like_python_floats() -> None:
    """Finding: transform(np.float64(0.5)) raised while transform(0.5) returned a float; auroc
    returned np.float64 where the other metrics return float."""
    p, y = _data()
    for cal in (
        calipers.IsotonicCalibration().fit(p, y),
        calipers.PlattScaling().fit(p, y),
        calipers.HistogramBinning().fit(p, y),
    ):
        for scalar in (np.float64(0.5), np.float32(0.5), 0.5, np.int64(1), 1):
            value = cal.transform(scalar)
            assert type(value) is float and value == cal.transform(float(scalar))
        with pytest.raises(ValueError, match=r"scores must lie in \[0, 1\]"):
            cal.transform(np.float64(1.5))
    temp = calipers.TemperatureScaling().fit(np.log(p / (1 - p)), y)
    assert type(temp.transform(np.float64(0.3))) is float
    assert temp.transform(np.float64(0.3)) == temp.transform(np.array([0.3]))[0]
    P = np.random.default_rng(1).dirichlet(np.ones(3), 300)
    labels = np.random.default_rng(2).integers(0, 3, 300)
    groups = np.random.default_rng(3).integers(0, 4, 300)
    values = {
        "auroc": calipers.auroc(p, y),
        "auroc top-label": calipers.auroc(P, labels),
        "auroc marginal": calipers.auroc(P, labels, mode="marginal"),
        "pce": calipers.pce(p[:300], y[:300], groups),
        "piece": calipers.piece(P, labels, np.random.default_rng(4).random(300)),
        "sketch auroc": calipers.ReliabilitySketch().update(p, y).auroc(),
        "ece": calipers.ece(p, y),
        "brier": calipers.brier(P, labels),
        "log_loss": calipers.log_loss(P, labels),
        "smooth_ece": calipers.smooth_ece(p, y),
    }
    assert {k: type(v) for k, v in values.items()} == dict.fromkeys(values, float)


def test_error_messages_print_plain_numbers() -> None:
    """Finding: errors printed 'np.int64(10)'."""
    p, y = _data(20)
    calls = [
        lambda: calipers.ReliabilitySketch(replicates=np.int64(-10)),
        lambda: calipers.ReliabilitySketch(classes=np.int64(1)),
        lambda: calipers.QuantileSketch(k=np.int64(3)),
        lambda: calipers.QuantileSketch().update(p).quantile(np.float64(2)),
        lambda: calipers.QuantileSketch().probable_error(np.float64(2)),
        lambda: calipers.bootstrap_ci(calipers.ece, p, y, n_resamples=np.int64(0)),
        lambda: calipers.SDMEstimator(k=np.int64(0)),
        lambda: calipers.SDMEstimator(alpha=np.float64(2)),
        lambda: calipers.conformal_threshold(p, alpha=np.float64(2)),
        lambda: calipers.PlattScaling(C=np.float64(-1)),
        lambda: calipers.ScalingBinning(seed=np.int64(-1)),
        lambda: calipers.ReliabilitySketch(row_sum_atol=np.float64(-1)),
        lambda: calipers.ece(p, y, row_sum_atol=np.float64(-1)),
        lambda: calipers.proximity(np.ones((5, 2)), k=np.int64(0)),
        lambda: calipers.reliability(p, y, confidence=np.float64(2)),
        lambda: calipers.TemperatureScaling().fit(np.zeros((3, 2)), np.array([0, 1, 7])),
    ]
    for call in calls:
        with pytest.raises(ValueError) as exc:
            call()
        assert "np." not in str(exc.value), str(exc.value)
    with pytest.raises(ValueError, match=r"got -10$"):
        calipers.ReliabilitySketch(replicates=np.int64(-10))
