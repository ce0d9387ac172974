"""Calibration monitoring inside production inference servers.

The public names: :class:`CalibrationMonitor`, :class:`Alert`, :class:`PrometheusCollector`,
:func:`register_gauges`, :func:`calibration_app`, :func:`load_sketch_bytes`. Modules, one
job each:

- ``core``: :class:`CalibrationMonitor`: its options, properties, reads, alerts, bytes and
  merges (each delegating to the modules below);
- recording: ``recording`` (``record``, ``record_many``, ``predicted``, ``observed``,
  ``flush``: a mixin of the class), ``inputs`` (argument checks, window arithmetic of
  times), ``buffers`` (the per-thread buffers ``record`` appends to), ``pending`` (the
  bounded table that joins predictions with outcomes that arrive later), ``groups``
  (group keys and slots), ``tallies`` (records and drops counted since the start);
- state: ``settings`` (validated options, state layout), ``window`` (one window's state),
  ``ring`` (the ring of windows, where each record goes), ``ingest`` (adding records to a
  window), ``replicates`` (the streaming bootstrap and the ring's running total),
  ``state`` (the parts of one monitor and its locks);
- reading: ``reading`` (the read path and snapshot dicts), ``fold`` (exact sums of window
  states over a selection), ``group_metrics`` (every group's metrics at once), ``alerts``
  (threshold checks of closed windows);
- ``codec`` and ``merging``: monitor bytes and exact merges; ``blobs``: loading monitor or
  sketch bytes (``calipers merge`` takes both); ``lifecycle``: flush at exit, a fresh
  state after ``os.fork``;
- exports: ``prometheus`` (:class:`PrometheusCollector`, extra ``monitor``), ``otel``
  (:func:`register_gauges`, extra ``otel``), ``asgi`` (:func:`calibration_app`, serving
  ``/metrics``, ``/calibration`` and ``/sketch``; no web framework needed).

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
