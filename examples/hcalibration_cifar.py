"""h-calibration against temperature scaling on CIFAR-10 (docs/debiasing.md).

The CIFAR-10 test-set softmax outputs of a VGG16 (Kumar et al.'s verified_calibration data,
shipped in tests/data) are split into two seeded halves: each calibrator is fitted on one
and evaluated on the other. Logits are the log of the probabilities (the data holds no
logits; log-softmax makes them equivalent). Reported: top-label ECE (15 equal-width bins),
the debiased ECE the official h-calibration code selects by (15 equal-mass bins), Kumar et
al.'s debiased l2 calibration error (15 equal-mass bins), NLL and accuracy.

Run: ``python examples/hcalibration_cifar.py``.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

import calipers
from calipers.calibration.hcalibration import official_debiased_ece

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "cifar10_vgg16_test_probs.npz"


def metrics(P: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """ECE, debiased ECEs, NLL and accuracy of (n, K) probabilities."""
    return {
        "ece": calipers.ece(P, y),
        "debiased_ece": official_debiased_ece(P, y),
        "debiased_l2": calipers.ece(P, y, norm="l2", binning="mass", debiased=True),
        "nll": calipers.log_loss(P, y),
        "accuracy": float(np.mean(P.argmax(axis=1) == y)),
    }


def main(path: str | pathlib.Path = DATA, max_epochs: int = 2000, seed: int = 0, verbose: bool = True) -> dict:
    """Fit both calibrators on one half, evaluate on the other; return the table."""
    d = np.load(path)
    P = d["probs_float32"].astype(np.float64)
    y = d["labels"].astype(np.int64).reshape(-1)
    Z = np.log(P)
    idx = np.random.default_rng(seed).permutation(len(y))
    fit_rows, eval_rows = idx[: len(y) // 2], idx[len(y) // 2 :]
    table: dict[str, dict[str, float]] = {}
    times: dict[str, float] = {}
    table["uncalibrated"] = metrics(P[eval_rows], y[eval_rows])
    t = time.perf_counter()
    ts = calipers.TemperatureScaling().fit(Z[fit_rows], y[fit_rows])
    times["temperature scaling"] = time.perf_counter() - t
    table["temperature scaling"] = metrics(ts.transform(Z[eval_rows]), y[eval_rows])
    for weighting in ("unweighted", "ace"):
        name = f"h-calibration ({weighting})"
        t = time.perf_counter()
        hc = calipers.HCalibration(weighting=weighting, max_epochs=max_epochs).fit(Z[fit_rows], y[fit_rows])
        times[name] = time.perf_counter() - t
        table[name] = metrics(hc.transform(Z[eval_rows]), y[eval_rows])
        table[name]["epochs"] = hc.epochs_
        table[name]["selected_epoch"] = hc.selected_epoch_
    if verbose:
        print(f"{'':28s} {'ECE':>8s} {'dECE':>8s} {'dCE l2':>8s} {'NLL':>8s} {'acc':>7s} {'fit s':>7s}")
        for name, m in table.items():
            fit = times.get(name)
            print(
                f"{name:28s} {m['ece']:8.4f} {m['debiased_ece']:8.4f} {m['debiased_l2']:8.4f} {m['nll']:8.4f} "
                f"{m['accuracy']:7.4f} {'' if fit is None else f'{fit:7.2f}'}"
            )
    return {"metrics": table, "fit_seconds": times}


if __name__ == "__main__":
    main()
