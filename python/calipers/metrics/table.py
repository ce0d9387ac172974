"""ReliabilityTable: the per-bin view behind every binned calibration metric."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from .._common.binstats import BinStats
from .._common.optional import require
from .._common.validate import plain


def wilson_interval(successes: np.ndarray, trials: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval per bin; NaN where a bin is empty."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    n = trials.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        phat = successes / n
        denom = 1.0 + z * z / n
        center = (phat + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(phat * (1.0 - phat) / n + z * z / (4.0 * n * n)) / denom
        # The interval contains phat exactly; rounding can put an end a hair inside it at 0 or 1.
        lower = np.clip(np.fmin(center - half, phat), 0.0, 1.0)
        upper = np.clip(np.fmax(center + half, phat), 0.0, 1.0)
    return lower, upper


def _count_text(v: Any) -> str:
    return f"{int(v)}" if isinstance(v, (int, np.integer)) else f"{float(v):.6g}"


@dataclass(frozen=True)
class ReliabilityTable:
    """Per-bin reliability statistics.

    Attributes
    ----------
    edges : (B + 1,) bin edges; bin i is [edges[i], edges[i+1]) with the last bin closed
        (under ``compat=`` modes the reference library's closure applies).
    count : (B,) number of (score, outcome) pairs per bin; empty bins are kept. With sample
        weights, the sum of the weights (int64 when every sum is whole, else float64).
    mean_score : (B,) mean score per bin (NaN when empty).
    frequency : (B,) observed frequency of the outcome per bin (NaN when empty).
    lower, upper : (B,) Wilson score interval of the frequency at ``confidence``.
    """

    edges: np.ndarray
    count: np.ndarray
    mean_score: np.ndarray
    frequency: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence: float = 0.95
    sum_score: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    sum_label: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    @classmethod
    def from_stats(cls, stats: list[BinStats], confidence: float = 0.95) -> ReliabilityTable:
        """Pool streams (the classes of a marginal reduction) bin by bin."""
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {plain(confidence)}")
        edges = stats[0].edges
        if any(s.edges.shape != edges.shape or not np.array_equal(s.edges, edges) for s in stats[1:]):
            raise ValueError(
                "cannot pool classes with different bin edges: equal-mass marginal bins differ per "
                "class; use equal-width bins or mode='top-label' for a table"
            )
        count = np.sum([s.count for s in stats], axis=0)
        if count.dtype.kind == "f" and np.all(count == np.round(count)) and np.all(count < 2.0**53):
            count = count.astype(np.int64)  # whole weights: counts as usual
        sum_score = np.sum([s.sum_score for s in stats], axis=0)
        sum_label = np.sum([s.sum_label for s in stats], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_score = np.where(count > 0, sum_score / count, np.nan)
            frequency = np.where(count > 0, sum_label / count, np.nan)
        lower, upper = wilson_interval(sum_label, count, confidence)
        return cls(edges, count, mean_score, frequency, lower, upper, confidence, sum_score, sum_label)

    @property
    def n(self) -> float:
        """The number of pairs (the total weight with sample weights)."""
        total = self.count.sum()
        return int(total) if self.count.dtype.kind in "iu" else float(total)

    def __len__(self) -> int:
        return int(self.count.size)

    def to_dict(self) -> dict[str, list[Any]]:
        """The table as lists (JSON-able): edges, count, mean_score, frequency, lower, upper."""
        return {
            "lower_edge": self.edges[:-1].tolist(),
            "upper_edge": self.edges[1:].tolist(),
            "count": self.count.tolist(),
            "mean_score": self.mean_score.tolist(),
            "frequency": self.frequency.tolist(),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
        }

    def to_pandas(self) -> Any:
        """A pandas DataFrame with one row per bin (requires pandas)."""
        pd = require("pandas", "ReliabilityTable.to_pandas")
        return pd.DataFrame(self.to_dict())

    def to_string(self, *, skip_empty: bool = True) -> str:
        """The table as aligned text (empty bins left out unless ``skip_empty=False``)."""
        pct = f"{self.confidence:.0%}"
        lines = [f"{'bin':>17s} {'count':>9s} {'mean score':>10s} {'frequency':>9s}   Wilson {pct} interval"]
        for i in range(len(self)):
            if skip_empty and self.count[i] == 0:
                continue
            lines.append(
                f"[{self.edges[i]:6.4f}, {self.edges[i + 1]:6.4f}] {_count_text(self.count[i]):>9s} "
                f"{self.mean_score[i]:10.4f} {self.frequency[i]:9.4f}   "
                f"[{self.lower[i]:.4f}, {self.upper[i]:.4f}]"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_string()

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Reliability diagram on a matplotlib Axes (requires matplotlib)."""
        from ..plot import plot_reliability

        return plot_reliability(self, ax=ax, **kwargs)
