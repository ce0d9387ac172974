"""Claims of README.md and the docstrings that had no test: ScalingBinning's three-way split,
the negative-slope fallbacks, Platt's smoothed targets, a CSV field quoted across lines,
and the KLL sketch's stated error percentages and memory."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import reference as ref

from calipers import BetaCalibration, PlattScaling, QuantileSketch, ScalingBinning


def _logit(p: np.ndarray, clip: float = 1e-12) -> np.ndarray:
    q = np.clip(p, clip, 1 - clip)
    return np.log(q / (1 - q))


def _newton(x: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Maximum likelihood of sigmoid(a x + b) for (soft) targets t, plain Newton."""
    a = b = 0.0
    for _ in range(200):
        p = 1 / (1 + np.exp(-(a * x + b)))
        r, c = p - t, p * (1 - p)
        g = np.array([np.sum(r * x), np.sum(r)])
        H = np.array([[np.sum(c * x * x), np.sum(c * x)], [np.sum(c * x), np.sum(c)]])
        step = np.linalg.solve(H, g)
        a, b = a - step[0], b - step[1]
        if np.max(np.abs(step)) < 1e-15:
            break
    return float(a), float(b)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# ------------------------------------------------------------- scaling-binning, three-way


def test_three_way_split_uses_disjoint_thirds(cifar):  # type: ignore[no-untyped-def]
    """README: ScalingBinning(split="three-way") uses the paper's disjoint splits: a random
    third (seeded) fits Platt, the second sets the equal-mass bins of the Platt outputs, the
    third each bin's value (its mean Platt output). Rebuilt here from those three steps."""
    P, y = cifar
    p, o = P.max(axis=1), (P.argmax(axis=1) == y).astype(np.int64)
    cal = ScalingBinning(10, split="three-way", seed=7).fit(p, o)
    perm = np.random.default_rng(7).permutation(p.size)
    first, second, third = np.array_split(perm, 3)
    a, b = _newton(_logit(p[first]), o[first].astype(np.float64))
    m = cal.maps_[0]
    assert m.platt.a == pytest.approx(a, rel=1e-12) and m.platt.b == pytest.approx(b, rel=1e-12)  # measured 2e-16
    u_bins = _sigmoid(a * _logit(p[second]) + b)
    cuts = ref.mass_cut_values(u_bins, 10)
    np.testing.assert_allclose(m.cuts, cuts, rtol=1e-12)
    u_vals = _sigmoid(a * _logit(p[third]) + b)
    idx = np.searchsorted(cuts, u_vals, side="right")
    values = np.bincount(idx, u_vals, minlength=cuts.size + 1) / np.bincount(idx, minlength=cuts.size + 1)
    np.testing.assert_allclose(m.values, values, rtol=1e-12)
    x = np.linspace(0, 1, 1001)
    want = values[np.searchsorted(cuts, _sigmoid(a * _logit(x) + b), side="right")]
    np.testing.assert_allclose(cal.transform(x), want, rtol=1e-12)
    # the thirds matter: labels of the third third move the values only
    flipped = o.copy()
    flipped[third] = 1 - flipped[third]
    other = ScalingBinning(10, split="three-way", seed=7).fit(p, flipped).maps_[0]
    assert (other.platt.a, other.platt.b) == (m.platt.a, m.platt.b)
    np.testing.assert_array_equal(other.cuts, m.cuts)
    np.testing.assert_array_equal(other.values, m.values)  # the values are Platt outputs, not labels
    whole = ScalingBinning(10).fit(p, o).maps_[0]
    assert whole.platt.a != m.platt.a  # split=None fits on everything
    assert ScalingBinning(10, split="three-way", seed=8).fit(p, o).maps_[0].platt.a != m.platt.a
    with pytest.raises(ValueError, match="at least 3"):
        ScalingBinning(10, split="three-way", seed=0).fit([0.2, 0.8], [0, 1])


# ------------------------------------------------------------------- negative slopes


