"""Threshold alerts of a CalibrationMonitor: the :class:`Alert` record, the metrics a
threshold may name, and :class:`AlertBook`, the last check of every (group, metric).

Each closed window is checked once (the monitor marks it); a group (or the overall
state, group None) with at least ``alert_min_count`` outcomes in the window *fires* for a
metric when its bootstrap interval lies above the threshold (``low > threshold``; without
replicates, or for metrics other than ECE, when the value does). The metric values come
from the read path, computed for every group at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Alert", "AlertBook", "THRESHOLD_METRICS"]

THRESHOLD_METRICS = ("ece", "smooth_ece", "brier", "log_loss")


@dataclass(frozen=True)
class Alert:
    """A threshold check of one closed window: ``firing`` when the interval (the value,
    without replicates) lies above ``threshold``."""

    group: Any
    metric: str
    window_start: float
    value: float
    low: float
    high: float
    threshold: float
    count: int
    firing: bool


@dataclass(frozen=True)
class WindowRow:
    """What a check needs of one group (None: overall) in one window."""

    key: Hashable
    count: int
    values: Mapping[str, float]  # metric -> value
    low: float  # ECE interval (NaN without replicates)
    high: float


class AlertBook:
    """The last check of every (group, metric) and the callback of firing alerts."""

    def __init__(self, thresholds: Mapping[str, float], min_count: int, on_alert: Callable[[Alert], None] | None):
        self.thresholds = dict(thresholds)
        self.min_count = min_count
        self.on_alert = on_alert
        self.states: dict[tuple[Hashable, str], Alert] = {}

    def check(self, start: float, rows: Iterable[WindowRow], intervals: bool) -> list[Alert]:
        """Check one closed window starting at ``start``; rows in the order the states
        are to be updated (overall first, then groups in key order). ``intervals``: ECE
        fires on its interval. Returns the alerts that fire (not yet passed to the callback)."""
        fired = []
        for row in rows:
            if row.count < self.min_count:
                continue
            for metric, threshold in self.thresholds.items():
                value = float(row.values[metric])
                if metric == "ece" and intervals:
                    low, high = row.low, row.high
                else:
                    low = high = value
                alert = Alert(
                    row.key, metric, start, value, low, high, float(threshold), row.count, bool(low > threshold)
                )
                self.states[(row.key, metric)] = alert
                if alert.firing:
                    fired.append(alert)
        return fired

    def notify(self, fired: list[Alert]) -> None:
        """Pass firing alerts to ``on_alert`` (outside the monitor's locks)."""
        if self.on_alert is not None:
            for alert in fired:
                self.on_alert(alert)

    def firing(self) -> list[Alert]:
        """The alerts whose last check fired."""
        return [a for a in self.states.values() if a.firing]
