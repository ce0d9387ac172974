"""The settings of a CalibrationMonitor: its constructor options, validated, and the state
layout they imply (words per group row and per overall state, replicate units).

``make_settings`` checks the options in the order the constructor always has, so a bad
option raises the same error as before; ``Settings.serialized`` is the part written into
monitor bytes and compared by ``merge``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.grid import grid_cell_count, grid_spec, stream_size
from .._common.validate import check_bins, check_choice
from ..streaming.sketch import ReliabilitySketch
from .alerts import THRESHOLD_METRICS

__all__ = ["Settings", "make_settings", "Identity"]


class Identity:
    """``calibrator=True``: the recorded scores are calibrated already."""

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """The scores themselves."""
        return scores


@dataclass(frozen=True)
class Settings:
    """Validated options of one monitor and the layout of its state."""

    bins: int
    classes: int | None
    window: float
    history: int
    max_groups: int
    replicates: int
    grid: tuple[int, int]
    overall_grid: tuple[int, int]
    max_pending: int
    ttl: float
    thresholds: dict[str, float]
    alert_min_count: int
    confidence: float
    calibrator: Any
    accuracy_of: str
    batch: int
    seed: Any
    row_sum_atol: float
    backend: str

    @property
    def streams(self) -> int:
        """Streams per state: K for a marginal monitor, else 1."""
        return self.classes or 1

    @property
    def group_row(self) -> int:
        """uint64 words of one stream of a group row (bins, ``grid`` cells, totals)."""
        return stream_size(self.bins, grid_cell_count(*self.grid))

    @property
    def group_words(self) -> int:
        """uint64 words of one group's state in one window (every stream)."""
        return self.group_row * self.streams

    @property
    def overall_words(self) -> int:
        """uint64 words of the overall state of one window (on ``overall_grid``)."""
        return stream_size(self.bins, grid_cell_count(*self.overall_grid)) * self.streams

    @property
    def units(self) -> int:
        """Bootstrap units per state: one per (equal-width bin, outcome)."""
        return 2 * self.bins

    def serialized(self) -> dict[str, Any]:
        """The settings written into monitor bytes (and that merged monitors must share)."""
        return {
            "bins": self.bins,
            "classes": self.classes,
            "window": self.window,
            "history": self.history,
            "max_groups": self.max_groups,
            "replicates": self.replicates,
            "grid": list(self.grid),
            "overall_grid": list(self.overall_grid),
            "row_sum_atol": self.row_sum_atol,
        }


# The window length's range: a time of years 1-9999 (what record() takes) is then at most
# 2.6e14 windows from the epoch, an exact integer in float64 and int64.
MIN_WINDOW = 1e-3
MAX_WINDOW = 1e9


def make_settings(
    bins: int,
    classes: int | None,
    window: float,
    history: int,
    max_groups: int,
    replicates: int,
    grid: str | tuple[int, int] | None,
    overall_grid: str | tuple[int, int] | None,
    max_pending: int,
    ttl: float,
    thresholds: dict[str, float] | None,
    alert_min_count: int,
    confidence: float,
    calibrator: Any,
    accuracy_of: str,
    batch: int,
    seed: Any,
    row_sum_atol: float,
    backend: str,
    on_alert: Any,
    clock: Any,
) -> Settings:
    """Check every option (TypeError for a wrong kind, ValueError naming the option
    otherwise) and return the settings; ``on_alert`` and ``clock`` are checked in their
    place in that order but kept by the monitor. ``calibrator=True`` becomes
    :class:`Identity`."""
    bins = check_bins(bins)
    # a template sketch validates classes, replicates, row_sum_atol and backend the way sketches do
    template = ReliabilitySketch(
        bins, classes, row_sum_atol=row_sum_atol, backend=backend, replicates=replicates, grid=grid
    )
    grid_pair = grid_spec(grid)
    overall_pair = grid_spec(overall_grid)
    if isinstance(window, bool) or not isinstance(window, (int, float, np.integer, np.floating)):
        raise TypeError(f"window must be a number of seconds, got {type(window).__name__}")
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(
            f"window must be a number of seconds in [{MIN_WINDOW:g}, {MAX_WINDOW:g}] (1 ms to about 31 years), "
            f"got {window!r}"
        )
    for name, value, low in (
        ("history", history, 1),
        ("max_groups", max_groups, 1),
        ("max_pending", max_pending, 1),
        ("batch", batch, 1),
        ("alert_min_count", alert_min_count, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    if not (isinstance(confidence, float) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    limits = dict(thresholds or {})
    for metric, limit in limits.items():
        check_choice("thresholds key", metric, THRESHOLD_METRICS)
        if not (isinstance(limit, (int, float)) and math.isfinite(limit)):
            raise ValueError(f"thresholds[{metric!r}] must be a finite number, got {limit!r}")
    if on_alert is not None and not callable(on_alert):
        raise TypeError("on_alert must be callable")
    check_choice("accuracy_of", accuracy_of, ("decision", "outcome"))
    if calibrator is True:
        calibrator = Identity()
    if calibrator is not None and not callable(getattr(calibrator, "transform", None)):
        raise TypeError("calibrator must be a fitted calipers calibrator (with transform)")
    if not callable(clock):
        raise TypeError("clock must be a function returning seconds")
    return Settings(
        bins=bins,
        classes=template.classes,
        window=float(window),
        history=int(history),
        max_groups=int(max_groups),
        replicates=template.replicates,
        grid=grid_pair,
        overall_grid=overall_pair,
        max_pending=int(max_pending),
        ttl=float(ttl),
        thresholds=limits,
        alert_min_count=int(alert_min_count),
        confidence=confidence,
        calibrator=calibrator,
        accuracy_of=accuracy_of,
        batch=int(batch),
        seed=seed,
        row_sum_atol=float(row_sum_atol),
        backend=backend,
    )
