"""ReliabilityTable: Wilson intervals, pandas and plotting."""

from __future__ import annotations

import numpy as np
import pytest

import calipers
from calipers.metrics.table import wilson_interval


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(np.array([5.0, 0.0, 10.0]), np.array([10, 10, 10]), 0.95)
    np.testing.assert_allclose(lo, [0.236593, 0.0, 0.722467], atol=1e-6)
    np.testing.assert_allclose(hi, [0.763407, 0.277533, 1.0], atol=1e-6)
    lo, hi = wilson_interval(np.array([0.0]), np.array([0]), 0.95)
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def test_table_fields_and_empty_bins(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    table = calipers.reliability(P, y, bins=10)
    assert table.edges.tolist() == [i / 10 for i in range(11)]
    assert table.n == y.size and len(table) == 10
    empty = table.count == 0
    assert empty.any() and np.all(np.isnan(table.frequency[empty])) and np.all(np.isnan(table.mean_score[empty]))
    nz = ~empty
    assert np.all((table.lower[nz] <= table.frequency[nz]) & (table.frequency[nz] <= table.upper[nz]))
    ece = np.nansum(table.count / table.n * np.abs(table.mean_score - table.frequency))
    assert ece == pytest.approx(calipers.ece(P, y, bins=10), rel=1e-12)
    with pytest.raises(ValueError, match="confidence"):
        calipers.reliability(P, y, confidence=1.5)


def test_to_pandas_and_plot(cifar, tmp_path):  # type: ignore[no-untyped-def]
    pd = pytest.importorskip("pandas")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P, y = cifar
    table = calipers.ReliabilitySketch(15).update(P, y).reliability()
    frame = table.to_pandas()
    assert isinstance(frame, pd.DataFrame) and list(frame["count"]) == table.count.tolist()
    ax = table.plot()
    assert ax.get_xlabel() == "mean score" and len(ax.lines) >= 2
    path = tmp_path / "diagram.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 5000
    plt.close("all")


def test_marginal_equal_mass_table_cannot_pool(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    with pytest.raises(ValueError, match="differ per class"):
        calipers.reliability(P, y, mode="marginal", binning="mass")


def test_wilson_interval_contains_the_frequency_at_0_and_1():
    from calipers.metrics.table import wilson_interval

    n = np.arange(1, 5000)
    for phat in (0.0, 1.0):
        lower, upper = wilson_interval(phat * n, n, 0.95)
        assert np.all(lower <= phat) and np.all(upper >= phat)
    lower, upper = wilson_interval(np.array([0.0]), np.array([0]), 0.95)
    assert np.isnan(lower[0]) and np.isnan(upper[0])
