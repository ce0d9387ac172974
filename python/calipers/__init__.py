"""calipers: measure and correct the calibration of model confidence.

Fast (C++ core, Numba fallback, numpy reference), exact (matches the reference libraries
in ``compat=`` modes) and streaming (mergeable, serializable sketches).
"""

from __future__ import annotations

from ._backend import available as available_backends
from ._backend import show_config
from .bootstrap import BootstrapInterval, bootstrap_ci
from .calibrators import (BetaCalibration, Calibrator, HistogramBinning, IsotonicCalibration, PlattScaling,
                          ScalingBinning, TemperatureScaling)
from .conformal import conformal_threshold
from .discrimination import BrierDecomposition, auroc, brier_decomposition
from .grouped import GroupedSketch, pce, piece
from .metrics import brier, brier_skill_score, ece, log_loss, reliability
from .proximity import knn, proximity
from .quantiles import QuantileSketch
from .reliability import ReliabilityTable
from .sdm import SDMEstimator, SDMPrediction
from .smooth import SmoothReliability, smooth_ece, smooth_reliability
from .sketch import ReliabilitySketch, merge_all

__version__ = "0.1.0"

__all__ = [
    "ece", "reliability", "brier", "brier_skill_score", "log_loss",
    "pce", "piece", "proximity", "knn", "GroupedSketch",
    "smooth_ece", "smooth_reliability", "SmoothReliability", "bootstrap_ci", "BootstrapInterval",
    "auroc", "brier_decomposition", "BrierDecomposition", "conformal_threshold", "QuantileSketch",
    "ReliabilitySketch", "ReliabilityTable", "merge_all",
    "TemperatureScaling", "PlattScaling", "BetaCalibration", "IsotonicCalibration", "HistogramBinning",
    "ScalingBinning", "Calibrator", "SDMEstimator", "SDMPrediction",
    "show_config", "available_backends", "sample_log_path", "__version__",
]


def sample_log_path() -> str:
    """Path of the sample prediction log shipped with the package (JSONL: score, label)."""
    from importlib.resources import files

    return str(files("calipers") / "data" / "sample_predictions.jsonl")
