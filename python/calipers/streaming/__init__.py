"""Streaming state that merges exactly and serializes compactly (memory O(bins), never
O(samples)).

- :mod:`.sketch`: ``ReliabilitySketch`` (every calibration metric of a stream) and ``merge_all``;
- :mod:`.grouped`: ``GroupedSketch`` (one sketch per group key, PCE across groups);
- :mod:`.quantiles`: ``QuantileSketch`` (KLL, for conformal thresholds on streams).
"""

from __future__ import annotations

from .grouped import GroupedSketch
from .quantiles import QuantileSketch
from .sketch import ReliabilitySketch, merge_all

__all__ = ["ReliabilitySketch", "merge_all", "GroupedSketch", "QuantileSketch"]
