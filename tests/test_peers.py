"""calipers against the reference libraries, on real model outputs."""

from __future__ import annotations

import numpy as np
import pytest

import calipers

calibration = pytest.importorskip("calibration", reason="uncertainty-calibration is a test dependency")
sk_calibration = pytest.importorskip("sklearn.calibration")
UC = "uncertainty-calibration"


def _inputs(real_outputs):  # type: ignore[no-untyped-def]
    """(name, probs, labels, modes): binary sets also as 1-D P(y=1)."""
    for name, (P, y) in real_outputs.items():
        yield name, P, y, ("top-label", "marginal")
        if P.shape[1] == 2:
            yield name + "-1d", np.ascontiguousarray(P[:, 1]), y, ("top-label",)


CASES = [
    # (calipers kwargs, reference call)
    (dict(norm="l1", binning="width"), lambda P, y, m: calibration.get_ece(P, y, num_bins=15, mode=m)),
    (dict(norm="l1", binning="mass"), lambda P, y, m: calibration.get_ece_em(P, y, num_bins=15, mode=m)),
    (
        dict(norm="l2", binning="mass", debiased=False),
        lambda P, y, m: calibration.lower_bound_scaling_ce(P, y, p=2, debias=False, num_bins=15, mode=m),
    ),
    (
        dict(norm="l2", binning="mass", debiased=True),
        lambda P, y, m: calibration.lower_bound_scaling_ce(P, y, p=2, debias=True, num_bins=15, mode=m),
    ),
    (
        dict(norm="l2", binning="width", debiased=False),
        lambda P, y, m: calibration.lower_bound_scaling_ce(
            P, y, p=2, debias=False, num_bins=15, mode=m, binning_scheme=calibration.get_equal_prob_bins
        ),
    ),
    (
        dict(norm="l2", binning="width", debiased=True),
        lambda P, y, m: calibration.lower_bound_scaling_ce(
            P, y, p=2, debias=True, num_bins=15, mode=m, binning_scheme=calibration.get_equal_prob_bins
        ),
    ),
    (
        dict(norm="l1", binning="mass", debiased=False),
        lambda P, y, m: calibration.lower_bound_scaling_ce(P, y, p=1, debias=False, num_bins=15, mode=m),
    ),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_uncertainty_calibration_estimators(real_outputs, case):  # type: ignore[no-untyped-def]
    kwargs, reference = CASES[case]
    checked = 0
    for name, P, y, modes in _inputs(real_outputs):
        for mode in modes:
            expected = reference(P, y, mode)
            got = calipers.ece(P, y, bins=15, mode=mode, compat=UC, **kwargs)
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), (name, mode, kwargs)
            checked += 1
    assert checked == 17  # 7 real-output sets x 2 modes + 3 binary sets as 1-D


