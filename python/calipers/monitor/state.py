"""Everything one CalibrationMonitor holds, in one place, and its locks.

* ``lock`` (the state lock) guards the windows, the group table, the buffer registry and
  the record counts. Recording threads take it only to flush a full buffer.
* ``read_lock`` serialises readers (flush, snapshot, sketch, bytes, merge, alerts): the
  replicate draws, the replicates' running total and the metric computations belong to
  readers, so they run outside the state lock and never hold up a recording thread for
  longer than a copy of the counters. A reader takes ``read_lock`` before ``lock``.
* the drop counters and the pending table have their own locks.

After ``os.fork`` the child builds a fresh state (see :mod:`.lifecycle`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .alerts import Alert, AlertBook
from .buffers import ThreadBuffers
from .group_metrics import RowMetrics
from .groups import GroupTable
from .pending import PendingTable
from .ring import WindowRing
from .settings import Settings
from .tallies import Tallies

__all__ = ["MonitorState", "new_state"]


@dataclass
class MonitorState:
    """The parts of a monitor (see the module docstring for who locks what)."""

    settings: Settings
    kernels: Any
    groups: GroupTable
    tallies: Tallies
    ring: WindowRing
    buffers: ThreadBuffers
    pending: PendingTable
    alerts: AlertBook
    rng: np.random.Generator
    kind: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    read_lock: threading.RLock = field(default_factory=threading.RLock)
    kind_lock: threading.Lock = field(default_factory=threading.Lock)
    # metrics of closed windows: index -> ((version, slots, smooth), metrics), reused until the window changes
    cache: dict[int, tuple[tuple[int, int, bool], RowMetrics]] = field(default_factory=dict)


def new_state(
    settings: Settings, kernels: Any, kind: int | None, on_alert: Callable[[Alert], None] | None, seed: Any
) -> MonitorState:
    """A monitor's empty state."""
    tallies = Tallies()
    return MonitorState(
        settings=settings,
        kernels=kernels,
        groups=GroupTable(settings.max_groups),
        tallies=tallies,
        ring=WindowRing(settings),
        buffers=ThreadBuffers(),
        pending=PendingTable(settings.max_pending, settings.ttl, tallies.count_drop),
        alerts=AlertBook(settings.thresholds, settings.alert_min_count, on_alert),
        rng=np.random.default_rng(seed),
        kind=kind,
    )
