"""PrometheusCollector: a CalibrationMonitor as Prometheus metrics (prometheus_client).

Exported families (``group="__all__"`` is every record; ``window`` is ``"current"`` (the
open window, partial), ``"last"`` (the last closed window) or ``"history"`` (the ring)):

- ``calipers_ece{group,window}``: equal-width ECE (l1);
- ``calipers_ece_lower{group,window}``, ``calipers_ece_upper{group,window}``: its
  bootstrap interval (monitors with replicates);
- ``calipers_brier{group,window}``, ``calipers_log_loss{group,window}``;
- ``calipers_window_records{group,window}``: outcomes in the window;
- ``calipers_accuracy{group,window}``, ``calipers_expected_accuracy{group,window}``
  (the label-free estimate, with a calibrator);
- ``calipers_records_total{group}``: outcomes recorded (counter);
- ``calipers_pending{group}``: predictions waiting for their outcome;
- ``calipers_dropped_total{reason}``: records, predictions and outcomes dropped by reason;
- ``calipers_alert{group,metric}``: 1 while the last closed window breaks a threshold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

from .._common.optional import require
from .core import CalibrationMonitor

__all__ = ["PrometheusCollector", "ALL_GROUPS", "WINDOWS"]

ALL_GROUPS = "__all__"
WINDOWS = ("current", "last", "history")


class PrometheusCollector:
    """A prometheus_client collector: ``REGISTRY.register(PrometheusCollector(monitor))``.

    Each scrape flushes the monitor and reads every group at once from the stacked window
    state (three snapshots without the smooth ECE); docs/serving.md gives the scrape times
    ``bench/bench_serving.py`` measures at 1000 groups x 60 windows x 200 replicates.
    ``windows`` picks the window labels exported.
    """

    def __init__(self, monitor: CalibrationMonitor, *, windows: tuple[str, ...] = WINDOWS) -> None:
        require("prometheus_client", "calipers.monitor.PrometheusCollector")
        if not isinstance(monitor, CalibrationMonitor):
            raise TypeError(f"monitor must be a CalibrationMonitor, got {type(monitor).__name__}")
        for w in windows:
            if w not in WINDOWS:
                raise ValueError(f"windows must be among {WINDOWS}, got {w!r}")
        self.monitor = monitor
        self.windows = tuple(windows)

    def describe(self) -> list[Any]:
        """No up-front description: registering does not trigger a scrape."""
        return []

    def _window_stats(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        m = self.monitor
        for label in self.windows:
            if label == "history":
                snap = m.snapshot(None, smooth=False)
            elif label == "current":
                snap = m.snapshot(1, smooth=False)
            else:
                snap = m.snapshot(1, closed=True, smooth=False)
            yield label, ALL_GROUPS, snap["overall"]
            for group, stats in snap["groups"].items():
                yield label, group, stats

    def collect(self) -> Iterator[Any]:
        """The metric families of one scrape."""
        core = require("prometheus_client.core", "calipers.monitor.PrometheusCollector")
        m = self.monitor
        gauges = {
            name: core.GaugeMetricFamily(f"calipers_{name}", doc, labels=["group", "window"])
            for name, doc in (
                ("ece", "Expected calibration error (equal-width bins, l1)"),
                ("ece_lower", "Lower bound of the ECE bootstrap interval"),
                ("ece_upper", "Upper bound of the ECE bootstrap interval"),
                ("brier", "Brier score"),
                ("log_loss", "Log loss"),
                ("window_records", "Outcomes recorded in the window"),
                ("accuracy", "Realised accuracy of the labelled predictions"),
                ("expected_accuracy", "Accuracy expected from calibrated confidences (label-free)"),
            )
        }
        keys = {"ece": "ece", "ece_lower": "ece_low", "ece_upper": "ece_high", "brier": "brier"}
        keys |= {"log_loss": "log_loss", "window_records": "count", "accuracy": "accuracy"}
        keys["expected_accuracy"] = "expected_accuracy"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for window, group, stats in self._window_stats():
                for name, key in keys.items():
                    value = stats.get(key)
                    if value is not None and math.isfinite(value):
                        gauges[name].add_metric([group, window], float(value))
        yield from gauges.values()
        records = core.CounterMetricFamily("calipers_records", "Outcomes recorded", labels=["group"])
        records.add_metric([ALL_GROUPS], float(m.records_total))
        for gkey, n in m.records_by_group().items():
            records.add_metric([str(gkey)], float(n))
        yield records
        pending = core.GaugeMetricFamily("calipers_pending", "Predictions waiting for their outcome", labels=["group"])
        pending.add_metric([ALL_GROUPS], float(m.pending))
        for gkey, count in m.pending_by_group().items():
            if gkey is not None:
                pending.add_metric([str(gkey)], float(count))
        yield pending
        dropped = core.CounterMetricFamily(
            "calipers_dropped", "Records and outcomes dropped, by reason", labels=["reason"]
        )
        for reason, n in m.dropped().items():
            dropped.add_metric([reason], float(n))
        yield dropped
        alert = core.GaugeMetricFamily(
            "calipers_alert", "1 while the last closed window breaks a threshold", labels=["group", "metric"]
        )
        for (gkey, metric), state in m.alert_states().items():
            alert.add_metric([ALL_GROUPS if gkey is None else str(gkey), metric], 1.0 if state.firing else 0.0)
        yield alert