def test_uncertainty_calibration_bin_counts_other_than_15(cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    for bins in (1, 2, 7, 40, 100):
        assert calipers.ece(P, y, bins=bins, compat=UC) == pytest.approx(
            calibration.get_ece(P, y, num_bins=bins), rel=1e-9, abs=1e-12
        )
        assert calipers.ece(P, y, bins=bins, binning="mass", compat=UC) == pytest.approx(
            calibration.get_ece_em(P, y, num_bins=bins), rel=1e-9, abs=1e-12
        )


def test_uncertainty_calibration_quirks():
    # duplicate edges collapse (the package's own test case) and ties go to the lower bin
    p = np.array([0.3, 0.5, 1, 1, 1, 1.0])
    y = np.array([0, 1, 1, 1, 1, 0])
    assert calipers.ece(p, y, bins=3, binning="mass", compat=UC) == pytest.approx(
        calibration.get_ece_em(p, y, num_bins=3), abs=1e-15
    )
    # values above 1 are merged into the last bin rather than rejected in this mode
    p = np.array([0.2, 0.9, 1.2])
    y = np.array([0, 1, 1])
    assert calipers.ece(p, y, bins=5, compat=UC) == pytest.approx(calibration.get_ece(p, y, num_bins=5), abs=1e-15)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calipers.ece(p, y, bins=5)
    # more bins than samples
    p = np.array([0.1, 0.7, 0.8])
    y = np.array([0, 1, 0])
    assert calipers.ece(p, y, bins=15, binning="mass", compat=UC) == pytest.approx(
        calibration.get_ece_em(p, y, num_bins=15), abs=1e-15
    )


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_sklearn_calibration_curve(real_outputs, strategy):  # type: ignore[no-untyped-def]
    binning = "width" if strategy == "uniform" else "mass"
    for name, (P, y) in real_outputs.items():
        pairs = [(P[:, 1], y)] if P.shape[1] == 2 else []
        conf = P.max(axis=1)
        pairs.append((conf, (P.argmax(axis=1) == y).astype(int)))
        for p, outcome in pairs:
            for bins in (5, 10, 15):
                prob_true, prob_pred = sk_calibration.calibration_curve(outcome, p, n_bins=bins, strategy=strategy)
                table = calipers.reliability(p, outcome, bins=bins, binning=binning, compat="sklearn")
                nz = table.count > 0
                np.testing.assert_allclose(table.frequency[nz], prob_true, rtol=1e-12, atol=1e-15, err_msg=name)
                np.testing.assert_allclose(table.mean_score[nz], prob_pred, rtol=1e-12, atol=1e-15, err_msg=name)


def test_sklearn_scores_brier_and_log_loss(real_outputs):  # type: ignore[no-untyped-def]
    from sklearn.metrics import brier_score_loss, log_loss

    for name, (P, y) in real_outputs.items():
        if P.shape[1] == 2:
            p = P[:, 1]
            assert calipers.brier(p, y) == pytest.approx(brier_score_loss(y, p), rel=1e-12), name
            # calipers floors the probability of the observed outcome at 1e-15
            q = np.maximum(np.where(y == 1, p, 1.0 - p), 1e-15)
            assert calipers.log_loss(p, y) == pytest.approx(np.mean(-np.log(q)), rel=1e-12), name
            if np.all((p > 0) & (p < 1)):  # no clipping involved: sklearn agrees
                assert calipers.log_loss(p, y) == pytest.approx(log_loss(y, p), rel=1e-12), name
        onehot = np.eye(P.shape[1])[y]
        expected = np.mean(np.sum((P - onehot) ** 2, axis=1)) / P.shape[1]
        assert calipers.brier(P, y, mode="marginal", row_sum_atol=1e-3) == pytest.approx(expected, rel=1e-12), name


def test_peer_disagreement_examples_from_the_spec():
    # peers.md example A: interior edge; calipers is left-closed, uncertainty-calibration right-closed
    p, y = np.array([0.5, 0.5, 0.45, 0.55]), np.array([1, 1, 0, 0])
    assert calipers.ece(p, y, bins=10) == pytest.approx(0.225)
    assert calipers.ece(p, y, bins=10, compat=UC) == pytest.approx(0.275)
    # example B: p = 1.0 stays in the last bin (no extra bin as in torchmetrics/relplot)
    assert calipers.ece(np.array([0.95, 1.0]), np.array([1, 0]), bins=10) == pytest.approx(0.475)
    # example D: p = 0.0 counts in bin 0
    assert calipers.ece(np.array([0.0, 0.05]), np.array([1, 0]), bins=10) == pytest.approx(0.475)
    # example G: equal-mass with ties across the median: ties are never split
    p = np.array([0.55, 0.7, 0.7, 0.7, 0.9, 0.9])
    y = np.array([1, 0, 0, 0, 1, 1])
    table = calipers.reliability(p, y, bins=2, binning="mass")
    assert table.count.tolist() == [4, 2]
    assert calipers.ece(p, y, bins=2, binning="mass") == pytest.approx((4 * abs(2.65 / 4 - 0.25) + 2 * 0.1) / 6)
    assert calipers.ece(p, y, bins=2, binning="mass", compat=UC) == pytest.approx(0.3083333333333333)