def _backwards(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores that rank the outcomes backwards (not separably): P(y = 1) = 1 - p."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return p, (rng.random(n) < 1 - p).astype(np.int64)


def test_negative_platt_slope_falls_back_to_the_base_rate():
    """README: a negative Platt slope falls back to the base rate with a warning."""
    p, y = _backwards()
    a, _ = _newton(_logit(p), y.astype(np.float64))
    assert a < -0.5  # the maximum-likelihood slope really is negative here (measured -1.07)
    with pytest.warns(RuntimeWarning, match="slope is negative"):
        cal = PlattScaling().fit(p, y)
    m = cal.maps_[0]
    assert m.a == 0.0 and m.b == pytest.approx(math.log(y.mean() / (1 - y.mean())), rel=1e-12)
    np.testing.assert_allclose(cal.transform(np.linspace(0, 1, 11)), y.mean(), rtol=1e-12)
    w = np.random.default_rng(1).uniform(0.5, 2.0, p.size)  # weighted: the weighted base rate
    with pytest.warns(RuntimeWarning, match="slope is negative"):
        weighted = PlattScaling().fit(p, y, sample_weight=w)
    np.testing.assert_allclose(weighted.transform([0.3]), np.sum(w * y) / np.sum(w), rtol=1e-12)
    with pytest.warns(RuntimeWarning, match="base rate"):  # BetaCalibration has the same rule
        beta = BetaCalibration().fit(p, y)
    np.testing.assert_allclose(beta.transform(np.linspace(0.01, 0.99, 9)), y.mean(), rtol=1e-9)
    p2, y2 = _backwards(seed=3)
    good = PlattScaling().fit(1 - p2, y2)  # the same data the right way round: no warning (warnings are errors)
    assert good.maps_[0].a > 0.5  # measured 0.96


# --------------------------------------------------------------------- Platt's targets


def test_smoothed_platt_targets_follow_platts_formula(real_outputs):  # type: ignore[no-untyped-def]
    """PlattScaling(smoothing=True): the fit to Platt's (1999) targets (N+ + 1)/(N+ + 2) and
    1/(N- + 2), against a plain Newton on those targets and scikit-learn's own
    implementation of Platt's method (sklearn.calibration._sigmoid_calibration)."""
    from sklearn.calibration import _sigmoid_calibration

    checked = 0
    for name, (P, y) in real_outputs.items():
        p, o = P.max(axis=1), (P.argmax(axis=1) == y).astype(np.int64)
        if o.min() == o.max():
            continue
        n_pos, n_neg = o.sum(), o.size - o.sum()
        t = np.where(o == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        x = _logit(p)
        a, b = _newton(x, t)
        m = PlattScaling(smoothing=True).fit(p, o).maps_[0]
        assert m.a == pytest.approx(a, rel=1e-12) and m.b == pytest.approx(b, rel=1e-12), name  # measured 6.7e-15
        sa, sb = _sigmoid_calibration(x, o)  # P = 1 / (1 + exp(sa f + sb)): the signs flip
        assert abs(m.a + sa) < 1e-7 and abs(m.b + sb) < 1e-7, (name, m.a + sa, m.b + sb)  # its lbfgs: measured 3.7e-8
        plain = PlattScaling().fit(p, o).maps_[0] if not _separable(x, o) else None
        if plain is not None:
            assert (m.a, m.b) != (plain.a, plain.b)  # the targets change the fit
        checked += 1
    assert checked >= 6
    # separable scores: the soft targets keep the maximum likelihood finite, no fallback needed
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    o = np.array([0, 0, 0, 1, 1, 1])
    m = PlattScaling(smoothing=True).fit(p, o).maps_[0]
    a, b = _newton(_logit(p), np.where(o == 1, 4 / 5, 1 / 5))
    assert m.a == pytest.approx(a, rel=1e-10) and m.b == pytest.approx(b, abs=1e-12)


def _separable(x: np.ndarray, o: np.ndarray) -> bool:
    return bool(x[o == 0].max() <= x[o == 1].min())


# ------------------------------------------------------------- CSV fields across lines


CSV_LAYOUTS = {
    # a quoted field after the score and label: its first line scores, its second is broken
    "trailing": ('score,label,note\n0.2,1,a\n0.3,0,"two\nlines"\n0.4,1,b\n0.9,1,"one line"\n', 4, 1),
    # a quoted field before them: the first line is broken, the continuation holds the fields
    "leading": ('note,score,label\na,0.2,1\n"two\nlines",0.3,0\nb,0.4,1\n', 3, 1),
    # a field over three lines: the middle line has no field at all
    "three lines": ('score,label,note\n0.2,1,"a\nb\nc"\n0.4,0,d\n', 2, 2),
}


@pytest.mark.parametrize("layout", list(CSV_LAYOUTS))
def test_a_csv_field_quoted_across_lines_is_read_as_broken_rows(tmp_path, capsys, layout):  # type: ignore[no-untyped-def]
    """README: a CSV field quoted across lines is not joined; each physical line is a row,
    and a line without a score or label is skipped and counted: rows + skipped = lines."""
    from calipers.cli import main
    from calipers.io import Columns, Skipped, read_table_chunks

    text, rows, broken = CSV_LAYOUTS[layout]
    path = tmp_path / "log.csv"
    path.write_text(text)
    lines = text.count("\n") - 1  # after the header
    for fast in (True, False):  # the C++ line scanner and the row parser alike
        skipped = Skipped()
        chunks = list(read_table_chunks([str(path)], Columns(), skipped=skipped, fast=fast))
        assert sum(len(c.labels) for c in chunks) == rows, (layout, fast)
        assert skipped.total == broken and rows + skipped.total == lines, (layout, fast)
    assert main(["score", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == rows and sum(out["skipped"].values()) == broken
    assert main(["score", str(path), "--strict", "--quiet"]) == 1  # --strict stops at the broken line
    capsys.readouterr()


# ----------------------------------------------------------------------- KLL numbers


@pytest.mark.parametrize("batches,percent", [(1, "0.05%"), (37, "0.40%"), (1000, "1.60%")])
def test_kll_error_percentages_stated_in_the_module_docstring(batches, percent):
    """calipers.streaming.quantiles: with k = 1000 and 10^6 values the deterministic bound
    was 0.05% of n in one batch, 0.4% in 37 batches and 1.6% in 1000 batches; the
    probabilistic bound (delta = 1e-6) stayed below 0.2%; memory about 3k items (24 KB).
    The bound does not depend on the data or the seed (the compaction schedule depends on
    sizes only); every rank bound holds."""
    values = np.random.default_rng(0).normal(size=10**6)
    for seed in (0, 1):
        q = QuantileSketch(k=1000, seed=seed)
        for chunk in np.array_split(values, batches):
            q.update(chunk)
        assert f"{q.error_bound / values.size:.2%}" == percent  # measured 0.0511%, 0.3979%, 1.5981%
        assert q.probable_error(1e-6) / values.size < 0.002  # measured at most 0.181%
        items = sum(level.size for level in q._levels)
        assert items <= 3 * 1000 and items * 8 <= 24_000  # measured 1954, 2641, 2910 items
    exact = np.sort(values)
    for x in np.quantile(values, np.linspace(0, 1, 51)):
        lo, hi = q.rank_bounds(x)
        assert lo <= np.searchsorted(exact, x, side="right") <= hi


# ------------------------------------------------------------------------ the fine grid


def test_fine_grid_cells_are_at_most_1_6_percent_of_the_distance_to_0_or_1():
    """README: 3970 cells, each 1.6% (1/64) of the distance to 0 or 1 wide, down to 2^-32,
    so 0.999 and 0.9999 never share a cell."""
    from calipers import ReliabilitySketch

    lower, upper = ReliabilitySketch()._cell_edges()
    assert lower.size == upper.size == 3970
    assert lower[0] == 0.0 and upper[-1] == 1.0 and np.all(upper[:-1] == lower[1:])  # a partition of [0, 1]
    width = upper - lower
    distance = np.where(upper <= 0.5, lower, 1.0 - upper)  # to the nearer end, from the cell's far side
    inner = distance >= 2.0**-32
    assert np.all(width[inner] <= distance[inner] / 64)  # the exact ratio: 1/64 = 1.5625%
    assert np.all(width[~inner] <= 2.0**-32)  # the two end cells: everything within 2^-32 of 0 or 1
    s = ReliabilitySketch().update([0.999, 0.9999], [1, 1])
    cells = s._fine_cells(s._snapshot()[0])[0][:, 0]
    assert np.count_nonzero(cells) == 2
