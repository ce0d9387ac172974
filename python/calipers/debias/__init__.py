"""Downstream debiasing: estimates from model predictions that do not inherit their bias
(specs/debiased.md section 2).

- :mod:`.lcc`: :class:`LinearCalibrationCorrection`, undo the linear shrinkage of
  MSE-trained predictions;
- :mod:`.tweedie`: :class:`TweedieCorrection`, Tweedie's correction with a Gaussian KDE
  score (exact, or a fast grid path with a stated error bound);
- :mod:`.downstream`: ``mean``, ``contrast`` and ``ate`` (Horvitz-Thompson, Hajek) with
  bootstrap intervals, also methods of every correction;
- :mod:`.ppi`: prediction-powered inference (``ppi_mean``, ``ppi_prevalence``, PPI++
  power tuning) and :class:`PPISketch`;
- :mod:`.sketch`: :class:`RegressionSketch`, the mergeable streaming state LCC and Tweedie
  fit from;
- :mod:`.moments`: mergeable moments;
- :mod:`.base`: the correction protocol and its serialization.

h-calibration, a calibrator, lives in :mod:`calipers.calibration.hcalibration`.
"""

from __future__ import annotations

from .base import Correction, DebiasingWarning
from .downstream import DownstreamEstimate, ate, contrast, mean
from .lcc import LinearCalibrationCorrection
from .moments import CoMoments, Moments
from .ppi import PPIResult, PPISketch, ppi_mean, ppi_prevalence
from .sketch import RegressionSketch
from .tweedie import TweedieCorrection

__all__ = [
    "LinearCalibrationCorrection",
    "TweedieCorrection",
    "Correction",
    "DebiasingWarning",
    "RegressionSketch",
    "PPISketch",
    "PPIResult",
    "ppi_mean",
    "ppi_prevalence",
    "DownstreamEstimate",
    "mean",
    "contrast",
    "ate",
    "CoMoments",
    "Moments",
]
