"""Downstream debiasing of a scikit-learn regression model (docs/debiasing.md).

A gradient-boosting model trained for MSE on Friedman #1 shrinks its predictions toward
the mean, so a contrast of group means computed on its predictions is attenuated. LCC and
Tweedie's correction, fitted on a held-out calibration split, undo the shrinkage; PPI
estimates the mean of the outcome from a few labels and many predictions.

Run: ``python examples/debias_regression.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import train_test_split

import calipers
from calipers.debias import DebiasingWarning


def main(seed: int = 0, verbose: bool = True) -> dict[str, float]:
    """Fit, correct, and return the numbers the docs quote."""
    X, y = make_friedman1(n_samples=6000, noise=1.0, random_state=seed)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.6, random_state=seed)
    X_cal, X_test, y_cal, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=seed + 1)
    model = GradientBoostingRegressor(random_state=seed).fit(X_train, y_train)
    p_cal, p_test = model.predict(X_cal), model.predict(X_test)

    lcc = calipers.LinearCalibrationCorrection().fit(p_cal, y_cal)
    tweedie = calipers.TweedieCorrection().fit(p_cal, y_cal)

    # a contrast of two groups defined by the outcome (the corrections' premise: the
    # prediction depends on the group only through the outcome)
    groups = (y_test > np.median(y_test)).astype(int)
    truth = y_test[groups == 1].mean() - y_test[groups == 0].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DebiasingWarning)  # a few test predictions leave the calibration range
        by_lcc = lcc.contrast(p_test, groups, bootstrap=500, seed=seed)
        by_tweedie = tweedie.contrast(p_test, groups, bootstrap=500, seed=seed)

    # prediction-powered mean of y: 300 labelled rows, the rest unlabelled
    ppi = calipers.ppi_mean(y_cal[:300], p_cal[:300], p_test, alpha=0.1)
    classical = calipers.ppi_mean(y_cal[:300], p_cal[:300], p_test, alpha=0.1, lam=0.0)

    out = {
        "slope": lcc.slope_,
        "r2": lcc.r2_,
        "sigma": tweedie.sigma_,
        "truth": float(truth),
        "naive": float(by_lcc.naive),
        "lcc": by_lcc.estimate,
        "lcc_low": float(by_lcc.low),
        "lcc_high": float(by_lcc.high),
        "tweedie": by_tweedie.estimate,
        "tweedie_low": float(by_tweedie.low),
        "tweedie_high": float(by_tweedie.high),
        "true_mean": float(y_test.mean()),
        "ppi": ppi.estimate,
        "ppi_width": ppi.high - ppi.low,
        "ppi_lam": ppi.lam,
        "classical_width": classical.high - classical.low,
    }
    if verbose:
        print(f"LCC slope {out['slope']:.3f} (R^2 {out['r2']:.3f}); Tweedie sigma {out['sigma']:.3f}")
        print(f"contrast: truth {out['truth']:.3f}, naive {out['naive']:.3f}")
        print(f"  LCC     {out['lcc']:.3f}  95% bootstrap [{out['lcc_low']:.3f}, {out['lcc_high']:.3f}]")
        print(f"  Tweedie {out['tweedie']:.3f}  95% bootstrap [{out['tweedie_low']:.3f}, {out['tweedie_high']:.3f}]")
        print(
            f"mean of y: truth {out['true_mean']:.3f}; PPI++ {out['ppi']:.3f} (90% width {out['ppi_width']:.3f}, "
            f"lambda {out['ppi_lam']:.3f}) vs classical width {out['classical_width']:.3f}"
        )
    return out


if __name__ == "__main__":
    main()
