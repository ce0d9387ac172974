"""One-shot calibration metrics on arrays.

- :mod:`.binned`: ``ece`` and ``reliability`` (equal-width, equal-mass, compat binnings);
- :mod:`.binned_error`: the calibration-error formulas on per-bin statistics (l1, l2, max,
  debiased);
- :mod:`.scoring`: Brier score, Brier skill score, log loss;
- :mod:`.table`: ``ReliabilityTable`` (with Wilson intervals);
- :mod:`.smooth`: smooth ECE and the smoothed reliability curve;
- :mod:`.bootstrap`: ``bootstrap_ci`` and the streaming Poisson bootstrap helpers;
- :mod:`.discrimination`: AUROC and Murphy's Brier decomposition;
- :mod:`.partition`: PCE and PIECE;
- :mod:`.neighbours`: exact kNN and the proximity of Xiong et al.;
- :mod:`.conformal`: split-conformal thresholds.
"""

from __future__ import annotations

from .binned import ece, reliability
from .bootstrap import BootstrapInterval, bootstrap_ci
from .conformal import conformal_threshold
from .discrimination import BrierDecomposition, auroc, brier_decomposition
from .neighbours import knn, proximity
from .partition import pce, piece
from .scoring import brier, brier_skill_score, log_loss
from .smooth import SmoothReliability, smooth_ece, smooth_reliability
from .table import ReliabilityTable

__all__ = [
    "ece",
    "reliability",
    "brier",
    "brier_skill_score",
    "log_loss",
    "smooth_ece",
    "smooth_reliability",
    "SmoothReliability",
    "bootstrap_ci",
    "BootstrapInterval",
    "auroc",
    "brier_decomposition",
    "BrierDecomposition",
    "pce",
    "piece",
    "knn",
    "proximity",
    "conformal_threshold",
    "ReliabilityTable",
]
