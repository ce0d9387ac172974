"""Fork and exit handling of every CalibrationMonitor in the process.

* At interpreter exit every live monitor is flushed, so no buffered record is lost.
* After ``os.fork`` the child's monitors start empty (the records stay with the parent,
  so merging parent and children never counts a record twice), with fresh locks (a lock
  held by another thread at the fork would never be released in the child), no pending
  entries and an independent random stream for the replicates.

Monitors register themselves with :func:`track`; the registry holds them weakly.
"""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Protocol

__all__ = ["track"]


class _Tracked(Protocol):
    def flush(self) -> None: ...

    def _after_fork(self) -> None: ...


_monitors: weakref.WeakSet[_Tracked] = weakref.WeakSet()


def track(monitor: _Tracked) -> None:
    """Flush ``monitor`` at exit and reset it in a forked child."""
    _monitors.add(monitor)


def _after_fork_in_child() -> None:
    for m in list(_monitors):
        m._after_fork()


def _flush_at_exit() -> None:
    for m in list(_monitors):
        try:
            m.flush()
        except Exception:  # pragma: no cover - nothing to report to at exit
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_at_exit)
