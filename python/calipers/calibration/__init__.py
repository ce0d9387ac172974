"""Calibrators: fit on held-out (score, outcome) pairs, transform new scores, serialize.

- :mod:`.base`: the protocol every calibrator shares (params, fitted guard, JSON / bytes);
- :mod:`.one_dimensional`: Platt, beta, isotonic, histogram binning, scaling-binning;
- :mod:`.temperature`: temperature scaling of logits;
- :mod:`.hcalibration`: the h-calibration objective and its calibrator (a mixture of
  temperature-scaled softmaxes);
- :mod:`.maps`: the fitted maps (logistic, interpolation, bins) and how each is fitted;
- :mod:`.solvers`: the safeguarded Newton solver for logistic fits.
"""

from __future__ import annotations

from .base import Calibrator
from .hcalibration import HCalibration, h_calibration_loss
from .one_dimensional import BetaCalibration, HistogramBinning, IsotonicCalibration, PlattScaling, ScalingBinning
from .temperature import TemperatureScaling

__all__ = [
    "Calibrator",
    "PlattScaling",
    "BetaCalibration",
    "IsotonicCalibration",
    "HistogramBinning",
    "ScalingBinning",
    "TemperatureScaling",
    "HCalibration",
    "h_calibration_loss",
]
