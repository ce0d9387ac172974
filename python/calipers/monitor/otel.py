"""OpenTelemetry export: observable gauges that read a CalibrationMonitor at each collection.

``register_gauges(monitor, meter)`` creates ``calipers.ece``, ``calipers.ece_upper``,
``calipers.brier``, ``calipers.records``, ``calipers.pending`` and ``calipers.dropped``
observable gauges (attributes ``group``, ``window``, ``reason`` as in the Prometheus
collector). Needs ``opentelemetry-api`` (extra ``otel``); the SDK and exporter are yours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .._common.optional import require
from .core import CalibrationMonitor

__all__ = ["register_gauges"]


def register_gauges(monitor: CalibrationMonitor, meter: Any = None, *, window: str = "history") -> list[Any]:
    """Register observable gauges for ``monitor`` on ``meter`` (default: the global
    meter provider's ``calipers`` meter); ``window`` is "history" (the ring), "current" or
    "last" (the last closed window). Returns the instruments."""
    metrics = require("opentelemetry.metrics", "calipers.monitor.register_gauges")
    if not isinstance(monitor, CalibrationMonitor):
        raise TypeError(f"monitor must be a CalibrationMonitor, got {type(monitor).__name__}")
    if window not in ("history", "current", "last"):
        raise ValueError(f"window must be 'history', 'current' or 'last', got {window!r}")
    meter = meter or metrics.get_meter("calipers")
    Observation = metrics.Observation

    def snapshot() -> dict[str, Any]:
        if window == "history":
            return monitor.snapshot(None, smooth=False)
        return monitor.snapshot(1, closed=window == "last", smooth=False)

    def per_group(key: str) -> Callable[[Any], Iterable[Any]]:
        def observe(options: Any) -> Iterable[Any]:
            snap = snapshot()
            rows = [("__all__", snap["overall"]), *snap["groups"].items()]
            return [
                Observation(float(stats[key]), {"group": group, "window": window})
                for group, stats in rows
                if stats.get(key) is not None
            ]

        return observe

    def pending(options: Any) -> Iterable[Any]:
        out = [Observation(float(monitor.pending), {"group": "__all__"})]
        out += [
            Observation(float(n), {"group": str(k)}) for k, n in monitor.pending_by_group().items() if k is not None
        ]
        return out

    def records(options: Any) -> Iterable[Any]:
        out = [Observation(float(monitor.records_total), {"group": "__all__"})]
        return out + [Observation(float(n), {"group": str(k)}) for k, n in monitor.records_by_group().items()]

    def dropped(options: Any) -> Iterable[Any]:
        return [Observation(float(n), {"reason": r}) for r, n in monitor.dropped().items()]

    return [
        meter.create_observable_gauge(
            "calipers.ece", callbacks=[per_group("ece")], description="ECE (equal-width, l1)"
        ),
        meter.create_observable_gauge(
            "calipers.ece_upper", callbacks=[per_group("ece_high")], description="Upper bound of the ECE interval"
        ),
        meter.create_observable_gauge("calipers.brier", callbacks=[per_group("brier")], description="Brier score"),
        meter.create_observable_gauge("calipers.records", callbacks=[records], description="Outcomes recorded"),
        meter.create_observable_gauge("calipers.pending", callbacks=[pending], description="Pending predictions"),
        meter.create_observable_gauge("calipers.dropped", callbacks=[dropped], description="Drops by reason"),
    ]
