"""The p = 1 resampling heuristic and uncertainty-calibration's automatic dispatch."""

from __future__ import annotations

import numpy as np
import pytest

import calipers

cal = pytest.importorskip("calibration")

SETS = ["cifar10-vgg16", "cancer-lr", "digits-lr", "cancer-nb"]


SEEDS = 100


def _reference_draws(fn, seeds=SEEDS):
    values = []
    for s in range(seeds):
        np.random.seed(s)
        values.append(fn())
    return np.array(values)


@pytest.mark.parametrize("name", SETS)
def test_l1_heuristic_has_the_reference_distribution(real_outputs, name):
    """Each call draws 1000 resamples, so one value scatters by the reference's spread s
    (measured 6.8e-5 on CIFAR). The means of 100 calls on each side must differ by at most
    4 standard errors of a difference, 4 s sqrt(2/100) = 0.57 s (measured: 0.6 to 2.0
    standard errors), less than the correction itself (plug-in minus the mean: 6.7e-5 =
    0.98 s on CIFAR, 6.8 s to 20 s on the others), so a calipers that corrected nothing
    would fail. The closed-form expectation is tested in tests/test_references.py."""
    P, y = real_outputs[name]
    if P.shape[1] == 2:
        scores, labels, ref = P[:, 1], y, lambda: cal.lower_bound_scaling_ce(P[:, 1], y, p=1, debias=True, num_bins=10)
        kw = dict(bins=10)
    else:
        scores, labels, ref = P, y, lambda: cal.get_ece_em(P, y, debias=True)
        kw = dict(bins=15)
    theirs = _reference_draws(ref)
    ours = np.array(
        [
            calipers.ece(
                scores, labels, norm="l1", debiased=True, binning="mass", compat="uncertainty-calibration", seed=s, **kw
            )
            for s in range(SEEDS)
        ]
    )
    spread = theirs.std()
    tolerance = 4 * spread * np.sqrt(2 / SEEDS)
    assert abs(ours.mean() - theirs.mean()) < tolerance  # measured at most 2.0 standard errors
    plugin = calipers.ece(scores, labels, norm="l1", binning="mass", compat="uncertainty-calibration", **kw)
    assert plugin - theirs.mean() > tolerance  # the correction is larger than the test's tolerance
    # the same spread (measured ratio 0.95 to 1.07; a std of 100 draws scatters by 7%)
    assert ours.std() == pytest.approx(spread, rel=0.35)


def test_seed_makes_it_repeatable(cifar):
    P, y = cifar
    a = calipers.ece(P, y, norm="l1", debiased=True, binning="mass", seed=3)
    assert a == calipers.ece(P, y, norm="l1", debiased=True, binning="mass", seed=np.random.default_rng(3))
    assert a != calipers.ece(P, y, norm="l1", debiased=True, binning="mass", seed=4)
    # calipers' own convention leaves empty bins out instead of raising
    assert np.isfinite(calipers.ece(P, y, norm="l1", debiased=True, seed=0))
    with pytest.raises(ValueError, match="at least 2 samples"):
        calipers.ece(P, y, norm="l1", debiased=True, compat="uncertainty-calibration", seed=0)
    with pytest.raises(ValueError, match="norm='max'"):
        calipers.ece(P, y, norm="max", debiased=True)


@pytest.mark.parametrize("name", ["cifar10-vgg16", "cancer-lr", "cancer-rf", "digits-rf", "digits-nb", "digits-lr"])
@pytest.mark.parametrize("mode", ["marginal", "top-label"])
def test_auto_dispatch_equals_get_calibration_error(real_outputs, name, mode):
    P, y = real_outputs[name]
    uc = dict(binning="auto", mode=mode, compat="uncertainty-calibration")
    for norm, p in (("l2", 2), ("l1", 1)):
        expected = cal.get_calibration_error(P, y, p=p, debias=False, mode=mode)
        assert calipers.ece(P, y, norm=norm, **uc) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    expected = cal.get_calibration_error(P, y, p=2, debias=True, mode=mode)
    assert calipers.ece(P, y, norm="l2", debiased=True, **uc) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    discrete = cal.get_binning_ce(P, y, p=2, debias=False, mode=mode)
    got = calipers.ece(P, y, norm="l2", binning="discrete", mode=mode, compat="uncertainty-calibration")
    assert got == pytest.approx(discrete, rel=1e-9, abs=1e-12)
    assert (cal.is_discrete(P) and "rf" in name) or not cal.is_discrete(P)  # both branches are exercised


def test_discrete_binning_is_compat_only(cifar):
    P, y = cifar
    with pytest.raises(ValueError, match="binning"):
        calipers.ece(P, y, binning="auto")


def test_dispatch_sees_both_kinds(real_outputs):
    from calipers._common.binning import uc_is_discrete

    for name, (P, _) in real_outputs.items():
        assert uc_is_discrete(P) == bool(cal.is_discrete(P)), name
    assert uc_is_discrete(real_outputs["digits-rf"][0]) and not uc_is_discrete(real_outputs["digits-lr"][0])


def test_sketch_gives_the_same_heuristic(cifar):
    P, y = cifar
    sketch = calipers.ReliabilitySketch().update(P, y)
    assert sketch.ece(norm="l1", debiased=True, seed=5) == calipers.ece(P, y, norm="l1", debiased=True, seed=5)
