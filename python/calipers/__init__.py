"""calipers: measure and correct the calibration of model confidence.

Fast (C++ core, Numba fallback, numpy reference), exact (matches the reference libraries
in ``compat=`` modes) and streaming (mergeable, serializable sketches). Every user-facing
name is importable from here; the subpackages hold the implementation:

- ``calipers.metrics``: one-shot metrics on arrays (ECE, Brier, smooth ECE, PCE, ...);
- ``calipers.streaming``: mergeable sketches (``ReliabilitySketch``, ``GroupedSketch``, ...);
- ``calipers.calibration``: calibrators (fit / transform / serialize), h-calibration;
- ``calipers.debias``: downstream debiasing (LCC, Tweedie, prediction-powered inference);
- ``calipers.sdm``: the SDM estimator;
- ``calipers.monitor``: ``CalibrationMonitor`` for inference servers (Prometheus, OpenTelemetry, ASGI);
- ``calipers.io``, ``calipers.cli``: prediction logs and the ``calipers`` command;
- ``calipers.dask``, ``calipers.sklearn``, ``calipers.plot``: integrations.
"""

from __future__ import annotations

from . import metrics as _metrics
from ._kernels.backend import available as available_backends
from ._kernels.backend import get_num_threads, set_num_threads, show_config
from ._version import __version__
from .calibration import (
    BetaCalibration,
    Calibrator,
    HCalibration,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    ScalingBinning,
    TemperatureScaling,
    h_calibration_loss,
)
from .debias import LinearCalibrationCorrection, TweedieCorrection, ppi_mean, ppi_prevalence
from .metrics import *  # noqa: F403  (every one-shot metric: metrics.__all__)
from .monitor import CalibrationMonitor
from .sdm import SDMEstimator, SDMPrediction
from .streaming import GroupedSketch, QuantileSketch, ReliabilitySketch, merge_all

__all__ = [
    *_metrics.__all__,  # every one-shot metric
    "GroupedSketch",
    "QuantileSketch",
    "ReliabilitySketch",
    "CalibrationMonitor",
    "merge_all",
    "TemperatureScaling",
    "PlattScaling",
    "BetaCalibration",
    "IsotonicCalibration",
    "HistogramBinning",
    "ScalingBinning",
    "Calibrator",
    "HCalibration",
    "h_calibration_loss",
    "LinearCalibrationCorrection",
    "TweedieCorrection",
    "ppi_mean",
    "ppi_prevalence",
    "SDMEstimator",
    "SDMPrediction",
    "show_config",
    "available_backends",
    "set_num_threads",
    "get_num_threads",
    "sample_log_path",
    "__version__",
]


def sample_log_path() -> str:
    """Path of the sample prediction log shipped with the package (JSONL: score, label)."""
    from importlib.resources import files

    return str(files("calipers") / "data" / "sample_predictions.jsonl")
