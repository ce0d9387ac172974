"""Compat modes accept exactly what their reference accepts: the reference's own input runs
through calipers' compat mode to the reference's answer, and what the reference refuses is
refused."""

from __future__ import annotations

import numpy as np
import pytest
from calibration import calibrators as uc
from sklearn.calibration import calibration_curve

import calipers


def test_histogram_binning_fits_a_set_with_one_outcome_like_uncertainty_calibration(cifar) -> None:
    P, _ = cifar
    right = np.argmax(P, axis=1)  # a model right on every calibration point
    ref = uc.HistogramTopCalibrator(len(P), 10)
    ref.train_calibration(P, right)
    ours = calipers.HistogramBinning(10, compat="uncertainty-calibration").fit(P, right)
    np.testing.assert_allclose(ours.transform(P), ref.calibrate(P), rtol=0, atol=1e-12)
    assert np.all(ours.transform(P) == 1.0)

    conf = P.max(axis=1)
    ref1 = uc.HistogramCalibrator(len(conf), 10)
    ref1.train_calibration(conf, np.zeros(len(conf), int))
    ours1 = calipers.HistogramBinning(10, compat="uncertainty-calibration").fit(conf, np.zeros(len(conf), int))
    np.testing.assert_allclose(ours1.transform(conf), ref1.calibrate(conf), rtol=0, atol=1e-12)


def test_calipers_own_convention_still_refuses_one_outcome(cifar) -> None:
    P, _ = cifar
    with pytest.raises(ValueError, match="both"):
        calipers.HistogramBinning(10).fit(P, np.argmax(P, axis=1))


def test_marginal_histogram_takes_what_the_reference_takes(cifar) -> None:
    """The reference fits a class that never occurs (its column is all 0) as long as the
    labels span 0..K-1 (it asserts max - min + 1 == K), and refuses otherwise."""
    P, y = cifar
    middle = np.where(y == 3, 4, y)  # class 3 never occurs; 0 and 9 do
    ref = uc.HistogramMarginalCalibrator(len(P), 10)
    ref.train_calibration(P, middle)
    ours = calipers.HistogramBinning(10, compat="uncertainty-calibration", mode="marginal").fit(P, middle)
    np.testing.assert_allclose(ours.transform(P), ref.calibrate(P), rtol=0, atol=1e-12)
    top = np.where(y == 9, 8, y)  # the largest class never occurs: the span is 9, not 10
    with pytest.raises(AssertionError):
        uc.HistogramMarginalCalibrator(len(P), 10).train_calibration(P, top)
    with pytest.raises(ValueError, match="spanning all 10 classes"):
        calipers.HistogramBinning(10, compat="uncertainty-calibration", mode="marginal").fit(P, top)


def test_platt_binner_refuses_one_outcome_as_the_reference_does(cifar) -> None:
    P, _ = cifar
    right = np.argmax(P, axis=1)
    with pytest.raises(ValueError):
        uc.PlattBinnerTopCalibrator(len(P), 10).train_calibration(P, right)
    with pytest.raises(ValueError, match="both"):
        calipers.ScalingBinning(10, compat="uncertainty-calibration").fit(P, right)


def test_sklearn_compat_takes_a_single_outcome_like_calibration_curve() -> None:
    p = np.linspace(0.05, 0.95, 40)
    y = np.ones(40, int)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=5)
    table = calipers.reliability(p, y, bins=5, compat="sklearn")
    keep = table.count > 0
    np.testing.assert_allclose(table.frequency[keep], prob_true, rtol=1e-12)
    np.testing.assert_allclose(table.mean_score[keep], prob_pred, rtol=1e-12)


def test_uncertainty_calibration_ece_takes_scores_above_one_like_the_reference() -> None:
    from calibration import get_ece

    p = np.array([0.2, 0.6, 1.2, 0.9, 0.4, 1.05])  # the reference merges values above 1 into the last bin
    y = np.array([0, 1, 1, 1, 0, 0])
    assert calipers.ece(p, y, bins=5, compat="uncertainty-calibration") == pytest.approx(
        get_ece(p, y, num_bins=5), rel=1e-12
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calipers.ece(p, y, bins=5)  # calipers' own convention refuses them
