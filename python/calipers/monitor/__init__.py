"""Calibration monitoring inside production inference servers.

Modules:

- ``core``: :class:`CalibrationMonitor` (per-thread buffered recording, tumbling windows
  in a ring, groups, delayed outcomes, alerts, the label-free accuracy estimate,
  ``to_bytes`` / ``merge``) and :class:`Alert`;
- ``pending``: the bounded table that joins predictions with outcomes that arrive later;
- ``blobs``: loading monitor or sketch bytes (``calipers merge`` takes both);
- ``prometheus``: :class:`PrometheusCollector` for prometheus_client (extra ``monitor``);
- ``otel``: :func:`register_gauges`, OpenTelemetry observable gauges (extra ``otel``);
- ``asgi``: :func:`calibration_app`, an ASGI app serving ``/metrics``, ``/calibration``
  and ``/sketch`` (no web framework needed; mount it in FastAPI or Starlette).

Importing this package needs none of the optional dependencies.
"""

from __future__ import annotations

from .asgi import calibration_app
from .blobs import load_sketch_bytes
from .core import THRESHOLD_METRICS, Alert, CalibrationMonitor
from .otel import register_gauges
from .pending import REASONS
from .prometheus import PrometheusCollector

__all__ = [
    "CalibrationMonitor",
    "Alert",
    "PrometheusCollector",
    "register_gauges",
    "calibration_app",
    "load_sketch_bytes",
    "REASONS",
    "THRESHOLD_METRICS",
]
